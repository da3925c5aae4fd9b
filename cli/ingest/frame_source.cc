#include "cli/ingest/frame_source.h"

#include "cli/ingest/image_sequence.h"
#include "cli/ingest/media_input.h"

namespace serdab::ingest {

Result<std::unique_ptr<FrameSource>> OpenFrameSource(const SourceSpec& spec,
                                                     const InputOptions& options) {
  if (spec.kind == SourceKind::kImageDirectory) {
    SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<ImageSequence> images,
                            ImageSequence::Open(spec.url, options));
    return std::unique_ptr<FrameSource>(std::move(images));
  }
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<MediaInput> input,
                          MediaInput::Open(spec.kind, spec.url, options));
  return std::unique_ptr<FrameSource>(std::move(input));
}

}  // namespace serdab::ingest
