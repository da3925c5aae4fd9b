// Pictures for the annotate tests, and the other way back: a video file or
// JPEG bytes decoded to RGB with libav*, frame counts from ffprobe, and a
// scratch directory.
#ifndef SERDAB_TESTS_ANNOTATE_TEST_PICTURES_H_
#define SERDAB_TESTS_ANNOTATE_TEST_PICTURES_H_

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/annotate/annotator.h"
#include "cli/ingest/rgb_image.h"
#include "enclave/common/status.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

namespace serdab::annotate::testing {

// A directory removed with everything in it when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "annotate-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline ingest::RgbImage Solid(int width, int height, Rgb colour) {
  ingest::RgbImage picture{width, height, {}};
  picture.pixels.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < picture.pixels.size(); i += 3) {
    picture.pixels[i] = colour.r;
    picture.pixels[i + 1] = colour.g;
    picture.pixels[i + 2] = colour.b;
  }
  return picture;
}

inline Rgb PixelAt(const ingest::RgbImage& picture, int x, int y) {
  const uint8_t* p = picture.at(x, y);
  return Rgb{p[0], p[1], p[2]};
}

// Every channel within `margin` of the other's.
inline bool Near(Rgb a, Rgb b, int margin) {
  return std::abs(a.r - b.r) <= margin && std::abs(a.g - b.g) <= margin &&
         std::abs(a.b - b.b) <= margin;
}

inline ingest::RgbImage ToRgb(const AVFrame& frame) {
  ingest::RgbImage out{frame.width, frame.height, {}};
  // swscale's RGB24 writers may store whole vectors past the last pixel.
  out.pixels.resize(static_cast<size_t>(frame.width) * frame.height * 3 + 64);
  SwsContext* scaler = sws_getContext(
      frame.width, frame.height, static_cast<AVPixelFormat>(frame.format), frame.width,
      frame.height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr);
  uint8_t* const dst[4] = {out.pixels.data(), nullptr, nullptr, nullptr};
  const int dst_stride[4] = {frame.width * 3, 0, 0, 0};
  sws_scale(scaler, frame.data, frame.linesize, 0, frame.height, dst, dst_stride);
  sws_freeContext(scaler);
  out.pixels.resize(static_cast<size_t>(frame.width) * frame.height * 3);
  return out;
}

// Every picture of the file's video stream, in order.
inline Result<std::vector<ingest::RgbImage>> DecodeVideo(const std::string& path) {
  AVFormatContext* format = nullptr;
  if (avformat_open_input(&format, path.c_str(), nullptr, nullptr) < 0) {
    return Status::IoError(path + ": cannot open");
  }
  std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> closer(
      format, [](AVFormatContext* f) { avformat_close_input(&f); });
  avformat_find_stream_info(format, nullptr);
  const AVCodec* codec = nullptr;
  const int stream = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream < 0) return Status::NotFound(path + ": no video stream");
  AVCodecContext* decoder = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(decoder, format->streams[stream]->codecpar);
  avcodec_open2(decoder, codec, nullptr);
  AVPacket* packet = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  std::vector<ingest::RgbImage> pictures;
  const auto drain = [&] {
    while (avcodec_receive_frame(decoder, frame) == 0) pictures.push_back(ToRgb(*frame));
  };
  while (av_read_frame(format, packet) >= 0) {
    if (packet->stream_index == stream) avcodec_send_packet(decoder, packet);
    av_packet_unref(packet);
    drain();
  }
  avcodec_send_packet(decoder, nullptr);
  drain();
  av_frame_free(&frame);
  av_packet_free(&packet);
  avcodec_free_context(&decoder);
  return pictures;
}

inline Result<ingest::RgbImage> DecodeJpeg(const std::string& bytes) {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_MJPEG);
  AVCodecContext* decoder = avcodec_alloc_context3(codec);
  avcodec_open2(decoder, codec, nullptr);
  AVPacket* packet = av_packet_alloc();
  av_new_packet(packet, static_cast<int>(bytes.size()));
  std::copy(bytes.begin(), bytes.end(), packet->data);
  AVFrame* frame = av_frame_alloc();
  Result<ingest::RgbImage> out = Status::Corruption("not a JPEG");
  if (avcodec_send_packet(decoder, packet) == 0 && avcodec_receive_frame(decoder, frame) == 0) {
    out = ToRgb(*frame);
  }
  av_frame_free(&frame);
  av_packet_free(&packet);
  avcodec_free_context(&decoder);
  return out;
}

// ffprobe's "codec_name,width,height,nb_read_frames" of the first video
// stream, decoding it all (-count_frames).
inline std::string Probe(const std::string& path) {
  const std::string command =
      "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
      "stream=nb_read_frames,width,height,codec_name -of csv=p=0 '" +
      path + "'";
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[256];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
  pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace serdab::annotate::testing

#endif  // SERDAB_TESTS_ANNOTATE_TEST_PICTURES_H_
