// Typed reading of hand-written YAML files (profiles, clusters, deployment plans) with
// errors that say where they are: every error is one line, "SOURCE:LINE:COL: field 'a.b':
// what was expected", LINE and COL 1-based. yaml-cpp reports problems by throwing; nothing
// here lets an exception out, so callers see only Status values.
//
// Field names are paths: "placement.slo.min_fps", "layers[3].name". A missing field is
// reported at the map that should hold it.
#ifndef SERDAB_PARTITIONER_YAML_READER_H_
#define SERDAB_PARTITIONER_YAML_READER_H_

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::partitioner {

// The values a numeric field accepts: finite, at least (or, with `exclusive_min`, more
// than) `min`, and at most `max`. `expected` says so in words, for error messages.
struct Range {
  double min;
  bool exclusive_min;
  double max;
  const char* expected;

  bool Contains(double v) const {
    return std::isfinite(v) && (exclusive_min ? v > min : v >= min) && v <= max;
  }
};

// Reads typed fields from parsed YAML, turning yaml-cpp's exceptions into Status values
// and naming where each problem is.
class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  // InvalidArgument "SOURCE:LINE:COL: field 'FIELD': WHAT" (without ":LINE:COL" when
  // `node` carries no position). `node` must be a node of a parsed document, not the
  // result of looking up a missing key.
  Status Error(const YAML::Node& node, const std::string& field, const std::string& what) const;

  // `node` must be a map whose keys are all in `allowed`.
  Status CheckMap(const YAML::Node& node, const std::string& field,
                  std::initializer_list<const char*> allowed) const;

  // `node` (a map) must not name a key twice: YAML says keys are unique, but yaml-cpp
  // keeps both and lookups see only the first, so the second would be silently ignored.
  Status CheckUniqueKeys(const YAML::Node& node, const std::string& field) const;

  // Reads map[key] into *out; a missing key is an error when `required`, else leaves *out.
  template <typename T>
  Status Get(const YAML::Node& map, const char* key, const std::string& field, bool required,
             T* out) const {
    const YAML::Node node = map[key];
    const std::string name = Join(field, key);
    if (!node.IsDefined() || node.IsNull()) {
      return required ? Error(map, name, "missing") : Status::Ok();
    }
    return Convert(node, name, out);
  }

  // As Get, for a number that must lie in `range`.
  template <typename T>
  Status Get(const YAML::Node& map, const char* key, const std::string& field, bool required,
             const Range& range, T* out) const {
    const YAML::Node node = map[key];
    const std::string name = Join(field, key);
    if (!node.IsDefined() || node.IsNull()) {
      return required ? Error(map, name, "missing") : Status::Ok();
    }
    return Convert(node, name, range, out);
  }

  // Reads a list of numbers, each of which must lie in `range`.
  template <typename T>
  Status GetList(const YAML::Node& map, const char* key, const std::string& field, bool required,
                 const Range& range, std::vector<T>* out) const {
    const YAML::Node node = map[key];
    const std::string name = Join(field, key);
    if (!node.IsDefined() || node.IsNull()) {
      return required ? Error(map, name, "missing") : Status::Ok();
    }
    if (!node.IsSequence()) return Error(node, name, "expected a list");
    out->clear();
    for (size_t i = 0; i < node.size(); ++i) {
      T value{};
      SERDAB_RETURN_IF_ERROR(Convert(node[i], name + "[" + std::to_string(i) + "]", range, &value));
      out->push_back(value);
    }
    return Status::Ok();
  }

  // Converts a scalar node named `field` into *out.
  template <typename T>
  Status Convert(const YAML::Node& node, const std::string& field, T* out) const {
    if (!node.IsScalar()) return Error(node, field, std::string("expected ") + Expected<T>());
    try {
      *out = node.as<T>();
    } catch (const YAML::Exception&) {
      return Error(node, field,
                   std::string("expected ") + Expected<T>() + ", got '" + node.Scalar() + "'");
    }
    return Status::Ok();
  }

  // As Convert, for a number that must lie in `range`.
  template <typename T>
  Status Convert(const YAML::Node& node, const std::string& field, const Range& range,
                 T* out) const {
    SERDAB_RETURN_IF_ERROR(Convert(node, field, out));
    if (!range.Contains(static_cast<double>(*out))) {
      return Error(node, field,
                   std::string("expected ") + range.expected + ", got '" + node.Scalar() + "'");
    }
    return Status::Ok();
  }

  // "a.b" from "a" and "b"; "b" from "" and "b".
  static std::string Join(const std::string& field, const std::string& key) {
    return field.empty() ? key : field + "." + key;
  }

 private:
  template <typename T>
  static const char* Expected() {
    if constexpr (std::is_same_v<T, std::string>) {
      return "a string";
    } else if constexpr (std::is_same_v<T, bool>) {
      return "true or false";
    } else if constexpr (std::is_integral_v<T>) {
      return "an integer";
    } else {
      return "a number";
    }
  }

  std::string source_;
};

// Parses one YAML document; a syntax error is "SOURCE:LINE:COL: yaml-cpp's message".
Result<YAML::Node> ParseYaml(std::string_view yaml, std::string_view source);

// Every document of a stream of "---"-separated documents, with the same errors. Unlike
// YAML::LoadAll, it also ends on streams where yaml-cpp 0.7's parser stops reading on.
Result<std::vector<YAML::Node>> ParseYamlDocuments(std::string_view yaml, std::string_view source);

// The whole of a file, as bytes. IoError naming the file when it cannot be read.
Result<std::string> ReadTextFile(const std::string& path);

}  // namespace serdab::partitioner

#endif  // SERDAB_PARTITIONER_YAML_READER_H_
