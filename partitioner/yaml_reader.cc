#include "partitioner/yaml_reader.h"

#include <yaml-cpp/eventhandler.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace serdab::partitioner {
namespace {

Status SyntaxError(std::string_view source, const YAML::Mark& mark, const std::string& what) {
  return Status::InvalidArgument(std::string(source) + ":" + std::to_string(mark.line + 1) + ":" +
                                 std::to_string(mark.column + 1) + ": " + what);
}

// Notes where each document starts and ignores the rest. yaml-cpp 0.7's LoadAll loops
// forever on some malformed streams (a document starting with ',', say): its parser then
// reports the same empty document at the same place again and again without reading on
// (fixed upstream by jbeder/yaml-cpp#1319). Two documents starting at the same place give
// that away before LoadAll is called.
class DocumentStarts : public YAML::EventHandler {
 public:
  const YAML::Mark& last() const { return last_; }

  void OnDocumentStart(const YAML::Mark& mark) override { last_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  YAML::Mark last_ = YAML::Mark::null_mark();
};

}  // namespace

Status Reader::Error(const YAML::Node& node, const std::string& field,
                     const std::string& what) const {
  std::string where = source_;
  const YAML::Mark mark = node.Mark();
  if (!mark.is_null()) {
    where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  return Status::InvalidArgument(where + ": field '" + field + "': " + what);
}

Status Reader::CheckMap(const YAML::Node& node, const std::string& field,
                        std::initializer_list<const char*> allowed) const {
  if (!node.IsMap()) return Error(node, field, "expected a map");
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    bool known = false;
    for (const char* name : allowed) known = known || key == name;
    if (!known) {
      std::string expected;
      for (const char* name : allowed)
        expected += (expected.empty() ? "" : ", ") + std::string(name);
      return Error(entry.first, Join(field, key),
                   "unknown field (expected one of: " + expected + ")");
    }
  }
  return Status::Ok();
}

Status Reader::CheckUniqueKeys(const YAML::Node& node, const std::string& field) const {
  std::map<std::string, YAML::Mark> seen;
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    const auto [first, inserted] = seen.emplace(key, entry.first.Mark());
    if (!inserted) {
      return Error(entry.first, Join(field, key),
                   "given twice (first at line " + std::to_string(first->second.line + 1) + ")");
    }
  }
  return Status::Ok();
}

Result<YAML::Node> ParseYaml(std::string_view yaml, std::string_view source) {
  try {
    return YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    return SyntaxError(source, e.mark, e.msg);
  }
}

Result<std::vector<YAML::Node>> ParseYamlDocuments(std::string_view yaml, std::string_view source) {
  const std::string text(yaml);
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts starts;
    int previous = -1;
    while (parser.HandleNextDocument(starts)) {
      if (starts.last().pos == previous) {
        return SyntaxError(source, starts.last(), "expected a YAML value here");
      }
      previous = starts.last().pos;
    }
    return YAML::LoadAll(text);
  } catch (const YAML::ParserException& e) {
    return SyntaxError(source, e.mark, e.msg);
  }
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open '" + path + "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IoError("cannot read '" + path + "'");
  return text.str();
}

}  // namespace serdab::partitioner
