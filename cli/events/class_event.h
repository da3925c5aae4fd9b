// ClassEvent: a class appeared in, or left, a camera stream's pictures, as
// ClassPresenceTracker decides it and MqttPublisher sends it.
#ifndef SERDAB_CLI_EVENTS_CLASS_EVENT_H_
#define SERDAB_CLI_EVENTS_CLASS_EVENT_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace serdab::events {

struct ClassEvent {
  enum Kind { kAppeared, kLeft };

  std::string stream;
  int class_id = 0;
  std::string label;  // "" when the labels do not name the class
  Kind kind = kAppeared;
  // The frame at which the debounce decided, and its presentation time.
  int64_t frame = 0;
  double pts_seconds = 0;
  // kAppeared: the best score over the frames that made it appear, and the
  // count in the last of them. kLeft: the best score and the largest count
  // over the whole time it was present.
  double score = 0;
  int count = 0;
};

// {"event": "appeared"|"left", "stream": "cam1", "class": 1, "label":
// "person", "frame": 42, "pts": 1.68, "score": 0.8731, "count": 2}; "label"
// only when known, the score rounded to 1e-4 as in the per-frame results.
nlohmann::json ToJson(const ClassEvent& event);

}  // namespace serdab::events

#endif  // SERDAB_CLI_EVENTS_CLASS_EVENT_H_
