// The trusted side of enclave/boundary.h: checks and copies in each ECALL's
// arguments, finds the enclave, and turns Status into a status code plus a
// message. No exception leaves this file.
#include "enclave/boundary.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "enclave/attestation/enclave_image.h"
#include "enclave/runtime/enclave_entropy.h"
#include "enclave/runtime/sim_enclave.h"

#define SERDAB_ECALL extern "C" __attribute__((visibility("default")))

namespace serdab::enclave {
namespace {

thread_local std::string last_error;

serdab_status Fail(const Status& status) {
  last_error = status.message();
  return static_cast<serdab_status>(status.code());
}

// The image is measured once, as it was mapped, before any of its own
// constructors run (priority 101 is the first a program may use): SGX, too,
// measures pages as they are added, before the enclave runs. Plain globals in
// .bss, so no constructor of theirs runs after this one.
crypto::Sha256Digest image_digest;
bool image_measured;
uintptr_t image_begin;
uintptr_t image_end;

__attribute__((constructor(101))) void MeasureImageAtLoad() {
  // This function is hidden: no other object can interpose it, so its address
  // is inside the enclave image.
  const void* self = reinterpret_cast<const void*>(&MeasureImageAtLoad);
  auto loaded = attestation::MeasureLoadedObject(self);
  if (loaded.ok()) {
    image_digest = loaded->digest;
    image_begin = loaded->begin;
    image_end = loaded->end;
    image_measured = true;
  }
  InstallEnclaveEntropy();
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
  // Whether [p, p + n) touches any enclave's trusted memory.
  bool OverlapsAnyEnclave(uintptr_t p, size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, e] : enclaves_) {
      if (e->OverlapsTrusted(reinterpret_cast<const void*>(p), n)) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::map<serdab_enclave, std::shared_ptr<SimEnclave>> enclaves_;
  serdab_enclave next_ = 1;
};

// sgx_is_outside_enclave: a host buffer must not wrap around the address
// space or touch the image or any enclave's trusted memory. A null pointer
// is allowed only for an empty buffer.
Status CheckOutside(const void* ptr, size_t size, const char* what) {
  if (size == 0) return Status::Ok();
  const auto p = reinterpret_cast<uintptr_t>(ptr);
  if (ptr == nullptr) return Status::InvalidArgument(std::string(what) + " is null");
  if (p + size < p) return Status::InvalidArgument(std::string(what) + " wraps around memory");
  const bool in_image = p < image_end && image_begin < p + size;
  if (in_image || Registry::Get().OverlapsAnyEnclave(p, size)) {
    return Status::InvalidArgument(std::string(what) + " points into enclave memory");
  }
  return Status::Ok();
}

// Copies a host input into enclave memory after checking it.
Result<crypto::Bytes> CopyIn(const uint8_t* ptr, size_t size, const char* what) {
  SERDAB_RETURN_IF_ERROR(CheckOutside(ptr, size, what));
  return crypto::Bytes(ptr, ptr + size);
}

// A NUL-terminated host string of at most 4095 characters, checked byte by
// byte as it is read.
Result<std::string> CopyInString(const char* s, const char* what) {
  constexpr size_t kMaxString = 4096;
  std::string out;
  for (size_t i = 0; i < kMaxString; ++i) {
    SERDAB_RETURN_IF_ERROR(CheckOutside(s + i, 1, what));
    if (s[i] == '\0') return out;
    out.push_back(s[i]);
  }
  return Status::InvalidArgument(std::string(what) + " is longer than 4095 characters");
}

template <typename T>
Status CheckOutputSlot(T* slot, const char* what) {
  if (slot == nullptr) return Status::InvalidArgument(std::string(what) + " is null");
  return CheckOutside(slot, sizeof(T), what);
}

serdab_status CopyOut(const crypto::Bytes& bytes, uint8_t* out, size_t capacity, size_t* out_size) {
  *out_size = bytes.size();
  if (bytes.size() > capacity) {
    return Fail(Status::OutOfRange("output needs " + std::to_string(bytes.size()) +
                                   " bytes, the buffer holds " + std::to_string(capacity)));
  }
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  return SERDAB_OK;
}

// Runs one ECALL body: no exception leaves the enclave.
template <typename Body>
serdab_status Guard(Body&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return Fail(Status::ResourceExhausted("the enclave ran out of memory"));
  } catch (const std::exception& e) {
    return Fail(Status::Internal(std::string("the enclave failed: ") + e.what()));
  } catch (...) {
    return Fail(Status::Internal("the enclave failed with an unknown exception"));
  }
}

}  // namespace
}  // namespace serdab::enclave

using serdab::Status;
using serdab::enclave::CheckOutputSlot;
using serdab::enclave::CheckOutside;
using serdab::enclave::CopyIn;
using serdab::enclave::CopyInString;
using serdab::enclave::CopyOut;
using serdab::enclave::Fail;
using serdab::enclave::Guard;
using serdab::enclave::last_error;
using serdab::enclave::Registry;
using serdab::enclave::SimEnclave;
namespace crypto = serdab::crypto;

// Looks the enclave up and counts the ECALL; on failure returns from the
// calling function with the error code.
#define SERDAB_ENTER(var, handle)                                   \
  auto var##_found = Registry::Get().Find(handle);                  \
  if (!var##_found.ok()) return Fail(var##_found.status());         \
  std::shared_ptr<SimEnclave> var = std::move(var##_found).value(); \
  var->RecordEcall()

// Returns from the calling function with the error code if `expr` fails.
#define SERDAB_CHECK(expr)                             \
  do {                                                 \
    Status check_status = (expr);                      \
    if (!check_status.ok()) return Fail(check_status); \
  } while (0)

// Copies a host input into a new crypto::Bytes `var`; on failure returns
// from the calling function with the error code.
#define SERDAB_COPY_IN(var, ptr, size, what)                  \
  auto var##_copied = CopyIn(ptr, size, what);                \
  if (!var##_copied.ok()) return Fail(var##_copied.status()); \
  crypto::Bytes var = std::move(var##_copied).value()

// Checks an output buffer and its size slot.
#define SERDAB_CHECK_OUT(out, capacity, out_size)      \
  SERDAB_CHECK(CheckOutputSlot(out_size, "out_size")); \
  SERDAB_CHECK(CheckOutside(out, capacity, "out"))

SERDAB_ECALL serdab_status serdab_ecall_create(const uint8_t* config, size_t config_size,
                                               const char* platform_dir, const uint8_t* sigstruct,
                                               size_t sigstruct_size, serdab_enclave* enclave) {
  return Guard([&]() -> serdab_status {
    SERDAB_CHECK(CheckOutputSlot(enclave, "enclave"));
    if (platform_dir == nullptr) {
      return Fail(Status::InvalidArgument("create: platform_dir must not be null"));
    }
    if (!serdab::enclave::image_measured) {
      return Fail(Status::Internal("the enclave image could not be measured when it was loaded"));
    }
    SERDAB_COPY_IN(text, config, config_size, "config");
    auto dir = CopyInString(platform_dir, "platform_dir");
    if (!dir.ok()) return Fail(dir.status());
    SERDAB_COPY_IN(signature, sigstruct, sigstruct_size, "sigstruct");
    const std::string_view config_text(reinterpret_cast<const char*>(text.data()), text.size());
    auto e = SimEnclave::Create(serdab::enclave::image_digest, config_text, *dir, signature);
    if (!e.ok()) return Fail(e.status());
    (*e)->RecordEcall();
    *enclave = Registry::Get().Add(std::move(e).value());
    return SERDAB_OK;
  });
}

SERDAB_ECALL serdab_status serdab_ecall_destroy(serdab_enclave enclave) {
  return Guard([&]() -> serdab_status {
    if (!Registry::Get().Remove(enclave)) {
      return Fail(Status::NotFound("no enclave " + std::to_string(enclave)));
    }
    return SERDAB_OK;
  });
}

SERDAB_ECALL serdab_status serdab_ecall_challenge(serdab_enclave enclave, uint8_t* out,
                                                  size_t out_capacity, size_t* out_size) {
  return Guard([&]() -> serdab_status {
    SERDAB_ENTER(e, enclave);
    SERDAB_CHECK_OUT(out, out_capacity, out_size);
    auto nonce = e->Challenge();
    if (!nonce.ok()) return Fail(nonce.status());
    return CopyOut(*nonce, out, out_capacity, out_size);
  });
}

SERDAB_ECALL serdab_status serdab_ecall_get_quote(serdab_enclave enclave, const uint8_t* nonce,
                                                  size_t nonce_size, uint8_t* out,
                                                  size_t out_capacity, size_t* out_size) {
  return Guard([&]() -> serdab_status {
    SERDAB_ENTER(e, enclave);
    SERDAB_CHECK_OUT(out, out_capacity, out_size);
    SERDAB_COPY_IN(in, nonce, nonce_size, "nonce");
    auto evidence = e->GetQuote(in);
    if (!evidence.ok()) return Fail(evidence.status());
    return CopyOut(*evidence, out, out_capacity, out_size);
  });
}

SERDAB_ECALL serdab_status serdab_ecall_open_session(serdab_enclave enclave, const uint8_t* request,
                                                     size_t request_size, serdab_session* session) {
  return Guard([&]() -> serdab_status {
    SERDAB_ENTER(e, enclave);
    SERDAB_CHECK(CheckOutputSlot(session, "session"));
    SERDAB_COPY_IN(in, request, request_size, "request");
    auto id = e->OpenSession(in);
    if (!id.ok()) return Fail(id.status());
    *session = *id;
    return SERDAB_OK;
  });
}

SERDAB_ECALL serdab_status serdab_ecall_close_session(serdab_enclave enclave,
                                                      serdab_session session) {
  return Guard([&]() -> serdab_status {
    SERDAB_ENTER(e, enclave);
    Status s = e->CloseSession(session);
    return s.ok() ? SERDAB_OK : Fail(s);
  });
}

SERDAB_ECALL serdab_status serdab_ecall_provision(serdab_enclave enclave, serdab_session session,
                                                  const uint8_t* message, size_t message_size,
                                                  uint8_t* out, size_t out_capacity,
                                                  size_t* out_size) {
  return Guard([&]() -> serdab_status {
    SERDAB_ENTER(e, enclave);
    SERDAB_CHECK_OUT(out, out_capacity, out_size);
    SERDAB_COPY_IN(in, message, message_size, "message");
    size_t needed = 0;
    auto sealed = e->RunOwnerCommand(session, in, out_capacity, &needed);
    if (!sealed.ok()) {
      *out_size = needed;
      return Fail(sealed.status());
    }
    return CopyOut(*sealed, out, out_capacity, out_size);
  });
}

SERDAB_ECALL serdab_status serdab_ecall_coordinate(serdab_enclave enclave, serdab_session session,
                                                   const uint8_t* request, size_t request_size,
                                                   uint8_t* out, size_t out_capacity,
                                                   size_t* out_size) {
  return Guard([&]() -> serdab_status {
    SERDAB_ENTER(e, enclave);
    SERDAB_CHECK_OUT(out, out_capacity, out_size);
    SERDAB_COPY_IN(in, request, request_size, "request");
    size_t needed = 0;
    auto reply = e->Coordinate(session, in, out_capacity, &needed);
    if (!reply.ok()) {
      *out_size = needed;
      return Fail(reply.status());
    }
    return CopyOut(*reply, out, out_capacity, out_size);
  });
}

SERDAB_ECALL serdab_status serdab_ecall_unseal_partition(serdab_enclave enclave,
                                                         const uint8_t* blob, size_t blob_size) {
  return Guard([&]() -> serdab_status {
    SERDAB_ENTER(e, enclave);
    SERDAB_COPY_IN(in, blob, blob_size, "blob");
    Status s = e->UnsealPartition(in);
    return s.ok() ? SERDAB_OK : Fail(s);
  });
}

SERDAB_ECALL serdab_status serdab_ecall_process(serdab_enclave enclave, serdab_session in_session,
                                                uint32_t in_hop, const serdab_session* out_sessions,
                                                size_t out_count, uint32_t out_hop,
                                                uint64_t stream_id, const serdab_buffer* message,
                                                size_t parts, uint8_t* out, size_t out_capacity,
                                                size_t* out_size) {
  return Guard([&]() -> serdab_status {
    SERDAB_ENTER(e, enclave);
    SERDAB_CHECK_OUT(out, out_capacity, out_size);
    if (out_count == 0 || out_count > static_cast<size_t>(serdab::attestation::kMaxShards)) {
      return Fail(Status::InvalidArgument(
          "a frame goes to 1.." + std::to_string(serdab::attestation::kMaxShards) + " sessions"));
    }
    SERDAB_CHECK(CheckOutside(out_sessions, out_count * sizeof(serdab_session), "out_sessions"));
    const std::vector<uint64_t> to(out_sessions, out_sessions + out_count);
    if (parts > SIZE_MAX / sizeof(serdab_buffer)) {
      return Fail(Status::InvalidArgument("message has too many parts"));
    }
    SERDAB_CHECK(CheckOutside(message, parts * sizeof(serdab_buffer), "message"));
    const std::vector<serdab_buffer> pieces(message, message + parts);
    size_t message_size = 0;
    for (const serdab_buffer& piece : pieces) {
      SERDAB_CHECK(CheckOutside(piece.data, piece.size, "message part"));
      if (message_size + piece.size < message_size) {
        return Fail(Status::InvalidArgument("message parts add up past the address space"));
      }
      message_size += piece.size;
    }
    // Frames arrive at video rate: the copy reuses one buffer per thread
    // rather than mapping and faulting in a fresh one for every frame. It
    // holds ciphertext only. The enclave fills it a byte range at a time,
    // each just before it reads it (a frame's records, on its threads).
    static thread_local crypto::Bytes in;
    if (in.size() < message_size) in.resize(message_size);
    // Not `in` itself in the lambda: on another thread that names its own.
    uint8_t* const copy = in.data();
    const crypto::MessageFetch fetch = [&pieces, copy](size_t begin, size_t end) {
      size_t at = 0;
      for (const serdab_buffer& piece : pieces) {
        const size_t from = std::max(begin, at), to = std::min(end, at + piece.size);
        if (from < to) std::memcpy(copy + from, piece.data + (from - at), to - from);
        at += piece.size;
        if (at >= end) break;
      }
    };
    Status s = e->Process(in_session, in_hop, to, out_hop, stream_id,
                          crypto::ByteView(copy, message_size), fetch, out, out_capacity, out_size);
    return s.ok() ? SERDAB_OK : Fail(s);
  });
}

SERDAB_ECALL serdab_status serdab_ecall_profile(serdab_enclave enclave, uint32_t repeats,
                                                uint32_t flags, uint8_t* out, size_t out_capacity,
                                                size_t* out_size) {
  return Guard([&]() -> serdab_status {
    SERDAB_ENTER(e, enclave);
    SERDAB_CHECK_OUT(out, out_capacity, out_size);
    auto json = e->Profile(repeats, (flags & SERDAB_PROFILE_PAGING) != 0);
    if (!json.ok()) return Fail(json.status());
    return CopyOut(crypto::Bytes(json->begin(), json->end()), out, out_capacity, out_size);
  });
}

SERDAB_ECALL serdab_status serdab_ecall_stats(serdab_enclave enclave, uint8_t* out,
                                              size_t out_capacity, size_t* out_size) {
  return Guard([&]() -> serdab_status {
    SERDAB_ENTER(e, enclave);
    SERDAB_CHECK_OUT(out, out_capacity, out_size);
    const std::string json = e->StatsJson();
    return CopyOut(crypto::Bytes(json.begin(), json.end()), out, out_capacity, out_size);
  });
}

SERDAB_ECALL const char* serdab_ecall_last_error(void) { return last_error.c_str(); }
