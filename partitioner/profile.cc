#include "partitioner/profile.h"

#include <cmath>
#include <cstdio>
#include <set>
#include <utility>

namespace serdab::partitioner {
namespace {

bool NonNegativeFinite(double v) { return std::isfinite(v) && v >= 0; }

std::string LayerLabel(const ModelProfile& model, int i) {
  return "layer " + std::to_string(i) + " '" + model.layers[i].name + "'";
}

}  // namespace

std::string_view WorkerKindName(WorkerKind kind) {
  switch (kind) {
    case WorkerKind::kEnclave:
      return "enclave";
    case WorkerKind::kAccelerator:
      return "accelerator";
    case WorkerKind::kNative:
      return "native";
  }
  return "unknown";
}

Result<WorkerKind> ParseWorkerKind(std::string_view name) {
  for (WorkerKind kind : {WorkerKind::kEnclave, WorkerKind::kAccelerator, WorkerKind::kNative}) {
    if (name == WorkerKindName(kind)) return kind;
  }
  return Status::InvalidArgument("unknown worker kind '" + std::string(name) +
                                 "' (expected enclave, accelerator or native)");
}

std::optional<ResolvedLink> FindLink(const Cluster& cluster, std::string_view from,
                                     std::string_view to) {
  const LinkProfile* reverse = nullptr;
  for (const LinkProfile& link : cluster.links) {
    if (link.from == from && link.to == to)
      return ResolvedLink{link.bandwidth_bytes_per_s, link.rtt_ms};
    if (link.from == to && link.to == from) reverse = &link;
  }
  if (reverse != nullptr) return ResolvedLink{reverse->bandwidth_bytes_per_s, reverse->rtt_ms};
  if (cluster.default_link) {
    return ResolvedLink{cluster.default_link->bandwidth_bytes_per_s, cluster.default_link->rtt_ms};
  }
  return std::nullopt;
}

std::vector<double> WorkerLayerTimesMs(const ModelProfile& model, const WorkerProfile& worker) {
  if (!worker.layer_ms.empty()) return worker.layer_ms;
  std::vector<double> times;
  times.reserve(model.layers.size());
  for (const LayerProfile& layer : model.layers) {
    times.push_back((worker.is_enclave() ? layer.enclave_ms : layer.native_ms) /
                    worker.speed_factor);
  }
  return times;
}

std::string CacheKey(const ModelProfile& model, const WorkerProfile& worker) {
  return model.sha256 + "/" + worker.fingerprint;
}

Status ValidateModel(const ModelProfile& model) {
  const std::string where = "model profile '" + model.name + "': ";
  if (model.layers.empty()) return Status::InvalidArgument(where + "has no layers");
  if (model.cut_bytes.size() != model.layers.size() + 1) {
    return Status::InvalidArgument(
        where + "cut_bytes has " + std::to_string(model.cut_bytes.size()) +
        " entries, expected one per cut: " + std::to_string(model.layers.size() + 1));
  }
  for (int i = 0; i < model.num_layers(); ++i) {
    const LayerProfile& layer = model.layers[i];
    if (!NonNegativeFinite(layer.enclave_ms) || !NonNegativeFinite(layer.native_ms)) {
      return Status::InvalidArgument(where + LayerLabel(model, i) +
                                     ": enclave_ms and native_ms must be finite and >= 0");
    }
    if (layer.weight_bytes < 0 || layer.activation_bytes < 0) {
      return Status::InvalidArgument(where + LayerLabel(model, i) +
                                     ": weight_bytes and activation_bytes must be >= 0");
    }
    if (layer.streamable_weight_bytes < 0 || layer.streamable_weight_bytes > layer.weight_bytes) {
      return Status::InvalidArgument(where + LayerLabel(model, i) +
                                     ": streamable_weight_bytes is " +
                                     std::to_string(layer.streamable_weight_bytes) +
                                     " but must be between 0 and the layer's weight_bytes, " +
                                     std::to_string(layer.weight_bytes));
    }
  }
  for (size_t i = 0; i < model.cut_bytes.size(); ++i) {
    if (model.cut_bytes[i] < 0) {
      return Status::InvalidArgument(where + "cut_bytes[" + std::to_string(i) + "] is negative");
    }
  }
  return Status::Ok();
}

Status ValidateCluster(const Cluster& cluster, const ModelProfile& model) {
  std::set<std::string> names;
  for (const WorkerProfile& w : cluster.workers) {
    const std::string where = "worker '" + w.name + "': ";
    if (w.name.empty()) return Status::InvalidArgument("a worker has an empty name");
    if (!names.insert(w.name).second) {
      return Status::InvalidArgument("worker name '" + w.name + "' appears twice");
    }
    if (w.name == cluster.client) {
      return Status::InvalidArgument(where + "has the same name as the client");
    }
    if (w.is_enclave()) {
      if (w.epc_bytes <= 0) return Status::InvalidArgument(where + "epc_bytes must be > 0");
      if (!NonNegativeFinite(w.page_swap_ns)) {
        return Status::InvalidArgument(where + "page_swap_ns must be finite and >= 0");
      }
    }
    if (!NonNegativeFinite(w.ecall_ns)) {
      return Status::InvalidArgument(where + "ecall_ns must be finite and >= 0");
    }
    if (!(std::isfinite(w.aead_bytes_per_s) && w.aead_bytes_per_s > 0)) {
      return Status::InvalidArgument(where + "aead_bytes_per_s must be finite and > 0");
    }
    if (w.layer_ms.empty()) {
      if (!(std::isfinite(w.speed_factor) && w.speed_factor > 0)) {
        return Status::InvalidArgument(where + "speed_factor must be finite and > 0");
      }
    } else {
      if (w.layer_ms.size() != model.layers.size()) {
        return Status::InvalidArgument(where + "layer_ms has " + std::to_string(w.layer_ms.size()) +
                                       " entries but model '" + model.name + "' has " +
                                       std::to_string(model.layers.size()) + " layers");
      }
      for (size_t i = 0; i < w.layer_ms.size(); ++i) {
        if (!NonNegativeFinite(w.layer_ms[i])) {
          return Status::InvalidArgument(where + "layer_ms[" + std::to_string(i) +
                                         "] must be finite and >= 0");
        }
      }
    }
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (const LinkProfile& link : cluster.links) {
    const std::string where = "link '" + link.from + "' -> '" + link.to + "': ";
    for (const std::string& end : {link.from, link.to}) {
      if (!names.count(end) && (cluster.client.empty() || end != cluster.client)) {
        return Status::InvalidArgument(where + "'" + end + "' is neither a worker nor the client");
      }
    }
    if (link.from == link.to) return Status::InvalidArgument(where + "links an endpoint to itself");
    if (!seen.insert({link.from, link.to}).second) {
      return Status::InvalidArgument(where + "appears twice");
    }
    if (!(std::isfinite(link.bandwidth_bytes_per_s) && link.bandwidth_bytes_per_s > 0)) {
      return Status::InvalidArgument(where + "bandwidth_bytes_per_s must be finite and > 0");
    }
    if (!NonNegativeFinite(link.rtt_ms)) {
      return Status::InvalidArgument(where + "rtt_ms must be finite and >= 0");
    }
  }
  if (cluster.default_link) {
    if (!(std::isfinite(cluster.default_link->bandwidth_bytes_per_s) &&
          cluster.default_link->bandwidth_bytes_per_s > 0) ||
        !NonNegativeFinite(cluster.default_link->rtt_ms)) {
      return Status::InvalidArgument(
          "default_link: bandwidth_bytes_per_s must be > 0 and rtt_ms >= 0");
    }
  }
  return Status::Ok();
}

std::string FormatBytes(int64_t bytes) {
  char buf[64];
  const double b = static_cast<double>(bytes);
  if (bytes >= (int64_t{1} << 30)) {
    std::snprintf(buf, sizeof(buf), "%.1f GiB", b / (1 << 30));
  } else if (bytes >= (int64_t{1} << 20)) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", b / (1 << 20));
  } else if (bytes >= (int64_t{1} << 10)) {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", b / (1 << 10));
  } else {
    std::snprintf(buf, sizeof(buf), "%lld B", static_cast<long long>(bytes));
  }
  return buf;
}

}  // namespace serdab::partitioner
