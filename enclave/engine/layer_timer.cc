#include "enclave/engine/layer_timer.h"

#include <algorithm>
#include <chrono>

namespace serdab::engine {
namespace {

constexpr int kMaxRuns = 200;

struct RunCounts {
  int warmup;
  int min_runs;
  double min_total_ms;
};

// The median of run()'s times after `counts.warmup` untimed runs.
template <typename RunOnce>
Result<double> MedianMs(const RunCounts& counts, RunOnce run) {
  std::vector<double> ms;
  double total = 0;
  for (int r = 0; r < counts.warmup + kMaxRuns; ++r) {
    if (r >= counts.warmup + std::max(1, counts.min_runs) && total >= counts.min_total_ms) break;
    const auto start = std::chrono::steady_clock::now();
    SERDAB_RETURN_IF_ERROR(run());
    const double t =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (r >= counts.warmup) {
      ms.push_back(t);
      total += t;
    }
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

Result<double> TimeLayerMs(Model* model, int k, const std::vector<Tensor>& inputs, int min_runs,
                           std::vector<Tensor>* outputs) {
  return MedianMs({/*warmup=*/2, min_runs, /*min_total_ms=*/40}, [&]() -> Status {
    outputs->clear();  // hand the output buffers back for reuse
    SERDAB_ASSIGN_OR_RETURN(*outputs, model->Run(k, k + 1, inputs));
    return Status::Ok();
  });
}

Result<double> TimeRangeMs(Model* model, int begin, int end, const std::vector<Tensor>& inputs,
                           int min_runs) {
  return MedianMs({/*warmup=*/1, min_runs, /*min_total_ms=*/300}, [&]() -> Status {
    SERDAB_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, model->Run(begin, end, inputs));
    return Status::Ok();
  });
}

}  // namespace serdab::engine
