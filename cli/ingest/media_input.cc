#include "cli/ingest/media_input.h"

#include <dlfcn.h>

#include <cerrno>
#include <mutex>
#include <string>

#include "cli/ingest/ffmpeg_log.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavdevice/version.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
}

namespace serdab::ingest {
namespace {

void InitFfmpegOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    IngestLogger();  // before FFmpeg's first line, so that it goes to the logger
    avformat_network_init();
  });
}

// libavdevice (V4L2 capture) is loaded on first use rather than linked:
// it pulls in some 80 libraries (X11, SDL, PulseAudio, ...) that every run
// of the CLI would otherwise map and relocate, and only camera devices need.
Status RegisterCaptureDevices() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] {
    const std::string library = "libavdevice.so." + std::to_string(LIBAVDEVICE_VERSION_MAJOR);
    void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      status = Status::Unimplemented("V4L2 capture needs " + library + " (Debian: libavdevice" +
                                     std::to_string(LIBAVDEVICE_VERSION_MAJOR) + "): " + dlerror());
      return;
    }
    auto register_all = reinterpret_cast<void (*)()>(dlsym(handle, "avdevice_register_all"));
    if (register_all == nullptr) {
      status = Status::Unimplemented(library + " has no avdevice_register_all");
      return;
    }
    register_all();
  });
  return status;
}

}  // namespace

MediaInput::MediaInput(std::string url, const InputOptions& options)
    : url_(std::move(url)), options_(options) {}

MediaInput::~MediaInput() {
  av_frame_free(&frame_);
  av_packet_free(&packet_);
  avcodec_free_context(&decoder_);
  avformat_close_input(&format_);
}

Result<std::unique_ptr<MediaInput>> MediaInput::Open(SourceKind kind, const std::string& url,
                                                     const InputOptions& options) {
  InitFfmpegOnce();
  std::unique_ptr<MediaInput> input(new MediaInput(url, options));
  SERDAB_RETURN_IF_ERROR(input->Connect(kind));
  return input;
}

int MediaInput::Interrupt(void* self) {
  const auto& interrupt = static_cast<MediaInput*>(self)->options_.interrupt;
  return interrupt && interrupt() ? 1 : 0;
}

Status MediaInput::Error(const std::string& action, int av_error) const {
  std::string message = url_ + ": cannot " + action + ": " + AvErrorString(av_error);
  if (av_error == AVERROR(ENOENT)) return Status::NotFound(std::move(message));
  if (av_error == AVERROR_INVALIDDATA) return Status::Corruption(std::move(message));
  return Status::IoError(std::move(message));
}

Status MediaInput::Connect(SourceKind kind) {
  format_ = avformat_alloc_context();
  if (format_ == nullptr) return Status::ResourceExhausted(url_ + ": no memory for a demuxer");
  format_->interrupt_callback.callback = &MediaInput::Interrupt;
  format_->interrupt_callback.opaque = this;

  const std::string timeout_us =
      std::to_string(static_cast<int64_t>(options_.io_timeout_seconds * 1e6));
  AVDictionary* settings = nullptr;
  const AVInputFormat* input_format = nullptr;
  switch (kind) {
    case SourceKind::kRtsp:
      // Interleaved TCP survives NAT and loss; "timeout" bounds each socket
      // read, so a frozen server cannot hang the reader.
      av_dict_set(&settings, "rtsp_transport", "tcp", 0);
      av_dict_set(&settings, "timeout", timeout_us.c_str(), 0);
      break;
    case SourceKind::kHttp:
      av_dict_set(&settings, "timeout", timeout_us.c_str(), 0);
      av_dict_set(&settings, "rw_timeout", timeout_us.c_str(), 0);
      break;
    case SourceKind::kV4l2:
      if (Status s = RegisterCaptureDevices(); !s.ok()) return s.WithContext(url_);
      input_format = av_find_input_format("video4linux2");
      if (input_format == nullptr) {
        return Status::Unimplemented(url_ + ": this FFmpeg build has no video4linux2 input");
      }
      break;
    case SourceKind::kFile:
    case SourceKind::kImageDirectory:
      break;
  }
  // On failure avformat_open_input frees format_ and sets it to null.
  int rc = avformat_open_input(&format_, url_.c_str(), input_format, &settings);
  av_dict_free(&settings);
  if (rc < 0) return Error("open", rc);
  rc = avformat_find_stream_info(format_, nullptr);
  if (rc < 0) return Error("read stream info", rc);

  const AVCodec* codec = nullptr;
  rc = av_find_best_stream(format_, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (rc == AVERROR_STREAM_NOT_FOUND) return Status::NotFound(url_ + ": no video stream");
  if (rc == AVERROR_DECODER_NOT_FOUND) {
    return Status::Unimplemented(url_ + ": no decoder for its video codec");
  }
  if (rc < 0) return Error("find a video stream", rc);
  stream_ = rc;
  const AVStream* stream = format_->streams[stream_];

  decoder_ = avcodec_alloc_context3(codec);
  if (decoder_ == nullptr) return Status::ResourceExhausted(url_ + ": no memory for a decoder");
  rc = avcodec_parameters_to_context(decoder_, stream->codecpar);
  if (rc < 0) return Error("configure the decoder", rc);
  decoder_->thread_count = options_.decoder_threads;
  decoder_->pkt_timebase = stream->time_base;
  rc = avcodec_open2(decoder_, codec, nullptr);
  if (rc < 0) return Error("open the " + std::string(codec->name) + " decoder", rc);

  time_base_ = av_q2d(stream->time_base);
  const AVRational rate = av_guess_frame_rate(format_, const_cast<AVStream*>(stream), nullptr);
  frame_period_ = rate.num > 0 && rate.den > 0 ? av_q2d(av_inv_q(rate)) : 1.0 / 25;
  packet_ = av_packet_alloc();
  frame_ = av_frame_alloc();
  if (packet_ == nullptr || frame_ == nullptr) {
    return Status::ResourceExhausted(url_ + ": no memory for frames");
  }
  return Status::Ok();
}

double MediaInput::PtsSeconds() {
  const int64_t ts = frame_->best_effort_timestamp;
  const int64_t start = format_->streams[stream_]->start_time;
  double pts;
  if (ts != AV_NOPTS_VALUE) {
    pts = static_cast<double>(start != AV_NOPTS_VALUE ? ts - start : ts) * time_base_;
  } else {
    pts = last_pts_ < 0 ? 0 : last_pts_ + frame_period_;
  }
  last_pts_ = pts;
  return pts;
}

Result<DecodedPicture> MediaInput::Next() {
  while (true) {
    int rc = avcodec_receive_frame(decoder_, frame_);
    if (rc == 0) {
      if (frame_->decode_error_flags != 0 || (frame_->flags & AV_FRAME_FLAG_CORRUPT) != 0) {
        if (options_.on_corrupt) options_.on_corrupt(url_ + ": dropped a corrupt frame");
        continue;
      }
      return DecodedPicture{frame_, PtsSeconds()};
    }
    if (rc == AVERROR_EOF) return DecodedPicture{};
    if (rc == AVERROR_INVALIDDATA) {
      if (options_.on_corrupt) options_.on_corrupt(url_ + ": " + AvErrorString(rc));
      continue;
    }
    if (rc != AVERROR(EAGAIN)) return Error("decode", rc);
    if (draining_) return DecodedPicture{};

    rc = av_read_frame(format_, packet_);
    if (rc == AVERROR_EOF) {
      // Drain: the decoder still holds the last (reordered) pictures.
      draining_ = true;
      avcodec_send_packet(decoder_, nullptr);
      continue;
    }
    if (rc < 0) return Error("read", rc);
    if (packet_->stream_index != stream_) {
      av_packet_unref(packet_);
      continue;
    }
    ++packets_;
    rc = avcodec_send_packet(decoder_, packet_);
    av_packet_unref(packet_);
    if (rc == AVERROR(ENOMEM)) return Error("decode", rc);
    // Any other refusal is about this packet's bytes: skip it, keep the stream.
    if (rc < 0 && options_.on_corrupt) {
      options_.on_corrupt(url_ + ": packet " + std::to_string(packets_) +
                          " skipped: " + AvErrorString(rc));
    }
  }
}

}  // namespace serdab::ingest
