// Metrics: a small thread-safe registry of counters, gauges and latency
// summaries with label sets, rendered in the Prometheus text exposition
// format 0.0.4 (worker/metrics_server.h serves it over HTTP).
//
// A family is one metric name with fixed label names; a series is one set of
// label values in it. Registering returns the family; asking the family for a
// series returns a pointer that stays valid as long as the registry, so a hot
// path looks its series up once and then only touches atomics (counters,
// gauges) or one short lock (summaries), with no allocation per update.
//
// Adding a data-plane metric (e.g. frames per stream and stage):
//
//   // once, where the stage is set up:
//   SERDAB_ASSIGN_OR_RETURN(metrics::Family<metrics::Counter>* frames,
//       registry->AddCounter("serdab_frames_total", "Frames a stage handled.",
//                            {"stream", "stage", "outcome"}));
//   SERDAB_ASSIGN_OR_RETURN(metrics::Counter* in, frames->Series({"cam1", "0", "in"}));
//   // per frame:
//   in->Increment();
//
// Registering the same name again with the same type and label names returns
// the same family, so components need not share the pointer to share the
// metric. Values a daemon reads on demand (an enclave's stats JSON) are
// better exported by a Collector, run at scrape time, than copied into
// gauges on a timer.
//
// Latency: Summary, not a histogram. The client's status line and a scrape
// both want the p50/p99 of the *recent* frames; a cumulative histogram
// answers "since start" (skewed by model loading and first-frame paging) and
// only to bucket resolution. A summary over a bounded sliding window of the
// last N observations gives exact quantiles of what is happening now, costs
// one lock and one store per observation, and exports _sum and _count for
// rate() means. Its price, that summaries cannot be aggregated across
// processes, is small here: each stream's latency is measured in one place.
#ifndef SERDAB_WORKER_METRICS_H_
#define SERDAB_WORKER_METRICS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::metrics {

enum class MetricType { kCounter, kGauge, kSummary };

// Whether `name` is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or label
// name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", which Prometheus
// reserves).
bool ValidMetricName(std::string_view name);
bool ValidLabelName(std::string_view name);

// A label value as the exposition format quotes it: \ " and newline escaped.
std::string EscapeLabelValue(std::string_view value);

// A value as the exposition format writes it: the shortest text that reads
// back as the same double; +Inf, -Inf, NaN.
std::string FormatValue(double value);

// Only goes up. Lock-free.
class Counter {
 public:
  // `delta` must be >= 0; a negative one is ignored so a counter never goes
  // down (Prometheus would read that as a restart).
  void Increment(double delta = 1.0) {
    if (delta > 0) value_.fetch_add(delta, std::memory_order_relaxed);
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Goes up and down. Lock-free.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

struct SummaryOptions {
  // Quantiles are over the last `window` observations (>= 1).
  size_t window = 1024;
  // Each in [0, 1]; exported as {quantile="0.5"} and so on.
  std::vector<double> quantiles = {0.5, 0.9, 0.99};
};

// Observations (e.g. seconds of latency): exact quantiles over a sliding
// window, and the count and sum of every observation since start.
class Summary {
 public:
  explicit Summary(const SummaryOptions& options);

  void Observe(double value);

  // The nearest-rank q-quantile of the window: the smallest observation with
  // at least q of the window at or below it. NaN while the window is empty.
  double Quantile(double q) const;

  struct Snapshot {
    uint64_t count = 0;             // since start
    double sum = 0;                 // since start
    std::vector<double> quantiles;  // as SummaryOptions::quantiles; NaN if empty
  };
  // Every quantile of `qs` from one consistent view of the window.
  Snapshot Read(const std::vector<double>& qs) const;

 private:
  const size_t capacity_;  // the window's size
  mutable std::mutex mu_;
  std::vector<double> window_;  // a ring of up to capacity_, reserved once
  size_t next_ = 0;             // where the next observation goes
  uint64_t count_ = 0;
  double sum_ = 0;
};

// A family's series by label values. Thread-safe.
template <typename T>
class Family {
 public:
  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // The series with these label values (one per label name, in order),
  // created on first use. The pointer lives as long as the registry.
  Result<T*> Series(const std::vector<std::string>& label_values);

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         SummaryOptions summary)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        summary_(std::move(summary)) {}

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const SummaryOptions summary_;  // for Family<Summary> only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> series_;
};

// What a scrape collects: families of samples, grouped by name. A Collector
// adds to it; the registry adds its own families first.
class Collection {
 public:
  // Adds one sample to family `name`, declaring the family on first use.
  // Fails when a name is invalid, a label repeats, or the family was declared
  // with another type, help or label names; the sample is then dropped.
  // Summaries are the registry's own; a collector adds counters and gauges.
  Status Add(MetricType type, std::string_view name, std::string_view help,
             const std::vector<std::pair<std::string, std::string>>& labels, double value);

  // The exposition text, families in the order they were first added.
  std::string Render() const;

 private:
  friend class Registry;
  struct Sample {
    std::string suffix;  // "", "_sum", "_count"
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;
  };
  struct FamilyText {
    MetricType type = MetricType::kGauge;
    std::string name;
    std::string help;
    std::vector<std::string> label_names;
    std::vector<Sample> samples;
  };
  Result<FamilyText*> Declare(MetricType type, std::string_view name, std::string_view help,
                              const std::vector<std::string>& label_names);

  std::vector<FamilyText> families_;
  std::map<std::string, size_t, std::less<>> index_;
};

// Run at every scrape, on the scraping thread. It must be thread-safe and
// stay valid while the registry can be rendered (stop the metrics server
// before destroying what a collector reads).
using Collector = std::function<void(Collection*)>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Each fails (InvalidArgument) on an invalid or repeated name, or a name
  // already registered with another type or label names. `help` is free text.
  Result<Family<Counter>*> AddCounter(const std::string& name, const std::string& help,
                                      const std::vector<std::string>& label_names = {});
  Result<Family<Gauge>*> AddGauge(const std::string& name, const std::string& help,
                                  const std::vector<std::string>& label_names = {});
  // "quantile" is reserved as a label name here.
  Result<Family<Summary>*> AddSummary(const std::string& name, const std::string& help,
                                      const std::vector<std::string>& label_names = {},
                                      const SummaryOptions& options = {});

  void AddCollector(Collector collector);

  // Every family and every collector's samples, as exposition text 0.0.4.
  std::string Render() const;

 private:
  template <typename T>
  Result<Family<T>*> Add(MetricType type, const std::string& name, const std::string& help,
                         const std::vector<std::string>& label_names,
                         const SummaryOptions& options);

  mutable std::mutex mu_;
  struct Entry {
    MetricType type;
    std::shared_ptr<void> family;  // Family<Counter|Gauge|Summary>
  };
  std::vector<std::pair<std::string, Entry>> families_;  // in registration order
  std::vector<Collector> collectors_;
};

}  // namespace serdab::metrics

#endif  // SERDAB_WORKER_METRICS_H_
