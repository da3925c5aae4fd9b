// The presence tracker's debounce on hand-made sequences (flicker,
// re-appearance, several classes, the end of the stream, frame gaps), then
// on every sequence of 12 frames against the definition by run lengths; the
// sightings of each postprocess kind; and the event's JSON.
#include "cli/events/class_presence_tracker.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

namespace serdab::events {
namespace {

using postprocess::ClassArea;
using postprocess::ClassScore;
using postprocess::Detection;
using postprocess::Segmentation;

// Options with `enter` and `leave` frames, the rest as given.
PresenceOptions Debounce(int enter, int leave, double min_score = 0, std::set<int> watch = {}) {
  PresenceOptions options;
  options.enter_frames = enter;
  options.leave_frames = leave;
  options.min_score = min_score;
  options.watch = std::move(watch);
  return options;
}

ClassPresenceTracker Tracker(PresenceOptions options = {}, std::vector<std::string> labels = {}) {
  Result<ClassPresenceTracker> tracker =
      ClassPresenceTracker::Create("cam1", std::move(options), std::move(labels));
  EXPECT_TRUE(tracker.ok()) << tracker.status().ToString();
  return std::move(tracker).value();
}

// Feeds frame 0, 1, ... with `frames[i]` seen (class 1, score 0.5) or not;
// the events, in order.
std::vector<ClassEvent> Feed(ClassPresenceTracker& tracker, const std::string& frames,
                             int64_t first_frame = 0) {
  std::vector<ClassEvent> events;
  for (size_t i = 0; i < frames.size(); ++i) {
    std::vector<ClassSighting> sightings;
    if (frames[i] == 'x') sightings.push_back({1, 0.5, 1});
    const int64_t frame = first_frame + static_cast<int64_t>(i);
    for (ClassEvent& e : tracker.Update(frame, frame * 0.04, sightings)) {
      events.push_back(std::move(e));
    }
  }
  return events;
}

// "A3" for an appearance at frame 3, "L9" for a departure at frame 9.
std::string Describe(const std::vector<ClassEvent>& events) {
  std::string out;
  for (const ClassEvent& e : events) {
    if (!out.empty()) out += " ";
    out += (e.kind == ClassEvent::kAppeared ? "A" : "L") + std::to_string(e.frame);
  }
  return out;
}

TEST(ClassPresenceTrackerTest, AppearsAfterEnterFramesInARow) {
  ClassPresenceTracker tracker = Tracker({}, {"background", "person"});
  EXPECT_TRUE(tracker.Update(7, 0.28, {{1, 0.6, 1}}).empty());
  const std::vector<ClassEvent> events = tracker.Update(8, 0.32, {{1, 0.9, 3}});
  ASSERT_EQ(events.size(), 1u);
  const ClassEvent& e = events[0];
  EXPECT_EQ(e.kind, ClassEvent::kAppeared);
  EXPECT_EQ(e.stream, "cam1");
  EXPECT_EQ(e.class_id, 1);
  EXPECT_EQ(e.label, "person");
  EXPECT_EQ(e.frame, 8);
  EXPECT_DOUBLE_EQ(e.pts_seconds, 0.32);
  EXPECT_DOUBLE_EQ(e.score, 0.9);  // the best over the entering frames
  EXPECT_EQ(e.count, 3);           // the count in the frame that decided
  // Staying present says nothing more.
  EXPECT_TRUE(tracker.Update(9, 0.36, {{1, 0.7, 1}}).empty());
}

TEST(ClassPresenceTrackerTest, FlickerNeverAppears) {
  ClassPresenceTracker tracker = Tracker();
  EXPECT_EQ(Describe(Feed(tracker, "x.x.x.x..x.x.x")), "");
  EXPECT_TRUE(tracker.Finish().empty());
}

TEST(ClassPresenceTrackerTest, LeavesAfterLeaveFramesInARow) {
  ClassPresenceTracker tracker = Tracker();
  // Seen at 0-1 (appears at 1), missing from 2: gone at the 5th, frame 6.
  EXPECT_EQ(Describe(Feed(tracker, "xx.....")), "A1 L6");
}

TEST(ClassPresenceTrackerTest, FlickerWhilePresentDoesNotLeave) {
  ClassPresenceTracker tracker = Tracker();
  // Gaps of 4 restart the count each time the class shows again.
  EXPECT_EQ(Describe(Feed(tracker, "xx....x....x....x.....")), "A1 L21");
}

TEST(ClassPresenceTrackerTest, LeftEventCarriesTheBestScoreAndMostAtOnce) {
  ClassPresenceTracker tracker = Tracker(Debounce(1, 1));
  tracker.Update(0, 0, {{2, 0.4, 1}});
  tracker.Update(1, 0.04, {{2, 0.8, 4}});
  tracker.Update(2, 0.08, {{2, 0.5, 2}});
  const std::vector<ClassEvent> events = tracker.Update(3, 0.12, {});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, ClassEvent::kLeft);
  EXPECT_EQ(events[0].class_id, 2);
  EXPECT_EQ(events[0].frame, 3);
  EXPECT_DOUBLE_EQ(events[0].pts_seconds, 0.12);
  EXPECT_DOUBLE_EQ(events[0].score, 0.8);
  EXPECT_EQ(events[0].count, 4);
  EXPECT_EQ(events[0].label, "");  // no labels given
}

TEST(ClassPresenceTrackerTest, ReappearsAfterLeaving) {
  ClassPresenceTracker tracker = Tracker(Debounce(2, 2));
  EXPECT_EQ(Describe(Feed(tracker, "xx..x.xx..")), "A1 L3 A7 L9");
}

TEST(ClassPresenceTrackerTest, ScoresFromTheNewAppearanceOnly) {
  ClassPresenceTracker tracker = Tracker(Debounce(1, 1));
  tracker.Update(0, 0, {{1, 0.9, 1}});
  tracker.Update(1, 0.04, {});
  const std::vector<ClassEvent> again = tracker.Update(2, 0.08, {{1, 0.3, 1}});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_DOUBLE_EQ(again[0].score, 0.3);
}

TEST(ClassPresenceTrackerTest, SeveralClassesAreIndependentAndInClassOrder) {
  ClassPresenceTracker tracker =
      Tracker(Debounce(2, 2), {"background", "person", "bicycle", "car"});
  EXPECT_TRUE(tracker.Update(0, 0, {{3, 0.9, 1}, {1, 0.8, 2}}).empty());
  std::vector<ClassEvent> events = tracker.Update(1, 0.04, {{1, 0.7, 2}, {3, 0.6, 1}});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].class_id, 1);
  EXPECT_EQ(events[0].label, "person");
  EXPECT_EQ(events[1].class_id, 3);
  EXPECT_EQ(events[1].label, "car");
  // The car stays, the person goes, a bicycle comes.
  EXPECT_TRUE(tracker.Update(2, 0.08, {{3, 0.9, 1}, {2, 0.5, 1}}).empty());
  events = tracker.Update(3, 0.12, {{2, 0.5, 1}, {3, 0.9, 1}});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].class_id, 1);
  EXPECT_EQ(events[0].kind, ClassEvent::kLeft);
  EXPECT_EQ(events[1].class_id, 2);
  EXPECT_EQ(events[1].kind, ClassEvent::kAppeared);
  events = tracker.Finish();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].class_id, 2);
  EXPECT_EQ(events[1].class_id, 3);
}

TEST(ClassPresenceTrackerTest, FinishReportsThePresentAtTheLastFrameAndStartsAfresh) {
  ClassPresenceTracker tracker = Tracker();
  Feed(tracker, "xx..");  // present, two frames missing
  std::vector<ClassEvent> events = tracker.Finish();
  EXPECT_EQ(Describe(events), "L3");
  EXPECT_DOUBLE_EQ(events[0].pts_seconds, 3 * 0.04);
  EXPECT_TRUE(tracker.Finish().empty());
  // A class that was entering at the end never appeared, so never leaves.
  EXPECT_EQ(Describe(Feed(tracker, "x", 10)), "");
  EXPECT_TRUE(tracker.Finish().empty());
  // Afresh: the entry counts from zero again.
  EXPECT_EQ(Describe(Feed(tracker, "xx", 20)), "A21");
}

TEST(ClassPresenceTrackerTest, FinishBeforeAnyFrameSaysNothing) {
  ClassPresenceTracker tracker = Tracker();
  EXPECT_TRUE(tracker.Finish().empty());
}

TEST(ClassPresenceTrackerTest, FrameGapsAreJustFrames) {
  ClassPresenceTracker tracker = Tracker(Debounce(2, 2));
  EXPECT_TRUE(tracker.Update(0, 0, {{1, 0.5, 1}}).empty());
  EXPECT_EQ(Describe(tracker.Update(100, 4, {{1, 0.5, 1}})), "A100");
  EXPECT_TRUE(tracker.Update(250, 10, {}).empty());
  EXPECT_EQ(Describe(tracker.Update(251, 10.04, {})), "L251");
}

TEST(ClassPresenceTrackerTest, OneFrameEachWay) {
  ClassPresenceTracker tracker = Tracker(Debounce(1, 1));
  EXPECT_EQ(Describe(Feed(tracker, "x.xx..x")), "A0 L1 A2 L4 A6");
}

TEST(ClassPresenceTrackerTest, LowScoresCountAsMissing) {
  ClassPresenceTracker tracker = Tracker(Debounce(2, 2, 0.5));
  EXPECT_TRUE(tracker.Update(0, 0, {{1, 0.9, 1}}).empty());
  EXPECT_TRUE(tracker.Update(1, 0.04, {{1, 0.4, 1}}).empty());  // breaks the entry
  EXPECT_TRUE(tracker.Update(2, 0.08, {{1, 0.5, 1}}).empty());  // the threshold counts
  EXPECT_EQ(Describe(tracker.Update(3, 0.12, {{1, 0.6, 1}})), "A3");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(tracker.Update(4, 0.16, {{1, nan, 1}}).empty());
  EXPECT_EQ(Describe(tracker.Update(5, 0.2, {{1, 0.1, 1}})), "L5");
}

TEST(ClassPresenceTrackerTest, WatchesOnlyTheListedClasses) {
  ClassPresenceTracker tracker = Tracker(Debounce(1, 1, 0, {1, 3}));
  const std::vector<ClassEvent> events =
      tracker.Update(0, 0, {{0, 0.9, 1}, {1, 0.9, 1}, {2, 0.9, 1}, {3, 0.9, 1}});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].class_id, 1);
  EXPECT_EQ(events[1].class_id, 3);
}

TEST(ClassPresenceTrackerTest, AClassListedTwiceCountsOnce) {
  ClassPresenceTracker tracker = Tracker(Debounce(1, 5));
  const std::vector<ClassEvent> events = tracker.Update(0, 0, {{1, 0.4, 2}, {1, 0.7, 1}});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_DOUBLE_EQ(events[0].score, 0.7);
  EXPECT_EQ(events[0].count, 3);
}

TEST(ClassPresenceTrackerTest, LabelsOnlyForNamedClasses) {
  ClassPresenceTracker tracker = Tracker(Debounce(1, 5), {"zero", "one"});
  const std::vector<ClassEvent> events = tracker.Update(0, 0, {{-1, 1, 1}, {1, 1, 1}, {2, 1, 1}});
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].label, "");
  EXPECT_EQ(events[1].label, "one");
  EXPECT_EQ(events[2].label, "");
}

TEST(ClassPresenceTrackerTest, RejectsOptionsThatCannotWork) {
  Result<ClassPresenceTracker> bad = ClassPresenceTracker::Create("c", Debounce(0, 5));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("enter_frames"), std::string::npos);
  bad = ClassPresenceTracker::Create("c", Debounce(2, -1));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("leave_frames"), std::string::npos);
  bad = ClassPresenceTracker::Create("c", Debounce(2, 5, std::nan("")));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("min_score"), std::string::npos);
}

// The definition, by run lengths of the sequence itself: a class absent
// appears at the frame that ends a run of exactly enter_frames sightings; a
// class present leaves at the frame that ends a run of exactly leave_frames
// misses; at the end, a class present leaves at the last frame.
std::string ByDefinition(const std::vector<bool>& seen, int enter, int leave) {
  std::vector<ClassEvent> events;
  bool present = false;
  int run_seen = 0;
  int run_missing = 0;
  for (size_t t = 0; t < seen.size(); ++t) {
    run_seen = seen[t] ? run_seen + 1 : 0;
    run_missing = seen[t] ? 0 : run_missing + 1;
    ClassEvent e;
    e.frame = static_cast<int64_t>(t);
    if (!present && run_seen == enter) {
      present = true;
      e.kind = ClassEvent::kAppeared;
      events.push_back(e);
    } else if (present && run_missing == leave) {
      present = false;
      e.kind = ClassEvent::kLeft;
      events.push_back(e);
    }
  }
  if (present) {
    ClassEvent e;
    e.kind = ClassEvent::kLeft;
    e.frame = static_cast<int64_t>(seen.size()) - 1;
    events.push_back(e);
  }
  return Describe(events);
}

TEST(ClassPresenceTrackerTest, EverySequenceOf12FramesMatchesTheDefinition) {
  constexpr int kFrames = 12;
  for (int enter : {1, 2, 3}) {
    for (int leave : {1, 2, 5}) {
      for (int bits = 0; bits < (1 << kFrames); ++bits) {
        std::vector<bool> seen(kFrames);
        std::string pattern;
        for (int t = 0; t < kFrames; ++t) {
          seen[t] = (bits >> t) & 1;
          pattern += seen[t] ? 'x' : '.';
        }
        ClassPresenceTracker tracker = Tracker(Debounce(enter, leave));
        std::vector<ClassEvent> events = Feed(tracker, pattern);
        for (ClassEvent& e : tracker.Finish()) events.push_back(std::move(e));
        ASSERT_EQ(Describe(events), ByDefinition(seen, enter, leave))
            << pattern << " enter " << enter << " leave " << leave;
      }
    }
  }
}

TEST(SightingsTest, DetectionsGroupByClass) {
  std::vector<Detection> boxes(4);
  boxes[0].class_id = 3;
  boxes[0].score = 0.6;
  boxes[1].class_id = 1;
  boxes[1].score = 0.5;
  boxes[2].class_id = 3;
  boxes[2].score = 0.9;
  boxes[3].class_id = 3;
  boxes[3].score = 0.7;
  const std::vector<ClassSighting> s = SightingsOf(boxes);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].class_id, 1);
  EXPECT_DOUBLE_EQ(s[0].score, 0.5);
  EXPECT_EQ(s[0].count, 1);
  EXPECT_EQ(s[1].class_id, 3);
  EXPECT_DOUBLE_EQ(s[1].score, 0.9);
  EXPECT_EQ(s[1].count, 3);
  EXPECT_TRUE(SightingsOf(std::vector<Detection>{}).empty());
}

TEST(SightingsTest, SegmentationAreasFromMinFraction) {
  Segmentation seg;
  seg.areas = {ClassArea{0, 700, 0.7}, ClassArea{15, 200, 0.2}, ClassArea{7, 100, 0.1}};
  const std::vector<ClassSighting> s = SightingsOf(seg, 0.1);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].class_id, 0);
  EXPECT_EQ(s[1].class_id, 7);
  EXPECT_DOUBLE_EQ(s[1].score, 0.1);
  EXPECT_EQ(s[1].count, 1);
  EXPECT_EQ(s[2].class_id, 15);
  EXPECT_EQ(SightingsOf(seg, 0.15).size(), 2u);
}

TEST(SightingsTest, TopKFromMinScore) {
  const std::vector<ClassScore> top = {{281, 0.6}, {285, 0.3}, {282, 0.05}};
  const std::vector<ClassSighting> s = SightingsOf(top, 0.3);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].class_id, 281);
  EXPECT_DOUBLE_EQ(s[0].score, 0.6);
  EXPECT_EQ(s[1].class_id, 285);
  EXPECT_EQ(s[1].count, 1);
}

TEST(ClassEventJsonTest, AppearedWithLabel) {
  ClassEvent e;
  e.stream = "front-door";
  e.class_id = 1;
  e.label = "person";
  e.kind = ClassEvent::kAppeared;
  e.frame = 42;
  e.pts_seconds = 1.68;
  e.score = 0.873149;
  e.count = 2;
  EXPECT_EQ(ToJson(e), nlohmann::json::parse(R"({"event": "appeared", "stream": "front-door",
      "class": 1, "label": "person", "frame": 42, "pts": 1.68, "score": 0.8731, "count": 2})"));
}

TEST(ClassEventJsonTest, LeftWithoutLabel) {
  ClassEvent e;
  e.stream = "cam";
  e.class_id = 7;
  e.kind = ClassEvent::kLeft;
  e.frame = 3;
  e.pts_seconds = 0.12;
  e.score = 0.5;
  e.count = 1;
  const nlohmann::json j = ToJson(e);
  EXPECT_EQ(j["event"], "left");
  EXPECT_FALSE(j.contains("label"));
  EXPECT_EQ(j["class"], 7);
}

}  // namespace
}  // namespace serdab::events
