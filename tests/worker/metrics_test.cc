// The metrics registry's exposition text, label escaping, name checks,
// concurrent updates and summary quantiles; and the HTTP endpoint, scraped
// over real HTTP on a free loopback port and, where promtool is installed
// (Debian's prometheus package), checked by `promtool check metrics`.
#include "worker/metrics.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "worker/metrics_server.h"

namespace serdab::metrics {
namespace {

TEST(MetricsTest, ExpositionTextIsExact) {
  Registry registry;
  auto frames = registry.AddCounter("serdab_frames_total", "Frames a stage handled.",
                                    {"stream", "stage", "outcome"});
  ASSERT_TRUE(frames.ok()) << frames.status().message();
  (*frames)->Series({"cam1", "0", "in"}).value()->Increment(3);
  (*frames)->Series({"cam1", "0", "dropped"}).value()->Increment();
  auto depth = registry.AddGauge("serdab_queue_depth", "Frames waiting.");
  ASSERT_TRUE(depth.ok());
  (*depth)->Series({}).value()->Set(2.5);
  auto latency = registry.AddSummary("serdab_latency_seconds", "Frame latency.", {"stream"},
                                     {.window = 4, .quantiles = {0.5, 0.99}});
  ASSERT_TRUE(latency.ok());
  Summary* cam1 = (*latency)->Series({"cam1"}).value();
  for (double v : {0.25, 0.5, 0.125, 1.0}) cam1->Observe(v);

  EXPECT_EQ(registry.Render(),
            "# HELP serdab_frames_total Frames a stage handled.\n"
            "# TYPE serdab_frames_total counter\n"
            "serdab_frames_total{stream=\"cam1\",stage=\"0\",outcome=\"dropped\"} 1\n"
            "serdab_frames_total{stream=\"cam1\",stage=\"0\",outcome=\"in\"} 3\n"
            "# HELP serdab_queue_depth Frames waiting.\n"
            "# TYPE serdab_queue_depth gauge\n"
            "serdab_queue_depth 2.5\n"
            "# HELP serdab_latency_seconds Frame latency.\n"
            "# TYPE serdab_latency_seconds summary\n"
            "serdab_latency_seconds{stream=\"cam1\",quantile=\"0.5\"} 0.25\n"
            "serdab_latency_seconds{stream=\"cam1\",quantile=\"0.99\"} 1\n"
            "serdab_latency_seconds_sum{stream=\"cam1\"} 1.875\n"
            "serdab_latency_seconds_count{stream=\"cam1\"} 4\n");
}

TEST(MetricsTest, UnlabelledSeriesAreExportedBeforeTheirFirstUpdate) {
  Registry registry;
  ASSERT_TRUE(registry.AddCounter("a_total", "A.").ok());
  EXPECT_EQ(registry.Render(), "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n");
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  Registry registry;
  auto family = registry.AddGauge("g", "line one\nback\\slash \"quoted\"", {"path"});
  ASSERT_TRUE(family.ok());
  (*family)->Series({"C:\\dir\n\"x\""}).value()->Set(1);
  EXPECT_EQ(registry.Render(),
            "# HELP g line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(MetricsTest, ValuesAreWrittenAsPrometheusReadsThem) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(NAN), "NaN");
}

TEST(MetricsTest, NamesAreChecked) {
  EXPECT_TRUE(ValidMetricName("serdab:frames_total"));
  EXPECT_FALSE(ValidMetricName("9lives"));
  EXPECT_FALSE(ValidMetricName("frames-total"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_TRUE(ValidLabelName("_stage2"));
  EXPECT_FALSE(ValidLabelName("__reserved"));
  EXPECT_FALSE(ValidLabelName("a:b"));

  Registry registry;
  EXPECT_EQ(registry.AddCounter("bad name", "").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("c_total", "", {"a", "a"}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("c_total", "", {"__x"}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(registry.AddSummary("s", "", {"quantile"}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(registry.AddSummary("s", "", {}, {.window = 8, .quantiles = {1.5}}).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(MetricsTest, RegisteringAgainSharesTheFamilyOrFailsOnAConflict) {
  Registry registry;
  auto first = registry.AddCounter("x_total", "X.", {"a"});
  auto again = registry.AddCounter("x_total", "X.", {"a"});
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(*first, *again);
  EXPECT_FALSE(registry.AddGauge("x_total", "X.", {"a"}).ok());
  EXPECT_FALSE(registry.AddCounter("x_total", "X.", {"b"}).ok());
  // A series is one object however often it is asked for.
  EXPECT_EQ((*first)->Series({"1"}).value(), (*first)->Series({"1"}).value());
  EXPECT_EQ((*first)->Series({"1", "2"}).status().code(), Status::Code::kInvalidArgument);
}

TEST(MetricsTest, ConcurrentIncrementsAddUp) {
  Registry registry;
  auto family = registry.AddCounter("hits_total", "Hits.", {"thread_group"});
  auto gauge = registry.AddGauge("level", "Level.");
  auto latency = registry.AddSummary("lat_seconds", "Latency.");
  ASSERT_TRUE(family.ok() && gauge.ok() && latency.ok());
  constexpr int kThreads = 8;
  constexpr int kIncrements = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads share one series, looked up concurrently.
      Counter* counter = (*family)->Series({t % 2 == 0 ? "even" : "odd"}).value();
      Gauge* level = (*gauge)->Series({}).value();
      Summary* summary = (*latency)->Series({}).value();
      for (int i = 0; i < kIncrements; ++i) {
        counter->Increment();
        level->Add(1);
        summary->Observe(1);
      }
    });
  }
  // Scrapes while updates run must not disturb them.
  for (int i = 0; i < 10; ++i) registry.Render();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ((*family)->Series({"even"}).value()->Value(), kThreads / 2 * kIncrements);
  EXPECT_EQ((*family)->Series({"odd"}).value()->Value(), kThreads / 2 * kIncrements);
  EXPECT_EQ((*gauge)->Series({}).value()->Value(), kThreads * kIncrements);
  const Summary::Snapshot s = (*latency)->Series({}).value()->Read({0.5});
  EXPECT_EQ(s.count, uint64_t{kThreads * kIncrements});
  EXPECT_EQ(s.sum, kThreads * kIncrements);
}

TEST(MetricsTest, CountersNeverGoDown) {
  Counter counter;
  counter.Increment(2);
  counter.Increment(-1);
  EXPECT_EQ(counter.Value(), 2);
}

TEST(MetricsTest, QuantilesAreNearestRankOverTheWindow) {
  std::vector<double> values(100);
  std::iota(values.begin(), values.end(), 1.0);
  std::shuffle(values.begin(), values.end(), std::mt19937(7));
  Summary all({.window = 100, .quantiles = {}});
  EXPECT_TRUE(std::isnan(all.Quantile(0.5)));
  for (double v : values) all.Observe(v);
  EXPECT_EQ(all.Quantile(0.5), 50);
  EXPECT_EQ(all.Quantile(0.99), 99);
  EXPECT_EQ(all.Quantile(0.995), 100);
  EXPECT_EQ(all.Quantile(0), 1);
  EXPECT_EQ(all.Quantile(1), 100);

  // A window of 10 sees only the last ten observations (91..100); count and
  // sum still cover every one.
  Summary recent({.window = 10, .quantiles = {}});
  for (int v = 1; v <= 100; ++v) recent.Observe(v);
  const Summary::Snapshot s = recent.Read({0.5, 0.99, 0});
  EXPECT_EQ(s.quantiles, (std::vector<double>{95, 100, 91}));
  EXPECT_EQ(s.count, 100u);
  EXPECT_EQ(s.sum, 5050);
}

TEST(MetricsTest, CollectorsAddSamplesAtScrapeTime) {
  Registry registry;
  ASSERT_TRUE(registry.AddCounter("own_total", "Own.").ok());
  int scrapes = 0;
  registry.AddCollector([&](Collection* c) {
    ++scrapes;
    for (const char* enclave : {"e1", "e2"}) {
      EXPECT_TRUE(
          c->Add(MetricType::kCounter, "ecalls_total", "ECALLs.", {{"enclave", enclave}}, scrapes)
              .ok());
    }
    // A clash with a registered family, or a redeclaration with other
    // labels, is refused rather than rendered twice.
    EXPECT_FALSE(c->Add(MetricType::kGauge, "own_total", "Own.", {}, 1).ok());
    EXPECT_FALSE(c->Add(MetricType::kCounter, "ecalls_total", "ECALLs.", {{"x", "1"}}, 1).ok());
    EXPECT_FALSE(c->Add(MetricType::kGauge, "bad-name", "", {}, 1).ok());
  });
  registry.Render();
  EXPECT_EQ(registry.Render(),
            "# HELP own_total Own.\n# TYPE own_total counter\nown_total 0\n"
            "# HELP ecalls_total ECALLs.\n# TYPE ecalls_total counter\n"
            "ecalls_total{enclave=\"e1\"} 2\necalls_total{enclave=\"e2\"} 2\n");
}

// Where promtool is installed, the exit status of `promtool check metrics`
// on `text` and what it said; skipped (nullopt) where it is not.
std::optional<std::pair<int, std::string>> PromtoolCheck(const std::string& text) {
  if (::access("/usr/bin/promtool", X_OK) != 0) return std::nullopt;
  const std::filesystem::path dir = std::filesystem::temp_directory_path();
  const std::string in = (dir / ("metrics_test_" + std::to_string(::getpid()) + ".txt")).string();
  const std::string out = in + ".out";
  std::ofstream(in) << text;
  const int status = std::system(
      ("timeout 30 /usr/bin/promtool check metrics < " + in + " > " + out + " 2>&1").c_str());
  std::ifstream said(out);
  std::string message((std::istreambuf_iterator<char>(said)), std::istreambuf_iterator<char>());
  std::filesystem::remove(in);
  std::filesystem::remove(out);
  return std::make_pair(WEXITSTATUS(status), message);
}

TEST(MetricsServerTest, ServesTheRegistryOverHttp) {
  Registry registry;
  auto frames = registry.AddCounter("serdab_frames_total", "Frames a stage handled.",
                                    {"stream", "stage", "outcome"});
  ASSERT_TRUE(frames.ok());
  (*frames)->Series({"front \"door\"", "0", "in"}).value()->Increment(7);
  auto latency = registry.AddSummary("serdab_frame_latency_seconds", "Frame latency.", {"stream"});
  ASSERT_TRUE(latency.ok());
  for (int i = 1; i <= 10; ++i) (*latency)->Series({"cam1"}).value()->Observe(i / 100.0);
  registry.AddCollector([](Collection* c) {
    c->Add(MetricType::kGauge, "serdab_enclave_resident_pages", "Resident EPC pages.",
           {{"enclave", "e1"}}, 12);
  });

  MetricsServer server(&registry);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  ASSERT_GT(server.port(), 0);

  httplib::Client client("127.0.0.1", server.port());
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  auto response = client.Get("/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Type"), kExpositionContentType);
  EXPECT_EQ(response->body, registry.Render());
  EXPECT_NE(response->body.find("serdab_frames_total{stream=\"front \\\"door\\\"\",stage=\"0\","
                                "outcome=\"in\"} 7\n"),
            std::string::npos);
  EXPECT_NE(response->body.find("serdab_enclave_resident_pages{enclave=\"e1\"} 12\n"),
            std::string::npos);
  auto other = client.Get("/");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);

  if (auto checked = PromtoolCheck(response->body)) {
    EXPECT_EQ(checked->first, 0) << checked->second << "\n" << response->body;
  }

  const auto before = std::chrono::steady_clock::now();
  server.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(3));
  EXPECT_FALSE(httplib::Client("127.0.0.1", server.port()).Get("/metrics"));
}

TEST(MetricsServerTest, BadAddressesAndBusyPortsAreRefusedClearly) {
  Registry registry;
  MetricsServer first(&registry);
  ASSERT_TRUE(first.Start("127.0.0.1:0").ok());

  MetricsServer second(&registry);
  const Status busy = second.Start("127.0.0.1:" + std::to_string(first.port()));
  EXPECT_EQ(busy.code(), Status::Code::kIoError);
  EXPECT_NE(busy.message().find("in use"), std::string::npos) << busy.message();

  for (const char* bad : {"9464", ":9464", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000"}) {
    const Status s = second.Start(bad);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find(bad), std::string::npos) << s.message();
  }
  EXPECT_FALSE(second.Start("192.0.2.1:0").ok());  // TEST-NET-1: not this machine's
  EXPECT_TRUE(second.Start("[::1]:0").ok() || second.Start("localhost:0").ok());
}

}  // namespace
}  // namespace serdab::metrics
