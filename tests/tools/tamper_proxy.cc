// serdab-tamper-proxy: the hostile host of the data-plane tests.
//
// It stands in front of one worker, which advertises the proxy's address
// instead of its own, so every RPC to that worker (the orchestrator's, the
// camera client's, the previous stage's) passes through it. It terminates
// mutual TLS with the worker's own certificate and calls the worker under
// the caller's own identity: it is handed every party's credentials, more
// than the owner of a worker host has, so that TLS is out of the way and
// what the tests see stopping an attack is the enclaves' own protection.
//
// On the Pipe calls that carry frames into stage --stage, it can flip a bit
// in one frame's payload, send one frame twice, or swap one frame with the
// next, as --actions says; and it appends every message it relays, in both
// directions, to --record, where the tests look for plaintext.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "serdab/v1/data_plane.pb.h"
#include "worker/grpc_daemon.h"
#include "worker/node_certificates.h"
#include "worker/peer_link.h"

namespace serdab {
namespace {

constexpr char kPipeMethod[] = "/serdab.v1.DataPlane/Pipe";

struct ProxyOptions {
  worker::ListenOptions listen;
  std::string upstream;            // host:port of the worker
  std::string upstream_port_file;  // or the worker's port file, read on first use
  std::vector<std::string> identities;
  int stage = -1;
  std::string actions_file;
  std::string record_file;
};

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// What happens to the frames entering the stage under attack. The actions
// file holds one line, "flip N", "replay N" or "reorder N" (N counts the
// frames relayed since that line was written, from 0), or nothing; it is
// read before each frame, and a new line starts a new count.
class FrameTamperer {
 public:
  explicit FrameTamperer(std::string actions_file) : actions_file_(std::move(actions_file)) {}

  // The messages to send upstream in place of `frame_message`: none (held
  // back to swap with the next), one, or two.
  std::vector<grpc::ByteBuffer> Apply(const grpc::ByteBuffer& frame_message) {
    std::lock_guard<std::mutex> lock(mu_);
    ReloadActions();
    const uint64_t index = seen_++;
    std::vector<grpc::ByteBuffer> out;
    if (held_.has_value()) {
      out.push_back(frame_message);
      out.push_back(*held_);
      held_.reset();
      spdlog::warn("reordered frames {} and {}", index - 1, index);
      return out;
    }
    if (index != target_ || action_.empty()) {
      out.push_back(frame_message);
      return out;
    }
    if (action_ == "flip") {
      v1::PipeRequest request;
      if (request.ParseFromString(ToString(frame_message)) && request.has_frame() &&
          !request.frame().payload().empty()) {
        std::string* payload = request.mutable_frame()->mutable_payload();
        (*payload)[payload->size() / 2] ^= 0x01;
        out.push_back(ToBuffer(request.SerializeAsString()));
        spdlog::warn("flipped a bit in frame {}", index);
        return out;
      }
    } else if (action_ == "replay") {
      out.push_back(frame_message);
      out.push_back(frame_message);
      spdlog::warn("replayed frame {}", index);
      return out;
    } else if (action_ == "reorder") {
      held_ = frame_message;
      return out;
    }
    out.push_back(frame_message);
    return out;
  }

 private:
  void ReloadActions() {
    if (actions_file_.empty()) return;
    std::ifstream in(actions_file_);
    std::stringstream text;
    text << in.rdbuf();
    if (text.str() == actions_text_) return;
    actions_text_ = text.str();
    std::istringstream words(actions_text_);
    action_.clear();
    target_ = 0;
    words >> action_ >> target_;
    seen_ = 0;
    held_.reset();
    spdlog::info("actions: '{}' at frame {}", action_, target_);
  }

  const std::string actions_file_;
  std::mutex mu_;
  std::string actions_text_;
  std::string action_;
  uint64_t target_ = 0;
  uint64_t seen_ = 0;
  std::optional<grpc::ByteBuffer> held_;
};

// Every relayed message, appended as it passes.
class Recorder {
 public:
  explicit Recorder(const std::string& path) {
    if (!path.empty()) file_ = std::fopen(path.c_str(), "ab");
  }
  ~Recorder() {
    if (file_ != nullptr) std::fclose(file_);
  }
  void Append(const grpc::ByteBuffer& message) {
    if (file_ == nullptr) return;
    const std::string bytes = ToString(message);
    std::lock_guard<std::mutex> lock(mu_);
    std::fwrite(bytes.data(), 1, bytes.size(), file_);
    std::fflush(file_);
  }

 private:
  std::mutex mu_;
  std::FILE* file_ = nullptr;
};

class Proxy;

// One relayed call: the caller's side is this server reactor, the worker's
// side the Upstream client reactor it owns. Each direction keeps one read
// and one write in flight and reads the next message only when the last
// one is written, so the proxy buffers nothing beyond a message or two.
//
// The caller's reactions start operations on the upstream stream (the next
// write towards the worker, the next read from it once a message has been
// written down). gRPC may end that stream, and free it, as soon as no
// operation and no hold is outstanding, so the upstream hold is kept until
// no caller reaction can start one again: until the writes towards the
// worker are over and the reads from it are too, or the caller cancelled.
class ProxyCall : public grpc::ServerGenericBidiReactor {
 public:
  ProxyCall(Proxy* proxy, grpc::GenericCallbackServerContext* context);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override { Release(); }

 private:
  class Upstream : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Upstream(ProxyCall* call) : call_(call) {}
    void OnReadDone(bool ok) override { call_->UpstreamRead(ok); }
    void OnWriteDone(bool ok) override { call_->UpstreamWritten(ok); }
    void OnDone(const grpc::Status& status) override { call_->UpstreamDone(status); }

   private:
    ProxyCall* call_;
  };

  void UpstreamRead(bool ok);
  void UpstreamWritten(bool ok);
  void UpstreamDone(const grpc::Status& status);
  // With mu_ held: start the next write towards the worker, or the next
  // read from the caller once everything read is written.
  void PumpUpLocked();
  void PumpDownLocked();
  // Releases the upstream hold once both directions are over (see above).
  void MaybeReleaseHoldLocked();
  void ReleaseHoldLocked();
  void Release();

  Proxy* const proxy_;
  const bool is_pipe_;
  grpc::ClientContext upstream_context_;
  Upstream upstream_{this};

  std::mutex mu_;
  grpc::ByteBuffer from_caller_;
  grpc::ByteBuffer from_upstream_;
  grpc::ByteBuffer writing_up_message_;
  grpc::ByteBuffer writing_down_message_;
  std::deque<grpc::ByteBuffer> to_upstream_;
  std::deque<grpc::ByteBuffer> to_caller_;
  bool writing_up_ = false;
  bool writing_down_ = false;
  bool caller_closed_ = false;
  bool hold_released_ = false;
  bool upstream_broken_ = false;  // no more upstream writes: it failed, or ended
  bool writes_done_sent_ = false;
  bool upstream_reads_done_ = false;
  bool tamper_ = false;
  bool opened_ = false;
  std::optional<grpc::Status> upstream_status_;
  bool finished_ = false;
  int refs_ = 2;  // the server side's OnDone and the upstream's OnDone
};

class Proxy : public grpc::CallbackGenericService {
 public:
  explicit Proxy(const ProxyOptions& options)
      : options_(options), tamperer_(options.actions_file), recorder_(options.record_file) {}

  Status ParseIdentities() {
    for (const std::string& entry : options_.identities) {
      const size_t eq = entry.find('=');
      const size_t slash = entry.rfind('/');
      if (eq == std::string::npos || slash == std::string::npos || slash < eq) {
        return Status::InvalidArgument("--identity '" + entry + "': expected NAME=DIR/STEM");
      }
      credentials_dirs_[entry.substr(0, eq)] = {entry.substr(eq + 1, slash - eq - 1),
                                                entry.substr(slash + 1)};
    }
    return Status::Ok();
  }

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    return new ProxyCall(this, context);
  }

  // A stub that calls the worker as `name`, or null with `error` set.
  std::shared_ptr<grpc::GenericStub> StubFor(const std::string& name, std::string* error) {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = stubs_.find(name);
    if (found != stubs_.end()) return found->second;
    auto dirs = credentials_dirs_.find(name);
    if (dirs == credentials_dirs_.end()) {
      *error = "no credentials for caller '" + name + "'";
      return nullptr;
    }
    if (upstream_.empty()) {
      std::ifstream port_file(options_.upstream_port_file);
      int port = 0;
      if (!(port_file >> port) || port <= 0) {
        *error = "no port in " + options_.upstream_port_file;
        return nullptr;
      }
      upstream_ = "127.0.0.1:" + std::to_string(port);
    }
    auto credentials =
        worker::MakeChannelCredentials(upstream_, dirs->second.first, dirs->second.second);
    if (!credentials.ok()) {
      *error = credentials.status().ToString();
      return nullptr;
    }
    auto stub = std::make_shared<grpc::GenericStub>(grpc::CreateCustomChannel(
        upstream_, credentials.value(), worker::DataPlaneChannelArguments()));
    stubs_[name] = stub;
    return stub;
  }

  void SetUpstream(const std::string& upstream) { upstream_ = upstream; }
  int stage() const { return options_.stage; }
  FrameTamperer& tamperer() { return tamperer_; }
  Recorder& recorder() { return recorder_; }

 private:
  const ProxyOptions options_;
  FrameTamperer tamperer_;
  Recorder recorder_;
  std::mutex mu_;
  std::string upstream_;
  std::map<std::string, std::pair<std::string, std::string>> credentials_dirs_;
  std::map<std::string, std::shared_ptr<grpc::GenericStub>> stubs_;
};

ProxyCall::ProxyCall(Proxy* proxy, grpc::GenericCallbackServerContext* context)
    : proxy_(proxy), is_pipe_(context->method() == kPipeMethod) {
  std::string error;
  std::shared_ptr<grpc::GenericStub> stub;
  const auto pem = context->auth_context()->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pem.empty()) {
    error = "no client certificate";
  } else {
    auto caller =
        worker::IdentityOfCertificate(std::string_view(pem.front().data(), pem.front().size()));
    if (caller.ok()) {
      stub = proxy_->StubFor(caller->name, &error);
    } else {
      error = caller.status().ToString();
    }
  }
  if (stub == nullptr) {
    spdlog::error("{}: {}", context->method(), error);
    // No upstream call: nothing may touch upstream_ (OnCancel would).
    refs_ = 1;
    finished_ = true;
    hold_released_ = true;
    upstream_broken_ = true;
    upstream_reads_done_ = true;
    Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, error));
    return;
  }
  upstream_context_.set_deadline(context->deadline());
  stub->PrepareBidiStreamingCall(&upstream_context_, context->method(), grpc::StubOptions(),
                                 &upstream_);
  upstream_.AddHold();
  upstream_.StartRead(&from_upstream_);
  upstream_.StartCall();
  StartRead(&from_caller_);
}

void ProxyCall::OnReadDone(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!ok) {
    caller_closed_ = true;
    if (!writing_up_) PumpUpLocked();
    return;
  }
  proxy_->recorder().Append(from_caller_);
  if (is_pipe_ && !opened_) {
    opened_ = true;
    v1::PipeRequest request;
    tamper_ = request.ParseFromString(ToString(from_caller_)) && request.has_open() &&
              static_cast<int>(request.open().first_stage()) == proxy_->stage();
    to_upstream_.push_back(from_caller_);
  } else if (tamper_) {
    for (grpc::ByteBuffer& m : proxy_->tamperer().Apply(from_caller_)) {
      to_upstream_.push_back(std::move(m));
    }
  } else {
    to_upstream_.push_back(from_caller_);
  }
  if (!writing_up_) PumpUpLocked();
}

void ProxyCall::PumpUpLocked() {
  if (upstream_broken_ || hold_released_) return;
  if (to_upstream_.empty()) {
    if (caller_closed_) {
      if (!writes_done_sent_) {
        writes_done_sent_ = true;
        upstream_.StartWritesDone();
        MaybeReleaseHoldLocked();
      }
    } else {
      StartRead(&from_caller_);
    }
    return;
  }
  writing_up_ = true;
  writing_up_message_ = std::move(to_upstream_.front());
  to_upstream_.pop_front();
  upstream_.StartWrite(&writing_up_message_);
}

void ProxyCall::UpstreamWritten(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  writing_up_ = false;
  if (!ok) {
    // The worker's side is gone; its status arrives in UpstreamDone.
    upstream_broken_ = true;
    to_upstream_.clear();
    MaybeReleaseHoldLocked();
    return;
  }
  PumpUpLocked();
}

void ProxyCall::UpstreamRead(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!ok) {
    upstream_reads_done_ = true;
    MaybeReleaseHoldLocked();
    return;
  }
  proxy_->recorder().Append(from_upstream_);
  to_caller_.push_back(from_upstream_);
  if (!writing_down_) PumpDownLocked();
}

void ProxyCall::PumpDownLocked() {
  if (to_caller_.empty()) {
    if (upstream_status_.has_value()) {
      if (!finished_) {
        finished_ = true;
        Finish(*upstream_status_);
      }
    } else if (!upstream_reads_done_ && !hold_released_) {
      upstream_.StartRead(&from_upstream_);
    }
    return;
  }
  writing_down_ = true;
  writing_down_message_ = std::move(to_caller_.front());
  to_caller_.pop_front();
  StartWrite(&writing_down_message_);
}

void ProxyCall::OnWriteDone(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  writing_down_ = false;
  if (!ok) {
    // The caller is gone; OnCancel cancels the worker's side. Drop what is
    // queued for the caller, but go on to Finish once the worker's status
    // is in: the server call ends only then, and Shutdown waits for it.
    to_caller_.clear();
  }
  PumpDownLocked();
}

void ProxyCall::OnCancel() {
  upstream_context_.TryCancel();
  std::lock_guard<std::mutex> lock(mu_);
  ReleaseHoldLocked();
}

void ProxyCall::UpstreamDone(const grpc::Status& status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    upstream_status_ = status;
    upstream_reads_done_ = true;
    // The upstream stream is gone once OnDone runs (its hold was released,
    // by OnCancel perhaps, while a message from the caller was on its way):
    // no upstream operation may start after this one.
    upstream_broken_ = true;
    to_upstream_.clear();
    if (!writing_down_) PumpDownLocked();
  }
  Release();
}

void ProxyCall::MaybeReleaseHoldLocked() {
  if ((writes_done_sent_ || upstream_broken_) && upstream_reads_done_) ReleaseHoldLocked();
}

void ProxyCall::ReleaseHoldLocked() {
  if (hold_released_) return;
  hold_released_ = true;
  upstream_.RemoveHold();
}

void ProxyCall::Release() {
  bool last = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last = --refs_ == 0;
  }
  if (last) delete this;
}

int Run(const ProxyOptions& options, const sigset_t& stop) {
  worker::TuneAllocatorForLargeMessages();
  Proxy proxy(options);
  Status parsed = proxy.ParseIdentities();
  if (!parsed.ok()) {
    std::fprintf(stderr, "serdab-tamper-proxy: %s\n", parsed.ToString().c_str());
    return 2;
  }
  if (!options.upstream.empty()) proxy.SetUpstream(options.upstream);
  auto credentials = worker::MakeServerCredentials(options.listen);
  if (!credentials.ok()) {
    std::fprintf(stderr, "serdab-tamper-proxy: %s\n", credentials.status().ToString().c_str());
    return 2;
  }
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(-1);
  builder.SetMaxSendMessageSize(-1);
  builder.RegisterCallbackGenericService(&proxy);
  Status served = worker::ServeUntilSignal(&builder, options.listen, credentials.value(), stop,
                                           "tamper proxy", nullptr, nullptr);
  if (!served.ok()) {
    std::fprintf(stderr, "serdab-tamper-proxy: %s\n", served.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace serdab

int main(int argc, char** argv) {
  const sigset_t stop = serdab::worker::BlockStopSignals();
  serdab::ProxyOptions options;
  CLI::App app("A hostile host's proxy in front of one worker, for the data-plane tests.",
               "serdab-tamper-proxy");
  app.add_option("--listen", options.listen.listen, "host:port to serve on (port 0: any)")
      ->required();
  app.add_option("--port-file", options.listen.port_file, "write the bound port here");
  app.add_option("--tls-dir", options.listen.tls_dir,
                 "the worker's node credentials (node.crt, node.key, ca.crt)")
      ->required();
  auto* upstream = app.add_option("--upstream", options.upstream, "the worker's host:port");
  app.add_option("--upstream-port-file", options.upstream_port_file,
                 "or the worker's port file, read at the first call (the worker on 127.0.0.1)")
      ->excludes(upstream);
  app.add_option("--identity", options.identities,
                 "NAME=DIR/STEM: call the worker as NAME with DIR/STEM.crt and DIR/STEM.key "
                 "(repeatable; callers without one are refused)");
  app.add_option("--stage", options.stage, "the stage whose incoming frames the actions apply to");
  app.add_option("--actions", options.actions_file,
                 "file with one line, 'flip N', 'replay N' or 'reorder N', read before each frame");
  app.add_option("--record", options.record_file, "append every relayed message here");
  CLI11_PARSE(app, argc, argv);
  if (options.upstream.empty() && options.upstream_port_file.empty()) {
    std::fprintf(stderr, "serdab-tamper-proxy: give --upstream or --upstream-port-file\n");
    return 2;
  }
  return serdab::Run(options, stop);
}
