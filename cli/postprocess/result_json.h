// The JSON the client prints for each frame's results (one object per line
// of `serdab stream` output). A "label" appears when `labels` names the
// class.
#ifndef SERDAB_CLI_POSTPROCESS_RESULT_JSON_H_
#define SERDAB_CLI_POSTPROCESS_RESULT_JSON_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/postprocess/results.h"

namespace serdab::postprocess {

// [{"class": 281, "label": "tabby", "score": 0.93}, ...], best first.
nlohmann::json ToJson(const std::vector<ClassScore>& top, const std::vector<std::string>& labels);

// [{"x": 12.5, "y": 40.0, "w": 100.2, "h": 80.0, "class": 1, "label": "person",
// "score": 0.8731}, ...]: source pixels rounded to 0.1, scores to 1e-4 (more
// digits than that are noise in a detector's output, and bloat every line).
nlohmann::json ToJson(const std::vector<Detection>& detections,
                      const std::vector<std::string>& labels);

// {"width": W, "height": H, "classes": [{"class": 15, "label": "person",
// "pixels": 5120, "fraction": 0.125}, ...]}, largest first; the class map
// itself is not included.
nlohmann::json ToJson(const Segmentation& segmentation, const std::vector<std::string>& labels);

}  // namespace serdab::postprocess

#endif  // SERDAB_CLI_POSTPROCESS_RESULT_JSON_H_
