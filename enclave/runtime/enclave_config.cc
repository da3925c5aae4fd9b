#include "enclave/runtime/enclave_config.h"

#include <charconv>
#include <cstdio>

namespace serdab::enclave {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

Result<EnclaveConfig> EnclaveConfig::Parse(std::string_view text) {
  EnclaveConfig config;
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = Trim(line);
    if (line.empty()) continue;
    const std::string where = "enclave config line " + std::to_string(line_no);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument(where + ": expected 'key = value', got '" + std::string(line) +
                                     "'");
    }
    const std::string key(Trim(line.substr(0, eq)));
    const std::string value(Trim(line.substr(eq + 1)));
    auto bad = [&](const char* expected) {
      return Status::InvalidArgument(where + ": " + key + " = '" + value + "': expected " +
                                     expected);
    };
    if (key == "epc_mib" || key == "heap_mib") {
      double v = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || end != value.data() + value.size() || !(v > 0)) {
        return bad("a positive number of MiB");
      }
      (key == "epc_mib" ? config.epc_mib : config.heap_mib) = v;
    } else if (key == "cost_profile") {
      if (value != "sgx1" && value != "none") return bad("sgx1 or none");
      config.cost_profile = value;
    } else if (key == "isv_svn") {
      unsigned v = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || end != value.data() + value.size() || v > 65535) {
        return bad("an integer in [0, 65535]");
      }
      config.isv_svn = static_cast<uint16_t>(v);
    } else if (key == "debug") {
      if (value != "true" && value != "false") return bad("true or false");
      config.debug = value == "true";
    } else if (key == "peer_root") {
      Result<crypto::Bytes> raw = crypto::HexDecode(value);
      if (!raw.ok() || raw->size() != 32) return bad("64 hex digits (an Ed25519 public key)");
      crypto::Ed25519PublicKey k;
      std::copy(raw->begin(), raw->end(), k.begin());
      config.peer_root = k;
    } else if (key == "role") {
      if (value != "worker" && value != "coordinator") return bad("worker or coordinator");
      config.coordinator = value == "coordinator";
    } else {
      return Status::InvalidArgument(where + ": unknown key '" + key +
                                     "' (expected epc_mib, heap_mib, cost_profile, isv_svn, "
                                     "debug, peer_root or role)");
    }
  }
  if (config.heap_mib < config.epc_mib) {
    return Status::InvalidArgument("enclave config: heap_mib (" + std::to_string(config.heap_mib) +
                                   ") is smaller than epc_mib (" + std::to_string(config.epc_mib) +
                                   ")");
  }
  return config;
}

std::string EnclaveConfig::ToText() const {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "epc_mib = %.17g\nheap_mib = %.17g\ncost_profile = %s\nisv_svn = %u\ndebug = %s\n",
                epc_mib, heap_mib, cost_profile.c_str(), static_cast<unsigned>(isv_svn),
                debug ? "true" : "false");
  std::string text = buf;
  if (peer_root) text += "peer_root = " + crypto::HexEncode(*peer_root) + "\n";
  if (coordinator) text += "role = coordinator\n";
  return text;
}

}  // namespace serdab::enclave
