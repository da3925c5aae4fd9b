#include "cli/events/class_event.h"

#include <cmath>

namespace serdab::events {

nlohmann::json ToJson(const ClassEvent& event) {
  nlohmann::json out = {{"event", event.kind == ClassEvent::kAppeared ? "appeared" : "left"},
                        {"stream", event.stream},
                        {"class", event.class_id}};
  if (!event.label.empty()) out["label"] = event.label;
  out["frame"] = event.frame;
  out["pts"] = event.pts_seconds;
  // Dividing by the step gives the double nearest the decimal, which JSON
  // then prints without a tail of digits.
  out["score"] = std::round(event.score * 1e4) / 1e4;
  out["count"] = event.count;
  return out;
}

}  // namespace serdab::events
