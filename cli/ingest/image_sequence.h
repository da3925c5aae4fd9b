// ImageSequence: a directory of .jpg/.jpeg/.png pictures, in name order, as a
// stream of frames.
//
// Each picture is opened and decoded on its own (FFmpeg's image2 demuxer
// wants one codec for a whole sequence; a directory may mix JPEG and PNG).
// Timestamps are index / image_fps. A picture that fails to decode is skipped
// and reported as corrupt: one bad file must not stop a long sequence.
#ifndef SERDAB_CLI_INGEST_IMAGE_SEQUENCE_H_
#define SERDAB_CLI_INGEST_IMAGE_SEQUENCE_H_

#include <memory>
#include <string>
#include <vector>

#include "cli/ingest/frame_source.h"
#include "cli/ingest/media_input.h"

namespace serdab::ingest {

// The directory's picture files, full paths, sorted by file name (byte order,
// so "img10" sorts before "img9": name files with zero-padded numbers).
// NotFound when there are none.
Result<std::vector<std::string>> ListImages(const std::string& directory);

class ImageSequence : public FrameSource {
 public:
  static Result<std::unique_ptr<ImageSequence>> Open(const std::string& directory,
                                                     const InputOptions& options);

  Result<DecodedPicture> Next() override;

 private:
  ImageSequence(std::vector<std::string> paths, const InputOptions& options);

  const std::vector<std::string> paths_;
  const InputOptions options_;
  size_t next_ = 0;
  // The last picture's decoder; it owns the picture Next() returned.
  std::unique_ptr<MediaInput> current_;
};

}  // namespace serdab::ingest

#endif  // SERDAB_CLI_INGEST_IMAGE_SEQUENCE_H_
