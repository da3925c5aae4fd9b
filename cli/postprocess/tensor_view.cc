#include "cli/postprocess/tensor_view.h"

#include <limits>

namespace serdab::postprocess {

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

Result<int64_t> ElementCount(const std::vector<int64_t>& shape, const std::string& what) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) {
      return Status::InvalidArgument(what + " has a negative dimension: shape " +
                                     ShapeString(shape));
    }
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / dim) {
      return Status::InvalidArgument(what + " has more elements than can be addressed: shape " +
                                     ShapeString(shape));
    }
    count *= dim;
  }
  return count;
}

}  // namespace serdab::postprocess
