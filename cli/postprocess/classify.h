// The top classes of a classifier's output.
#ifndef SERDAB_CLI_POSTPROCESS_CLASSIFY_H_
#define SERDAB_CLI_POSTPROCESS_CLASSIFY_H_

#include <vector>

#include "cli/postprocess/results.h"
#include "cli/postprocess/tensor_view.h"
#include "enclave/common/status.h"

namespace serdab::postprocess {

// The `k` highest of `logits` (all its elements, whatever the shape: a
// classifier's [1, C] or [1, C, 1, 1]), best first, ties to the lower class,
// each with its softmax probability over all the elements. Fewer than `k` when
// the tensor is smaller; none when k <= 0. A NaN logit ranks last, and makes
// every probability NaN, as torch.softmax does.
// InvalidArgument when the shape is negative, overflows, or has more elements
// than a class id can number.
Result<std::vector<ClassScore>> ClassifyTopK(const TensorView& logits, int k);

}  // namespace serdab::postprocess

#endif  // SERDAB_CLI_POSTPROCESS_CLASSIFY_H_
