// serdab infer: runs a model on a raw float32 (or uint8) input file and writes the raw
// float32 output; with --repeat, also reports the median time per run.
//
// --enclave sim runs the model inside a sim enclave, the way a deployment
// does: the CLI plays host, model owner and camera client at once. It
// attests the enclave, provisions the model over the attested channel and
// sends the input encrypted; the enclave's host side only ever handles
// ciphertext.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <iterator>
#include <vector>

#include "cli/commands.h"
#include "cli/local_enclave.h"
#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"

namespace serdab::cli {
namespace {

using engine::DataType;
using engine::Tensor;
using RunFn = std::function<Result<std::vector<Tensor>>(const std::vector<Tensor>&)>;

Result<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot open " + what);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Result<Tensor> ReadInput(const std::string& path, const engine::TensorInfo& info,
                         const std::string& name) {
  if (info.dtype != DataType::kFloat32 && info.dtype != DataType::kUint8) {
    return Status::Unimplemented("model input '" + name + "' is " +
                                 engine::DataTypeName(info.dtype) +
                                 "; serdab infer feeds float32 or uint8");
  }
  SERDAB_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path, "input file"));
  if (bytes.size() != info.bytes()) {
    return Status::InvalidArgument(
        path + ": input file holds " + std::to_string(bytes.size()) + " bytes, but model input '" +
        name + "' " + engine::ShapeToString(info.shape) + " " + engine::DataTypeName(info.dtype) +
        " needs " + std::to_string(info.bytes()) + " bytes");
  }
  SERDAB_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(info.dtype, info.shape));
  std::copy(bytes.begin(), bytes.end(), static_cast<char*>(t.raw()));
  return t;
}

Status WriteOutput(const std::string& path, const Tensor& t) {
  if (t.dtype() != DataType::kFloat32) {
    return Status::Unimplemented(std::string("the model's first output is ") +
                                 engine::DataTypeName(t.dtype()) + "; serdab infer writes float32");
  }
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

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// CPU time of the whole process (every thread), in ms. On a guest with
// paravirtual steal accounting it leaves out the time the hypervisor ran
// someone else on our vCPUs, which wall time counts.
double ProcessCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Runs `run` `warmup` times untimed (at least once, for the result), then
// `repeat` more times timed.
Result<std::vector<Tensor>> RunAndTime(const RunFn& run, const Tensor& input, int64_t warmup,
                                       int64_t repeat, int64_t threads) {
  SERDAB_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, run({input}));
  if (repeat <= 0) return outputs;
  for (int64_t w = 1; w < warmup; ++w) SERDAB_RETURN_IF_ERROR(run({input}).status());
  std::vector<double> ms;
  std::vector<double> cpu_ms;
  for (int64_t r = 0; r < repeat; ++r) {
    const double cpu_start = ProcessCpuMs();
    const auto start = std::chrono::steady_clock::now();
    SERDAB_RETURN_IF_ERROR(run({input}).status());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    cpu_ms.push_back(ProcessCpuMs() - cpu_start);
  }
  std::printf("runs: %lld\nthreads: %lld\nmin_ms: %.3f\nmedian_ms: %.3f\nmedian_cpu_ms: %.3f\n",
              static_cast<long long>(repeat), static_cast<long long>(threads),
              *std::min_element(ms.begin(), ms.end()), Median(ms), Median(cpu_ms));
  return outputs;
}

struct EnclaveOptions {
  double epc_mib = 93.5;
  std::string profile = "sgx1";
  std::string ca_dir;
  std::string platform_dir;
  std::string signature;
  bool stats = false;
  double stream_mib = 0;
};

int RunInEnclave(const std::string& model_path, const std::string& input_path,
                 const std::string& output_path, int64_t threads, int64_t warmup, int64_t repeat,
                 const EnclaveOptions& opts) {
  const char* cmd = "infer";
  auto model_bytes = ReadFile(model_path, "model");
  if (!model_bytes.ok()) return ReportError(cmd, model_bytes.status());
  // The client reads the model's declared input to encode the frame.
  engine::TensorInfo input_info;
  std::string input_name;
  {
    auto graph = engine::ImportOnnxBytes(*model_bytes, model_path);
    if (!graph.ok()) return ReportError(cmd, graph.status());
    if (graph->inputs().size() != 1) {
      return ReportError(cmd, Status::Unimplemented("serdab infer feeds models with one input"));
    }
    input_info = graph->value(graph->inputs()[0]).info;
    input_name = graph->value(graph->inputs()[0]).name;
  }
  auto input = ReadInput(input_path, input_info, input_name);
  if (!input.ok()) return ReportError(cmd, input.status());

  LocalEnclaveOptions lopts;
  lopts.epc_mib = opts.epc_mib;
  lopts.cost_profile = opts.profile;
  lopts.ca_dir = opts.ca_dir;
  lopts.platform_dir = opts.platform_dir;
  lopts.signature_path = opts.signature;
  auto enclave = LocalEnclave::Start(lopts);
  if (!enclave.ok()) return ReportError(cmd, enclave.status());
  EnclaveClient& client = (*enclave)->client();
  const crypto::Bytes model(model_bytes->begin(), model_bytes->end());
  model_bytes->clear();
  model_bytes->shrink_to_fit();
  PartitionSpec spec;
  spec.threads = static_cast<int>(threads);
  spec.routes = client.SelfRoutes();
  spec.streamed_weight_bytes = static_cast<uint64_t>(opts.stream_mib * 1024 * 1024);
  if (auto p = client.Provision(model, spec); !p.ok()) {
    return ReportError(cmd, p.status());
  }
  RunFn run = [&](const std::vector<Tensor>& in) { return client.Infer(in); };
  auto outputs = RunAndTime(run, *input, warmup, repeat, threads);
  if (!outputs.ok()) return ReportError(cmd, outputs.status());
  if (opts.stats) {
    auto json = (*enclave)->host().StatsJson();
    if (!json.ok()) return ReportError(cmd, json.status());
    std::fprintf(stderr, "%s\n", json->c_str());
  }
  if (Status s = WriteOutput(output_path, outputs->front()); !s.ok()) return ReportError(cmd, s);
  std::printf("output: %s float32 (enclave) -> %s\n",
              engine::ShapeToString(outputs->front().shape()).c_str(), output_path.c_str());
  return 0;
}

}  // namespace

int RunInferCommand(int argc, char** argv) {
  std::string model_path, input_path, output_path, enclave = "none";
  int64_t threads = 1, repeat = 0, warmup = 1;
  EnclaveOptions eopts;
  CLI::App app{
      "Runs an ONNX model on one input. Input and output files are raw little-endian\n"
      "float32 in the model's first input and output shapes (the input raw bytes when\n"
      "the model takes uint8 pixels).\n\n"
      "With --enclave sim the model runs inside a simulated SGX enclave: it is attested,\n"
      "provisioned over an encrypted channel, its weights and activations live in an\n"
      "EPC of --epc-mib MiB that pages when full, and the frame travels encrypted.\n"
      "Without --ca/--platform a throwaway root and platform certificate are made.",
      "infer"};
  app.add_option("--model", model_path, "ONNX model file")->required();
  app.add_option("--input", input_path, "raw float32 input file (uint8 for a pixel input)")
      ->required();
  app.add_option("--output", output_path, "where to write the raw float32 output")->required();
  app.add_option("--threads", threads, "worker threads")
      ->capture_default_str()
      ->transform(DecimalInteger())
      ->check(CLI::Range(1, 256));
  app.add_option("--repeat", repeat,
                 "also time this many runs and print min_ms, median_ms and median_cpu_ms (CPU time "
                 "of all threads, which leaves out time stolen by a hypervisor)")
      ->capture_default_str()
      ->transform(DecimalInteger())
      ->check(CLI::Range(0, 1000000));
  app.add_option("--warmup", warmup,
                 "with --repeat: untimed runs first, the first of which gives the output")
      ->capture_default_str()
      ->transform(DecimalInteger())
      ->check(CLI::Range(1, 1000000));
  app.add_option("--enclave", enclave, "where the model runs")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "sim"}));
  app.add_option("--epc-mib", eopts.epc_mib, "sim enclave: resident EPC budget in MiB")
      ->capture_default_str();
  app.add_option("--enclave-profile", eopts.profile,
                 "sim enclave: target TEE to price, sgx1 | sgx2 | tdx | sev-snp | none")
      ->capture_default_str();
  app.add_option("--ca", eopts.ca_dir, "sim enclave: deployment root directory (serdab ca init)");
  app.add_option("--platform", eopts.platform_dir,
                 "sim enclave: this host's platform directory (serdab ca issue-platform)");
  app.add_option("--enclave-signature", eopts.signature,
                 "sim enclave: the developer's signature over it (serdab enclave sign)");
  app.add_option("--stream-mib", eopts.stream_mib,
                 "sim enclave: keep at least this many MiB of the largest weights outside the "
                 "EPC, sealed, and open them chunk by chunk every frame instead of paging them")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--stats", eopts.stats,
               "sim enclave: print the enclave's counters as JSON on stderr");
  if (auto rc = ParseFlags(app, argc, argv)) return *rc;
  if (enclave == "sim") {
    return RunInEnclave(model_path, input_path, output_path, threads, warmup, repeat, eopts);
  }

  engine::ModelOptions options;
  options.num_threads = static_cast<int>(threads);
  auto model = engine::Model::LoadOnnx(model_path, options);
  if (!model.ok()) return ReportError("infer", model.status());
  const engine::CutInfo& inputs = (*model)->cuts().front();
  if (inputs.values.size() != 1) {
    return ReportError(
        "infer", Status::Unimplemented("the model has " + std::to_string(inputs.values.size()) +
                                       " inputs; serdab infer feeds exactly one"));
  }
  auto input = ReadInput(input_path, inputs.infos[0], inputs.names[0]);
  if (!input.ok()) return ReportError("infer", input.status());
  RunFn run = [&](const std::vector<Tensor>& in) { return (*model)->Run(in); };
  auto outputs = RunAndTime(run, *input, warmup, repeat, threads);
  if (!outputs.ok()) return ReportError("infer", outputs.status());
  if (Status s = WriteOutput(output_path, outputs->front()); !s.ok()) {
    return ReportError("infer", s);
  }
  std::printf("output: %s %s float32 -> %s\n", (*model)->cuts().back().names[0].c_str(),
              engine::ShapeToString(outputs->front().shape()).c_str(), output_path.c_str());
  return 0;
}

}  // namespace serdab::cli
