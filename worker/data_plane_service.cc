#include "worker/data_plane_service.h"

#include <grpc/grpc_security_constants.h>

#include <deque>
#include <memory>
#include <mutex>

#include "worker/pipe_wire.h"
#include "worker/rpc_status.h"

namespace serdab::worker {
namespace {

ByteView View(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string ToString(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

// One pipe's reactor. Its state lives in a shared object so that the core's
// callbacks (a reply, "the stage has room") can outlive the RPC safely: once
// gRPC is done with the reactor they find it gone and do nothing.
class PipeReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  PipeReactor(DataPlaneCore* core, grpc::Status denied) : state_(std::make_shared<State>()) {
    state_->core = core;
    state_->reactor = this;
    if (!denied.ok()) {
      Finish(denied);
      return;
    }
    StartRead(&state_->request);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->reads_done = true;
      MaybeFinish(*state_);
      return;
    }
    Result<PipeRequestMessage> message = ReadPipeRequest(state_->request);
    state_->request.Clear();
    if (!message.ok()) {
      Fail(ToGrpc(message.status()));
      return;
    }
    if (!state_->pipe) {
      if (!message->is_open) {
        Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a pipe's first message opens it"));
        return;
      }
      Open(message->open);
      return;
    }
    if (message->is_open) {
      Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "a pipe is opened once; every later message is a frame"));
      return;
    }
    state_->frame = std::move(message->frame);
    Submit(state_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->writing = false;
    if (!ok) {
      // The upstream party is gone; the replies it awaited go nowhere.
      state_->replies.clear();
      state_->finished = true;
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the pipe's sender went away"));
      return;
    }
    state_->replies.pop_front();
    state_->outstanding--;
    WriteNext(*state_);
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->reactor = nullptr;
    }
    if (state_->pipe) state_->core->Close(state_->pipe);
    delete this;
  }

 private:
  struct State {
    DataPlaneCore* core = nullptr;
    std::mutex mu;
    PipeReactor* reactor = nullptr;  // null once gRPC is done with it
    grpc::ByteBuffer request;
    PipeFrame frame;  // read, waiting for room in the stage
    std::shared_ptr<DataPlaneCore::Pipe> pipe;
    std::deque<grpc::ByteBuffer> replies;  // front is being written when `writing`
    size_t outstanding = 0;                // frames taken whose reply is not written
    bool writing = false;
    bool reads_done = false;
    bool finished = false;
  };

  void Open(const v1::PipeOpen& open) {
    std::weak_ptr<State> weak = state_;
    auto pipe = state_->core->Open(open, [weak](v1::PipeReply reply) {
      std::shared_ptr<State> state = weak.lock();
      if (!state) return;
      Result<grpc::ByteBuffer> bytes = WriteMessage(reply);
      std::lock_guard<std::mutex> lock(state->mu);
      if (state->reactor == nullptr || state->finished) return;
      if (!bytes.ok()) {
        state->finished = true;
        state->reactor->Finish(ToGrpc(bytes.status()));
        return;
      }
      state->replies.push_back(std::move(bytes).value());
      WriteNext(*state);
    });
    if (!pipe.ok()) {
      Fail(ToGrpc(pipe.status()));
      return;
    }
    state_->pipe = std::move(pipe).value();
    StartRead(&state_->request);
  }

  // Hands the frame read to the core, then reads the next; when the stage
  // is full, the read waits until the core says there is room.
  static void Submit(const std::shared_ptr<State>& state) {
    std::weak_ptr<State> weak = state;
    std::lock_guard<std::mutex> lock(state->mu);
    if (state->reactor == nullptr || state->finished) return;
    const bool taken = state->core->Submit(state->pipe, &state->frame, [weak] {
      if (std::shared_ptr<State> s = weak.lock()) Submit(s);
    });
    if (!taken) return;
    state->outstanding++;
    state->reactor->StartRead(&state->request);
  }

  static void WriteNext(State& state) {
    if (state.reactor == nullptr || state.writing || state.finished) return;
    if (state.replies.empty()) {
      MaybeFinish(state);
      return;
    }
    state.writing = true;
    state.reactor->StartWrite(&state.replies.front());
  }

  static void MaybeFinish(State& state) {
    if (state.reactor == nullptr || state.finished || !state.reads_done || state.outstanding > 0 ||
        state.writing) {
      return;
    }
    state.finished = true;
    state.reactor->Finish(grpc::Status::OK);
  }

  void Fail(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->finished) return;
    state_->finished = true;
    Finish(status);
  }

  std::shared_ptr<State> state_;
};

}  // namespace

grpc::Status DataPlaneService::Authorize(grpc::CallbackServerContext* context) const {
  if (!authenticate_) return grpc::Status::OK;
  const auto pem = context->auth_context()->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pem.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "the data plane needs a client certificate of the deployment's CA");
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* DataPlaneService::Done(grpc::CallbackServerContext* context,
                                                 const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* DataPlaneService::Pipe(
    grpc::CallbackServerContext* context) {
  return new PipeReactor(data_plane_, Authorize(context));
}

grpc::ServerUnaryReactor* DataPlaneService::Challenge(grpc::CallbackServerContext* context,
                                                      const v1::EnclaveRef* request,
                                                      v1::ChallengeResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return Done(context, denied);
  auto nonce = core_->Challenge(request->enclave());
  if (nonce.ok()) response->set_nonce(ToString(*nonce));
  return Done(context, ToGrpc(nonce.status()));
}

grpc::ServerUnaryReactor* DataPlaneService::GetQuote(grpc::CallbackServerContext* context,
                                                     const v1::GetQuoteRequest* request,
                                                     v1::GetQuoteResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return Done(context, denied);
  auto evidence = core_->GetQuote(request->enclave(), View(request->nonce()));
  if (evidence.ok()) response->set_evidence(ToString(*evidence));
  return Done(context, ToGrpc(evidence.status()));
}

grpc::ServerUnaryReactor* DataPlaneService::OpenSession(grpc::CallbackServerContext* context,
                                                        const v1::OpenSessionRequest* request,
                                                        v1::OpenSessionResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return Done(context, denied);
  auto session = core_->OpenSession(request->enclave(), View(request->request()));
  if (session.ok()) response->set_session(*session);
  return Done(context, ToGrpc(session.status()));
}

grpc::ServerUnaryReactor* DataPlaneService::CloseSession(grpc::CallbackServerContext* context,
                                                         const v1::CloseSessionRequest* request,
                                                         v1::CloseSessionResponse*) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return Done(context, denied);
  return Done(context, ToGrpc(core_->CloseSession(request->enclave(), request->session())));
}

}  // namespace serdab::worker
