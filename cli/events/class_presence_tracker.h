// ClassPresenceTracker: turns each frame's results of one camera stream into
// events when a class appears or leaves ("a person appeared at the front
// door", "the car left"), debounced so that a detector's flicker does not
// send a burst of them.
//
//   SERDAB_ASSIGN_OR_RETURN(auto tracker,
//                           ClassPresenceTracker::Create("front-door", {}, labels));
//   for each decoded frame:
//     for (const ClassEvent& e : tracker.Update(frame, pts, SightingsOf(detections)))
//       publisher->Publish(e);  // or print ToJson(e)
//   at the end of the stream:
//     for (const ClassEvent& e : tracker.Finish()) publisher->Publish(e);
//
// A class appears once it is seen in `enter_frames` consecutive updates and
// leaves once it is missing from `leave_frames` consecutive updates; a class
// that never completed its entry leaves no trace. "Consecutive" counts calls
// to Update(), not frame numbers: frames the client skipped or lost are not
// frames without the class. Pure logic: no I/O, no threads, not thread-safe
// (one tracker per stream, fed in frame order).
#ifndef SERDAB_CLI_EVENTS_CLASS_PRESENCE_TRACKER_H_
#define SERDAB_CLI_EVENTS_CLASS_PRESENCE_TRACKER_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli/events/class_event.h"
#include "cli/postprocess/results.h"
#include "enclave/common/status.h"

namespace serdab::events {

// A class in one frame's results.
struct ClassSighting {
  int class_id = 0;
  double score = 0;  // the best of the frame's (a segment's area fraction)
  int count = 1;     // boxes of the class; 1 for top-k and segmentation
};

// One sighting per class among the boxes, by class id: the best score and
// the number of boxes. The decoder's score threshold has already applied.
std::vector<ClassSighting> SightingsOf(const std::vector<postprocess::Detection>& detections);

// One sighting per class covering at least `min_fraction` of the class map,
// by class id, its score the fraction. The background is a class like any
// other here (class 0 of the VOC models): leave it out with
// PresenceOptions::watch.
std::vector<ClassSighting> SightingsOf(const postprocess::Segmentation& segmentation,
                                       double min_fraction);

// One sighting per top-k class scoring at least `min_score`, by class id.
std::vector<ClassSighting> SightingsOf(const std::vector<postprocess::ClassScore>& top,
                                       double min_score);

struct PresenceOptions {
  int enter_frames = 2;  // consecutive updates seen before it appears, >= 1
  int leave_frames = 5;  // consecutive updates missing before it leaves, >= 1
  // A sighting scoring less than this counts as missing; 0: every one the
  // postprocessing reported counts.
  double min_score = 0;
  std::set<int> watch;  // the classes to report; empty: all
};

class ClassPresenceTracker {
 public:
  // `labels` name the classes in the events (by class id; "" past their
  // end). InvalidArgument naming the option when enter_frames or
  // leave_frames is below 1 or min_score is not a number.
  static Result<ClassPresenceTracker> Create(std::string stream, PresenceOptions options,
                                             std::vector<std::string> labels = {});

  // Takes the classes of the next frame (any order; a class listed twice
  // counts once, with the better score and the counts added) and returns
  // the events it completes, by class id; each event carries `frame` and
  // `pts_seconds`.
  std::vector<ClassEvent> Update(int64_t frame, double pts_seconds,
                                 const std::vector<ClassSighting>& sightings);

  // The end of the stream: a "left" event, at the last updated frame, for
  // each class present, by class id. The tracker then starts afresh.
  std::vector<ClassEvent> Finish();

 private:
  struct ClassState {
    bool present = false;
    int streak = 0;  // updates seen in a row (entering) or missing (present)
    double best_score = 0;
    int most = 0;  // the largest count while present
  };

  ClassPresenceTracker(std::string stream, PresenceOptions options,
                       std::vector<std::string> labels);
  ClassEvent Event(int class_id, ClassEvent::Kind kind, const ClassState& state, int count) const;

  std::string stream_;
  PresenceOptions options_;
  std::vector<std::string> labels_;
  std::map<int, ClassState> classes_;  // present or entering; ordered for the events
  int64_t last_frame_ = 0;
  double last_pts_ = 0;
};

}  // namespace serdab::events

#endif  // SERDAB_CLI_EVENTS_CLASS_PRESENCE_TRACKER_H_
