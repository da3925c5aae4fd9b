// The trusted side of enclave/boundary.h: decodes each ECALL's arguments,
// finds the enclave, and turns Status into a status code plus a message.
#include "enclave/boundary.h"

#include <dlfcn.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "enclave/runtime/sim_enclave.h"

#define SERDAB_ECALL extern "C" __attribute__((visibility("default")))

namespace serdab::enclave {
namespace {

thread_local std::string last_error;

serdab_status Fail(const Status& status) {
  last_error = status.message();
  return static_cast<serdab_status>(status.code());
}

// The bytes of the object this code was loaded from: the enclave image whose
// hash is the measurement. Read once.
Result<crypto::Bytes> EnclaveImage() {
  static std::mutex mu;
  static crypto::Bytes image;
  std::lock_guard<std::mutex> lock(mu);
  if (!image.empty()) return image;
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&serdab_ecall_create), &info) == 0 ||
      info.dli_fname == nullptr) {
    return Status::Internal("cannot locate the enclave image to measure it");
  }
  std::ifstream in(info.dli_fname, std::ios::binary);
  if (!in) return Status::IoError(std::string(info.dli_fname) + ": cannot read the enclave image");
  image.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return image;
}

class Registry {
 public:
  static Registry& Get() {
    static Registry* registry = new Registry;
    return *registry;
  }
  serdab_enclave Add(std::unique_ptr<SimEnclave> e) {
    std::lock_guard<std::mutex> lock(mu_);
    const serdab_enclave id = next_++;
    enclaves_[id] = std::shared_ptr<SimEnclave>(std::move(e));
    return id;
  }
  // Holds a reference for the duration of one ECALL, so destroy cannot pull
  // the enclave from under a call in flight.
  Result<std::shared_ptr<SimEnclave>> Find(serdab_enclave id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = enclaves_.find(id);
    if (it == enclaves_.end()) return Status::NotFound("no enclave " + std::to_string(id));
    return it->second;
  }
  bool Remove(serdab_enclave id) {
    std::lock_guard<std::mutex> lock(mu_);
    return enclaves_.erase(id) != 0;
  }

 private:
  std::mutex mu_;
  std::map<serdab_enclave, std::shared_ptr<SimEnclave>> enclaves_;
  serdab_enclave next_ = 1;
};

// Looks the enclave up and counts the ECALL; on failure returns from the
// calling function with the error code.
#define SERDAB_ENTER(var, handle)                                   \
  auto var##_found = Registry::Get().Find(handle);                  \
  if (!var##_found.ok()) return Fail(var##_found.status());         \
  std::shared_ptr<SimEnclave> var = std::move(var##_found).value(); \
  var->RecordEcall()

serdab_status CopyOut(const crypto::Bytes& bytes, uint8_t* out, size_t capacity, size_t* out_size) {
  *out_size = bytes.size();
  if (bytes.size() > capacity || (out == nullptr && !bytes.empty())) {
    return Fail(Status::OutOfRange("output needs " + std::to_string(bytes.size()) +
                                   " bytes, the buffer holds " + std::to_string(capacity)));
  }
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  return SERDAB_OK;
}

crypto::ByteView View(const uint8_t* p, size_t n) { return {p, p ? n : 0}; }

}  // namespace
}  // namespace serdab::enclave

using serdab::Status;
using serdab::enclave::CopyOut;
using serdab::enclave::EnclaveImage;
using serdab::enclave::Fail;
using serdab::enclave::last_error;
using serdab::enclave::Registry;
using serdab::enclave::SimEnclave;
using serdab::enclave::View;
namespace crypto = serdab::crypto;

SERDAB_ECALL serdab_status serdab_ecall_create(const uint8_t* config, size_t config_size,
                                               const char* platform_dir, const uint8_t* sigstruct,
                                               size_t sigstruct_size, serdab_enclave* enclave) {
  if (enclave == nullptr || platform_dir == nullptr) {
    return Fail(Status::InvalidArgument("create: enclave and platform_dir must not be null"));
  }
  auto image = EnclaveImage();
  if (!image.ok()) return Fail(image.status());
  const std::string_view text(reinterpret_cast<const char*>(config), config ? config_size : 0);
  auto e = SimEnclave::Create(*image, text, platform_dir, View(sigstruct, sigstruct_size));
  if (!e.ok()) return Fail(e.status());
  (*e)->RecordEcall();
  *enclave = Registry::Get().Add(std::move(e).value());
  return SERDAB_OK;
}

SERDAB_ECALL serdab_status serdab_ecall_destroy(serdab_enclave enclave) {
  if (!Registry::Get().Remove(enclave)) {
    return Fail(Status::NotFound("no enclave " + std::to_string(enclave)));
  }
  return SERDAB_OK;
}

SERDAB_ECALL serdab_status serdab_ecall_challenge(serdab_enclave enclave, uint8_t* out,
                                                  size_t out_capacity, size_t* out_size) {
  SERDAB_ENTER(e, enclave);
  auto nonce = e->Challenge();
  if (!nonce.ok()) return Fail(nonce.status());
  return CopyOut(*nonce, out, out_capacity, out_size);
}

SERDAB_ECALL serdab_status serdab_ecall_get_quote(serdab_enclave enclave, const uint8_t* nonce,
                                                  size_t nonce_size, uint8_t* out,
                                                  size_t out_capacity, size_t* out_size) {
  SERDAB_ENTER(e, enclave);
  auto evidence = e->GetQuote(View(nonce, nonce_size));
  if (!evidence.ok()) return Fail(evidence.status());
  return CopyOut(*evidence, out, out_capacity, out_size);
}

SERDAB_ECALL serdab_status serdab_ecall_open_session(serdab_enclave enclave, const uint8_t* request,
                                                     size_t request_size, serdab_session* session) {
  SERDAB_ENTER(e, enclave);
  auto id = e->OpenSession(View(request, request_size));
  if (!id.ok()) return Fail(id.status());
  *session = *id;
  return SERDAB_OK;
}

SERDAB_ECALL serdab_status serdab_ecall_close_session(serdab_enclave enclave,
                                                      serdab_session session) {
  SERDAB_ENTER(e, enclave);
  Status s = e->CloseSession(session);
  return s.ok() ? SERDAB_OK : Fail(s);
}

SERDAB_ECALL serdab_status serdab_ecall_provision(serdab_enclave enclave, serdab_session session,
                                                  const uint8_t* message, size_t message_size,
                                                  int32_t seal_policy, uint8_t* out,
                                                  size_t out_capacity, size_t* out_size) {
  SERDAB_ENTER(e, enclave);
  auto sealed =
      e->Provision(session, View(message, message_size), seal_policy, out ? out_capacity : 0);
  if (!sealed.ok()) return Fail(sealed.status());
  if (out_size == nullptr) return SERDAB_OK;
  return CopyOut(*sealed, out, out_capacity, out_size);
}

SERDAB_ECALL serdab_status serdab_ecall_unseal_partition(serdab_enclave enclave,
                                                         const uint8_t* blob, size_t blob_size) {
  SERDAB_ENTER(e, enclave);
  Status s = e->UnsealPartition(View(blob, blob_size));
  return s.ok() ? SERDAB_OK : Fail(s);
}

SERDAB_ECALL serdab_status serdab_ecall_process(serdab_enclave enclave, serdab_session in_session,
                                                uint32_t in_hop, serdab_session out_session,
                                                uint32_t out_hop, uint64_t stream_id,
                                                const uint8_t* message, size_t message_size,
                                                uint8_t* out, size_t out_capacity,
                                                size_t* out_size) {
  SERDAB_ENTER(e, enclave);
  if (out_size == nullptr) return Fail(Status::InvalidArgument("process: out_size is null"));
  Status s = e->Process(in_session, in_hop, out_session, out_hop, stream_id,
                        View(message, message_size), out, out ? out_capacity : 0, out_size);
  return s.ok() ? SERDAB_OK : Fail(s);
}

SERDAB_ECALL serdab_status serdab_ecall_profile(serdab_enclave enclave, uint32_t repeats,
                                                uint8_t* out, size_t out_capacity,
                                                size_t* out_size) {
  SERDAB_ENTER(e, enclave);
  auto json = e->Profile(repeats);
  if (!json.ok()) return Fail(json.status());
  return CopyOut(crypto::Bytes(json->begin(), json->end()), out, out_capacity, out_size);
}

SERDAB_ECALL serdab_status serdab_ecall_stats(serdab_enclave enclave, uint8_t* out,
                                              size_t out_capacity, size_t* out_size) {
  SERDAB_ENTER(e, enclave);
  const std::string json = e->StatsJson();
  return CopyOut(crypto::Bytes(json.begin(), json.end()), out, out_capacity, out_size);
}

SERDAB_ECALL const char* serdab_ecall_last_error(void) { return last_error.c_str(); }
