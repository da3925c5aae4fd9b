#include "cli/ingest/ffmpeg_log.h"

#include <cstdarg>
#include <mutex>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
}

namespace serdab::ingest {
namespace {

spdlog::level::level_enum ToSpdlog(int av_level) {
  if (av_level <= AV_LOG_FATAL) return spdlog::level::critical;
  if (av_level <= AV_LOG_ERROR) return spdlog::level::err;
  if (av_level <= AV_LOG_WARNING) return spdlog::level::warn;
  if (av_level <= AV_LOG_INFO) return spdlog::level::info;
  if (av_level <= AV_LOG_DEBUG) return spdlog::level::debug;
  return spdlog::level::trace;
}

int ToAvLevel(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return AV_LOG_TRACE;
    case spdlog::level::debug:
      return AV_LOG_DEBUG;
    case spdlog::level::info:
      return AV_LOG_INFO;
    case spdlog::level::warn:
      return AV_LOG_WARNING;
    case spdlog::level::err:
      return AV_LOG_ERROR;
    case spdlog::level::critical:
      return AV_LOG_FATAL;
    default:
      return AV_LOG_QUIET;
  }
}

void AvLogCallback(void* context, int level, const char* format, va_list args) {
  if (level > av_log_get_level()) return;
  // FFmpeg writes a line in pieces and says with print_prefix whether the next
  // piece starts a new line; gather pieces per thread (decoders log from
  // their own threads) and log whole lines.
  thread_local std::string line;
  thread_local int print_prefix = 1;
  char piece[1024];
  av_log_format_line2(context, level, format, args, piece, sizeof(piece), &print_prefix);
  line += piece;
  if (line.empty() || line.back() != '\n') return;
  line.pop_back();
  IngestLogger()->log(ToSpdlog(level), "ffmpeg: {}", line);
  line.clear();
}

}  // namespace

std::shared_ptr<spdlog::logger> IngestLogger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    std::shared_ptr<spdlog::logger> l = spdlog::get("ingest");
    if (l == nullptr) {
      l = spdlog::stderr_color_mt("ingest");
      l->set_level(spdlog::level::critical);
    }
    av_log_set_level(ToAvLevel(l->level()));
    av_log_set_callback(AvLogCallback);
    return l;
  }();
  return logger;
}

void SetIngestLogLevel(spdlog::level::level_enum level) {
  IngestLogger()->set_level(level);
  av_log_set_level(ToAvLevel(level));
}

std::string AvErrorString(int av_error) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(av_error, text, sizeof(text));
  return text;
}

}  // namespace serdab::ingest
