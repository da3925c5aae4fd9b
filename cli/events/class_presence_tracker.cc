#include "cli/events/class_presence_tracker.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace serdab::events {

std::vector<ClassSighting> SightingsOf(const std::vector<postprocess::Detection>& detections) {
  std::map<int, ClassSighting> by_class;
  for (const postprocess::Detection& d : detections) {
    auto [it, added] = by_class.try_emplace(d.class_id, ClassSighting{d.class_id, d.score, 0});
    it->second.score = std::max(it->second.score, d.score);
    ++it->second.count;
  }
  std::vector<ClassSighting> out;
  for (const auto& [id, sighting] : by_class) out.push_back(sighting);
  return out;
}

std::vector<ClassSighting> SightingsOf(const postprocess::Segmentation& segmentation,
                                       double min_fraction) {
  std::vector<ClassSighting> out;
  for (const postprocess::ClassArea& area : segmentation.areas) {
    if (area.fraction >= min_fraction) out.push_back({area.class_id, area.fraction, 1});
  }
  std::sort(out.begin(), out.end(),
            [](const ClassSighting& a, const ClassSighting& b) { return a.class_id < b.class_id; });
  return out;
}

std::vector<ClassSighting> SightingsOf(const std::vector<postprocess::ClassScore>& top,
                                       double min_score) {
  std::vector<ClassSighting> out;
  for (const postprocess::ClassScore& c : top) {
    if (c.score >= min_score) out.push_back({c.class_id, c.score, 1});
  }
  std::sort(out.begin(), out.end(),
            [](const ClassSighting& a, const ClassSighting& b) { return a.class_id < b.class_id; });
  return out;
}

Result<ClassPresenceTracker> ClassPresenceTracker::Create(std::string stream,
                                                          PresenceOptions options,
                                                          std::vector<std::string> labels) {
  if (options.enter_frames < 1) {
    return Status::InvalidArgument("enter_frames must be at least 1 (got " +
                                   std::to_string(options.enter_frames) + ")");
  }
  if (options.leave_frames < 1) {
    return Status::InvalidArgument("leave_frames must be at least 1 (got " +
                                   std::to_string(options.leave_frames) + ")");
  }
  if (std::isnan(options.min_score)) {
    return Status::InvalidArgument("min_score must be a number, not NaN");
  }
  return ClassPresenceTracker(std::move(stream), std::move(options), std::move(labels));
}

ClassPresenceTracker::ClassPresenceTracker(std::string stream, PresenceOptions options,
                                           std::vector<std::string> labels)
    : stream_(std::move(stream)), options_(std::move(options)), labels_(std::move(labels)) {}

ClassEvent ClassPresenceTracker::Event(int class_id, ClassEvent::Kind kind, const ClassState& state,
                                       int count) const {
  ClassEvent event;
  event.stream = stream_;
  event.class_id = class_id;
  if (class_id >= 0 && static_cast<size_t>(class_id) < labels_.size()) {
    event.label = labels_[static_cast<size_t>(class_id)];
  }
  event.kind = kind;
  event.frame = last_frame_;
  event.pts_seconds = last_pts_;
  event.score = state.best_score;
  event.count = count;
  return event;
}

std::vector<ClassEvent> ClassPresenceTracker::Update(int64_t frame, double pts_seconds,
                                                     const std::vector<ClassSighting>& sightings) {
  last_frame_ = frame;
  last_pts_ = pts_seconds;

  std::map<int, ClassSighting> seen;
  for (const ClassSighting& s : sightings) {
    // `!(a >= b)` rather than `a < b`: a NaN score counts as missing.
    if (!(s.score >= options_.min_score)) continue;
    if (!options_.watch.empty() && options_.watch.count(s.class_id) == 0) continue;
    auto [it, added] = seen.try_emplace(s.class_id, s);
    if (!added) {
      it->second.score = std::max(it->second.score, s.score);
      it->second.count += s.count;
    }
  }
  for (const auto& [id, sighting] : seen) {
    classes_.try_emplace(id, ClassState{.best_score = sighting.score});
  }

  std::vector<ClassEvent> events;
  for (auto it = classes_.begin(); it != classes_.end();) {
    const int id = it->first;
    ClassState& state = it->second;
    const auto sighting = seen.find(id);
    if (sighting != seen.end()) {
      const ClassSighting& s = sighting->second;
      state.best_score = std::max(state.best_score, s.score);
      if (state.present) {
        state.streak = 0;
        state.most = std::max(state.most, s.count);
      } else if (++state.streak >= options_.enter_frames) {
        state.present = true;
        state.streak = 0;
        state.most = s.count;
        events.push_back(Event(id, ClassEvent::kAppeared, state, s.count));
      }
      ++it;
    } else if (state.present && ++state.streak < options_.leave_frames) {
      ++it;
    } else {
      // Left, or an entry broken off before it completed.
      if (state.present) events.push_back(Event(id, ClassEvent::kLeft, state, state.most));
      it = classes_.erase(it);
    }
  }
  return events;
}

std::vector<ClassEvent> ClassPresenceTracker::Finish() {
  std::vector<ClassEvent> events;
  for (const auto& [id, state] : classes_) {
    if (state.present) events.push_back(Event(id, ClassEvent::kLeft, state, state.most));
  }
  classes_.clear();
  return events;
}

}  // namespace serdab::events
