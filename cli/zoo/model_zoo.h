// The model zoo: torchvision image classifiers written as ONNX files.
//
// Each model has exactly the layers of torchvision 0.14's eval-mode graph
// (BatchNormalization kept as its own node, Dropout left out) and seeded
// random weights. Initializer names are the torchvision state_dict keys, so a
// test can load a zoo file's weights into the PyTorch model and compare
// outputs (tests/python/zoo_models.py). The same name and seed always give a
// byte-identical file.
//
// Models: vgg16, resnet18, resnet50, mobilenet_v2, efficientnet_b0 (input
// 1x3x224x224, 1000 classes) and tiny (input 1x3x32x32, 10 classes), a small
// CNN for fast tests. Opset 13; the graph input is "input", the output
// "output".
//
// With ZooOptions::pixel_input the input is a camera's picture instead:
// uint8 RGB, 1 x H x W x 3, and the graph starts with what torchvision's
// ToTensor and Normalize do (channels first, x / 255, then ImageNet's mean and
// std), so a frame travels as bytes and is normalised where the model runs
// (in the first enclave of a pipeline).
#ifndef SERDAB_CLI_ZOO_MODEL_ZOO_H_
#define SERDAB_CLI_ZOO_MODEL_ZOO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::zoo {

// Every name BuildModel accepts, in a fixed order.
std::vector<std::string> ModelNames();

// One line describing `name` for --help; empty for an unknown name.
std::string DescribeModel(const std::string& name);

struct ZooOptions {
  bool pixel_input = false;
};

// The serialized ONNX ModelProto of `name` with weights drawn from `seed`.
Result<std::string> BuildModel(const std::string& name, uint64_t seed,
                               const ZooOptions& options = {});

// Writes BuildModel's model to `path` atomically: the file is written to
// `path`.tmp and renamed over `path` only when complete.
Status WriteModel(const std::string& name, uint64_t seed, const std::string& path,
                  const ZooOptions& options = {});

}  // namespace serdab::zoo

#endif  // SERDAB_CLI_ZOO_MODEL_ZOO_H_
