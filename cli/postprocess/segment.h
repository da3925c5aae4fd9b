// The class map of a segmentation model's output.
#ifndef SERDAB_CLI_POSTPROCESS_SEGMENT_H_
#define SERDAB_CLI_POSTPROCESS_SEGMENT_H_

#include "cli/postprocess/results.h"
#include "cli/postprocess/tensor_view.h"
#include "enclave/common/status.h"

namespace serdab::postprocess {

// For [1, C, H, W] logits (or probabilities): each pixel's class is the
// argmax over C, the first of equal maxima, and a NaN counts as the maximum
// (as torch.argmax does). `areas` lists the classes present, by pixel count
// descending, ties to the lower class. InvalidArgument unless the shape is
// [1, C, H, W] with C from 1 to 65536 (a class id fits uint16) and H, W >= 1.
Result<Segmentation> Segment(const TensorView& logits);

}  // namespace serdab::postprocess

#endif  // SERDAB_CLI_POSTPROCESS_SEGMENT_H_
