// serdab infer: runs a model on a raw float32 input file and writes the raw
// float32 output; with --repeat, also reports the median time per run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "enclave/engine/model.h"

namespace serdab::cli {
namespace {

using engine::DataType;
using engine::Tensor;

Result<Tensor> ReadInput(const std::string& path, const engine::CutInfo& inputs) {
  if (inputs.values.size() != 1) {
    return Status::Unimplemented("the model has " + std::to_string(inputs.values.size()) +
                                 " inputs; serdab infer feeds exactly one");
  }
  const engine::TensorInfo& info = inputs.infos[0];
  if (info.dtype != DataType::kFloat32) {
    return Status::Unimplemented("model input '" + inputs.names[0] + "' is " +
                                 engine::DataTypeName(info.dtype) + "; serdab infer feeds float32");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot open input file");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() != info.bytes()) {
    return Status::InvalidArgument(path + ": input file holds " + std::to_string(bytes.size()) +
                                   " bytes, but model input '" + inputs.names[0] + "' " +
                                   engine::ShapeToString(info.shape) + " float32 needs " +
                                   std::to_string(info.bytes()) + " bytes");
  }
  SERDAB_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(info.dtype, info.shape));
  std::copy(bytes.begin(), bytes.end(), static_cast<char*>(t.raw()));
  return t;
}

Status WriteOutput(const std::string& path, const Tensor& t) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IoError(path + ": cannot create output file");
    out.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.bytes()));
    if (!out) return Status::IoError(path + ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IoError(path + ": cannot rename " + tmp + " into place");
  }
  return Status::Ok();
}

}  // namespace

int RunInferCommand(int argc, char** argv) {
  std::string model_path, input_path, output_path;
  int64_t threads = 1, repeat = 0;
  FlagParser flags("infer",
                   "Runs an ONNX model on one input. Input and output files are raw little-endian\n"
                   "float32 in the model's first input and output shapes.");
  flags.AddString("model", &model_path, "ONNX model file", true);
  flags.AddString("input", &input_path, "raw float32 input file", true);
  flags.AddString("output", &output_path, "where to write the raw float32 output", true);
  flags.AddInt("threads", &threads, "worker threads", 1, 256);
  flags.AddInt("repeat", &repeat, "also time this many runs and print median_ms", 0, 1000000);
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) return ReportError("infer", s, true);
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }

  engine::ModelOptions options;
  options.num_threads = static_cast<int>(threads);
  auto model = engine::Model::LoadOnnx(model_path, options);
  if (!model.ok()) return ReportError("infer", model.status());
  auto input = ReadInput(input_path, (*model)->cuts().front());
  if (!input.ok()) return ReportError("infer", input.status());

  auto outputs = (*model)->Run({*input});
  if (!outputs.ok()) return ReportError("infer", outputs.status());
  if (repeat > 0) {
    std::vector<double> ms;
    for (int64_t r = 0; r < repeat; ++r) {
      const auto start = std::chrono::steady_clock::now();
      auto again = (*model)->Run({*input});
      const auto stop = std::chrono::steady_clock::now();
      if (!again.ok()) return ReportError("infer", again.status());
      ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms.size() % 2 ? ms[ms.size() / 2]
                                        : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
    std::printf("runs: %lld\nthreads: %lld\nmin_ms: %.3f\nmedian_ms: %.3f\n",
                static_cast<long long>(repeat), static_cast<long long>(threads), ms.front(),
                median);
  }
  const Tensor& out = outputs->front();
  if (out.dtype() != DataType::kFloat32) {
    return ReportError("infer", Status::Unimplemented("the model's first output is " +
                                                      std::string(engine::DataTypeName(out.dtype())) +
                                                      "; serdab infer writes float32"));
  }
  if (Status s = WriteOutput(output_path, out); !s.ok()) return ReportError("infer", s);
  std::printf("output: %s %s float32 -> %s\n", (*model)->cuts().back().names[0].c_str(),
              engine::ShapeToString(out.shape()).c_str(), output_path.c_str());
  return 0;
}

}  // namespace serdab::cli
