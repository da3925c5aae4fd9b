#include "partitioner/profile_io.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>

#include "partitioner/yaml_reader.h"

namespace serdab::partitioner {
namespace {

// Byte counts stop at 2^50 (1 PiB) so that the cost model's sums over thousands of layers
// stay far from int64 overflow; thread counts at 1024, far past any machine's.
constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kMaxBytes = static_cast<double>(int64_t{1} << 50);
constexpr Range kPositive{0, true, kInfinity, "a finite number > 0"};
constexpr Range kNonNegative{0, false, kInfinity, "a finite number >= 0"};
constexpr Range kBytes{0, false, kMaxBytes, "a byte count from 0 to 2^50"};
constexpr Range kPositiveBytes{1, false, kMaxBytes, "a byte count from 1 to 2^50"};
constexpr Range kThreads{1, false, 1024, "an integer from 1 to 1024"};

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IoError("cannot create '" + path + "': " + std::strerror(errno));
  out << text;
  out.close();
  if (!out) return Status::IoError("cannot write '" + path + "'");
  return Status::Ok();
}

// The shortest text that reads back to the same double ("0.1", not "0.10000000000000001").
std::string Num(double v) {
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, result.ptr);
}

YAML::Emitter& operator<<(YAML::Emitter& out, const std::vector<double>& values) {
  out << YAML::BeginSeq;
  for (double v : values) out << Num(v);
  return out << YAML::EndSeq;
}

}  // namespace

Result<ModelProfile> ParseModelProfile(std::string_view yaml, std::string_view source) {
  SERDAB_ASSIGN_OR_RETURN(const YAML::Node root, ParseYaml(yaml, source));
  const Reader r(source);
  SERDAB_RETURN_IF_ERROR(
      r.CheckMap(root, "", {"model", "sha256", "layers", "cut_bytes", "target"}));
  ModelProfile model;
  SERDAB_RETURN_IF_ERROR(r.Get(root, "model", "", true, &model.name));
  SERDAB_RETURN_IF_ERROR(r.Get(root, "sha256", "", false, &model.sha256));
  SERDAB_RETURN_IF_ERROR(r.Get(root, "target", "", false, &model.target));
  const YAML::Node layers = root["layers"];
  if (!layers.IsDefined() || !layers.IsSequence()) {
    return r.Error(layers.IsDefined() ? layers : root, "layers", "expected a list of layers");
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const YAML::Node node = layers[i];
    const std::string field = "layers[" + std::to_string(i) + "]";
    SERDAB_RETURN_IF_ERROR(
        r.CheckMap(node, field,
                   {"name", "enclave_ms", "enclave_wall_ms", "native_ms", "weight_bytes",
                    "streamable_weight_bytes", "activation_bytes"}));
    LayerProfile layer;
    SERDAB_RETURN_IF_ERROR(r.Get(node, "name", field, true, &layer.name));
    SERDAB_RETURN_IF_ERROR(r.Get(node, "enclave_ms", field, true, kNonNegative, &layer.enclave_ms));
    SERDAB_RETURN_IF_ERROR(
        r.Get(node, "enclave_wall_ms", field, false, kNonNegative, &layer.enclave_wall_ms));
    SERDAB_RETURN_IF_ERROR(r.Get(node, "native_ms", field, true, kNonNegative, &layer.native_ms));
    SERDAB_RETURN_IF_ERROR(r.Get(node, "weight_bytes", field, true, kBytes, &layer.weight_bytes));
    SERDAB_RETURN_IF_ERROR(r.Get(node, "streamable_weight_bytes", field, false, kBytes,
                                 &layer.streamable_weight_bytes));
    SERDAB_RETURN_IF_ERROR(
        r.Get(node, "activation_bytes", field, true, kBytes, &layer.activation_bytes));
    model.layers.push_back(std::move(layer));
  }
  SERDAB_RETURN_IF_ERROR(r.GetList(root, "cut_bytes", "", true, kBytes, &model.cut_bytes));
  if (model.cut_bytes.size() != model.layers.size() + 1) {
    return r.Error(root["cut_bytes"], "cut_bytes",
                   "expected " + std::to_string(model.layers.size() + 1) +
                       " entries (one per cut, layers + 1), got " +
                       std::to_string(model.cut_bytes.size()));
  }
  return model;
}

Result<Cluster> ParseCluster(std::string_view yaml, std::string_view source) {
  SERDAB_ASSIGN_OR_RETURN(const YAML::Node root, ParseYaml(yaml, source));
  const Reader r(source);
  SERDAB_RETURN_IF_ERROR(r.CheckMap(root, "", {"client", "default_link", "workers", "links"}));
  Cluster cluster;
  SERDAB_RETURN_IF_ERROR(r.Get(root, "client", "", false, &cluster.client));
  const YAML::Node default_link = root["default_link"];
  if (default_link.IsDefined() && !default_link.IsNull()) {
    SERDAB_RETURN_IF_ERROR(
        r.CheckMap(default_link, "default_link", {"bandwidth_bytes_per_s", "rtt_ms"}));
    DefaultLink link;
    SERDAB_RETURN_IF_ERROR(r.Get(default_link, "bandwidth_bytes_per_s", "default_link", true,
                                 kPositive, &link.bandwidth_bytes_per_s));
    SERDAB_RETURN_IF_ERROR(
        r.Get(default_link, "rtt_ms", "default_link", true, kNonNegative, &link.rtt_ms));
    cluster.default_link = link;
  }
  const YAML::Node workers = root["workers"];
  if (!workers.IsDefined() || !workers.IsSequence()) {
    return r.Error(workers.IsDefined() ? workers : root, "workers", "expected a list of workers");
  }
  for (size_t i = 0; i < workers.size(); ++i) {
    const YAML::Node node = workers[i];
    const std::string field = "workers[" + std::to_string(i) + "]";
    SERDAB_RETURN_IF_ERROR(r.CheckMap(
        node, field,
        {"name", "fingerprint", "kind", "epc_bytes", "page_swap_ns", "ecall_ns", "aead_bytes_per_s",
         "threads", "speed_factor", "layer_ms", "target", "runtime_bytes"}));
    WorkerProfile w;
    std::string kind = "enclave";
    SERDAB_RETURN_IF_ERROR(r.Get(node, "name", field, true, &w.name));
    SERDAB_RETURN_IF_ERROR(r.Get(node, "fingerprint", field, false, &w.fingerprint));
    SERDAB_RETURN_IF_ERROR(r.Get(node, "target", field, false, &w.target));
    SERDAB_RETURN_IF_ERROR(r.Get(node, "kind", field, true, &kind));
    Result<WorkerKind> parsed = ParseWorkerKind(kind);
    if (!parsed.ok()) return r.Error(node["kind"], field + ".kind", parsed.status().message());
    w.kind = *parsed;
    // Other kinds have no EPC; their written form carries epc_bytes: 0.
    SERDAB_RETURN_IF_ERROR(r.Get(node, "epc_bytes", field, w.is_enclave(),
                                 w.is_enclave() ? kPositiveBytes : kBytes, &w.epc_bytes));
    SERDAB_RETURN_IF_ERROR(
        r.Get(node, "page_swap_ns", field, w.is_enclave(), kNonNegative, &w.page_swap_ns));
    SERDAB_RETURN_IF_ERROR(
        r.Get(node, "ecall_ns", field, w.is_enclave(), kNonNegative, &w.ecall_ns));
    SERDAB_RETURN_IF_ERROR(
        r.Get(node, "aead_bytes_per_s", field, true, kPositive, &w.aead_bytes_per_s));
    SERDAB_RETURN_IF_ERROR(r.Get(node, "threads", field, false, kThreads, &w.threads));
    SERDAB_RETURN_IF_ERROR(r.Get(node, "runtime_bytes", field, false, kBytes, &w.runtime_bytes));
    SERDAB_RETURN_IF_ERROR(r.Get(node, "speed_factor", field, false, kPositive, &w.speed_factor));
    SERDAB_RETURN_IF_ERROR(r.GetList(node, "layer_ms", field, false, kNonNegative, &w.layer_ms));
    cluster.workers.push_back(std::move(w));
  }
  const YAML::Node links = root["links"];
  if (links.IsDefined() && !links.IsNull()) {
    if (!links.IsSequence()) return r.Error(links, "links", "expected a list of links");
    for (size_t i = 0; i < links.size(); ++i) {
      const YAML::Node node = links[i];
      const std::string field = "links[" + std::to_string(i) + "]";
      SERDAB_RETURN_IF_ERROR(
          r.CheckMap(node, field, {"from", "to", "bandwidth_bytes_per_s", "rtt_ms"}));
      LinkProfile link;
      SERDAB_RETURN_IF_ERROR(r.Get(node, "from", field, true, &link.from));
      SERDAB_RETURN_IF_ERROR(r.Get(node, "to", field, true, &link.to));
      SERDAB_RETURN_IF_ERROR(r.Get(node, "bandwidth_bytes_per_s", field, true, kPositive,
                                   &link.bandwidth_bytes_per_s));
      SERDAB_RETURN_IF_ERROR(r.Get(node, "rtt_ms", field, true, kNonNegative, &link.rtt_ms));
      cluster.links.push_back(std::move(link));
    }
  }
  return cluster;
}

std::string ModelProfileToYaml(const ModelProfile& model) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "model" << YAML::Value << model.name;
  out << YAML::Key << "sha256" << YAML::Value << YAML::DoubleQuoted << model.sha256;
  if (!model.target.empty()) out << YAML::Key << "target" << YAML::Value << model.target;
  out << YAML::Key << "layers" << YAML::Value << YAML::BeginSeq;
  for (const LayerProfile& layer : model.layers) {
    out << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << layer.name;
    out << YAML::Key << "enclave_ms" << YAML::Value << Num(layer.enclave_ms);
    if (layer.enclave_wall_ms > 0) {
      out << YAML::Key << "enclave_wall_ms" << YAML::Value << Num(layer.enclave_wall_ms);
    }
    out << YAML::Key << "native_ms" << YAML::Value << Num(layer.native_ms);
    out << YAML::Key << "weight_bytes" << YAML::Value << layer.weight_bytes;
    // Written only where a layer can stream, so that other profiles read as before.
    if (layer.streamable_weight_bytes > 0) {
      out << YAML::Key << "streamable_weight_bytes" << YAML::Value << layer.streamable_weight_bytes;
    }
    out << YAML::Key << "activation_bytes" << YAML::Value << layer.activation_bytes;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "cut_bytes" << YAML::Value << YAML::Flow << model.cut_bytes;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string ClusterToYaml(const Cluster& cluster) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  if (!cluster.client.empty()) out << YAML::Key << "client" << YAML::Value << cluster.client;
  if (cluster.default_link) {
    out << YAML::Key << "default_link" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "bandwidth_bytes_per_s" << YAML::Value
        << Num(cluster.default_link->bandwidth_bytes_per_s);
    out << YAML::Key << "rtt_ms" << YAML::Value << Num(cluster.default_link->rtt_ms);
    out << YAML::EndMap;
  }
  out << YAML::Key << "workers" << YAML::Value << YAML::BeginSeq;
  for (const WorkerProfile& w : cluster.workers) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << w.name;
    out << YAML::Key << "fingerprint" << YAML::Value << w.fingerprint;
    if (!w.target.empty()) out << YAML::Key << "target" << YAML::Value << w.target;
    out << YAML::Key << "kind" << YAML::Value << std::string(WorkerKindName(w.kind));
    out << YAML::Key << "epc_bytes" << YAML::Value << w.epc_bytes;
    out << YAML::Key << "page_swap_ns" << YAML::Value << Num(w.page_swap_ns);
    out << YAML::Key << "ecall_ns" << YAML::Value << Num(w.ecall_ns);
    out << YAML::Key << "aead_bytes_per_s" << YAML::Value << Num(w.aead_bytes_per_s);
    out << YAML::Key << "threads" << YAML::Value << w.threads;
    if (w.runtime_bytes > 0) out << YAML::Key << "runtime_bytes" << YAML::Value << w.runtime_bytes;
    out << YAML::Key << "speed_factor" << YAML::Value << Num(w.speed_factor);
    if (!w.layer_ms.empty()) {
      out << YAML::Key << "layer_ms" << YAML::Value << YAML::Flow << w.layer_ms;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "links" << YAML::Value << YAML::BeginSeq;
  for (const LinkProfile& link : cluster.links) {
    out << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "from" << YAML::Value << link.from;
    out << YAML::Key << "to" << YAML::Value << link.to;
    out << YAML::Key << "bandwidth_bytes_per_s" << YAML::Value << Num(link.bandwidth_bytes_per_s);
    out << YAML::Key << "rtt_ms" << YAML::Value << Num(link.rtt_ms);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

Result<ModelProfile> LoadModelProfile(const std::string& path) {
  SERDAB_ASSIGN_OR_RETURN(const std::string text, ReadTextFile(path));
  return ParseModelProfile(text, path);
}

Result<Cluster> LoadCluster(const std::string& path) {
  SERDAB_ASSIGN_OR_RETURN(const std::string text, ReadTextFile(path));
  return ParseCluster(text, path);
}

Status SaveModelProfile(const ModelProfile& model, const std::string& path) {
  return WriteFile(path, ModelProfileToYaml(model));
}

Status SaveCluster(const Cluster& cluster, const std::string& path) {
  return WriteFile(path, ClusterToYaml(cluster));
}

}  // namespace serdab::partitioner
