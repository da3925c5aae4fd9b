// Annotator: draws a frame's results onto its picture, in place, for people
// to look at (a video file, the MJPEG preview).
//
//   - each Detection as a rectangle in its class colour, clipped to the
//     picture, with a filled tag "label 0.87" above it (inside when the box
//     touches the top edge);
//   - a segmentation's class map, scaled nearest-neighbour to the picture and
//     blended over it in the class colours (class 0, background, left alone);
//   - a caption in the top-left corner on a dark translucent strip.
//
// Text is drawn with FreeType from a TrueType font; glyphs are rasterised
// once per pixel size and kept. Not thread-safe: one per result thread.
#ifndef SERDAB_CLI_ANNOTATE_ANNOTATOR_H_
#define SERDAB_CLI_ANNOTATE_ANNOTATOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/ingest/rgb_image.h"
#include "cli/postprocess/results.h"
#include "enclave/common/status.h"

namespace serdab::annotate {

// Debian's fonts-dejavu-core.
inline constexpr char kDefaultFontPath[] = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

struct Rgb {
  uint8_t r = 0;
  uint8_t g = 0;
  uint8_t b = 0;
  bool operator==(const Rgb&) const = default;
};

// The colour class_id is drawn in: a fixed palette of 20 saturated colours,
// repeating (negative ids use their absolute value). The same on every run,
// so a class keeps its colour across frames, streams and files.
Rgb ClassColour(int class_id);

struct AnnotatorOptions {
  std::string font_path = kDefaultFontPath;
  // Text height in pixels; 0 picks one from the picture's height (1/40 of it,
  // 12 to 40 px) so that labels stay legible on small and large pictures.
  int font_pixels = 0;
  // Rectangle line width in pixels (drawn inside the box's edges).
  int box_thickness = 3;
  // How much of the class colour a segmented pixel takes, in [0, 1].
  double overlay_opacity = 0.45;
  // Class names by class id, for the tags; ids past the end, or with an
  // empty name, are written as their number.
  std::vector<std::string> labels;
};

// What to draw on one frame. `segmentation` may be null.
struct Annotations {
  std::vector<postprocess::Detection> detections;
  const postprocess::Segmentation* segmentation = nullptr;
  std::string caption;  // empty: no caption strip
};

// "cam1  frame 12  latency 48 ms  stages 20/21/19 ms" (stages left out when
// `stage_ms` is empty); milliseconds rounded to whole ones.
std::string FormatCaption(const std::string& stream, int64_t frame, double latency_ms,
                          const std::vector<double>& stage_ms);

class Annotator {
 public:
  // NotFound naming the font's path (and the Debian package of the default
  // one) when it is missing; InvalidArgument when FreeType cannot read it or
  // an option is out of range.
  static Result<std::unique_ptr<Annotator>> Create(const AnnotatorOptions& options = {});
  ~Annotator();
  Annotator(const Annotator&) = delete;
  Annotator& operator=(const Annotator&) = delete;

  // The overlay first, then boxes and tags, then the caption, so that text
  // stays readable over the mask. InvalidArgument when the picture's pixel
  // count does not match its size or the class map's does not match its.
  Status Draw(const Annotations& annotations, ingest::RgbImage* picture);

  Status DrawSegmentation(const postprocess::Segmentation& segmentation, ingest::RgbImage* picture);
  Status DrawDetections(const std::vector<postprocess::Detection>& detections,
                        ingest::RgbImage* picture);
  Status DrawCaption(const std::string& caption, ingest::RgbImage* picture);

  // The tag text of a detection: "person 0.87", or "17 0.87" without a label.
  std::string TagText(const postprocess::Detection& detection) const;

 private:
  struct Font;  // keeps FreeType's headers out of this one
  Annotator(AnnotatorOptions options, std::unique_ptr<Font> font);

  int FontPixels(const ingest::RgbImage& picture) const;

  const AnnotatorOptions options_;
  std::unique_ptr<Font> font_;
};

}  // namespace serdab::annotate

#endif  // SERDAB_CLI_ANNOTATE_ANNOTATOR_H_
