// Source: which kind of camera a URL or path names.
//
// One string decides the kind, so that `serdab stream --source X` needs no
// second flag: rtsp:// and rtsps:// are RTSP cameras, http:// and https:// are
// MJPEG (or any other stream FFmpeg can probe) over HTTP, /dev/videoN is a
// V4L2 device, an existing directory is a sequence of .jpg/.png images, and
// anything else is a video file.
#ifndef SERDAB_CLI_INGEST_SOURCE_H_
#define SERDAB_CLI_INGEST_SOURCE_H_

#include <string>

#include "enclave/common/status.h"

namespace serdab::ingest {

enum class SourceKind { kFile, kImageDirectory, kRtsp, kHttp, kV4l2 };

// "file", "image directory", "rtsp", "http", "v4l2".
const char* SourceKindName(SourceKind kind);

struct SourceSpec {
  SourceKind kind = SourceKind::kFile;
  std::string url;  // as given: a URL or a local path

  // Live sources (cameras) reconnect on their own and are never paced; files
  // and image directories end, may loop, and may be paced to real time.
  bool live() const {
    return kind == SourceKind::kRtsp || kind == SourceKind::kHttp || kind == SourceKind::kV4l2;
  }
};

// Classifies `url`. Local paths (files, directories, devices) must exist:
// NotFound naming the path otherwise, so a missing camera is reported before
// any thread starts. Another URL scheme is InvalidArgument.
Result<SourceSpec> ParseSource(const std::string& url);

}  // namespace serdab::ingest

#endif  // SERDAB_CLI_INGEST_SOURCE_H_
