// The enclave boundary: the ECALL surface, and the only door between the
// untrusted host (worker/, cli/) and the trusted enclave (enclave/).
//
// Like an SGX EDL file, it passes only bytes, sizes, handles and status
// codes. Frames, features, weights and keys cross it only as authenticated
// ciphertext, sealed blobs or public attestation evidence. The trusted side is
// built as its own shared object (libserdab_enclave.so) that exports nothing
// but these functions; its bytes are what the enclave's measurement covers.
//
// Conventions
//   * Every call returns a serdab_status (0 = OK; the other values mirror
//     serdab::Status::Code). On failure serdab_ecall_last_error() returns a
//     one-line message for the calling thread; messages never contain secrets.
//   * Outputs go to a caller buffer (out, out_capacity); *out_size receives
//     the size written, or the size needed when the buffer is too small, in
//     which case the call returns SERDAB_BUFFER_TOO_SMALL and has no effect
//     beyond the ECALL it counts.
//   * Each call is one ECALL: counted in the enclave's stats and charged the
//     cost profile's cycles per ECALL (sgx1: 8,600, after HotCalls, ISCA
//     2017), spun on the calling thread.
//   * Every pointer is the host's and is checked the way SGX's edger8r
//     checks them (sgx_is_outside_enclave): a buffer that touches enclave
//     memory (an enclave's EPC heap, the pager's view of it, its page
//     metadata, or the enclave image) is refused with InvalidArgument before
//     anything reads or writes it. Inputs are copied into the enclave before
//     they are parsed or decrypted, so the host cannot change them midway.
//   * No C++ exception crosses this boundary; an ECALL that runs out of
//     memory fails with ResourceExhausted and leaves the enclave as it was.
//   * Who may provision an enclave and where its results may go is decided
//     by its owner, not by the host: see enclave/attestation/evidence.h.
#ifndef SERDAB_ENCLAVE_BOUNDARY_H_
#define SERDAB_ENCLAVE_BOUNDARY_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t serdab_status;
#define SERDAB_OK 0
#define SERDAB_BUFFER_TOO_SMALL 5 /* = Status::Code::kOutOfRange */

typedef uint64_t serdab_enclave;  // 0 is never a valid handle
typedef uint64_t serdab_session;  // 0 is never a valid session

// Creates an enclave. `config` is the enclave configuration text (one
// "key = value" per line; see enclave/runtime/enclave_config.h), part of the
// measurement. `platform_dir` holds this host's platform key and certificate
// (serdab ca issue-platform); in the sim backend it stands in for the quoting
// enclave. `sigstruct` (optional, may be null) is the developer's signature
// over the measurement; without one the enclave runs with the debug
// attribute and an all-zero signer, like an unsigned development enclave.
serdab_status serdab_ecall_create(const uint8_t* config, size_t config_size,
                                  const char* platform_dir, const uint8_t* sigstruct,
                                  size_t sigstruct_size, serdab_enclave* enclave);
serdab_status serdab_ecall_destroy(serdab_enclave enclave);

// A fresh nonce the enclave remembers, for a peer enclave's quote to answer.
serdab_status serdab_ecall_challenge(serdab_enclave enclave, uint8_t* out, size_t out_capacity,
                                     size_t* out_size);

// Attestation evidence for a verifier's nonce: the quote (identity, platform
// chain, report data binding the nonce and a fresh ephemeral X25519 key) and
// that key. The enclave keeps the key's secret half for one session.
serdab_status serdab_ecall_get_quote(serdab_enclave enclave, const uint8_t* nonce,
                                     size_t nonce_size, uint8_t* out, size_t out_capacity,
                                     size_t* out_size);

// Opens a session from a session request: a client's key answering this
// enclave's evidence (one-sided), or a peer enclave's evidence answering this
// enclave's challenge (mutual; the peer must pass this enclave's peer policy).
// See enclave/attestation/evidence.h for the request format.
serdab_status serdab_ecall_open_session(serdab_enclave enclave, const uint8_t* request,
                                        size_t request_size, serdab_session* session);
serdab_status serdab_ecall_close_session(serdab_enclave enclave, serdab_session session);

// Runs an owner command: `message` is a session message (stream 0, hop 0)
// whose plaintext is an OwnerCommand (attestation/evidence.h): provision a
// partition (model bytes, layer range, routes, version), or replace the
// routes. The first client to provision becomes the enclave's owner; any
// other client is refused. When the owner asks for it, the partition is also
// sealed to this enclave into `out`, so the host can store it and restore it
// with serdab_ecall_unseal_partition after a restart without the model being
// sent again; otherwise *out_size is 0. Size `out` at message_size + 4096.
serdab_status serdab_ecall_provision(serdab_enclave enclave, serdab_session session,
                                     const uint8_t* message, size_t message_size, uint8_t* out,
                                     size_t out_capacity, size_t* out_size);
// Restores a sealed partition and its owner. The enclave processes no frame
// until the owner re-issues its routes for this partition's version.
serdab_status serdab_ecall_unseal_partition(serdab_enclave enclave, const uint8_t* blob,
                                            size_t blob_size);

// One piece of an input in host memory.
typedef struct serdab_buffer {
  const uint8_t* data;
  size_t size;
} serdab_buffer;

// Runs the provisioned layer range on one frame: opens the message from
// `in_session` (stream, in_hop), runs the layers, seals the result to each of
// the `out_count` sessions (stream, out_hop) with the same frame sequence
// number, back to back in `out`: one session, or the shards of a layer split
// across enclaves, which all take the whole result. The owner must have
// routed `stream` from in_session's principal to every out session's
// (PermissionDenied otherwise, before anything is decrypted).
// The output size is checked before the input is opened, so a too-small
// buffer leaves the session untouched and the call can be repeated; a frame
// that fails is not counted as received and changes nothing.
//
// When the route from in_session carries a part of each frame (a shard's
// output: attestation::Route::parts > 1), the enclave keeps the part and
// returns with *out_size 0 until every part of that frame has come, each
// from its own route; the call that brings the last part runs the frame on
// the parts side by side. The parts of several frames may interleave; a
// frame that completes drops its stream's earlier frames still missing a
// part (each route brings its parts in frame order).
//
// The message is the concatenation of `parts` pieces (a frame arrives from
// the network in many; one is fine): the descriptors are copied in first,
// then every piece is checked and copied into one enclave buffer, so the
// host can neither move a piece nor change its bytes once they are checked.
serdab_status serdab_ecall_process(serdab_enclave enclave, serdab_session in_session,
                                   uint32_t in_hop, const serdab_session* out_sessions,
                                   size_t out_count, uint32_t out_hop, uint64_t stream_id,
                                   const serdab_buffer* message, size_t parts, uint8_t* out,
                                   size_t out_capacity, size_t* out_size);

// Profiles the provisioned partition for the placement solver: runs one
// synthetic input (generated inside the enclave) through the whole range and
// notes the EPC then resident, times each layer alone (median of at least
// `repeats` runs, more until 40 ms accumulate, after two warm-ups; see
// engine/layer_timer.h), then, with SERDAB_PROFILE_PAGING in `flags`,
// measures this enclave's page swap cost by streaming twice its EPC through
// the heap (seconds on a large EPC). Returns JSON
// {"begin":b,"end":e,"layer_ms":[...],"ecall_ns":y,"resident_bytes":r} plus
// "page_swap_ns":x when measured. Only timings and sizes leave: no frame or
// weight data. With `repeats` 0 no layer runs: the reply has only "begin",
// "end", "ecall_ns" and the page swap cost (for a range too large to time
// resident, whose every run would page).
#define SERDAB_PROFILE_PAGING 1u
serdab_status serdab_ecall_profile(serdab_enclave enclave, uint32_t repeats, uint32_t flags,
                                   uint8_t* out, size_t out_capacity, size_t* out_size);

// One step of a coordinator enclave (config `role = coordinator`; see
// enclave/runtime/coordinator.h): `request` is a CoordinatorRequest
// (attestation/coordination.h) and the reply a list of byte strings, each
// public or sealed for an enclave the coordinator attested. `session` is the
// model owner's client session for a grant (kAdmit), else 0. A too-small
// `out` changes nothing; repeat the call with *out_size bytes.
serdab_status serdab_ecall_coordinate(serdab_enclave enclave, serdab_session session,
                                      const uint8_t* request, size_t request_size, uint8_t* out,
                                      size_t out_capacity, size_t* out_size);

// The enclave's identity and counters as one JSON object: backend ("sim"),
// protects_data_from_host (false for sim: its host can forge quotes and
// unseal), mrenclave, instance, owner, partition_version, routes,
// page_faults, evictions, bytes_paged_in, bytes_paged_out, ecalls,
// cycles_charged, pager_ns, and the two clocks wall_ns and tee_ns (the time
// the target TEE would have taken; enclave/epc/epc_stats.h), ...
serdab_status serdab_ecall_stats(serdab_enclave enclave, uint8_t* out, size_t out_capacity,
                                 size_t* out_size);

// The calling thread's last error message (NUL-terminated, truncated to fit).
// Not an ECALL: it reads host-visible state only.
const char* serdab_ecall_last_error(void);

#ifdef __cplusplus
}
#endif

#endif  // SERDAB_ENCLAVE_BOUNDARY_H_
