// PipeFrame: one frame as the data plane relays it (the Frame message of
// proto/serdab/v1/data_plane.proto), with its payload held by reference.
//
// A payload is megabytes of ciphertext. Each full pass over it costs as much
// as the AEAD that made it, so the host never copies it: it arrives as the
// slices gRPC received, goes into the enclave through the boundary's copy-in,
// and the enclave's result goes out from the buffer the ECALL wrote it to.
// No gRPC in here (pipe_wire.h converts).
#ifndef SERDAB_WORKER_PIPE_FRAME_H_
#define SERDAB_WORKER_PIPE_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "worker/enclave_endpoint.h"

namespace serdab::worker {

// Bytes in one or more pieces, read-only, kept alive by `owner` (whatever
// holds the memory the pieces point into). Copies share the bytes.
struct Payload {
  std::vector<ByteView> parts;
  std::shared_ptr<const void> owner;

  size_t size() const {
    size_t n = 0;
    for (const ByteView& part : parts) n += part.size();
    return n;
  }
};

struct PipeFrame {
  uint64_t id = 0;            // the sender's number for the frame on its pipe
  uint64_t stream = 0;        // the camera stream
  uint64_t in_session = 0;    // the session the payload is sealed to
  uint64_t tail_session = 0;  // the client's session in the last enclave
  uint32_t lane = 0;          // which replica of each replicated stage it takes
  Payload payload;            // a SecureChannel message
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_PIPE_FRAME_H_
