#include "worker/rpc_metrics.h"

#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace serdab::worker {
namespace {

using Clock = std::chrono::steady_clock;

// gRPC's status codes by number, as grpc_status_code_to_string would name
// them; the label values a dashboard filters on.
constexpr std::array<const char*, 17> kCodeNames = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

// One method's series, looked up once per method name and then reused, so
// that a call costs a map lookup without allocation, not a label-set build.
struct MethodSeries {
  std::string service;  // "serdab.v1.Worker"
  std::string method;   // "Process"
  metrics::Summary* duration = nullptr;
  std::array<metrics::Counter*, kCodeNames.size()> calls{};
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  Factory(metrics::Family<metrics::Counter>* calls, metrics::Family<metrics::Summary>* durations)
      : calls_(calls), durations_(durations) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

  // The counter and summary of `method` ("/package.Service/Method") for
  // `code`; null when the method name has no service part.
  std::pair<metrics::Counter*, metrics::Summary*> SeriesFor(std::string_view method, int code) {
    const size_t slash = method.rfind('/');
    if (method.size() < 2 || method[0] != '/' || slash == 0) return {nullptr, nullptr};
    if (code < 0 || code >= static_cast<int>(kCodeNames.size())) code = 2;  // UNKNOWN
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_method_.find(method);
    if (it == by_method_.end()) {
      MethodSeries series;
      series.service = method.substr(1, slash - 1);
      series.method = method.substr(slash + 1);
      series.duration = durations_->Series({series.service, series.method}).value();
      it = by_method_.emplace(std::string(method), std::move(series)).first;
    }
    MethodSeries& series = it->second;
    if (series.calls[code] == nullptr) {
      series.calls[code] =
          calls_->Series({series.service, series.method, kCodeNames[code]}).value();
    }
    return {series.calls[code], series.duration};
  }

 private:
  metrics::Family<metrics::Counter>* calls_;
  metrics::Family<metrics::Summary>* durations_;
  std::mutex mu_;
  std::map<std::string, MethodSeries, std::less<>> by_method_;
};

// One per call: created as the call starts, records it as its status goes
// out.
class Interceptor final : public grpc::experimental::Interceptor {
 public:
  Interceptor(Factory* factory, const char* method)
      : factory_(factory), method_(method == nullptr ? "" : method), start_(Clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const auto [counter, duration] =
          factory_->SeriesFor(method_, static_cast<int>(methods->GetSendStatus().error_code()));
      if (counter != nullptr) {
        counter->Increment();
        duration->Observe(std::chrono::duration<double>(Clock::now() - start_).count());
      }
    }
    methods->Proceed();
  }

 private:
  Factory* factory_;
  std::string_view method_;
  Clock::time_point start_;
};

grpc::experimental::Interceptor* Factory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  // Not the data plane's Pipe: while a call has an interceptor, gRPC sends
  // every message's completion through the completion queue twice (it
  // resumes the batch with an empty one once the interceptors ran), which
  // for a stream of frames is a thread hand-off per message. A pipe lives
  // as long as its client, and its frames have counters of their own.
  if (info->type() == grpc::experimental::ServerRpcInfo::Type::BIDI_STREAMING) return nullptr;
  return new Interceptor(this, info->method());
}

}  // namespace

Result<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
MakeRpcMetricsInterceptor(metrics::Registry* registry) {
  SERDAB_ASSIGN_OR_RETURN(
      metrics::Family<metrics::Counter> * calls,
      registry->AddCounter("serdab_rpcs_total", "gRPC calls this daemon served, by status code.",
                           {"service", "method", "code"}));
  SERDAB_ASSIGN_OR_RETURN(
      metrics::Family<metrics::Summary> * durations,
      registry->AddSummary("serdab_rpc_duration_seconds",
                           "Time to serve a gRPC call, over the most recent calls.",
                           {"service", "method"}));
  return std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>(
      std::make_unique<Factory>(calls, durations));
}

}  // namespace serdab::worker
