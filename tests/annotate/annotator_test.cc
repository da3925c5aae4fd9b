// The annotator on plain pictures: boxes land on the pixels asked for, in
// their class colour, and are clipped to the picture; tags and the caption
// carry text (real FreeType glyphs from fonts-dejavu-core); the segmentation
// overlay blends at the configured opacity and leaves background alone.
#include "cli/annotate/annotator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <set>

#include "tests/annotate/test_pictures.h"

namespace serdab::annotate {
namespace {

using testing::Near;
using testing::PixelAt;
using testing::Solid;

constexpr Rgb kGrey{128, 128, 128};
constexpr Rgb kWhite{255, 255, 255};

std::unique_ptr<Annotator> MakeAnnotator(AnnotatorOptions options = {}) {
  auto annotator = Annotator::Create(options);
  EXPECT_TRUE(annotator.ok()) << annotator.status().message();
  return annotator.ok() ? std::move(annotator).value() : nullptr;
}

postprocess::Detection Box(double x, double y, double w, double h, int class_id,
                           double score = 0.87) {
  postprocess::Detection d;
  d.x = x;
  d.y = y;
  d.width = w;
  d.height = h;
  d.class_id = class_id;
  d.score = score;
  return d;
}

int CountPixels(const ingest::RgbImage& picture, int x0, int y0, int x1, int y1,
                const std::function<bool(Rgb)>& match) {
  int count = 0;
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) count += match(PixelAt(picture, x, y)) ? 1 : 0;
  }
  return count;
}

TEST(ClassColourTest, FixedDistinctAndDefinedForEveryId) {
  std::set<std::tuple<int, int, int>> seen;
  for (int id = 0; id < 20; ++id) {
    const Rgb c = ClassColour(id);
    seen.insert({c.r, c.g, c.b});
    EXPECT_EQ(ClassColour(id + 20), c);
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_EQ(ClassColour(0), (Rgb{0xFF, 0x38, 0x38}));
  EXPECT_EQ(ClassColour(-3), ClassColour(3));
  ClassColour(std::numeric_limits<int>::min());  // defined, not UB
}

TEST(AnnotatorTest, BoxEdgesTakeTheClassColourAndTheInsideIsLeftAlone) {
  AnnotatorOptions options;
  options.box_thickness = 3;
  auto annotator = MakeAnnotator(options);
  ASSERT_NE(annotator, nullptr);
  ingest::RgbImage picture = Solid(320, 240, kGrey);
  ASSERT_TRUE(annotator->DrawDetections({Box(100, 80, 120, 100, 14)}, &picture).ok());

  const Rgb blue = ClassColour(14);
  // Edges: x 100..219, y 80..179, three pixels thick, inside the box.
  for (int x = 100; x <= 219; ++x) {
    for (int t = 0; t < 3; ++t) {
      EXPECT_EQ(PixelAt(picture, x, 80 + t), blue) << x << "," << 80 + t;
      EXPECT_EQ(PixelAt(picture, x, 179 - t), blue) << x << "," << 179 - t;
    }
  }
  for (int y = 80; y <= 179; ++y) {
    for (int t = 0; t < 3; ++t) {
      EXPECT_EQ(PixelAt(picture, 100 + t, y), blue) << 100 + t << "," << y;
      EXPECT_EQ(PixelAt(picture, 219 - t, y), blue) << 219 - t << "," << y;
    }
  }
  // Inside, and just outside the edges (the tag is above the top edge).
  EXPECT_EQ(CountPixels(picture, 103, 83, 216, 176, [](Rgb c) { return c != kGrey; }), 0);
  EXPECT_EQ(PixelAt(picture, 99, 130), kGrey);
  EXPECT_EQ(PixelAt(picture, 220, 130), kGrey);
  EXPECT_EQ(PixelAt(picture, 160, 180), kGrey);
  EXPECT_EQ(CountPixels(picture, 0, 181, 319, 239, [](Rgb c) { return c != kGrey; }), 0);
}

TEST(AnnotatorTest, TagAboveTheBoxCarriesItsText) {
  AnnotatorOptions options;
  options.font_pixels = 16;
  options.labels = {"", "", "", "", "", "", "", "", "", "", "", "", "", "", "truck"};
  auto annotator = MakeAnnotator(options);
  ASSERT_NE(annotator, nullptr);
  EXPECT_EQ(annotator->TagText(Box(0, 0, 1, 1, 14, 0.874)), "truck 0.87");
  EXPECT_EQ(annotator->TagText(Box(0, 0, 1, 1, 3, 0.5)), "3 0.50");

  ingest::RgbImage picture = Solid(320, 240, kGrey);
  ASSERT_TRUE(annotator->DrawDetections({Box(100, 100, 120, 100, 14)}, &picture).ok());
  const Rgb blue = ClassColour(14);
  // The tag: the rows just above the box, from its left edge; blue filled,
  // with white text on it (blue is dark).
  const int tag_fill = CountPixels(picture, 100, 70, 160, 99, [&](Rgb c) { return c == blue; });
  const int text =
      CountPixels(picture, 100, 70, 160, 99, [](Rgb c) { return Near(c, kWhite, 60); });
  EXPECT_GT(tag_fill, 200);
  EXPECT_GT(text, 20);
  // Rendering another text changes the tag's pixels.
  ingest::RgbImage other = Solid(320, 240, kGrey);
  ASSERT_TRUE(annotator->DrawDetections({Box(100, 100, 120, 100, 14, 0.12)}, &other).ok());
  int differing = 0;
  for (int y = 70; y < 100; ++y) {
    for (int x = 100; x < 220; ++x)
      differing += PixelAt(picture, x, y) == PixelAt(other, x, y) ? 0 : 1;
  }
  EXPECT_GT(differing, 10);
}

TEST(AnnotatorTest, TagGoesInsideABoxAtTheTopEdge) {
  AnnotatorOptions options;
  options.font_pixels = 16;
  auto annotator = MakeAnnotator(options);
  ASSERT_NE(annotator, nullptr);
  ingest::RgbImage picture = Solid(320, 240, kGrey);
  ASSERT_TRUE(annotator->DrawDetections({Box(50, 0, 150, 120, 0)}, &picture).ok());
  const Rgb red = ClassColour(0);
  // Below the 3-pixel top edge, inside the box, the tag's fill and text.
  const int inside = CountPixels(picture, 53, 3, 90, 15, [&](Rgb c) { return c != kGrey; });
  EXPECT_GT(inside, 300);
  EXPECT_EQ(PixelAt(picture, 52, 10), red);  // left edge
  EXPECT_EQ(PixelAt(picture, 150, 60), kGrey);
}

TEST(AnnotatorTest, BoxesPartlyOutsideAreClippedAndWhollyOutsideOnesSkipped) {
  auto annotator = MakeAnnotator();
  ASSERT_NE(annotator, nullptr);
  ingest::RgbImage picture = Solid(320, 240, kGrey);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ASSERT_TRUE(annotator
                  ->DrawDetections(
                      {Box(-50, -30, 100, 80, 5), Box(400, 10, 50, 50, 5), Box(10, 300, 50, 50, 5),
                       Box(nan, 10, 50, 50, 5), Box(-1e300, -1e300, 1e300, 1e300, 5)},
                      &picture)
                  .ok());
  const Rgb green = ClassColour(5);
  // Box 1 covers x -50..49, y -30..49: its right and bottom edges are in.
  for (int y = 20; y <= 49; ++y) EXPECT_EQ(PixelAt(picture, 49, y), green) << y;
  for (int x = 0; x <= 49; ++x) EXPECT_EQ(PixelAt(picture, x, 49), green) << x;
  EXPECT_EQ(PixelAt(picture, 30, 30), kGrey);
  // Nothing of the others, the huge one drawing its edges off the picture.
  EXPECT_EQ(CountPixels(picture, 60, 60, 319, 239, [](Rgb c) { return c != kGrey; }), 0);
}

TEST(AnnotatorTest, OverlayBlendsClassesAndLeavesBackgroundAlone) {
  AnnotatorOptions options;
  options.overlay_opacity = 0.45;
  auto annotator = MakeAnnotator(options);
  ASSERT_NE(annotator, nullptr);
  // A 4x2 map: left half background, right half class 5; scaled to 320x240.
  postprocess::Segmentation segmentation;
  segmentation.width = 4;
  segmentation.height = 2;
  segmentation.class_map = {0, 0, 5, 5, 0, 0, 5, 5};
  ingest::RgbImage picture = Solid(320, 240, Rgb{100, 100, 100});
  ASSERT_TRUE(annotator->DrawSegmentation(segmentation, &picture).ok());
  const Rgb c = ClassColour(5);
  const auto blend = [](int base, int colour) {
    return static_cast<uint8_t>(std::lround(base + 0.45 * (colour - base)));
  };
  const Rgb expected{blend(100, c.r), blend(100, c.g), blend(100, c.b)};
  for (int y : {0, 119, 120, 239}) {
    EXPECT_EQ(PixelAt(picture, 0, y), (Rgb{100, 100, 100}));
    EXPECT_EQ(PixelAt(picture, 159, y), (Rgb{100, 100, 100}));
    EXPECT_TRUE(Near(PixelAt(picture, 160, y), expected, 1));
    EXPECT_TRUE(Near(PixelAt(picture, 319, y), expected, 1));
  }

  segmentation.class_map.pop_back();
  const Status bad = annotator->DrawSegmentation(segmentation, &picture);
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.message().find("4x2"), std::string::npos) << bad.message();
}

TEST(AnnotatorTest, CaptionSitsOnADarkStripTopLeft) {
  EXPECT_EQ(FormatCaption("cam1", 12, 47.6, {20.2, 21, 19}),
            "cam1  frame 12  latency 48 ms  stages 20/21/19 ms");
  EXPECT_EQ(FormatCaption("cam1", 0, 5, {}), "cam1  frame 0  latency 5 ms");

  auto annotator = MakeAnnotator();
  ASSERT_NE(annotator, nullptr);
  ingest::RgbImage picture = Solid(320, 240, Rgb{200, 200, 200});
  Annotations annotations;
  annotations.caption = FormatCaption("cam1", 12, 48, {20, 21, 19});
  ASSERT_TRUE(annotator->Draw(annotations, &picture).ok());
  // The strip darkens the corner; the text on it is white.
  const Rgb corner = PixelAt(picture, 1, 1);
  EXPECT_LT(corner.r, 100);
  EXPECT_EQ(corner.r, corner.g);
  EXPECT_GT(CountPixels(picture, 0, 0, 200, 20, [](Rgb c) { return Near(c, kWhite, 30); }), 30);
  EXPECT_EQ(PixelAt(picture, 300, 200), (Rgb{200, 200, 200}));
}

TEST(AnnotatorTest, AMissingFontIsNotFoundNamingThePath) {
  AnnotatorOptions options;
  options.font_path = "/nonexistent/fonts/Missing.ttf";
  auto annotator = Annotator::Create(options);
  ASSERT_FALSE(annotator.ok());
  EXPECT_EQ(annotator.status().code(), Status::Code::kNotFound);
  EXPECT_NE(annotator.status().message().find("/nonexistent/fonts/Missing.ttf"), std::string::npos)
      << annotator.status().message();
}

TEST(AnnotatorTest, AFileThatIsNoFontIsRefused) {
  testing::ScratchDir dir;
  std::ofstream(dir / "not-a-font.ttf") << "hello";
  AnnotatorOptions options;
  options.font_path = dir / "not-a-font.ttf";
  auto annotator = Annotator::Create(options);
  ASSERT_FALSE(annotator.ok());
  EXPECT_EQ(annotator.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(annotator.status().message().find("not-a-font.ttf"), std::string::npos);
}

TEST(AnnotatorTest, APictureWhoseBytesDoNotMatchItsSizeIsRefused) {
  auto annotator = MakeAnnotator();
  ASSERT_NE(annotator, nullptr);
  ingest::RgbImage picture = Solid(32, 24, kGrey);
  picture.pixels.pop_back();
  EXPECT_EQ(annotator->DrawDetections({Box(1, 1, 5, 5, 1)}, &picture).code(),
            Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace serdab::annotate
