#include "cli/frame_postprocessor.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "cli/postprocess/classify.h"
#include "cli/postprocess/result_json.h"
#include "cli/postprocess/segment.h"
#include "cli/postprocess/tensor_view.h"

namespace serdab::cli {

FramePostprocessor::FramePostprocessor(const postprocess::PostprocessOptions& options,
                                       const ingest::PreprocessOptions& preprocess,
                                       std::vector<std::string> labels)
    : options_(options), preprocess_(preprocess), labels_(std::move(labels)) {}

Result<std::unique_ptr<FramePostprocessor>> FramePostprocessor::Create(
    const postprocess::PostprocessOptions& options, const ingest::PreprocessOptions& preprocess,
    std::vector<std::string> labels) {
  std::unique_ptr<FramePostprocessor> post(
      new FramePostprocessor(options, preprocess, std::move(labels)));
  if (options.kind == postprocess::Kind::kDetect) {
    SERDAB_ASSIGN_OR_RETURN(
        post->decoder_,
        postprocess::DetectionDecoder::Create(options.detect, preprocess.width, preprocess.height));
  }
  return post;
}

Result<FrameFindings> FramePostprocessor::Run(const std::vector<engine::Tensor>& outputs,
                                              int source_width, int source_height) const {
  std::vector<postprocess::TensorView> views;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].dtype() != engine::DataType::kFloat32) {
      return Status::InvalidArgument("output " + std::to_string(i) +
                                     " is not float32: the postprocessing reads float outputs");
    }
    views.push_back({outputs[i].data<float>(), outputs[i].shape()});
  }
  if (views.empty()) return Status::InvalidArgument("the model returned no output");
  FrameFindings found;
  switch (options_.kind) {
    case postprocess::Kind::kClassify: {
      SERDAB_ASSIGN_OR_RETURN(found.top, postprocess::ClassifyTopK(views[0], options_.top_k));
      break;
    }
    case postprocess::Kind::kDetect: {
      SERDAB_ASSIGN_OR_RETURN(
          found.detections, decoder_->Decode(views, ingest::ModelInputMapping(
                                                        source_width, source_height, preprocess_)));
      break;
    }
    case postprocess::Kind::kSegment: {
      SERDAB_ASSIGN_OR_RETURN(found.segmentation, postprocess::Segment(views[0]));
      break;
    }
  }
  return found;
}

nlohmann::json FramePostprocessor::ToJson(const FrameFindings& findings) const {
  nlohmann::json out = nlohmann::json::object();
  switch (options_.kind) {
    case postprocess::Kind::kClassify:
      out["top"] = postprocess::ToJson(findings.top, labels_);
      break;
    case postprocess::Kind::kDetect:
      out["detections"] = postprocess::ToJson(findings.detections, labels_);
      break;
    case postprocess::Kind::kSegment:
      if (findings.segmentation) {
        out["segmentation"] = postprocess::ToJson(*findings.segmentation, labels_);
      }
      break;
  }
  return out;
}

}  // namespace serdab::cli
