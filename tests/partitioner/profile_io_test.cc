#include "partitioner/profile_io.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>

#include "tests/partitioner/test_profiles.h"

namespace serdab::partitioner {
namespace {

ModelProfile SampleModel() {
  ModelProfile model = testing::UniformModel(3, 1.0 / 3, 1234567, 89, 42);
  model.name = "vgg-ish";
  model.sha256 = "0123abcd";
  model.target = "sgx1";
  model.layers[2].native_ms = 0.1;
  model.layers[1].enclave_wall_ms = 2.0 / 3;
  model.layers[2].streamable_weight_bytes = 1048576;
  model.cut_bytes[0] = 602112;
  return model;
}

Cluster SampleCluster() {
  Cluster cluster;
  cluster.client = "camera";
  cluster.default_link = DefaultLink{1.25e8, 0.7};
  WorkerProfile edge = testing::Enclave("edge-1", 98041856);
  edge.target = "sgx1";
  edge.page_swap_ns = 40000.5;
  edge.ecall_ns = 8000;
  edge.aead_bytes_per_s = 2.1e9;
  edge.threads = 4;
  edge.runtime_bytes = 4194304;
  edge.layer_ms = {0.1, 0.2, 1.0 / 7};
  cluster.workers = {edge, testing::Accelerator("gpu", 12.5)};
  cluster.links = {{"edge-1", "gpu", 1.25e7, 20}, {"camera", "edge-1", 1e8, 0.25}};
  return cluster;
}

TEST(ProfileIoTest, ModelRoundTripsExactly) {
  const ModelProfile model = SampleModel();
  Result<ModelProfile> back = ParseModelProfile(ModelProfileToYaml(model), "m.yaml");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->name, model.name);
  EXPECT_EQ(back->sha256, model.sha256);
  EXPECT_EQ(back->target, "sgx1");
  ASSERT_EQ(back->layers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back->layers[i].name, model.layers[i].name);
    EXPECT_EQ(back->layers[i].enclave_ms, model.layers[i].enclave_ms);
    EXPECT_EQ(back->layers[i].enclave_wall_ms, model.layers[i].enclave_wall_ms);
    EXPECT_EQ(back->layers[i].native_ms, model.layers[i].native_ms);
    EXPECT_EQ(back->layers[i].weight_bytes, model.layers[i].weight_bytes);
    EXPECT_EQ(back->layers[i].streamable_weight_bytes, model.layers[i].streamable_weight_bytes);
    EXPECT_EQ(back->layers[i].activation_bytes, model.layers[i].activation_bytes);
  }
  EXPECT_EQ(back->cut_bytes, model.cut_bytes);
}

// Profiles from before streaming have no streamable_weight_bytes: they read as 0, and a
// profile without streamable layers is written without the field.
TEST(ProfileIoTest, StreamableWeightBytesAreOptional) {
  const char* old_profile =
      "model: m\n"
      "layers:\n"
      "  - {name: a, enclave_ms: 1, native_ms: 1, weight_bytes: 4096, activation_bytes: 0}\n"
      "cut_bytes: [0, 0]\n";
  Result<ModelProfile> model = ParseModelProfile(old_profile, "m.yaml");
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ(model->layers[0].streamable_weight_bytes, 0);
  EXPECT_EQ(ModelProfileToYaml(*model).find("streamable"), std::string::npos);

  const char* negative =
      "model: m\n"
      "layers:\n"
      "  - {name: a, enclave_ms: 1, native_ms: 1, weight_bytes: 4096,\n"
      "     streamable_weight_bytes: -1, activation_bytes: 0}\n"
      "cut_bytes: [0, 0]\n";
  EXPECT_EQ(ParseModelProfile(negative, "m.yaml").status().message(),
            "m.yaml:4:31: field 'layers[0].streamable_weight_bytes': expected a byte count from 0 "
            "to 2^50, got '-1'");
}

TEST(ProfileIoTest, ClusterRoundTripsThroughAFile) {
  const Cluster cluster = SampleCluster();
  const std::string path =
      (std::filesystem::temp_directory_path() / "serdab_cluster_test.yaml").string();
  ASSERT_TRUE(SaveCluster(cluster, path).ok());
  Result<Cluster> back = LoadCluster(path);
  std::remove(path.c_str());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->client, "camera");
  ASSERT_TRUE(back->default_link);
  EXPECT_EQ(back->default_link->rtt_ms, 0.7);
  ASSERT_EQ(back->workers.size(), 2u);
  const WorkerProfile& edge = back->workers[0];
  EXPECT_EQ(edge.kind, WorkerKind::kEnclave);
  EXPECT_EQ(edge.target, "sgx1");
  EXPECT_EQ(edge.epc_bytes, 98041856);
  EXPECT_EQ(edge.page_swap_ns, 40000.5);
  EXPECT_EQ(edge.aead_bytes_per_s, 2.1e9);
  EXPECT_EQ(edge.threads, 4);
  EXPECT_EQ(edge.runtime_bytes, 4194304);
  EXPECT_EQ(back->workers[1].runtime_bytes, 0);
  EXPECT_EQ(edge.layer_ms, cluster.workers[0].layer_ms);
  EXPECT_EQ(back->workers[1].kind, WorkerKind::kAccelerator);
  EXPECT_TRUE(back->workers[1].target.empty());
  EXPECT_EQ(back->workers[1].speed_factor, 12.5);
  ASSERT_EQ(back->links.size(), 2u);
  EXPECT_EQ(back->links[1].from, "camera");
  EXPECT_EQ(back->links[0].bandwidth_bytes_per_s, 1.25e7);
}

TEST(ProfileIoTest, ErrorsNameFileLineAndField) {
  const char* bad_type =
      "model: m\n"
      "layers:\n"
      "  - {name: a, enclave_ms: 1, native_ms: 1, weight_bytes: lots, activation_bytes: 0}\n"
      "cut_bytes: [0, 0]\n";
  EXPECT_EQ(ParseModelProfile(bad_type, "m.yaml").status().message(),
            "m.yaml:3:58: field 'layers[0].weight_bytes': expected an integer, got 'lots'");

  const char* missing =
      "model: m\n"
      "layers:\n"
      "  - {name: a, enclave_ms: 1, weight_bytes: 0, activation_bytes: 0}\n"
      "cut_bytes: [0, 0]\n";
  EXPECT_EQ(ParseModelProfile(missing, "m.yaml").status().message(),
            "m.yaml:3:5: field 'layers[0].native_ms': missing");

  const char* cuts =
      "model: m\n"
      "layers: []\n"
      "cut_bytes: [0, 0]\n";
  EXPECT_EQ(ParseModelProfile(cuts, "m.yaml").status().message(),
            "m.yaml:3:12: field 'cut_bytes': expected 1 entries (one per cut, layers + 1), got 2");

  const char* typo =
      "workers:\n"
      "  - name: e\n"
      "    kind: enclave\n"
      "    epc: 1000\n";
  const std::string message = ParseCluster(typo, "c.yaml").status().message();
  EXPECT_EQ(message.rfind("c.yaml:4:5: field 'workers[0].epc': unknown field (expected one of: "
                          "name, fingerprint, kind,",
                          0),
            0u)
      << message;

  const char* kind =
      "workers:\n"
      "  - {name: e, kind: tpu, aead_bytes_per_s: 1}\n";
  EXPECT_EQ(ParseCluster(kind, "c.yaml").status().message(),
            "c.yaml:2:21: field 'workers[0].kind': unknown worker kind 'tpu' (expected enclave, "
            "accelerator or native)");

  EXPECT_EQ(ParseCluster("workers: [\n", "c.yaml").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(LoadCluster("/nonexistent/c.yaml").status().code(), Status::Code::kIoError);
}

// Every number in a profile or cluster file is range-checked where it is read,
// so that the error can say where it is.
TEST(ProfileIoTest, RefusesOutOfRangeNumbersWithTheirPosition) {
  auto worker_error = [](const std::string& fields) {
    return ParseCluster("workers:\n  - {name: e, kind: enclave, " + fields + "}\n", "c.yaml")
        .status()
        .message();
  };
  const std::string ok = "epc_bytes: 1000, page_swap_ns: 1, ecall_ns: 1, aead_bytes_per_s: 1e9";
  EXPECT_EQ(worker_error(ok + ", threads: 1024, speed_factor: 0.5, layer_ms: [0, 2]"), "");
  EXPECT_EQ(worker_error(ok + ", threads: -3"),
            "c.yaml:2:109: field 'workers[0].threads': expected an integer from 1 to 1024, got "
            "'-3'");

  const std::pair<std::string, std::string> bad[] = {
      {ok + ", threads: 0", "'workers[0].threads': expected an integer from 1 to 1024"},
      {ok + ", threads: 1025", "'workers[0].threads'"},
      {ok + ", speed_factor: 0", "'workers[0].speed_factor': expected a finite number > 0"},
      {ok + ", speed_factor: .nan", "'workers[0].speed_factor'"},
      {ok + ", layer_ms: [1, -0.5]", "'workers[0].layer_ms[1]': expected a finite number >= 0"},
      {"epc_bytes: 0, page_swap_ns: 1, ecall_ns: 1, aead_bytes_per_s: 1e9",
       "'workers[0].epc_bytes': expected a byte count from 1 to 2^50"},
      {"epc_bytes: -1, page_swap_ns: 1, ecall_ns: 1, aead_bytes_per_s: 1e9",
       "'workers[0].epc_bytes'"},
      {"epc_bytes: 9000000000000000000, page_swap_ns: 1, ecall_ns: 1, aead_bytes_per_s: 1e9",
       "'workers[0].epc_bytes'"},
      {"epc_bytes: 1000, page_swap_ns: -1, ecall_ns: 1, aead_bytes_per_s: 1e9",
       "'workers[0].page_swap_ns': expected a finite number >= 0"},
      {"epc_bytes: 1000, page_swap_ns: 1, ecall_ns: .inf, aead_bytes_per_s: 1e9",
       "'workers[0].ecall_ns'"},
      {"epc_bytes: 1000, page_swap_ns: 1, ecall_ns: 1, aead_bytes_per_s: 0",
       "'workers[0].aead_bytes_per_s': expected a finite number > 0"},
  };
  for (const auto& [fields, expected] : bad) {
    const std::string message = worker_error(fields);
    EXPECT_EQ(message.rfind("c.yaml:2:", 0), 0u) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  }

  const std::string two_workers =
      "workers:\n"
      "  - {name: a, kind: native, aead_bytes_per_s: 1e9}\n"
      "  - {name: b, kind: native, aead_bytes_per_s: 1e9}\n";
  EXPECT_EQ(ParseCluster(two_workers +
                             "links:\n  - {from: a, to: b, bandwidth_bytes_per_s: -5, rtt_ms: 1}\n",
                         "c.yaml")
                .status()
                .message(),
            "c.yaml:5:45: field 'links[0].bandwidth_bytes_per_s': expected a finite number > 0, "
            "got '-5'");
  EXPECT_EQ(ParseCluster(two_workers +
                             "links:\n  - {from: a, to: b, bandwidth_bytes_per_s: 1, rtt_ms: -1}\n",
                         "c.yaml")
                .status()
                .message(),
            "c.yaml:5:56: field 'links[0].rtt_ms': expected a finite number >= 0, got '-1'");
  EXPECT_EQ(
      ParseCluster(two_workers + "default_link: {bandwidth_bytes_per_s: 0, rtt_ms: 1}\n", "c.yaml")
          .status()
          .message(),
      "c.yaml:4:39: field 'default_link.bandwidth_bytes_per_s': expected a finite number "
      "> 0, got '0'");

  const char* model =
      "model: m\n"
      "layers:\n"
      "  - {name: a, enclave_ms: -1, native_ms: 1, weight_bytes: 0, activation_bytes: 0}\n"
      "cut_bytes: [0, 0]\n";
  EXPECT_EQ(ParseModelProfile(model, "m.yaml").status().message(),
            "m.yaml:3:27: field 'layers[0].enclave_ms': expected a finite number >= 0, got '-1'");
  const char* cuts =
      "model: m\n"
      "layers:\n"
      "  - {name: a, enclave_ms: 1, native_ms: 1, weight_bytes: 0, activation_bytes: 0}\n"
      "cut_bytes: [0, -4]\n";
  EXPECT_EQ(ParseModelProfile(cuts, "m.yaml").status().message(),
            "m.yaml:4:16: field 'cut_bytes[1]': expected a byte count from 0 to 2^50, got '-4'");
}

TEST(ProfileIoTest, AcceleratorsNeedNoEnclaveFields) {
  const char* yaml =
      "workers:\n"
      "  - {name: gpu, kind: accelerator, aead_bytes_per_s: 4.0e9, speed_factor: 20}\n";
  Result<Cluster> cluster = ParseCluster(yaml, "c.yaml");
  ASSERT_TRUE(cluster.ok()) << cluster.status().message();
  EXPECT_EQ(cluster->workers[0].speed_factor, 20);
  EXPECT_FALSE(cluster->default_link);
}

}  // namespace
}  // namespace serdab::partitioner
