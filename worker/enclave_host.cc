#include "worker/enclave_host.h"

#include <dlfcn.h>

#include "enclave/boundary.h"

namespace serdab::worker {
namespace {

Status FromEcall(serdab_status code, const char* what) {
  if (code == SERDAB_OK) return Status::Ok();
  return Status(static_cast<Status::Code>(code),
                std::string(what) + ": " + serdab_ecall_last_error());
}

// Calls `ecall(out, capacity, &size)` and repeats once with a buffer of the
// size the enclave asked for.
template <typename Ecall>
Result<Bytes> CallWithOutput(const char* what, size_t initial, Ecall ecall) {
  Bytes out(initial);
  size_t size = 0;
  serdab_status code = ecall(out.data(), out.size(), &size);
  if (code == SERDAB_BUFFER_TOO_SMALL && size > out.size()) {
    out.resize(size);
    code = ecall(out.data(), out.size(), &size);
  }
  SERDAB_RETURN_IF_ERROR(FromEcall(code, what));
  out.resize(size);
  return out;
}

}  // namespace

Result<std::unique_ptr<EnclaveHost>> EnclaveHost::Create(const std::string& config_text,
                                                         const std::string& platform_dir,
                                                         ByteView sigstruct) {
  serdab_enclave handle = 0;
  SERDAB_RETURN_IF_ERROR(FromEcall(
      serdab_ecall_create(reinterpret_cast<const uint8_t*>(config_text.data()), config_text.size(),
                          platform_dir.c_str(), sigstruct.empty() ? nullptr : sigstruct.data(),
                          sigstruct.size(), &handle),
      "create enclave"));
  return std::unique_ptr<EnclaveHost>(new EnclaveHost(handle));
}

EnclaveHost::~EnclaveHost() { serdab_ecall_destroy(handle_); }

Result<Bytes> EnclaveHost::Challenge() {
  return CallWithOutput("challenge", 64, [&](uint8_t* out, size_t cap, size_t* size) {
    return serdab_ecall_challenge(handle_, out, cap, size);
  });
}

Result<Bytes> EnclaveHost::GetQuote(ByteView nonce) {
  return CallWithOutput("get quote", 4096, [&](uint8_t* out, size_t cap, size_t* size) {
    return serdab_ecall_get_quote(handle_, nonce.data(), nonce.size(), out, cap, size);
  });
}

Result<uint64_t> EnclaveHost::OpenSession(ByteView request) {
  serdab_session session = 0;
  SERDAB_RETURN_IF_ERROR(
      FromEcall(serdab_ecall_open_session(handle_, request.data(), request.size(), &session),
                "open session"));
  return session;
}

Status EnclaveHost::CloseSession(uint64_t session) {
  return FromEcall(serdab_ecall_close_session(handle_, session), "close session");
}

Result<Bytes> EnclaveHost::Provision(uint64_t session, ByteView message) {
  // A command is consumed when it runs, so the buffer for a sealed partition
  // must be big enough the first time: the plaintext plus sealing overhead.
  Bytes out(message.size() + 4096);
  size_t size = 0;
  SERDAB_RETURN_IF_ERROR(
      FromEcall(serdab_ecall_provision(handle_, session, message.data(), message.size(), out.data(),
                                       out.size(), &size),
                "provision"));
  out.resize(size);
  return out;
}

Result<Bytes> EnclaveHost::Coordinate(uint64_t session, ByteView request) {
  // A reply that does not fit changes nothing, so the call is repeated with
  // the size the enclave asks for.
  return CallWithOutput("coordinate", request.size() + 64 * 1024,
                        [&](uint8_t* buf, size_t cap, size_t* size) {
                          return serdab_ecall_coordinate(handle_, session, request.data(),
                                                         request.size(), buf, cap, size);
                        });
}

Status EnclaveHost::UnsealPartition(ByteView blob) {
  return FromEcall(serdab_ecall_unseal_partition(handle_, blob.data(), blob.size()),
                   "unseal partition");
}

Result<Bytes> EnclaveHost::Process(uint64_t in_session, uint32_t in_hop, uint64_t out_session,
                                   uint32_t out_hop, uint64_t stream_id, ByteView message) {
  const serdab_buffer piece{message.data(), message.size()};
  Result<Bytes> out = CallWithOutput(
      "process", process_capacity_.load(), [&](uint8_t* buf, size_t cap, size_t* size) {
        return serdab_ecall_process(handle_, in_session, in_hop, &out_session, 1, out_hop,
                                    stream_id, &piece, 1, buf, cap, size);
      });
  if (out.ok()) GrowProcessCapacity(out->size());
  return out;
}

Result<std::vector<Payload>> EnclaveHost::ProcessFrame(uint64_t in_session, uint32_t in_hop,
                                                       const std::vector<uint64_t>& out_sessions,
                                                       uint32_t out_hop, uint64_t stream_id,
                                                       const Payload& message) {
  std::vector<serdab_buffer> pieces;
  pieces.reserve(message.parts.size());
  for (const ByteView& part : message.parts) pieces.push_back({part.data(), part.size()});
  // Left uninitialised: the enclave writes every byte it reports.
  size_t capacity = process_capacity_.load() * out_sessions.size();
  std::shared_ptr<uint8_t[]> out(new uint8_t[capacity]);
  size_t size = 0;
  auto call = [&] {
    return serdab_ecall_process(handle_, in_session, in_hop, out_sessions.data(),
                                out_sessions.size(), out_hop, stream_id, pieces.data(),
                                pieces.size(), out.get(), capacity, &size);
  };
  serdab_status code = call();
  if (code == SERDAB_BUFFER_TOO_SMALL && size > capacity) {
    // Nothing happened; the enclave said how much the result needs.
    capacity = size;
    out.reset(new uint8_t[capacity]);
    code = call();
  }
  SERDAB_RETURN_IF_ERROR(FromEcall(code, "process"));
  // One message per session, all of one size (none while a part is kept).
  const size_t each = size / out_sessions.size();
  GrowProcessCapacity(each);
  std::vector<Payload> results;
  for (size_t i = 0; i < out_sessions.size(); ++i) {
    results.push_back(Payload{{ByteView(out.get() + i * each, each)}, out});
  }
  return results;
}

void EnclaveHost::GrowProcessCapacity(size_t size) {
  size_t seen = process_capacity_.load();
  while (seen < size && !process_capacity_.compare_exchange_weak(seen, size)) {
  }
}

Result<std::string> EnclaveHost::Profile(uint32_t repeats, bool measure_paging) {
  SERDAB_ASSIGN_OR_RETURN(
      Bytes json, CallWithOutput("profile", 64 * 1024, [&](uint8_t* out, size_t cap, size_t* size) {
        return serdab_ecall_profile(handle_, repeats, measure_paging ? SERDAB_PROFILE_PAGING : 0u,
                                    out, cap, size);
      }));
  return std::string(json.begin(), json.end());
}

Result<std::string> EnclaveHost::StatsJson() {
  SERDAB_ASSIGN_OR_RETURN(
      Bytes json, CallWithOutput("stats", 4096, [&](uint8_t* out, size_t cap, size_t* size) {
        return serdab_ecall_stats(handle_, out, cap, size);
      }));
  return std::string(json.begin(), json.end());
}

Result<std::string> EnclaveHost::ImagePath() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&serdab_ecall_create), &info) == 0 ||
      info.dli_fname == nullptr) {
    return Status::Internal("cannot locate the enclave image this process loaded");
  }
  return std::string(info.dli_fname);
}

}  // namespace serdab::worker
