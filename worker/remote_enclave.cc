#include "worker/remote_enclave.h"

#include "worker/rpc_status.h"

namespace serdab::worker {
namespace {

std::string ToString(ByteView bytes) { return std::string(bytes.begin(), bytes.end()); }
Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

}  // namespace

Status RemoteEnclave::CloseSession(uint64_t session) {
  grpc::ClientContext context;
  v1::CloseSessionRequest request;
  request.set_enclave(enclave_);
  request.set_session(session);
  v1::CloseSessionResponse response;
  return FromGrpc(stub_->CloseSession(&context, request, &response), "close session");
}

Result<Bytes> RemoteEnclave::Challenge() {
  grpc::ClientContext context;
  v1::EnclaveRef request;
  request.set_enclave(enclave_);
  v1::ChallengeResponse response;
  SERDAB_RETURN_IF_ERROR(FromGrpc(stub_->Challenge(&context, request, &response), "challenge"));
  return ToBytes(response.nonce());
}

Result<Bytes> RemoteEnclave::GetQuote(ByteView nonce) {
  grpc::ClientContext context;
  v1::GetQuoteRequest request;
  request.set_enclave(enclave_);
  request.set_nonce(ToString(nonce));
  v1::GetQuoteResponse response;
  SERDAB_RETURN_IF_ERROR(FromGrpc(stub_->GetQuote(&context, request, &response), "get quote"));
  return ToBytes(response.evidence());
}

Result<uint64_t> RemoteEnclave::OpenSession(ByteView session_request) {
  grpc::ClientContext context;
  v1::OpenSessionRequest request;
  request.set_enclave(enclave_);
  request.set_request(ToString(session_request));
  v1::OpenSessionResponse response;
  SERDAB_RETURN_IF_ERROR(
      FromGrpc(stub_->OpenSession(&context, request, &response), "open session"));
  return response.session();
}

Result<Bytes> RemoteEnclave::Provision(uint64_t session, ByteView message) {
  grpc::ClientContext context;
  v1::ProvisionRequest request;
  request.set_enclave(enclave_);
  request.set_session(session);
  request.set_message(ToString(message));
  v1::ProvisionResponse response;
  SERDAB_RETURN_IF_ERROR(FromGrpc(stub_->Provision(&context, request, &response), "provision"));
  return Bytes();
}

Result<Bytes> RemoteEnclave::Process(uint64_t in_session, uint32_t in_hop, uint64_t out_session,
                                     uint32_t out_hop, uint64_t stream_id, ByteView message) {
  grpc::ClientContext context;
  v1::ProcessRequest request;
  request.set_enclave(enclave_);
  request.set_in_session(in_session);
  request.set_in_hop(in_hop);
  request.set_out_session(out_session);
  request.set_out_hop(out_hop);
  request.set_stream(stream_id);
  request.set_message(ToString(message));
  v1::ProcessResponse response;
  SERDAB_RETURN_IF_ERROR(FromGrpc(stub_->Process(&context, request, &response), "process"));
  return ToBytes(response.message());
}

}  // namespace serdab::worker
