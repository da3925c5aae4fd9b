#include "worker/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace serdab::metrics {
namespace {

bool NameChar(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (colon && c == ':');
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kSummary:
      return "summary";
  }
  return "untyped";
}

// HELP text escapes only \ and newline.
std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Status CheckLabelNames(const std::string& metric, const std::vector<std::string>& names) {
  std::set<std::string_view> seen;
  for (const std::string& n : names) {
    if (!ValidLabelName(n)) {
      return Status::InvalidArgument("metric " + metric + ": invalid label name '" + n +
                                     "' (expected [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)");
    }
    if (!seen.insert(n).second) {
      return Status::InvalidArgument("metric " + metric + ": label '" + n + "' repeats");
    }
  }
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> Zip(const std::vector<std::string>& names,
                                                     const std::vector<std::string>& values) {
  std::vector<std::pair<std::string, std::string>> labels;
  labels.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) labels.emplace_back(names[i], values[i]);
  return labels;
}

}  // namespace

bool ValidMetricName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return NameChar(c, true); });
}

bool ValidLabelName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9') || name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return NameChar(c, false); });
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, ec == std::errc() ? end : buffer);
}

Summary::Summary(const SummaryOptions& options) : capacity_(std::max<size_t>(1, options.window)) {
  window_.reserve(capacity_);
}

void Summary::Observe(double value) {
  std::lock_guard<std::mutex> lock(mu_);
  // The ring fills by push_back into the space reserved at construction,
  // then overwrites: no allocation either way.
  if (window_.size() < capacity_) {
    window_.push_back(value);
  } else {
    window_[next_] = value;
  }
  next_ = (next_ + 1) % capacity_;
  ++count_;
  sum_ += value;
}

double Summary::Quantile(double q) const { return Read({q}).quantiles[0]; }

Summary::Snapshot Summary::Read(const std::vector<double>& qs) const {
  Snapshot snapshot;
  std::vector<double> sorted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot.count = count_;
    snapshot.sum = sum_;
    sorted = window_;
  }
  std::sort(sorted.begin(), sorted.end());
  for (double q : qs) {
    if (sorted.empty()) {
      snapshot.quantiles.push_back(std::nan(""));
      continue;
    }
    // Nearest rank: the ceil(q*n)-th smallest, 1-based.
    const double rank = std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size()));
    const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
    snapshot.quantiles.push_back(sorted[std::min(index, sorted.size() - 1)]);
  }
  return snapshot;
}

template <typename T>
Result<T*> Family<T>::Series(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    return Status::InvalidArgument("metric " + name_ + ": " + std::to_string(label_values.size()) +
                                   " label values for " + std::to_string(label_names_.size()) +
                                   " labels");
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<T>& series = series_[label_values];
  if (series == nullptr) {
    if constexpr (std::is_same_v<T, Summary>) {
      series = std::make_unique<Summary>(summary_);
    } else {
      series = std::make_unique<T>();
    }
  }
  return series.get();
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Summary>;

Result<Collection::FamilyText*> Collection::Declare(MetricType type, std::string_view name,
                                                    std::string_view help,
                                                    const std::vector<std::string>& label_names) {
  const auto it = index_.find(name);
  if (it != index_.end()) {
    FamilyText& family = families_[it->second];
    if (family.type != type || family.help != help || family.label_names != label_names) {
      return Status::InvalidArgument("metric " + std::string(name) +
                                     " was declared with another type, help or labels");
    }
    return &family;
  }
  if (!ValidMetricName(name)) {
    return Status::InvalidArgument("invalid metric name '" + std::string(name) +
                                   "' (expected [a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  SERDAB_RETURN_IF_ERROR(CheckLabelNames(std::string(name), label_names));
  index_.emplace(std::string(name), families_.size());
  families_.push_back({.type = type,
                       .name = std::string(name),
                       .help = std::string(help),
                       .label_names = label_names,
                       .samples = {}});
  return &families_.back();
}

Status Collection::Add(MetricType type, std::string_view name, std::string_view help,
                       const std::vector<std::pair<std::string, std::string>>& labels,
                       double value) {
  if (type == MetricType::kSummary) {
    return Status::InvalidArgument("metric " + std::string(name) +
                                   ": a collector adds counters and gauges only");
  }
  std::vector<std::string> label_names;
  label_names.reserve(labels.size());
  for (const auto& [label, unused] : labels) label_names.push_back(label);
  SERDAB_ASSIGN_OR_RETURN(FamilyText * family, Declare(type, name, help, label_names));
  family->samples.push_back({.suffix = "", .labels = labels, .value = value});
  return Status::Ok();
}

std::string Collection::Render() const {
  std::string out;
  for (const FamilyText& family : families_) {
    out += "# HELP " + family.name + " " + EscapeHelp(family.help) + "\n";
    out += "# TYPE " + family.name + " " + TypeName(family.type) + "\n";
    for (const Sample& sample : family.samples) {
      out += family.name + sample.suffix;
      if (!sample.labels.empty()) {
        out += "{";
        for (size_t i = 0; i < sample.labels.size(); ++i) {
          if (i > 0) out += ",";
          out += sample.labels[i].first + "=\"" + EscapeLabelValue(sample.labels[i].second) + "\"";
        }
        out += "}";
      }
      out += " " + FormatValue(sample.value) + "\n";
    }
  }
  return out;
}

template <typename T>
Result<Family<T>*> Registry::Add(MetricType type, const std::string& name, const std::string& help,
                                 const std::vector<std::string>& label_names,
                                 const SummaryOptions& options) {
  if (!ValidMetricName(name)) {
    return Status::InvalidArgument("invalid metric name '" + name +
                                   "' (expected [a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  SERDAB_RETURN_IF_ERROR(CheckLabelNames(name, label_names));
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [existing, entry] : families_) {
    if (existing != name) continue;
    auto* family = static_cast<Family<T>*>(entry.family.get());
    if (entry.type != type || family->label_names() != label_names) {
      return Status::InvalidArgument("metric " + name +
                                     " is already registered with another type or labels");
    }
    return family;
  }
  std::shared_ptr<Family<T>> family(new Family<T>(name, help, label_names, options));
  // A family without labels has exactly one series: create it now, so it is
  // exported (as 0) before its first update.
  if (label_names.empty()) SERDAB_RETURN_IF_ERROR(family->Series({}).status());
  families_.push_back({name, Entry{type, family}});
  return family.get();
}

Result<Family<Counter>*> Registry::AddCounter(const std::string& name, const std::string& help,
                                              const std::vector<std::string>& label_names) {
  return Add<Counter>(MetricType::kCounter, name, help, label_names, {});
}

Result<Family<Gauge>*> Registry::AddGauge(const std::string& name, const std::string& help,
                                          const std::vector<std::string>& label_names) {
  return Add<Gauge>(MetricType::kGauge, name, help, label_names, {});
}

Result<Family<Summary>*> Registry::AddSummary(const std::string& name, const std::string& help,
                                              const std::vector<std::string>& label_names,
                                              const SummaryOptions& options) {
  if (std::find(label_names.begin(), label_names.end(), "quantile") != label_names.end()) {
    return Status::InvalidArgument("summary " + name + ": 'quantile' is a reserved label name");
  }
  for (double q : options.quantiles) {
    if (!(q >= 0 && q <= 1)) {
      return Status::InvalidArgument("summary " + name + ": quantile " + FormatValue(q) +
                                     " is outside [0, 1]");
    }
  }
  if (options.window == 0) {
    return Status::InvalidArgument("summary " + name + ": the window must hold an observation");
  }
  return Add<Summary>(MetricType::kSummary, name, help, label_names, options);
}

void Registry::AddCollector(Collector collector) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::Render() const {
  Collection collection;
  std::vector<Collector> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, entry] : families_) {
      auto add = [&](const auto* family) -> Collection::FamilyText* {
        // Names were validated at registration; declaring cannot fail.
        return collection.Declare(entry.type, name, family->help_, family->label_names_).value();
      };
      switch (entry.type) {
        case MetricType::kCounter:
        case MetricType::kGauge: {
          // Counter and Gauge share a layout of reads: one atomic value.
          auto emit = [&](const auto* family) {
            Collection::FamilyText* text = add(family);
            std::lock_guard<std::mutex> family_lock(family->mu_);
            for (const auto& [values, series] : family->series_) {
              text->samples.push_back({.suffix = "",
                                       .labels = Zip(family->label_names_, values),
                                       .value = series->Value()});
            }
          };
          if (entry.type == MetricType::kCounter) {
            emit(static_cast<const Family<Counter>*>(entry.family.get()));
          } else {
            emit(static_cast<const Family<Gauge>*>(entry.family.get()));
          }
          break;
        }
        case MetricType::kSummary: {
          const auto* family = static_cast<const Family<Summary>*>(entry.family.get());
          Collection::FamilyText* text = add(family);
          std::lock_guard<std::mutex> family_lock(family->mu_);
          for (const auto& [values, series] : family->series_) {
            const auto labels = Zip(family->label_names_, values);
            const Summary::Snapshot s = series->Read(family->summary_.quantiles);
            for (size_t i = 0; i < s.quantiles.size(); ++i) {
              auto with_quantile = labels;
              with_quantile.emplace_back("quantile", FormatValue(family->summary_.quantiles[i]));
              text->samples.push_back(
                  {.suffix = "", .labels = std::move(with_quantile), .value = s.quantiles[i]});
            }
            text->samples.push_back({.suffix = "_sum", .labels = labels, .value = s.sum});
            text->samples.push_back(
                {.suffix = "_count", .labels = labels, .value = static_cast<double>(s.count)});
          }
          break;
        }
      }
    }
    collectors = collectors_;
  }
  // Collectors run outside the registry's lock: they may be slow (an ECALL)
  // and must not block registration or updates.
  for (const Collector& collector : collectors) collector(&collection);
  return collection.Render();
}

}  // namespace serdab::metrics
