#include "cli/events/mqtt_publisher.h"

#include <mosquitto.h>

#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace serdab::events {
namespace {

// libmosquitto's process-wide state is set up once and never torn down:
// another publisher may connect at any time.
void InitLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

// A stream's name as one topic level: '/' would split it, '+' and '#' are
// wildcards a published topic must not hold.
std::string TopicLevel(const std::string& name) {
  std::string level = name;
  for (char& c : level) {
    if (c == '/' || c == '+' || c == '#') c = '_';
  }
  return level;
}

std::string Seconds(std::chrono::milliseconds d) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f s", static_cast<double>(d.count()) / 1000);
  return text;
}

Status CheckOptions(const MqttOptions& o) {
  if (o.topic_prefix.empty() || o.topic_prefix.find_first_of("+#") != std::string::npos) {
    return Status::InvalidArgument("the MQTT topic prefix '" + o.topic_prefix +
                                   "' must be non-empty and hold no '+' or '#'");
  }
  if (o.qos != 0 && o.qos != 1) {
    return Status::InvalidArgument("MQTT QoS must be 0 or 1 (got " + std::to_string(o.qos) + ")");
  }
  // libmosquitto refuses a keepalive under 5 s (other than 0, which would
  // leave a dead connection unnoticed).
  if (o.keepalive_seconds < 5 || o.keepalive_seconds > 65535) {
    return Status::InvalidArgument("the MQTT keepalive must be 5 to 65535 s (got " +
                                   std::to_string(o.keepalive_seconds) + ")");
  }
  if (o.reconnect_max_seconds < 1) {
    return Status::InvalidArgument("the MQTT reconnect delay must be at least 1 s (got " +
                                   std::to_string(o.reconnect_max_seconds) + ")");
  }
  if (o.connect_timeout.count() <= 0 || o.flush_timeout.count() < 0) {
    return Status::InvalidArgument(
        "the MQTT connect timeout must be positive and the flush timeout not negative");
  }
  if (o.max_inflight < 1 || o.max_inflight > 65535) {
    return Status::InvalidArgument("MQTT max_inflight must be 1 to 65535 (got " +
                                   std::to_string(o.max_inflight) + ")");
  }
  // Below the 65535 message ids, so that a waiting message keeps its own.
  if (o.max_queued < 1 || o.max_queued > 60000) {
    return Status::InvalidArgument("MQTT max_queued must be 1 to 60000 (got " +
                                   std::to_string(o.max_queued) + ")");
  }
  return Status::Ok();
}

}  // namespace

Result<MqttAddress> ParseMqttUrl(const std::string& url) {
  auto bad = [&url](const std::string& why) {
    return Status::InvalidArgument("bad MQTT URL '" + url + "': " + why +
                                   " (expected mqtt://HOST[:PORT])");
  };
  const std::string scheme = "mqtt://";
  if (url.rfind("mqtts://", 0) == 0) return bad("TLS (mqtts://) is not supported");
  if (url.rfind(scheme, 0) != 0) return bad("it does not start with mqtt://");
  std::string rest = url.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('@') != std::string::npos) {
    return bad("give the username and password as options, not in the URL");
  }
  if (rest.find_first_of("/?#") != std::string::npos) return bad("it has a path or query");

  MqttAddress address;
  std::string port;
  bool has_port = false;
  if (!rest.empty() && rest[0] == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) return bad("'[' without ']'");
    address.host = rest.substr(1, close - 1);
    const std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("text after ']' that is not :PORT");
      port = after.substr(1);
      has_port = true;
    }
  } else {
    const size_t colon = rest.find(':');
    if (colon != std::string::npos && rest.find(':', colon + 1) != std::string::npos) {
      return bad("an IPv6 address goes in brackets, as in mqtt://[::1]:1883");
    }
    address.host = rest.substr(0, colon);
    if (colon != std::string::npos) {
      port = rest.substr(colon + 1);
      has_port = true;
    }
  }
  if (address.host.empty()) return bad("no host");
  if (has_port) {
    int value = 0;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || error != std::errc() || end != port.data() + port.size() || value < 1 ||
        value > 65535) {
      return bad("the port '" + port + "' is not a number from 1 to 65535");
    }
    address.port = value;
  }
  return address;
}

struct MqttPublisher::Impl {
  // A class present in a stream, for its state message.
  struct Present {
    std::string label;
    int64_t since_frame = 0;
    double since_pts = 0;
  };

  MqttOptions options;
  std::string endpoint;  // HOST:PORT, for messages
  mosquitto* mosq = nullptr;
  bool loop_started = false;

  // Guards what follows; the network thread's callbacks take it too, so it
  // is never held while waiting for that thread.
  mutable std::mutex mutex;
  std::condition_variable changed;  // connection state or `pending`
  bool connected = false;
  int connack = -1;                   // the broker's answer to the first CONNECT; -1 none yet
  int last_error = MOSQ_ERR_SUCCESS;  // why a connection attempt failed
  int last_errno = 0;                 // when that was MOSQ_ERR_ERRNO
  bool closed = false;
  std::unordered_map<int, int> pending;  // message id -> QoS
  int64_t published = 0;
  int64_t dropped = 0;
  std::map<std::string, std::map<int, Present>> present;  // by stream, by class

  ~Impl() {
    Close();
    if (mosq != nullptr) mosquitto_destroy(mosq);
  }

  std::string LastError() const {
    if (last_error == MOSQ_ERR_ERRNO) return std::strerror(last_errno);
    return last_error == MOSQ_ERR_SUCCESS ? "" : mosquitto_strerror(last_error);
  }

  // The callbacks run on libmosquitto's network thread. They format nothing:
  // that thread may be cancelled at Close(), which only happens at a
  // cancellation point, none of them in here.
  static void OnConnect(mosquitto*, void* self, int rc) {
    Impl* impl = static_cast<Impl*>(self);
    std::lock_guard<std::mutex> lock(impl->mutex);
    if (impl->connack < 0) impl->connack = rc;
    impl->connected = rc == 0;
    impl->changed.notify_all();
  }

  static void OnDisconnect(mosquitto*, void* self, int rc) {
    const int error = errno;
    Impl* impl = static_cast<Impl*>(self);
    std::lock_guard<std::mutex> lock(impl->mutex);
    impl->connected = false;
    if (rc != MOSQ_ERR_SUCCESS) {
      impl->last_error = rc;
      impl->last_errno = error;
    }
    // QoS 0 messages not yet written went with the connection; QoS 1 ones
    // stay queued and are sent again after the reconnect.
    for (auto it = impl->pending.begin(); it != impl->pending.end();) {
      if (it->second == 0) {
        ++impl->dropped;
        it = impl->pending.erase(it);
      } else {
        ++it;
      }
    }
    impl->changed.notify_all();
  }

  static void OnPublish(mosquitto*, void* self, int mid) {
    Impl* impl = static_cast<Impl*>(self);
    std::lock_guard<std::mutex> lock(impl->mutex);
    if (impl->pending.erase(mid) > 0) ++impl->published;
    impl->changed.notify_all();
  }

  // Hands a message to libmosquitto, or counts it dropped. `mutex` held.
  void Send(const std::string& topic, const std::string& payload, bool retain) {
    if (closed || pending.size() >= static_cast<size_t>(options.max_queued)) {
      ++dropped;
      return;
    }
    int mid = 0;
    const int rc = mosquitto_publish(mosq, &mid, topic.c_str(), static_cast<int>(payload.size()),
                                     payload.data(), options.qos, retain);
    // Disconnected, libmosquitto keeps a QoS 1 message queued (and says
    // MOSQ_ERR_NO_CONN); a QoS 0 one is gone.
    if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && options.qos == 1)) {
      pending.emplace(mid, options.qos);
    } else {
      ++dropped;
    }
  }

  nlohmann::json State(const ClassEvent& event) const {
    nlohmann::json classes = nlohmann::json::array();
    const auto stream = present.find(event.stream);
    if (stream != present.end()) {
      for (const auto& [id, p] : stream->second) {
        nlohmann::json entry = {{"class", id}};
        if (!p.label.empty()) entry["label"] = p.label;
        entry["since_frame"] = p.since_frame;
        entry["since_pts"] = p.since_pts;
        classes.push_back(std::move(entry));
      }
    }
    return {{"stream", event.stream},
            {"frame", event.frame},
            {"pts", event.pts_seconds},
            {"classes", std::move(classes)}};
  }

  void Close() {
    {
      std::unique_lock<std::mutex> lock(mutex);
      if (closed) return;
      closed = true;
      changed.wait_for(lock, options.flush_timeout, [this] { return pending.empty(); });
      dropped += static_cast<int64_t>(pending.size());
      pending.clear();
    }
    if (!loop_started) return;
    if (mosquitto_disconnect(mosq) == MOSQ_ERR_SUCCESS) {
      // The network thread sends the DISCONNECT, so that the broker sees a
      // goodbye rather than a lost connection.
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait_for(lock, std::chrono::seconds(1), [this] { return !connected; });
    }
    // Forced: the thread may be asleep between reconnects, or in a blocking
    // connect to an unreachable host, for far longer than a Close() should
    // take. mosquitto_destroy() stops it the same way.
    mosquitto_loop_stop(mosq, true);
    loop_started = false;
    std::lock_guard<std::mutex> lock(mutex);
    connected = false;
  }
};

MqttPublisher::MqttPublisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MqttPublisher::~MqttPublisher() = default;

Result<std::unique_ptr<MqttPublisher>> MqttPublisher::Connect(const MqttOptions& options) {
  SERDAB_ASSIGN_OR_RETURN(const MqttAddress address, ParseMqttUrl(options.url));
  SERDAB_RETURN_IF_ERROR(CheckOptions(options));
  InitLibraryOnce();

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->endpoint =
      (address.host.find(':') != std::string::npos ? "[" + address.host + "]" : address.host) +
      ":" + std::to_string(address.port);
  const std::string& endpoint = impl->endpoint;
  impl->mosq = mosquitto_new(options.client_id.empty() ? nullptr : options.client_id.c_str(),
                             /*clean_session=*/true, impl.get());
  if (impl->mosq == nullptr) {
    return Status::InvalidArgument("cannot make an MQTT client with id '" + options.client_id +
                                   "': " + std::strerror(errno));
  }
  mosquitto* mosq = impl->mosq;
  if (!options.username.empty()) {
    const int rc =
        mosquitto_username_pw_set(mosq, options.username.c_str(),
                                  options.password.empty() ? nullptr : options.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) {
      return Status::InvalidArgument("the MQTT username is not valid: " +
                                     std::string(mosquitto_strerror(rc)));
    }
  }
  mosquitto_reconnect_delay_set(mosq, 1, static_cast<unsigned>(options.reconnect_max_seconds),
                                /*exponential_backoff=*/true);
  mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, options.max_inflight);
  // Events are small and wanted now, not batched by Nagle's algorithm.
  mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_connect_callback_set(mosq, &Impl::OnConnect);
  mosquitto_disconnect_callback_set(mosq, &Impl::OnDisconnect);
  mosquitto_publish_callback_set(mosq, &Impl::OnPublish);

  // Non-blocking; a refused first attempt is retried by the network thread
  // until the timeout, in case the broker is still starting.
  const int rc =
      mosquitto_connect_async(mosq, address.host.c_str(), address.port, options.keepalive_seconds);
  if (rc == MOSQ_ERR_EAI) {
    return Status::IoError("cannot resolve the host of the MQTT broker " + endpoint +
                           ": check the name in the URL");
  }
  if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO) {
    return Status::IoError("cannot connect to the MQTT broker at " + endpoint + ": " +
                           mosquitto_strerror(rc));
  }
  if (rc == MOSQ_ERR_ERRNO) {
    impl->last_error = rc;
    impl->last_errno = errno;
  }
  const int loop_rc = mosquitto_loop_start(mosq);
  if (loop_rc != MOSQ_ERR_SUCCESS) {
    return Status::Internal("cannot start the MQTT network thread: " +
                            std::string(mosquitto_strerror(loop_rc)));
  }
  impl->loop_started = true;

  int connack = -1;
  std::string last_error;
  {
    std::unique_lock<std::mutex> lock(impl->mutex);
    impl->changed.wait_for(lock, options.connect_timeout, [&impl] { return impl->connack >= 0; });
    connack = impl->connack;
    last_error = impl->LastError();
  }
  if (connack == 0) return std::unique_ptr<MqttPublisher>(new MqttPublisher(std::move(impl)));
  // 4 and 5 are MQTT 3.1.1's "bad user name or password" and "not
  // authorized" (mosquitto answers the latter to a wrong password).
  if (connack == 4 || connack == 5) {
    return Status::PermissionDenied("the MQTT broker at " + endpoint + " refused the connection (" +
                                    mosquitto_connack_string(connack) +
                                    "); check the MQTT username and password");
  }
  if (connack > 0) {
    return Status::IoError("the MQTT broker at " + endpoint +
                           " refused the connection: " + mosquitto_connack_string(connack));
  }
  return Status::IoError("no MQTT broker answered at " + endpoint + " within " +
                         Seconds(options.connect_timeout) +
                         (last_error.empty() ? "" : " (" + last_error + ")") +
                         "; check that the broker runs and the URL is right");
}

void MqttPublisher::Publish(const ClassEvent& event) {
  const std::string payload = ToJson(event).dump();
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->Send(EventsTopic(event.stream), payload, /*retain=*/false);
  if (!impl_->options.publish_state) return;
  std::map<int, Impl::Present>& classes = impl_->present[event.stream];
  if (event.kind == ClassEvent::kAppeared) {
    classes[event.class_id] = {event.label, event.frame, event.pts_seconds};
  } else {
    classes.erase(event.class_id);
  }
  // Retained: the broker hands the latest to whoever subscribes later.
  impl_->Send(StateTopic(event.stream), impl_->State(event).dump(), /*retain=*/true);
}

std::string MqttPublisher::EventsTopic(const std::string& stream) const {
  return impl_->options.topic_prefix + "/" + TopicLevel(stream) + "/events";
}

std::string MqttPublisher::StateTopic(const std::string& stream) const {
  return impl_->options.topic_prefix + "/" + TopicLevel(stream) + "/state";
}

MqttCounters MqttPublisher::counters() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return {impl_->published, static_cast<int64_t>(impl_->pending.size()), impl_->dropped};
}

bool MqttPublisher::connected() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->connected;
}

void MqttPublisher::Close() { impl_->Close(); }

}  // namespace serdab::events
