#include "cli/postprocess/result_json.h"

#include <cmath>

namespace serdab::postprocess {
namespace {

// To 1 / `per_unit`: dividing (not multiplying by the step) gives the double
// nearest the decimal, which JSON then prints without a tail of digits.
double Round(double value, double per_unit) { return std::round(value * per_unit) / per_unit; }

void AddLabel(int class_id, const std::vector<std::string>& labels, nlohmann::json* entry) {
  if (class_id >= 0 && static_cast<size_t>(class_id) < labels.size()) {
    (*entry)["label"] = labels[static_cast<size_t>(class_id)];
  }
}

}  // namespace

nlohmann::json ToJson(const std::vector<ClassScore>& top, const std::vector<std::string>& labels) {
  nlohmann::json out = nlohmann::json::array();
  for (const ClassScore& c : top) {
    nlohmann::json entry = {{"class", c.class_id}};
    AddLabel(c.class_id, labels, &entry);
    entry["score"] = c.score;
    out.push_back(std::move(entry));
  }
  return out;
}

nlohmann::json ToJson(const std::vector<Detection>& detections,
                      const std::vector<std::string>& labels) {
  nlohmann::json out = nlohmann::json::array();
  for (const Detection& d : detections) {
    nlohmann::json entry = {{"x", Round(d.x, 10)},
                            {"y", Round(d.y, 10)},
                            {"w", Round(d.width, 10)},
                            {"h", Round(d.height, 10)},
                            {"class", d.class_id}};
    AddLabel(d.class_id, labels, &entry);
    entry["score"] = Round(d.score, 1e4);
    out.push_back(std::move(entry));
  }
  return out;
}

nlohmann::json ToJson(const Segmentation& segmentation, const std::vector<std::string>& labels) {
  nlohmann::json classes = nlohmann::json::array();
  for (const ClassArea& area : segmentation.areas) {
    nlohmann::json entry = {{"class", area.class_id}};
    AddLabel(area.class_id, labels, &entry);
    entry["pixels"] = area.pixels;
    entry["fraction"] = area.fraction;
    classes.push_back(std::move(entry));
  }
  return {{"width", segmentation.width}, {"height", segmentation.height}, {"classes", classes}};
}

}  // namespace serdab::postprocess
