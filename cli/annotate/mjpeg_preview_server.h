// MjpegPreviewServer: the annotated pictures of each stream, live in a
// browser, over plain HTTP (cpp-httplib) on its own threads.
//
//   GET /                      a page with an <img> per stream
//   GET /streams/<id>.mjpg     multipart/x-mixed-replace: a JPEG part per
//                              new picture (and the last one again every
//                              couple of seconds while none comes)
//   GET /streams/<id>.jpg      the latest picture; 404 for an unknown
//                              stream, 503 before its first picture
//
// <id> is the stream's name with every character outside [A-Za-z0-9._-]
// replaced by '_' (a "-2", "-3", ... appended where two names would meet);
// StreamPath() says where a name went.
//
// Publish() only copies the picture. JPEGs are encoded by the requests that
// want them, at most max_fps times a second per stream, once for all of a
// stream's viewers: nothing is encoded while nobody watches.
//
//   MjpegPreviewServer preview;
//   SERDAB_RETURN_IF_ERROR(preview.Start("127.0.0.1:8090"));
//   preview.Publish("cam1", annotated);  // from any thread
//
// Frames are the camera's plaintext: bind it to loopback (or a trusted
// network), HTTP here has no TLS and no authentication.
#ifndef SERDAB_CLI_ANNOTATE_MJPEG_PREVIEW_SERVER_H_
#define SERDAB_CLI_ANNOTATE_MJPEG_PREVIEW_SERVER_H_

#include <memory>
#include <string>

#include "cli/ingest/rgb_image.h"
#include "enclave/common/status.h"

namespace serdab::annotate {

struct PreviewOptions {
  int max_fps = 10;  // JPEG encodes per second per stream, at most
  int qscale = 5;    // JPEG quality: 2 (best) to 31
  // Requests served at once; each open .mjpg response holds one.
  int max_connections = 8;
};

class MjpegPreviewServer {
 public:
  explicit MjpegPreviewServer(const PreviewOptions& options = {});
  ~MjpegPreviewServer();  // Stop()s
  MjpegPreviewServer(const MjpegPreviewServer&) = delete;
  MjpegPreviewServer& operator=(const MjpegPreviewServer&) = delete;

  // Binds `addr` (HOST:PORT; [V6]:PORT; port 0 picks a free one) and starts
  // serving. Fails with a message naming the address when it is malformed,
  // the host is not an address of this machine, or the port is in use.
  Status Start(const std::string& addr);
  // The bound port and "http://HOST:PORT", once started.
  int port() const { return port_; }
  const std::string& url() const { return url_; }

  // Lists the stream on the page before its first picture (its .jpg is 503
  // until then) and returns its URL path without extension, e.g.
  // "/streams/cam_1". Idempotent; thread-safe.
  std::string AddStream(const std::string& name);
  // The stream's path as AddStream() returns it, or "" for a name never
  // added or published. Thread-safe.
  std::string StreamPath(const std::string& name) const;

  // Makes `picture` the stream's latest (adding the stream if new) and wakes
  // its viewers. Copies the picture; thread-safe, and works before Start()
  // and after Stop(). InvalidArgument when the picture's pixel count does
  // not match its size.
  Status Publish(const std::string& name, const ingest::RgbImage& picture);

  // Ends the open .mjpg responses, stops accepting and joins the threads:
  // within a second or so, browsers connected or not. Idempotent.
  void Stop();

 private:
  struct Impl;  // keeps httplib.h and libavcodec out of this header
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::string url_;
};

}  // namespace serdab::annotate

#endif  // SERDAB_CLI_ANNOTATE_MJPEG_PREVIEW_SERVER_H_
