// Finding 6 of the hardening review: model bytes after provision and frame
// bytes after process were found in freed ordinary heap. This test plays the
// host that reads its own process memory after each ECALL: it scans every
// host-visible mapping (heap, anonymous mappings, stacks; not the EPC) for a
// run of the model's weights and of the frame's pixels.
//
// The test itself must not leave the patterns behind: the model is built in
// a child process, the patterns are kept XOR-masked, and every plaintext
// buffer on the test's (client's) side is wiped before the scan.
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <onnx/onnx.pb.h>

#include "cli/enclave_client.h"
#include "cli/zoo/model_zoo.h"
#include "enclave/attestation/platform.h"
#include "enclave/crypto/bytes.h"
#include "tests/enclave/epc_range.h"
#include "tests/enclave/test_platform.h"
#include "worker/enclave_host.h"

namespace serdab {
namespace {

constexpr size_t kRun = 48;
constexpr uint8_t kMask = 0xa5;

// A run of bytes to look for, stored masked so that the test's own copy is
// never a match.
struct MaskedRun {
  uint8_t bytes[kRun];
  static MaskedRun Of(const uint8_t* p) {
    MaskedRun r;
    for (size_t i = 0; i < kRun; ++i) r.bytes[i] = p[i] ^ kMask;
    return r;
  }
};

bool MatchesAt(const uint8_t* p, const MaskedRun& run) {
  for (size_t i = 0; i < kRun; ++i) {
    if ((p[i] ^ kMask) != run.bytes[i]) return false;
  }
  return true;
}

// Counts the matches of `run` in [p, p + size).
int CountIn(const uint8_t* p, size_t size, const MaskedRun& run) {
  int found = 0;
  const uint8_t first = run.bytes[0] ^ kMask;
  for (size_t off = 0; off + kRun <= size;) {
    const void* hit = std::memchr(p + off, first, size - kRun + 1 - off);
    if (hit == nullptr) break;
    const size_t at = static_cast<const uint8_t*>(hit) - p;
    if (MatchesAt(p + at, run)) ++found;
    off = at + 1;
  }
  return found;
}

// Counts the places in host-visible memory that hold `run`: the heap,
// anonymous mappings and stacks. The EPC's mappings are enclave memory, and
// file mappings hold code and constants. Only resident pages are read (the
// EPC's backing store reserves gigabytes it never touches).
// Scans the host's anonymous memory, all but `enclave`'s EPC (enclave memory,
// where plaintext belongs).
int CountInHostMemory(const MaskedRun& run, const EpcRange& enclave) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int found = 0;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  while (std::getline(maps, line)) {
    unsigned long long begin = 0, end = 0;
    char perms[8] = {0};
    if (std::sscanf(line.c_str(), "%llx-%llx %7s", &begin, &end, perms) != 3) continue;
    if (perms[0] != 'r') continue;
    const bool anonymous =
        line.find('/') == std::string::npos && line.find("[v") == std::string::npos;
    const bool heap = line.find("[heap]") != std::string::npos;
    const bool stack = line.find("[stack") != std::string::npos;
    if (!(anonymous || heap || stack) || enclave.Contains(begin)) continue;
    auto* p = reinterpret_cast<uint8_t*>(begin);
    const size_t pages = (end - begin) / page;
    std::vector<unsigned char> resident(pages);
    if (mincore(p, pages * page, resident.data()) != 0) continue;
    for (size_t i = 0; i < pages;) {
      if ((resident[i] & 1) == 0) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < pages && (resident[j] & 1)) ++j;
      found += CountIn(p + i * page, (j - i) * page, run);
      i = j;
    }
  }
  return found;
}

// Builds the zoo's tiny model in a child process (the zoo's protobuf
// messages would leave weights in this process's heap) and returns its bytes
// and the offset of a run inside its largest weight tensor.
crypto::Bytes BuildModelElsewhere(size_t* weight_offset) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    const std::string model = zoo::BuildModel("mobilenet_v2", 11).value();
    const uint64_t size = model.size();
    onnx::ModelProto proto;
    if (!proto.ParseFromString(model)) _exit(1);
    const std::string* largest = nullptr;
    for (const auto& t : proto.graph().initializer()) {
      if (largest == nullptr || t.raw_data().size() > largest->size()) largest = &t.raw_data();
    }
    if (largest == nullptr || largest->size() < 2 * kRun) _exit(1);
    const size_t at = model.find(largest->substr(0, 2 * kRun));
    if (at == std::string::npos) _exit(1);
    const uint64_t offset = at + kRun / 2;
    if (write(fds[1], &size, sizeof(size)) != sizeof(size) ||
        write(fds[1], &offset, sizeof(offset)) != sizeof(offset) ||
        write(fds[1], model.data(), model.size()) != static_cast<ssize_t>(model.size())) {
      _exit(1);
    }
    _exit(0);
  }
  close(fds[1]);
  uint64_t size = 0, offset = 0;
  EXPECT_EQ(read(fds[0], &size, sizeof(size)), static_cast<ssize_t>(sizeof(size)));
  EXPECT_EQ(read(fds[0], &offset, sizeof(offset)), static_cast<ssize_t>(sizeof(offset)));
  crypto::Bytes model(size);
  size_t got = 0;
  while (got < size) {
    const ssize_t n = read(fds[0], model.data() + got, size - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(got, size);
  *weight_offset = offset;
  return model;
}

class PlaintextResidueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The host owns malloc: it keeps every freed block in its heap (no trim,
    // no unmapping of large blocks), where their bytes stay readable.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }

  TestPlatform platform_;
};

TEST_F(PlaintextResidueTest, NoWeightOrFrameBytesAreLeftInHostMemory) {
  size_t offset = 0;
  crypto::Bytes model = BuildModelElsewhere(&offset);
  ASSERT_GT(model.size(), offset + kRun);
  const MaskedRun weights = MaskedRun::Of(model.data() + offset);

  auto host =
      worker::EnclaveHost::Create("epc_mib = 48\ncost_profile = none\n", platform_.platform_dir())
          .value();
  const EpcRange epc = EpcRange::FromStats(host->StatsJson().value());
  ASSERT_NE(epc.begin, nullptr);
  auto verifier = platform_.Verifier();
  const auto owner = crypto::Ed25519KeyPair::Generate().value();
  auto client = cli::EnclaveClient::Attest(host.get(), verifier, owner, owner.public_key()).value();
  cli::PartitionSpec spec;
  spec.routes = client->SelfRoutes();
  ASSERT_TRUE(client->Provision(model, spec).ok());
  crypto::SecureWipe(model.data(), model.size());
  EXPECT_EQ(CountInHostMemory(weights, epc), 0) << "weights left in host memory after provision";

  MaskedRun frame;
  {
    auto x = engine::Tensor::Create(engine::DataType::kFloat32, {1, 3, 224, 224}).value();
    std::mt19937 rng(3);
    std::normal_distribution<float> dist;
    for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = dist(rng);
    frame = MaskedRun::Of(static_cast<const uint8_t*>(x.raw()) + 1024);
    auto out = client->Infer({x});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
  }
  EXPECT_EQ(CountInHostMemory(frame, epc), 0) << "frame pixels left in host memory after process";
  EXPECT_EQ(CountInHostMemory(weights, epc), 0) << "weights left in host memory after process";

  // The scan finds what it looks for: a copy freed without wiping is seen.
  {
    std::vector<uint8_t> careless(4096);
    for (size_t i = 0; i < kRun; ++i) careless[100 + i] = weights.bytes[i] ^ kMask;
    EXPECT_GE(CountInHostMemory(weights, epc), 1);
  }
}

}  // namespace
}  // namespace serdab
