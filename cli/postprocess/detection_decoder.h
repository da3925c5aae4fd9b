// Turns a detector's raw outputs into boxes in the source picture.
//
// SSD heads are decoded exactly as torchvision 0.14 does it for
// ssdlite320_mobilenet_v3_large and ssd300_vgg16: DefaultBoxGenerator's
// anchors, BoxCoder.decode_single, SSD.postprocess_detections (softmax over
// the classes; per class, the scores above the threshold, the best
// `candidates_per_class` of them; boxes clipped to the model input; NMS per
// class; the best `max_detections`), in float32 like torch. YOLO heads are
// decoded as YOLOv5's non_max_suppression does with multi_label=False: each
// candidate keeps its best class only, score = objectness x class score.
//
// Boxes then go back to the source picture through the InputMapping and are
// clipped to it. A candidate whose score is NaN never passes the threshold,
// and one whose box is not finite is dropped.
//
// The shapes of the outputs are checked against the options (SSD: [1, N, 4]
// and [1, N, C] with N the anchor count; YOLO: [1, N, K] or [1, K, N] with
// K = 4 + objectness + C), and no element past a shape's product is read; that
// each view holds its shape's product of floats is the caller's contract
// (tensor_view.h).
//
// Thread-safe: Decode is const and keeps no state between calls.
#ifndef SERDAB_CLI_POSTPROCESS_DETECTION_DECODER_H_
#define SERDAB_CLI_POSTPROCESS_DETECTION_DECODER_H_

#include <memory>
#include <vector>

#include "cli/postprocess/nms.h"
#include "cli/postprocess/postprocess_options.h"
#include "cli/postprocess/results.h"
#include "cli/postprocess/tensor_view.h"
#include "enclave/common/status.h"

namespace serdab::postprocess {

class DetectionDecoder {
 public:
  // Validates `options` for a model whose input is input_width x
  // input_height pixels (InvalidArgument naming the plan's field, e.g.
  // "postprocess.detect.ssd.feature_maps: ...") and, for SSD, makes the
  // anchors.
  static Result<std::unique_ptr<DetectionDecoder>> Create(const DetectOptions& options,
                                                          int input_width, int input_height);

  // The detections of one frame, best first, at most max_detections, in
  // source pixels. `outputs` are the model's outputs in order: SSD reads
  // outputs[boxes_output] and outputs[scores_output], YOLO reads outputs[0].
  // InvalidArgument when an output is missing or its shape does not fit the
  // options, or when `mapping` has a scale that is not positive or a source
  // size below 1.
  Result<std::vector<Detection>> Decode(const std::vector<TensorView>& outputs,
                                        const InputMapping& mapping) const;

  // SSD: the anchors in model-input pixels, in the order of the model's rows
  // (feature map by feature map, cell by cell row-major, then box by box).
  // Empty for YOLO.
  const std::vector<Box>& anchors() const { return anchors_; }

 private:
  // One box that may enter NMS, in model-input pixels.
  struct Candidate {
    Box box;
    float score = 0;
    int class_id = 0;
  };

  DetectionDecoder(const DetectOptions& options, int input_width, int input_height);

  Result<std::vector<Candidate>> SsdCandidates(const std::vector<TensorView>& outputs) const;
  Result<std::vector<Candidate>> YoloCandidates(const std::vector<TensorView>& outputs) const;

  DetectOptions options_;
  int input_width_;
  int input_height_;
  std::vector<Box> anchors_;  // SSD
  int64_t grid_cells_ = 0;    // YOLO with strides: the rows the grids add up to
};

}  // namespace serdab::postprocess

#endif  // SERDAB_CLI_POSTPROCESS_DETECTION_DECODER_H_
