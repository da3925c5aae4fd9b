#include "cli/annotate/annotator.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <unordered_map>

#include <ft2build.h>
#include FT_FREETYPE_H

namespace serdab::annotate {
namespace {

// Ultralytics' detection palette: 20 saturated colours that stay apart from
// each other and from most scenes.
constexpr std::array<uint32_t, 20> kPalette = {0xFF3838, 0xFF9D97, 0xFF701F, 0xFFB21D, 0xCFD231,
                                               0x48F90A, 0x92CC17, 0x3DDB86, 0x1A9334, 0x00D4BB,
                                               0x2C99A8, 0x00C2FF, 0x344593, 0x6473FF, 0x0018EC,
                                               0x8438FF, 0x520085, 0xCB38FF, 0xFF95C8, 0xFF37C7};

constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kWhite{255, 255, 255};
// The caption strip keeps 40% of the picture under it: dark enough for white
// text, light enough to see what it covers.
constexpr int kCaptionShade256 = 154;

// Coordinates far outside any picture are clamped before conversion, so that
// a wild box (a decoder bug, an overflow) cannot overflow the integers.
int64_t ToPixel(double v) { return std::llround(std::clamp(v, -1e9, 1e9)); }

// `value` moved towards `target` by alpha256 / 256.
uint8_t Mix(uint8_t value, uint8_t target, int alpha256) {
  return static_cast<uint8_t>(value + (((target - value) * alpha256) >> 8));
}

void BlendPixel(uint8_t* p, Rgb colour, int alpha256) {
  p[0] = Mix(p[0], colour.r, alpha256);
  p[1] = Mix(p[1], colour.g, alpha256);
  p[2] = Mix(p[2], colour.b, alpha256);
}

// Inclusive pixel rectangle, clipped to the picture; false when nothing of it
// is inside.
bool Clip(const ingest::RgbImage& picture, int64_t* left, int64_t* top, int64_t* right,
          int64_t* bottom) {
  *left = std::max<int64_t>(*left, 0);
  *top = std::max<int64_t>(*top, 0);
  *right = std::min<int64_t>(*right, picture.width - 1);
  *bottom = std::min<int64_t>(*bottom, picture.height - 1);
  return *left <= *right && *top <= *bottom;
}

// alpha256 = 256 paints the colour over.
void FillRect(ingest::RgbImage* picture, int64_t left, int64_t top, int64_t right, int64_t bottom,
              Rgb colour, int alpha256 = 256) {
  if (!Clip(*picture, &left, &top, &right, &bottom)) return;
  for (int64_t y = top; y <= bottom; ++y) {
    uint8_t* p = picture->at(static_cast<int>(left), static_cast<int>(y));
    for (int64_t x = left; x <= right; ++x, p += 3) BlendPixel(p, colour, alpha256);
  }
}

Status CheckPicture(const ingest::RgbImage& picture) {
  const size_t expected =
      static_cast<size_t>(std::max(picture.width, 0)) * std::max(picture.height, 0) * 3;
  if (picture.width <= 0 || picture.height <= 0 || picture.pixels.size() != expected) {
    return Status::InvalidArgument("cannot draw on a " + std::to_string(picture.width) + "x" +
                                   std::to_string(picture.height) + " picture of " +
                                   std::to_string(picture.pixels.size()) + " bytes (expected " +
                                   std::to_string(expected) + ", packed RGB24)");
  }
  return Status::Ok();
}

// Code points of UTF-8 text; a malformed byte becomes U+FFFD. Labels come
// from plan files people write, in any language.
std::u32string DecodeUtf8(const std::string& text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const int length = lead < 0x80           ? 1
                       : (lead >> 5) == 0x6  ? 2
                       : (lead >> 4) == 0xE  ? 3
                       : (lead >> 3) == 0x1E ? 4
                                             : 0;
    if (length == 0 || i + length > text.size()) {
      out.push_back(U'\uFFFD');
      ++i;
      continue;
    }
    char32_t cp = length == 1 ? lead : lead & (0x7F >> length);
    bool valid = true;
    for (int k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = valid && (next >> 6) == 0x2;
      cp = (cp << 6) | (next & 0x3F);
    }
    out.push_back(valid ? cp : U'\uFFFD');
    i += valid ? length : 1;
  }
  return out;
}

std::string Milliseconds(double ms) {
  return std::to_string(std::llround(std::isfinite(ms) ? ms : 0.0));
}

}  // namespace

Rgb ClassColour(int class_id) {
  const uint32_t index =
      class_id < 0 ? 0u - static_cast<uint32_t>(class_id) : static_cast<uint32_t>(class_id);
  const uint32_t hex = kPalette[index % kPalette.size()];
  return Rgb{static_cast<uint8_t>(hex >> 16), static_cast<uint8_t>(hex >> 8),
             static_cast<uint8_t>(hex)};
}

std::string FormatCaption(const std::string& stream, int64_t frame, double latency_ms,
                          const std::vector<double>& stage_ms) {
  std::string caption =
      stream + "  frame " + std::to_string(frame) + "  latency " + Milliseconds(latency_ms) + " ms";
  if (!stage_ms.empty()) {
    caption += "  stages ";
    for (size_t i = 0; i < stage_ms.size(); ++i) {
      if (i > 0) caption += "/";
      caption += Milliseconds(stage_ms[i]);
    }
    caption += " ms";
  }
  return caption;
}

// A FreeType face and the glyphs rasterised from it, by pixel size.
struct Annotator::Font {
  struct Glyph {
    int width = 0;  // coverage bitmap, 0..255, rows without padding
    int rows = 0;
    int left = 0;  // from the pen to the bitmap's left edge
    int top = 0;   // from the baseline up to the bitmap's top row
    int advance = 0;
    std::vector<uint8_t> coverage;
  };
  struct Size {
    int ascender = 0;   // above the baseline, in pixels
    int descender = 0;  // below it (positive)
    std::unordered_map<char32_t, Glyph> glyphs;
  };

  ~Font() {
    if (face != nullptr) FT_Done_Face(face);
    if (library != nullptr) FT_Done_FreeType(library);
  }

  Size& AtSize(int pixels) {
    auto [it, inserted] = sizes.try_emplace(pixels);
    if (inserted) {
      FT_Set_Pixel_Sizes(face, 0, pixels);
      it->second.ascender = static_cast<int>((face->size->metrics.ascender + 63) >> 6);
      it->second.descender = static_cast<int>((-face->size->metrics.descender + 63) >> 6);
    }
    return it->second;
  }

  const Glyph& GlyphOf(int pixels, Size& size, char32_t code_point) {
    auto [it, inserted] = size.glyphs.try_emplace(code_point);
    if (!inserted) return it->second;
    Glyph& glyph = it->second;
    FT_Set_Pixel_Sizes(face, 0, pixels);
    // A code point the font lacks renders as its .notdef box; a failure to
    // render at all leaves a blank the width of a third of the size.
    if (FT_Load_Char(face, code_point, FT_LOAD_RENDER) != 0) {
      glyph.advance = pixels / 3;
      return glyph;
    }
    const FT_GlyphSlot slot = face->glyph;
    const FT_Bitmap& bitmap = slot->bitmap;
    glyph.width = static_cast<int>(bitmap.width);
    glyph.rows = static_cast<int>(bitmap.rows);
    glyph.left = slot->bitmap_left;
    glyph.top = slot->bitmap_top;
    glyph.advance = static_cast<int>((slot->advance.x + 32) >> 6);
    glyph.coverage.resize(static_cast<size_t>(glyph.width) * glyph.rows);
    for (int y = 0; y < glyph.rows; ++y) {
      std::memcpy(glyph.coverage.data() + static_cast<size_t>(y) * glyph.width,
                  bitmap.buffer + static_cast<ptrdiff_t>(y) * bitmap.pitch, glyph.width);
    }
    return glyph;
  }

  int Width(int pixels, const std::u32string& text) {
    Size& size = AtSize(pixels);
    int width = 0;
    for (char32_t c : text) width += GlyphOf(pixels, size, c).advance;
    return width;
  }

  // Draws `text` with its pen starting at (x, baseline), clipped to the picture.
  void Draw(ingest::RgbImage* picture, int x, int baseline, int pixels, const std::u32string& text,
            Rgb colour) {
    Size& size = AtSize(pixels);
    for (char32_t c : text) {
      const Glyph& glyph = GlyphOf(pixels, size, c);
      const int x0 = x + glyph.left;
      const int y0 = baseline - glyph.top;
      for (int gy = std::max(0, -y0); gy < glyph.rows && y0 + gy < picture->height; ++gy) {
        const uint8_t* coverage = glyph.coverage.data() + static_cast<size_t>(gy) * glyph.width;
        for (int gx = std::max(0, -x0); gx < glyph.width && x0 + gx < picture->width; ++gx) {
          if (coverage[gx] == 0) continue;
          // Coverage 255 must paint the colour exactly: scale it to 0..256.
          BlendPixel(picture->at(x0 + gx, y0 + gy), colour, coverage[gx] + (coverage[gx] >> 7));
        }
      }
      x += glyph.advance;
    }
  }

  FT_Library library = nullptr;
  FT_Face face = nullptr;
  std::map<int, Size> sizes;
};

Result<std::unique_ptr<Annotator>> Annotator::Create(const AnnotatorOptions& options) {
  if (options.font_pixels < 0 || options.font_pixels > 512) {
    return Status::InvalidArgument(
        "annotator font size: expected 0 (automatic) to 512 pixels, got " +
        std::to_string(options.font_pixels));
  }
  if (options.box_thickness < 1 || options.box_thickness > 64) {
    return Status::InvalidArgument("annotator box thickness: expected 1 to 64 pixels, got " +
                                   std::to_string(options.box_thickness));
  }
  if (!(options.overlay_opacity >= 0 && options.overlay_opacity <= 1)) {
    return Status::InvalidArgument("annotator overlay opacity: expected a value in [0, 1], got " +
                                   std::to_string(options.overlay_opacity));
  }
  // FreeType's own error for a missing file is a bare "cannot open resource";
  // say which file, and where the default one comes from.
  if (!std::ifstream(options.font_path, std::ios::binary).good()) {
    const std::string why = std::strerror(errno);
    std::string message = "font " + options.font_path + ": cannot read it (" + why + ")";
    message += options.font_path == kDefaultFontPath
                   ? "; install Debian's fonts-dejavu-core or choose another TrueType font"
                   : "; expected a readable TrueType font file";
    return Status::NotFound(std::move(message));
  }
  auto font = std::make_unique<Font>();
  if (FT_Init_FreeType(&font->library) != 0) {
    font->library = nullptr;
    return Status::Internal("FreeType could not start");
  }
  const FT_Error error = FT_New_Face(font->library, options.font_path.c_str(), 0, &font->face);
  if (error != 0) {
    font->face = nullptr;
    return Status::InvalidArgument("font " + options.font_path +
                                   ": FreeType cannot load it (error " + std::to_string(error) +
                                   "); expected a TrueType or OpenType font");
  }
  if (!FT_IS_SCALABLE(font->face)) {
    return Status::InvalidArgument(
        "font " + options.font_path +
        ": a bitmap font; expected a scalable TrueType or OpenType font");
  }
  return std::unique_ptr<Annotator>(new Annotator(options, std::move(font)));
}

Annotator::Annotator(AnnotatorOptions options, std::unique_ptr<Font> font)
    : options_(std::move(options)), font_(std::move(font)) {}

Annotator::~Annotator() = default;

int Annotator::FontPixels(const ingest::RgbImage& picture) const {
  return options_.font_pixels > 0 ? options_.font_pixels : std::clamp(picture.height / 40, 12, 40);
}

std::string Annotator::TagText(const postprocess::Detection& detection) const {
  const int id = detection.class_id;
  std::string text =
      id >= 0 && static_cast<size_t>(id) < options_.labels.size() && !options_.labels[id].empty()
          ? options_.labels[id]
          : std::to_string(id);
  char score[16];
  std::snprintf(score, sizeof(score), " %.2f", std::clamp(detection.score, 0.0, 1.0));
  return text + score;
}

Status Annotator::Draw(const Annotations& annotations, ingest::RgbImage* picture) {
  if (annotations.segmentation != nullptr) {
    SERDAB_RETURN_IF_ERROR(DrawSegmentation(*annotations.segmentation, picture));
  }
  SERDAB_RETURN_IF_ERROR(DrawDetections(annotations.detections, picture));
  if (!annotations.caption.empty())
    SERDAB_RETURN_IF_ERROR(DrawCaption(annotations.caption, picture));
  return Status::Ok();
}

Status Annotator::DrawSegmentation(const postprocess::Segmentation& segmentation,
                                   ingest::RgbImage* picture) {
  SERDAB_RETURN_IF_ERROR(CheckPicture(*picture));
  const size_t cells =
      static_cast<size_t>(std::max(segmentation.width, 0)) * std::max(segmentation.height, 0);
  if (segmentation.width <= 0 || segmentation.height <= 0 ||
      segmentation.class_map.size() != cells) {
    return Status::InvalidArgument("cannot overlay a " + std::to_string(segmentation.width) + "x" +
                                   std::to_string(segmentation.height) + " class map of " +
                                   std::to_string(segmentation.class_map.size()) +
                                   " entries (expected " + std::to_string(cells) + ")");
  }
  const int alpha256 = static_cast<int>(std::lround(options_.overlay_opacity * 256));
  std::array<Rgb, kPalette.size()> colours;
  for (size_t i = 0; i < colours.size(); ++i) colours[i] = ClassColour(static_cast<int>(i));
  // Nearest neighbour: picture pixel x samples map column x * map_width / width.
  std::vector<int> column(picture->width);
  for (int x = 0; x < picture->width; ++x) {
    column[x] = static_cast<int>(static_cast<int64_t>(x) * segmentation.width / picture->width);
  }
  for (int y = 0; y < picture->height; ++y) {
    const int row =
        static_cast<int>(static_cast<int64_t>(y) * segmentation.height / picture->height);
    const uint16_t* classes =
        segmentation.class_map.data() + static_cast<size_t>(row) * segmentation.width;
    uint8_t* p = picture->at(0, y);
    for (int x = 0; x < picture->width; ++x, p += 3) {
      const uint16_t c = classes[column[x]];
      if (c != 0) BlendPixel(p, colours[c % colours.size()], alpha256);
    }
  }
  return Status::Ok();
}

Status Annotator::DrawDetections(const std::vector<postprocess::Detection>& detections,
                                 ingest::RgbImage* picture) {
  SERDAB_RETURN_IF_ERROR(CheckPicture(*picture));
  const int pixels = FontPixels(*picture);
  const Font::Size& size = font_->AtSize(pixels);
  const int pad = std::max(2, pixels / 6);
  const int tag_height = size.ascender + size.descender + 2 * pad;
  const int t = options_.box_thickness;
  for (const postprocess::Detection& d : detections) {
    if (!std::isfinite(d.x) || !std::isfinite(d.y) || !std::isfinite(d.width) ||
        !std::isfinite(d.height) || d.width <= 0 || d.height <= 0) {
      continue;
    }
    const int64_t left = ToPixel(d.x);
    const int64_t top = ToPixel(d.y);
    const int64_t right = std::max(left, ToPixel(d.x + d.width) - 1);
    const int64_t bottom = std::max(top, ToPixel(d.y + d.height) - 1);
    int64_t l = left, tp = top, r = right, b = bottom;
    if (!Clip(*picture, &l, &tp, &r, &b)) continue;  // wholly outside

    const Rgb colour = ClassColour(d.class_id);
    FillRect(picture, left, top, right, top + t - 1, colour);
    FillRect(picture, left, bottom - t + 1, right, bottom, colour);
    FillRect(picture, left, top, left + t - 1, bottom, colour);
    FillRect(picture, right - t + 1, top, right, bottom, colour);

    // The tag sits on the box's top edge, starting at its left edge, moved
    // to stay on the picture; inside the box when there is no room above.
    const std::u32string text = DecodeUtf8(TagText(d));
    const int tag_width = font_->Width(pixels, text) + 2 * pad;
    const int64_t tag_left = std::clamp<int64_t>(l, 0, std::max(0, picture->width - tag_width));
    const int64_t tag_top = top - tag_height >= 0 ? top - tag_height : tp;
    FillRect(picture, tag_left, tag_top, tag_left + tag_width - 1, tag_top + tag_height - 1,
             colour);
    const bool light = 299 * colour.r + 587 * colour.g + 114 * colour.b > 150 * 1000;
    font_->Draw(picture, static_cast<int>(tag_left + pad),
                static_cast<int>(tag_top + pad + size.ascender), pixels, text,
                light ? kBlack : kWhite);
  }
  return Status::Ok();
}

Status Annotator::DrawCaption(const std::string& caption, ingest::RgbImage* picture) {
  SERDAB_RETURN_IF_ERROR(CheckPicture(*picture));
  const int pixels = FontPixels(*picture);
  const Font::Size& size = font_->AtSize(pixels);
  const int pad = std::max(3, pixels / 4);
  const std::u32string text = DecodeUtf8(caption);
  const int width = font_->Width(pixels, text) + 2 * pad;
  const int height = size.ascender + size.descender + 2 * pad;
  FillRect(picture, 0, 0, width - 1, height - 1, kBlack, kCaptionShade256);
  font_->Draw(picture, pad, pad + size.ascender, pixels, text, kWhite);
  return Status::Ok();
}

}  // namespace serdab::annotate
