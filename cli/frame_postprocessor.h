// FramePostprocessor: what the trusted client makes of one frame's result,
// as the plan's `postprocess:` says: the top classes of a classifier, the
// boxes of a detector in source pixels, or a segmenter's class map.
//
//   SERDAB_ASSIGN_OR_RETURN(auto post, FramePostprocessor::Create(plan_post, preprocess, labels));
//   SERDAB_ASSIGN_OR_RETURN(FrameFindings found, post->Run(result.outputs, width, height));
//   line.update(post->ToJson(found));
//
// Run is const and thread-safe: results of several cameras may be decoded at
// once.
#ifndef SERDAB_CLI_FRAME_POSTPROCESSOR_H_
#define SERDAB_CLI_FRAME_POSTPROCESSOR_H_

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/ingest/preprocessor.h"
#include "cli/postprocess/detection_decoder.h"
#include "cli/postprocess/postprocess_options.h"
#include "cli/postprocess/results.h"
#include "enclave/common/status.h"
#include "enclave/engine/tensor.h"

namespace serdab::cli {

struct FrameFindings {
  std::vector<postprocess::ClassScore> top;        // classify
  std::vector<postprocess::Detection> detections;  // detect
  std::optional<postprocess::Segmentation> segmentation;
};

class FramePostprocessor {
 public:
  // `preprocess` is how frames become the model's input (for a detector's
  // boxes to go back to source pixels); `labels` are the class names (may be
  // empty). InvalidArgument naming the plan's field when the options do not
  // hold together.
  static Result<std::unique_ptr<FramePostprocessor>> Create(
      const postprocess::PostprocessOptions& options, const ingest::PreprocessOptions& preprocess,
      std::vector<std::string> labels);

  // Decodes the last stage's outputs for a frame whose decoded picture was
  // source_width x source_height. InvalidArgument when an output is not
  // float32 or its shape does not fit the postprocessing.
  Result<FrameFindings> Run(const std::vector<engine::Tensor>& outputs, int source_width,
                            int source_height) const;

  // The result line's fields: "top", "detections" or "segmentation".
  nlohmann::json ToJson(const FrameFindings& findings) const;

  const std::vector<std::string>& labels() const { return labels_; }

 private:
  FramePostprocessor(const postprocess::PostprocessOptions& options,
                     const ingest::PreprocessOptions& preprocess, std::vector<std::string> labels);

  const postprocess::PostprocessOptions options_;
  const ingest::PreprocessOptions preprocess_;
  const std::vector<std::string> labels_;
  std::unique_ptr<postprocess::DetectionDecoder> decoder_;  // detect
};

}  // namespace serdab::cli

#endif  // SERDAB_CLI_FRAME_POSTPROCESSOR_H_
