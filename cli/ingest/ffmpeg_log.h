// FFmpeg's log, routed into the library's spdlog logger.
//
// FFmpeg prints to stderr by default and gets chatty on a flaky camera (every
// lost RTP packet, every concealed macroblock). Those conditions already reach
// the client as Status values and reader events, so FFmpeg's own lines go to
// the "ingest" logger (stderr, never stdout: the client writes JSON results
// there), which is quiet (critical only) unless the client turns it up.
#ifndef SERDAB_CLI_INGEST_FFMPEG_LOG_H_
#define SERDAB_CLI_INGEST_FFMPEG_LOG_H_

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace serdab::ingest {

// The "ingest" logger (created on first use, writing to stderr). Installs the
// av_log callback on first use.
std::shared_ptr<spdlog::logger> IngestLogger();

// Sets the logger's level and makes FFmpeg format only messages that pass it.
void SetIngestLogLevel(spdlog::level::level_enum level);

// FFmpeg's words for an AVERROR code, for error messages.
std::string AvErrorString(int av_error);

}  // namespace serdab::ingest

#endif  // SERDAB_CLI_INGEST_FFMPEG_LOG_H_
