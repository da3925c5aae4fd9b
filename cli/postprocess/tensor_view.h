// A read-only view of one float tensor a model returned: no copy, no ownership.
//
// The caller promises that `data` points at the product of `shape` floats, in
// row-major order, and stays valid while the view is used. The decoders never
// trust the shape beyond that: they reject negative dimensions and products
// that overflow, and read only indices below the product.
#ifndef SERDAB_CLI_POSTPROCESS_TENSOR_VIEW_H_
#define SERDAB_CLI_POSTPROCESS_TENSOR_VIEW_H_

#include <cstdint>
#include <string>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::postprocess {

struct TensorView {
  const float* data = nullptr;
  std::vector<int64_t> shape;
};

// "[1, 3234, 4]": how messages show a shape.
std::string ShapeString(const std::vector<int64_t>& shape);

// The number of elements of `shape`, or InvalidArgument naming `what` when a
// dimension is negative or the product does not fit an int64 (a hostile or
// corrupt model output).
Result<int64_t> ElementCount(const std::vector<int64_t>& shape, const std::string& what);

}  // namespace serdab::postprocess

#endif  // SERDAB_CLI_POSTPROCESS_TENSOR_VIEW_H_
