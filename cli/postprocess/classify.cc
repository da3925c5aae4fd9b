#include "cli/postprocess/classify.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

namespace serdab::postprocess {

Result<std::vector<ClassScore>> ClassifyTopK(const TensorView& logits, int k) {
  SERDAB_ASSIGN_OR_RETURN(const int64_t n, ElementCount(logits.shape, "the classifier's output"));
  if (n > std::numeric_limits<int>::max()) {
    return Status::InvalidArgument("the classifier's output has " + std::to_string(n) +
                                   " classes (shape " + ShapeString(logits.shape) + "); at most " +
                                   std::to_string(std::numeric_limits<int>::max()) +
                                   " are supported");
  }
  std::vector<ClassScore> top;
  if (n == 0 || k <= 0) return top;
  if (logits.data == nullptr) {
    return Status::InvalidArgument("the classifier's output has shape " +
                                   ShapeString(logits.shape) + " but no data");
  }
  const float* x = logits.data;
  std::vector<int> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  const size_t count = static_cast<size_t>(std::min<int64_t>(k, n));
  // NaN compares false with everything, which would break the strict weak
  // order std::partial_sort needs: rank it below every number instead.
  auto better = [x](int a, int b) {
    const bool a_nan = std::isnan(x[a]);
    const bool b_nan = std::isnan(x[b]);
    if (a_nan != b_nan) return b_nan;
    if (!a_nan && x[a] != x[b]) return x[a] > x[b];
    return a < b;
  };
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count), order.end(),
                    better);
  // Shifting by the largest logit keeps exp() finite; a NaN anywhere leaves
  // the sum NaN, and so every probability.
  const double max = x[order[0]];
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - max);
  top.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    top.push_back({order[i], std::exp(static_cast<double>(x[order[i]]) - max) / sum});
  }
  return top;
}

}  // namespace serdab::postprocess
