#include "cli/ingest/source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace serdab::ingest {

const char* SourceKindName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kFile:
      return "file";
    case SourceKind::kImageDirectory:
      return "image directory";
    case SourceKind::kRtsp:
      return "rtsp";
    case SourceKind::kHttp:
      return "http";
    case SourceKind::kV4l2:
      return "v4l2";
  }
  return "unknown";
}

Result<SourceSpec> ParseSource(const std::string& url) {
  if (url.empty())
    return Status::InvalidArgument(
        "empty camera source: expected a file, directory, URL or /dev/videoN");
  SourceSpec spec;
  spec.url = url;
  if (url.starts_with("rtsp://") || url.starts_with("rtsps://")) {
    spec.kind = SourceKind::kRtsp;
    return spec;
  }
  if (url.starts_with("http://") || url.starts_with("https://")) {
    spec.kind = SourceKind::kHttp;
    return spec;
  }
  if (url.find("://") != std::string::npos) {
    return Status::InvalidArgument(
        "camera source " + url +
        ": unsupported scheme (expected rtsp://, http:// or a local path)");
  }
  struct stat st;
  if (stat(url.c_str(), &st) != 0) {
    const bool device = url.starts_with("/dev/video");
    return Status::NotFound((device ? "V4L2 device " : "camera source ") + url + ": " +
                            std::strerror(errno));
  }
  if (url.starts_with("/dev/video")) {
    if (!S_ISCHR(st.st_mode)) {
      return Status::InvalidArgument("V4L2 device " + url + ": not a character device");
    }
    spec.kind = SourceKind::kV4l2;
  } else if (S_ISDIR(st.st_mode)) {
    spec.kind = SourceKind::kImageDirectory;
  } else if (S_ISREG(st.st_mode)) {
    spec.kind = SourceKind::kFile;
  } else {
    return Status::InvalidArgument("camera source " + url +
                                   ": neither a regular file, a directory nor a V4L2 device");
  }
  return spec;
}

}  // namespace serdab::ingest
