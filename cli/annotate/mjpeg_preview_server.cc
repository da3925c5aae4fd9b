#include "cli/annotate/mjpeg_preview_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "cli/annotate/jpeg_encoder.h"
#include "worker/listen_address.h"

namespace serdab::annotate {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kBoundary[] = "serdab-frame";
// While no new picture comes, an open .mjpg response gets the last one again
// this often: a closed browser tab is noticed (the write fails) and its
// thread freed, and a browser that shows a part only once the next one
// starts shows it.
constexpr auto kRepeatInterval = std::chrono::seconds(2);

// Stream names come from users and plan files; URLs keep to characters no
// browser, proxy or shell treats specially.
std::string UrlSafe(const std::string& name) {
  std::string id = name.empty() ? "stream" : name;
  for (char& c : id) {
    const bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    if (!safe) c = '_';
  }
  return id;
}

std::string EscapeHtml(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

struct MjpegPreviewServer::Impl {
  struct Stream {
    std::string name;
    std::string id;
    // Guarded by Impl::mutex.
    std::shared_ptr<const ingest::RgbImage> latest;
    uint64_t generation = 0;  // pictures published so far
    std::shared_ptr<const std::string> jpeg;
    uint64_t jpeg_generation = 0;  // the picture `jpeg` shows
    Clock::time_point last_encode;
    // One encode at a time per stream, so that its viewers share each JPEG.
    std::mutex encode_mutex;
    JpegEncoder encoder;  // guarded by encode_mutex

    explicit Stream(int qscale) : encoder(qscale) {}
  };

  struct Jpeg {
    std::shared_ptr<const std::string> bytes;
    uint64_t generation = 0;
  };

  explicit Impl(const PreviewOptions& o)
      : options(o),
        encode_period(std::chrono::microseconds(1'000'000 / std::clamp(o.max_fps, 1, 1000))) {}

  // Under `mutex`.
  Stream* Find(const std::string& name) {
    const auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : it->second.get();
  }

  Stream* Add(const std::string& name) {
    if (Stream* existing = Find(name)) return existing;
    const std::string base = UrlSafe(name);
    std::string id = base;
    for (int n = 2; by_id.count(id) != 0; ++n) id = base + "-" + std::to_string(n);
    auto stream = std::make_unique<Stream>(options.qscale);
    stream->name = name;
    stream->id = id;
    Stream* added = stream.get();
    by_name.emplace(name, std::move(stream));
    by_id.emplace(id, added);
    return added;
  }

  // The stream's latest picture as JPEG: the one already encoded while it is
  // current or younger than encode_period, else a new encode. The stream
  // must have a picture.
  Result<Jpeg> LatestJpeg(Stream& stream) {
    std::lock_guard<std::mutex> encoding(stream.encode_mutex);
    std::shared_ptr<const ingest::RgbImage> picture;
    Jpeg out;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stream.jpeg != nullptr && (stream.jpeg_generation == stream.generation ||
                                     Clock::now() < stream.last_encode + encode_period)) {
        return Jpeg{stream.jpeg, stream.jpeg_generation};
      }
      picture = stream.latest;
      out.generation = stream.generation;
    }
    SERDAB_ASSIGN_OR_RETURN(std::string bytes, stream.encoder.Encode(*picture));
    out.bytes = std::make_shared<const std::string>(std::move(bytes));
    std::lock_guard<std::mutex> lock(mutex);
    stream.jpeg = out.bytes;
    stream.jpeg_generation = out.generation;
    stream.last_encode = Clock::now();
    return out;
  }

  std::string Page() {
    std::string html =
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Serdab preview</title>\n"
        "<style>body{font-family:sans-serif;background:#202020;color:#e0e0e0}"
        "figure{display:inline-block;margin:8px;vertical-align:top}img{max-width:100%}"
        "a{color:#8cf}</style></head>\n<body><h1>Serdab preview</h1>\n";
    std::lock_guard<std::mutex> lock(mutex);
    if (by_name.empty()) html += "<p>No streams yet: reload once the client runs.</p>\n";
    for (const auto& [name, stream] : by_name) {
      const std::string path = "/streams/" + stream->id;
      const std::string label = EscapeHtml(name);
      html += "<figure><img src=\"" + path + ".mjpg\" alt=\"" + label + "\"><figcaption>" + label +
              " &middot; <a href=\"" + path + ".jpg\">snapshot</a></figcaption></figure>\n";
    }
    return html + "</body></html>\n";
  }

  void Serve(const httplib::Request& request, httplib::Response& response) {
    const std::string id = request.matches[1];
    const bool multipart = request.matches[2] == "mjpg";
    Stream* stream = nullptr;
    bool has_picture = false;
    std::string known;  // for the 404's message
    {
      std::lock_guard<std::mutex> lock(mutex);
      const auto it = by_id.find(id);
      if (it != by_id.end()) {
        stream = it->second;
        has_picture = stream->generation > 0;
      } else {
        for (const auto& [other, ignored] : by_id) known += (known.empty() ? "" : ", ") + other;
      }
    }
    response.set_header("Cache-Control", "no-store");
    if (stream == nullptr) {
      response.status = 404;
      response.set_content("no stream '" + id + "' (streams: " + (known.empty() ? "none" : known) +
                               "; the list is at /)\n",
                           "text/plain; charset=utf-8");
      return;
    }
    if (multipart) {
      auto sent = std::make_shared<uint64_t>(0);
      response.set_content_provider(std::string("multipart/x-mixed-replace; boundary=") + kBoundary,
                                    [this, stream, sent](size_t offset, httplib::DataSink& sink) {
                                      return NextPart(*stream, offset == 0, sent.get(), sink);
                                    });
      return;
    }
    if (!has_picture) {
      response.status = 503;
      response.set_content("stream '" + stream->name + "' has no picture yet\n",
                           "text/plain; charset=utf-8");
      return;
    }
    Result<Jpeg> jpeg = LatestJpeg(*stream);
    if (!jpeg.ok()) {
      response.status = 500;
      response.set_content(jpeg.status().message() + "\n", "text/plain; charset=utf-8");
      return;
    }
    response.set_content(*jpeg->bytes, "image/jpeg");
  }

  // One step of a .mjpg response: waits for a picture newer than `*sent`
  // (and for the stream's next encode slot), then writes it as a part. The
  // boundary follows each part, so that a browser shows the part at once.
  // false ends the response.
  bool NextPart(Stream& stream, bool first, uint64_t* sent, httplib::DataSink& sink) {
    if (first) {
      const std::string opening = std::string("--") + kBoundary + "\r\n";
      if (!sink.write(opening.data(), opening.size())) return false;
    }
    bool repeat = false;
    {
      std::unique_lock<std::mutex> lock(mutex);
      const bool fresh =
          cv.wait_for(lock, kRepeatInterval, [&] { return stopping || stream.generation > *sent; });
      if (stopping) return false;
      if (!fresh) {
        // Nothing new: repeat the last part, if there was one.
        if (*sent == 0) return true;
        repeat = true;
      } else if (cv.wait_until(lock, stream.last_encode + encode_period,
                               [&] { return stopping; })) {
        return false;
      }
    }
    Result<Jpeg> jpeg = LatestJpeg(stream);
    if (!jpeg.ok()) return false;
    if (jpeg->generation == *sent && !repeat) return true;
    *sent = jpeg->generation;
    const std::string& bytes = *jpeg->bytes;
    const std::string head =
        "Content-Type: image/jpeg\r\nContent-Length: " + std::to_string(bytes.size()) + "\r\n\r\n";
    const std::string tail = std::string("\r\n--") + kBoundary + "\r\n";
    return sink.write(head.data(), head.size()) && sink.write(bytes.data(), bytes.size()) &&
           sink.write(tail.data(), tail.size());
  }

  const PreviewOptions options;
  const Clock::duration encode_period;

  std::mutex mutex;
  std::condition_variable cv;  // a picture was published, or stopping was set
  std::map<std::string, std::unique_ptr<Stream>> by_name;  // guarded by mutex
  std::map<std::string, Stream*> by_id;                    // guarded by mutex
  bool stopping = false;                                   // guarded by mutex

  std::unique_ptr<httplib::Server> http;
  std::thread thread;
  std::atomic<bool> finished{false};  // listen_after_bind returned
};

MjpegPreviewServer::MjpegPreviewServer(const PreviewOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}

MjpegPreviewServer::~MjpegPreviewServer() { Stop(); }

Status MjpegPreviewServer::Start(const std::string& addr) {
  if (impl_->http != nullptr) {
    return Status::FailedPrecondition("the preview server is already started");
  }
  SERDAB_ASSIGN_OR_RETURN(ListenAddress where,
                          ParseListenAddress(addr, "preview", "127.0.0.1:8090 or [::1]:0"));
  auto http = std::make_unique<httplib::Server>();
  const size_t threads = static_cast<size_t>(std::clamp(impl_->options.max_connections, 2, 256));
  http->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // SO_REUSEADDR only: the library's default, SO_REUSEPORT, would let a
  // second process bind the same port and take half the viewers.
  http->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Short timeouts so that Stop() waits at most a couple of seconds on an
  // idle keep-alive connection or a viewer that stopped reading.
  http->set_keep_alive_timeout(1);
  http->set_read_timeout(2);
  http->set_write_timeout(2);
  Impl* impl = impl_.get();
  http->Get("/", [impl](const httplib::Request&, httplib::Response& response) {
    response.set_header("Cache-Control", "no-store");
    response.set_content(impl->Page(), "text/html; charset=utf-8");
  });
  http->Get(R"(/streams/(.*)\.(jpg|mjpg))",
            [impl](const httplib::Request& request, httplib::Response& response) {
              impl->Serve(request, response);
            });

  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = false;
  }
  impl_->finished = false;
  errno = 0;
  const int port = where.port == 0 ? http->bind_to_any_port(where.host)
                                   : (http->bind_to_port(where.host, where.port) ? where.port : -1);
  if (port < 0) {
    const int error = errno;
    return Status::IoError(
        "cannot serve the preview on " + addr + ": " +
        (error != 0 ? std::strerror(error) : "the host is not an address of this machine"));
  }
  impl_->thread = std::thread([impl, server = http.get()] {
    server->listen_after_bind();
    impl->finished = true;
  });
  // httplib's stop() does nothing until the accept loop runs; wait for it so
  // that a Stop() right after Start() cannot leave the thread serving.
  while (!http->is_running() && !impl_->finished) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (impl_->finished) {
    impl_->thread.join();
    return Status::IoError("cannot serve the preview on " + addr +
                           ": the listener stopped at once");
  }
  impl_->http = std::move(http);
  port_ = port;
  const bool v6 = where.host.find(':') != std::string::npos;
  url_ = "http://" + (v6 ? "[" + where.host + "]" : where.host) + ":" + std::to_string(port);
  return Status::Ok();
}

std::string MjpegPreviewServer::AddStream(const std::string& name) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return "/streams/" + impl_->Add(name)->id;
}

std::string MjpegPreviewServer::StreamPath(const std::string& name) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const Impl::Stream* stream = impl_->Find(name);
  return stream == nullptr ? "" : "/streams/" + stream->id;
}

Status MjpegPreviewServer::Publish(const std::string& name, const ingest::RgbImage& picture) {
  const size_t expected =
      static_cast<size_t>(std::max(picture.width, 0)) * std::max(picture.height, 0) * 3;
  if (picture.width <= 0 || picture.height <= 0 || picture.pixels.size() != expected) {
    return Status::InvalidArgument(
        "preview of stream '" + name + "': a " + std::to_string(picture.width) + "x" +
        std::to_string(picture.height) + " picture of " + std::to_string(picture.pixels.size()) +
        " bytes (expected " + std::to_string(expected) + ", packed RGB24)");
  }
  // The copy is made outside the lock; the picture it replaces is freed
  // outside it too, once the viewers encoding it let go.
  auto copy = std::make_shared<const ingest::RgbImage>(picture);
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    Impl::Stream* stream = impl_->Add(name);
    stream->latest.swap(copy);
    ++stream->generation;
  }
  impl_->cv.notify_all();
  return Status::Ok();
}

void MjpegPreviewServer::Stop() {
  if (impl_->http == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->http->stop();
  impl_->thread.join();
  impl_->http.reset();
  port_ = 0;
  url_.clear();
}

}  // namespace serdab::annotate
