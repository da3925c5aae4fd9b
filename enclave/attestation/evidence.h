// The messages of Serdab's attestation protocol, as they cross the enclave
// boundary and the network. Every format is versioned and length-checked.
//
//   Evidence        enclave -> verifier: a quote for the verifier's nonce and
//                   the ephemeral X25519 key its report data binds.
//   SessionRequest  verifier -> enclave: how to open a SecureChannel.
//                   kClient: an unattested client (camera, model owner) that
//                     verified the enclave's Evidence answers with its own
//                     X25519 key; the enclave is the responder.
//                   kPeer: another enclave's Evidence, answering a challenge
//                     nonce this enclave issued; mutual, both attested.
//   ProvisionRequest model owner -> enclave, inside a channel: a partition.
#ifndef SERDAB_ENCLAVE_ATTESTATION_EVIDENCE_H_
#define SERDAB_ENCLAVE_ATTESTATION_EVIDENCE_H_

#include <cstdint>
#include <string>

#include "enclave/common/status.h"
#include "enclave/crypto/aead.h"
#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"
#include "enclave/crypto/secure_channel.h"

namespace serdab::attestation {

struct Evidence {
  crypto::Bytes quote;  // SerializeQuote output
  crypto::X25519PublicKey ephemeral_key{};
};
crypto::Bytes SerializeEvidence(const Evidence& evidence);
Result<Evidence> ParseEvidence(crypto::ByteView bytes);

struct SessionRequest {
  enum class Kind : uint8_t { kClient = 1, kPeer = 2 };
  Kind kind = Kind::kClient;
  crypto::AeadAlgorithm algorithm = crypto::AeadAlgorithm::kXChaCha20Poly1305;
  // Which of this enclave's evidence keys the session uses.
  crypto::X25519PublicKey evidence_key{};
  // kClient: the client's X25519 key.
  crypto::X25519PublicKey client_key{};
  // kPeer: the peer's evidence, the nonce this enclave issued for it, and this
  // enclave's role in the channel.
  crypto::Bytes peer_evidence;
  crypto::Bytes challenge;
  crypto::ChannelRole role = crypto::ChannelRole::kResponder;
};
crypto::Bytes SerializeSessionRequest(const SessionRequest& request);
Result<SessionRequest> ParseSessionRequest(crypto::ByteView bytes);

// A partition: the model's ONNX bytes and the layer range this enclave runs.
struct ProvisionRequest {
  crypto::Bytes model;
  int32_t begin = 0;
  int32_t end = -1;  // -1: to the last layer
  int32_t threads = 1;
};
crypto::Bytes SerializeProvisionRequest(const ProvisionRequest& request);
Result<ProvisionRequest> ParseProvisionRequest(crypto::ByteView bytes);

}  // namespace serdab::attestation

#endif  // SERDAB_ENCLAVE_ATTESTATION_EVIDENCE_H_
