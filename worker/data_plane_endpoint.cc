#include "worker/data_plane_endpoint.h"

#include <chrono>

#include "worker/rpc_status.h"

namespace serdab::worker {
namespace {

std::unique_ptr<grpc::ClientContext> Context(std::chrono::seconds timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

constexpr auto kCallTimeout = std::chrono::seconds(10);

Status Unsupported() {
  return Status::Unimplemented("the data plane relays frames on its Pipe, not owner commands");
}

}  // namespace

std::string DataPlaneEndpoint::Where(const std::string& what) const {
  return what + " of enclave " + enclave_ + " at " + address_;
}

Result<Bytes> DataPlaneEndpoint::Challenge() {
  v1::EnclaveRef request;
  request.set_enclave(enclave_);
  v1::ChallengeResponse response;
  SERDAB_RETURN_IF_ERROR(FromGrpc(stub_->Challenge(Context(kCallTimeout).get(), request, &response),
                                  Where("challenge")));
  return Bytes(response.nonce().begin(), response.nonce().end());
}

Result<Bytes> DataPlaneEndpoint::GetQuote(ByteView nonce) {
  v1::GetQuoteRequest request;
  request.set_enclave(enclave_);
  request.set_nonce(std::string(nonce.begin(), nonce.end()));
  v1::GetQuoteResponse response;
  SERDAB_RETURN_IF_ERROR(
      FromGrpc(stub_->GetQuote(Context(kCallTimeout).get(), request, &response), Where("quote")));
  return Bytes(response.evidence().begin(), response.evidence().end());
}

Result<uint64_t> DataPlaneEndpoint::OpenSession(ByteView bytes) {
  v1::OpenSessionRequest request;
  request.set_enclave(enclave_);
  request.set_request(std::string(bytes.begin(), bytes.end()));
  v1::OpenSessionResponse response;
  SERDAB_RETURN_IF_ERROR(FromGrpc(
      stub_->OpenSession(Context(kCallTimeout).get(), request, &response), Where("session")));
  return response.session();
}

Result<Bytes> DataPlaneEndpoint::Provision(uint64_t, ByteView) { return Unsupported(); }

Result<Bytes> DataPlaneEndpoint::Process(uint64_t, uint32_t, uint64_t, uint32_t, uint64_t,
                                         ByteView) {
  return Unsupported();
}

Status DataPlaneEndpoint::CloseSession(uint64_t session) {
  v1::CloseSessionRequest request;
  request.set_enclave(enclave_);
  request.set_session(session);
  v1::CloseSessionResponse response;
  return FromGrpc(stub_->CloseSession(Context(std::chrono::seconds(2)).get(), request, &response),
                  Where("close session"));
}

void DataPlaneEndpoint::CloseSessionLater(uint64_t session) {
  struct Call {
    std::shared_ptr<v1::DataPlane::StubInterface> stub;
    std::unique_ptr<grpc::ClientContext> context = Context(std::chrono::seconds(2));
    v1::CloseSessionRequest request;
    v1::CloseSessionResponse response;
  };
  auto* call = new Call;
  call->stub = stub_;
  call->request.set_enclave(enclave_);
  call->request.set_session(session);
  call->stub->async()->CloseSession(call->context.get(), &call->request, &call->response,
                                    [call](const grpc::Status&) { delete call; });
}

}  // namespace serdab::worker
