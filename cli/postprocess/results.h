// What the postprocessing of one frame finds: classes, boxes or a class map.
#ifndef SERDAB_CLI_POSTPROCESS_RESULTS_H_
#define SERDAB_CLI_POSTPROCESS_RESULTS_H_

#include <cstdint>
#include <vector>

namespace serdab::postprocess {

struct ClassScore {
  int class_id = 0;
  double score = 0;  // softmax probability
};

// A box in source-picture pixels: (x, y) is its top-left corner.
struct Detection {
  double x = 0;
  double y = 0;
  double width = 0;
  double height = 0;
  int class_id = 0;
  double score = 0;
};

struct ClassArea {
  int class_id = 0;
  int64_t pixels = 0;   // in the class map
  double fraction = 0;  // of the class map's pixels
};

// The argmax class of every pixel of a segmentation model's [1, C, H, W]
// output, row-major, and the classes present, largest first.
struct Segmentation {
  int width = 0;
  int height = 0;
  std::vector<uint16_t> class_map;
  std::vector<ClassArea> areas;
};

}  // namespace serdab::postprocess

#endif  // SERDAB_CLI_POSTPROCESS_RESULTS_H_
