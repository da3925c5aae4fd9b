#include "enclave/engine/layer_timer.h"

#include <algorithm>
#include <chrono>

namespace serdab::engine {
namespace {

constexpr int kWarmupRuns = 2;
constexpr double kMinTotalMs = 40;
constexpr int kMaxRuns = 200;

}  // namespace

Result<double> TimeLayerMs(Model* model, int k, const std::vector<Tensor>& inputs, int min_runs,
                           std::vector<Tensor>* outputs) {
  std::vector<double> ms;
  double total = 0;
  for (int r = 0; r < kWarmupRuns + kMaxRuns; ++r) {
    if (r >= kWarmupRuns + std::max(1, min_runs) && total >= kMinTotalMs) break;
    outputs->clear();  // hand the output buffers back for reuse
    const auto start = std::chrono::steady_clock::now();
    SERDAB_ASSIGN_OR_RETURN(*outputs, model->Run(k, k + 1, inputs));
    const double t =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (r >= kWarmupRuns) {
      ms.push_back(t);
      total += t;
    }
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace serdab::engine
