// CoordinatorHost: the orchestrator's untrusted half of the coordinator
// enclave (enclave/runtime/coordinator.h). It starts the enclave, keeps what
// the enclave seals (its identity, each deployment's grant) on disk and
// gives it back after a restart, and relays a rollout's steps between the
// coordinator and the worker enclaves. Everything it holds or passes is
// public (nonces, quotes, session requests) or sealed: the model and the
// data keys exist in the clear only inside enclaves.
//
// State directory layout (untrusted storage; the blobs are sealed to the
// coordinator's MRENCLAVE on this platform):
//   STATE/coordinator/identity.sealed
//   STATE/coordinator/grants/<deployment>.sealed
//
// Thread-safe. Calls into the coordinator enclave are serialised, and only
// they: a rollout's calls to a worker (its quote, the partition it builds,
// which can take a minute for a large model) hold no lock, so an owner's
// quote or session is answered meanwhile. A deployment's stages must be
// provisioned and wired by one thread at a time (the reconciler): messages
// to a stage are sealed in order and must reach it in that order.
#ifndef SERDAB_ORCHESTRATOR_COORDINATOR_HOST_H_
#define SERDAB_ORCHESTRATOR_COORDINATOR_HOST_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "enclave/attestation/coordination.h"
#include "enclave/common/status.h"
#include "enclave/engine/output_slice.h"
#include "worker/enclave_endpoint.h"
#include "worker/enclave_host.h"

namespace serdab::orchestrator {

// One worker enclave a rollout provisioned, and the coordinator's session
// with it. The session serves that rollout: its caller closes it
// (enclave->CloseSession) once the rollout is wired or has failed, since an
// enclave holds a bounded number and the next rollout attests it again. A
// ProvisionStage or AdoptStage that fails closes the session it opened.
struct StageSession {
  std::string target;  // the coordinator's name for it: "worker/enclave"
  worker::EnclaveEndpoint* enclave = nullptr;
  uint64_t session = 0;
  std::string mrenclave;    // hex, from the evidence the coordinator verified
  std::string instance;     // hex, likewise
  double attest_ms = 0;     // quote, verification and session
  double provision_ms = 0;  // sealing and sending the partition, and building it there
};

class CoordinatorHost {
 public:
  // Starts the coordinator (configured as cli::CoordinatorEnclaveConfig) on
  // the platform in `platform_dir` and restores
  // its identity and grants from `state_dir` (a grant that no longer
  // unseals is reported in `warnings` and left on disk).
  static Result<std::unique_ptr<CoordinatorHost>> Start(const std::string& platform_dir,
                                                        const std::string& state_dir,
                                                        std::vector<std::string>* warnings);

  // The coordinator's own evidence and sessions, for a model owner.
  Result<worker::Bytes> GetQuote(worker::ByteView nonce);
  Result<uint64_t> OpenSession(worker::ByteView request);
  std::string mrenclave() const { return mrenclave_; }
  std::string identity() const { return identity_; }  // hex Ed25519 public key

  // Hands the owner's grant (a message in the owner's session `session`)
  // to the coordinator and keeps the sealed grant. The session is closed
  // either way.
  Status Admit(const std::string& deployment, uint64_t session, worker::ByteView message);
  bool HasGrant(const std::string& deployment);
  // Closes an owner's session that brought nothing new (unknown: ignored).
  void CloseSession(uint64_t session);
  // Drops a deployment's grant, in the enclave and on disk.
  Status Forget(const std::string& deployment);

  // Has the coordinator attest the worker enclave reached through
  // `enclave`, open a session with it and provision layers [begin, end)
  // (end -1: to the last) at `version`, streaming `streamed_weight_bytes` of
  // its weights (engine/streamed_weights.h); with a shard count above 1, the
  // one layer [begin, begin + 1) as that shard of its outputs.
  Result<StageSession> ProvisionStage(const std::string& deployment, const std::string& target,
                                      worker::EnclaveEndpoint* enclave, int begin, int end,
                                      int threads, uint64_t version,
                                      uint64_t streamed_weight_bytes = 0,
                                      engine::LayerShard shard = {});
  // Has the coordinator attest an enclave that restored a partition its
  // worker kept sealed (after the worker restarted), and take the host's
  // word for its range, shard and version: Wire then fails unless it holds
  // them.
  Result<StageSession> AdoptStage(const std::string& deployment, const std::string& target,
                                  worker::EnclaveEndpoint* enclave, int begin, int end,
                                  uint64_t version, engine::LayerShard shard = {});
  // Routes the stages to each other, first to last (they must cover the
  // model in order, all provisioned at `version`).
  Status Wire(const std::string& deployment, uint64_t version,
              const std::vector<StageSession>& stages);

 private:
  CoordinatorHost(std::unique_ptr<worker::EnclaveHost> enclave, std::string state_dir)
      : enclave_(std::move(enclave)), state_dir_(std::move(state_dir)) {}
  // Runs one coordinator request; `session` is the owner's for kAdmit.
  Result<std::vector<worker::Bytes>> Run(const attestation::CoordinatorRequest& request,
                                         uint64_t session = 0);
  std::string GrantPath(const std::string& deployment) const;
  // The coordinator's nonce, the enclave's quote, its verification and a
  // session.
  Result<StageSession> AttestStage(const std::string& deployment, const std::string& target,
                                   worker::EnclaveEndpoint* enclave);

  std::mutex mu_;         // held for each call into enclave_
  std::mutex grants_mu_;  // held while a grant file is written or removed
  std::unique_ptr<worker::EnclaveHost> enclave_;
  const std::string state_dir_;
  std::string mrenclave_;
  std::string identity_;
};

// The coordinator as a model owner in the same process reaches it: its quote
// and a session with it (what the orchestrator's CoordinatorQuote and
// CoordinatorSession RPCs relay), for tests and benchmarks that apply a
// grant without a daemon.
class CoordinatorHostEndpoint final : public worker::EnclaveEndpoint {
 public:
  explicit CoordinatorHostEndpoint(CoordinatorHost* host) : host_(host) {}
  Result<worker::Bytes> Challenge() override { return Unsupported(); }
  Result<worker::Bytes> GetQuote(worker::ByteView nonce) override { return host_->GetQuote(nonce); }
  Result<uint64_t> OpenSession(worker::ByteView request) override {
    return host_->OpenSession(request);
  }
  Result<worker::Bytes> Provision(uint64_t, worker::ByteView) override { return Unsupported(); }
  Result<worker::Bytes> Process(uint64_t, uint32_t, uint64_t, uint32_t, uint64_t,
                                worker::ByteView) override {
    return Unsupported();
  }
  Status CloseSession(uint64_t session) override {
    host_->CloseSession(session);
    return Status::Ok();
  }

 private:
  static Status Unsupported() {
    return Status::Unimplemented("the coordinator takes grants, not partitions or frames");
  }
  CoordinatorHost* host_;
};

}  // namespace serdab::orchestrator

#endif  // SERDAB_ORCHESTRATOR_COORDINATOR_HOST_H_
