// fuzz_seeds OUT_DIR: writes valid inputs for the fuzz targets of Serdab's
// own formats into OUT_DIR/<target>/, the seeds from which the fuzzers
// mutate. `make fuzz` runs it every time, so the seeds follow the wire
// formats as they change; tests/fuzz/corpus/ keeps the ONNX seeds
// (onnx_seeds.py) and every input that once crashed a target.
//
// Quotes are signed under the deployment root of fuzz_fixtures.h, and blobs
// sealed with its secret for its enclave, so that mutations of them reach the
// checks behind the signatures.
#include <sys/stat.h>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "enclave/attestation/coordination.h"
#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/evidence.h"
#include "enclave/attestation/platform.h"
#include "enclave/attestation/quote.h"
#include "enclave/attestation/sealing.h"
#include "enclave/engine/tensor_codec.h"
#include "partitioner/profile_io.h"
#include "tests/fuzz/fuzz_fixtures.h"

namespace serdab::fuzz {
namespace {

class SeedWriter {
 public:
  explicit SeedWriter(std::string dir) : dir_(std::move(dir)) {}

  Status Write(const std::string& target, const std::string& name, std::string_view bytes) const {
    for (const std::string& d : {dir_, dir_ + "/" + target}) {
      if (mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) {
        return Status::IoError("cannot create " + d + ": " + std::strerror(errno));
      }
    }
    const std::string path = dir_ + "/" + target + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) return Status::IoError("cannot write " + path);
    return Status::Ok();
  }

  Status Write(const std::string& target, const std::string& name, crypto::ByteView bytes) const {
    return Write(target, name,
                 std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }

 private:
  std::string dir_;
};

// --- Attestation: the root of RootSeed() (loaded from key files written to a
// temporary directory: the only way to make a DeploymentRoot from a given
// seed), a random platform key, and quotes under both.

Result<attestation::DeploymentRoot> FixedRoot() {
  char dir[] = "/tmp/serdab-fuzz-root-XXXXXX";
  if (mkdtemp(dir) == nullptr) return Status::IoError("cannot create a temporary directory");
  const crypto::Ed25519Seed seed = RootSeed();
  const crypto::Ed25519KeyPair key = crypto::Ed25519KeyPair::FromSeed(seed);
  const std::string base = dir;
  const std::pair<std::string, std::string> files[] = {
      {base + "/" + attestation::kRootSecretKeyFile,
       "serdab-root-secret-key " + crypto::HexEncode(seed.view()) + "\n"},
      {base + "/" + attestation::kRootPublicKeyFile,
       "serdab-root-public-key " + crypto::HexEncode(key.public_key()) + "\n"},
  };
  Status written;
  for (const auto& [path, line] : files) {
    std::ofstream out(path, std::ios::trunc);
    out << line;
    out.close();
    if (written.ok() && (!out || chmod(path.c_str(), 0600) != 0)) {
      written = Status::IoError("cannot write " + path);
    }
  }
  Result<attestation::DeploymentRoot> root = written.ok()
                                                 ? attestation::DeploymentRoot::Load(base)
                                                 : Result<attestation::DeploymentRoot>(written);
  for (const auto& file : files) std::remove(file.first.c_str());
  rmdir(dir);
  return root;
}

Status WriteAttestation(const SeedWriter& w) {
  SERDAB_ASSIGN_OR_RETURN(const attestation::DeploymentRoot root, FixedRoot());
  SERDAB_ASSIGN_OR_RETURN(const attestation::PlatformKey platform,
                          attestation::PlatformKey::Generate());
  SERDAB_ASSIGN_OR_RETURN(
      const attestation::PlatformCertificate certificate,
      attestation::IssuePlatformCertificate(root, platform.public_key(), "fuzz-host", 1700000000));
  SERDAB_RETURN_IF_ERROR(w.Write("quote_fuzz", "platform.cert",
                                 attestation::SerializePlatformCertificate(certificate)));

  const attestation::ReportData report = attestation::MakeReportData(VerifierNonce(), {});
  attestation::EnclaveIdentity debug = Enclave();
  debug.attributes |= attestation::kAttributeDebug;
  for (const auto& [name, identity] :
       {std::pair{"quote", Enclave()}, std::pair{"quote_debug", debug}}) {
    SERDAB_ASSIGN_OR_RETURN(const attestation::Quote quote,
                            attestation::SignQuote(platform, certificate, identity, report));
    SERDAB_RETURN_IF_ERROR(w.Write("quote_fuzz", name, attestation::SerializeQuote(quote)));
  }

  SERDAB_ASSIGN_OR_RETURN(const crypto::Ed25519KeyPair developer,
                          crypto::Ed25519KeyPair::Generate());
  SERDAB_ASSIGN_OR_RETURN(const attestation::EnclaveSignature signature,
                          attestation::SignEnclave(developer, Enclave().mrenclave, 3,
                                                   attestation::kAttributeSimulation));
  SERDAB_RETURN_IF_ERROR(
      w.Write("quote_fuzz", "enclave.sig", attestation::SerializeEnclaveSignature(signature)));

  // Default messages only: their fields are the protocol's to change.
  SERDAB_RETURN_IF_ERROR(w.Write("session_request_fuzz", "evidence",
                                 attestation::SerializeEvidence(attestation::Evidence{})));
  SERDAB_RETURN_IF_ERROR(
      w.Write("session_request_fuzz", "session_request",
              attestation::SerializeSessionRequest(attestation::SessionRequest{})));
  SERDAB_RETURN_IF_ERROR(w.Write("session_request_fuzz", "owner_command",
                                 attestation::SerializeOwnerCommand(attestation::OwnerCommand{})));
  SERDAB_RETURN_IF_ERROR(
      w.Write("session_request_fuzz", "sealed_partition",
              attestation::SerializeSealedPartition({}, attestation::OwnerCommand{})));
  attestation::CoordinatorRequest wire;
  wire.kind = attestation::CoordinatorRequest::Kind::kWire;
  wire.deployment = "lobby";
  wire.targets = {"edge-1/lobby", "cloud-1/lobby"};
  SERDAB_RETURN_IF_ERROR(w.Write("session_request_fuzz", "coordinator_request",
                                 attestation::SerializeCoordinatorRequest(wire)));
  attestation::DeploymentGrant grant;
  grant.deployment = "lobby";
  grant.workers.allowed_mrenclaves = {Enclave().mrenclave};
  grant.model = crypto::Bytes(16, 1);
  SERDAB_RETURN_IF_ERROR(w.Write("session_request_fuzz", "deployment_grant",
                                 attestation::SerializeDeploymentGrant(grant)));
  return w.Write("session_request_fuzz", "coordinator_reply",
                 attestation::SerializeReplyParts({crypto::Bytes(32, 2), crypto::Bytes(3, 4)}));
}

Status WriteSealed(const SeedWriter& w) {
  const std::string text = "a sealed partition";
  const crypto::ByteView plaintext = crypto::AsBytes(text);
  for (const auto& [name, policy] : {std::pair{"mrenclave", attestation::SealPolicy::kMrEnclave},
                                     std::pair{"mrsigner", attestation::SealPolicy::kMrSigner}}) {
    SERDAB_ASSIGN_OR_RETURN(const crypto::Bytes blob,
                            attestation::Seal(SealingSecret(), Enclave(), policy, plaintext));
    SERDAB_RETURN_IF_ERROR(w.Write("sealed_blob_fuzz", name, blob));
  }
  SERDAB_ASSIGN_OR_RETURN(
      const crypto::Bytes empty,
      attestation::Seal(SealingSecret(), Enclave(), attestation::SealPolicy::kMrEnclave, {}));
  return w.Write("sealed_blob_fuzz", "empty", empty);
}

Status WriteTensors(const SeedWriter& w) {
  using engine::DataType;
  using engine::Tensor;
  SERDAB_ASSIGN_OR_RETURN(Tensor frame, Tensor::Zeros(DataType::kFloat32, {1, 3, 4, 4}));
  SERDAB_ASSIGN_OR_RETURN(Tensor ids, Tensor::Zeros(DataType::kInt64, {2}));
  SERDAB_ASSIGN_OR_RETURN(Tensor scalar, Tensor::Zeros(DataType::kFloat32, {}));
  SERDAB_ASSIGN_OR_RETURN(Tensor empty, Tensor::Zeros(DataType::kFloat32, {3, 0}));
  SERDAB_ASSIGN_OR_RETURN(Tensor pixels, Tensor::Zeros(DataType::kUint8, {1, 4, 4, 3}));
  frame.data<float>()[5] = 1.5f;
  ids.data<int64_t>()[1] = 7;
  pixels.data<uint8_t>()[7] = 200;
  const std::pair<const char*, std::vector<Tensor>> messages[] = {
      {"none", {}},
      {"frame", {frame, ids}},
      {"scalar_and_empty", {scalar, empty}},
      {"pixels", {pixels}}};
  for (const auto& [name, tensors] : messages) {
    std::vector<uint8_t> bytes;
    engine::EncodeTensors(tensors, &bytes);
    SERDAB_RETURN_IF_ERROR(w.Write("tensor_codec_fuzz", name, bytes));
  }
  return Status::Ok();
}

Status WriteYaml(const SeedWriter& w) {
  partitioner::ModelProfile model;
  model.name = "seed";
  model.sha256 = "0123abcd";
  model.layers = {{"conv", 1.5, 1.25, 4096, 65536}, {"fc", 0.5, 0.25, 1 << 20, 4096}};
  model.cut_bytes = {602112, 65536, 4000};
  SERDAB_RETURN_IF_ERROR(w.Write("yaml_fuzz", "model.yaml", ModelProfileToYaml(model)));

  partitioner::Cluster cluster;
  cluster.client = "camera";
  cluster.default_link = partitioner::DefaultLink{1.25e8, 0.5};
  partitioner::WorkerProfile edge;
  edge.name = "edge";
  edge.fingerprint = "f00d";
  edge.epc_bytes = 98041856;
  edge.page_swap_ns = 20600;
  edge.ecall_ns = 3313;
  edge.aead_bytes_per_s = 1.84e9;
  edge.threads = 2;
  edge.layer_ms = {1.0, 0.5};
  partitioner::WorkerProfile gpu;
  gpu.name = "gpu";
  gpu.kind = partitioner::WorkerKind::kAccelerator;
  gpu.aead_bytes_per_s = 3e9;
  gpu.speed_factor = 20;
  cluster.workers = {edge, gpu};
  cluster.links = {{"edge", "gpu", 6.25e6, 20}, {"camera", "edge", 1.25e8, 0.2}};
  SERDAB_RETURN_IF_ERROR(w.Write("yaml_fuzz", "cluster.yaml", ClusterToYaml(cluster)));

  // Three deployment plans in one file, every section of the format used.
  constexpr char kPlans[] = R"(apiVersion: serdab/v1
kind: Deployment
metadata: {name: lobby, labels: {team: vision}}
model: {zoo: resnet50, seed: 1, input: {shape: [1, 3, 224, 224]}}
preprocess: {resize: [224, 224], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
workers: {selector: {site: home}, order: [edge, cloud]}
placement:
  objective: throughput
  slo: {min_fps: 10, max_latency_ms: 500}
  max_stages: 3
  allow_paging: false
  privacy: {min_enclave_layers: 4}
attestation:
  allow_simulation: true
  allow_debug: true
  measurements: ["3b1f6c2a9d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"]
  min_svn: 1
streams:
  - {name: front-door, source: "rtsp://cam/1", fps: 15, on_overload: drop_oldest}
---
apiVersion: serdab/v1
kind: Deployment
metadata: {name: door}
model: {path: models/door.onnx, sha256: "00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff"}
preprocess: {resize: [320, 320], fit: letterbox, channel_order: bgr}
postprocess:
  kind: detect
  labels_file: coco.txt
  detect:
    score_threshold: 0.4
    ssd:
      outputs: {boxes: 0, scores: 1}
      feature_maps: [20, 10, 5, 3, 2, 1]
      aspect_ratios: [[2, 3], [2, 3], [2, 3], [2, 3], [2, 3], [2, 3]]
      min_ratio: 0.2
      max_ratio: 0.95
      steps: [16, 32, 64, 107, 160, 320]
workers: {order: [edge]}
placement: {objective: latency}
attestation: {any_measurement: true}
---
apiVersion: serdab/v1
kind: Deployment
metadata: {name: yard}
model: {path: models/yolo.onnx}
postprocess: {kind: detect, detect: {yolo: {layout: columns, objectness: false, strides: [8, 16, 32]}}}
workers: {order: [edge]}
placement: {}
attestation: {any_measurement: true}
)";
  return w.Write("yaml_fuzz", "plans.yaml", std::string_view(kPlans));
}

}  // namespace
}  // namespace serdab::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds OUT_DIR\n");
    return 2;
  }
  serdab::fuzz::SeedWriter writer(argv[1]);
  for (auto* write : {serdab::fuzz::WriteAttestation, serdab::fuzz::WriteSealed,
                      serdab::fuzz::WriteTensors, serdab::fuzz::WriteYaml}) {
    const serdab::Status s = write(writer);
    if (!s.ok()) {
      std::fprintf(stderr, "fuzz_seeds: %s\n", s.message().c_str());
      return 1;
    }
  }
  return 0;
}
