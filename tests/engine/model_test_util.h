// Helpers for tests that build a whole Model from ONNX bytes.
#ifndef SERDAB_TESTS_ENGINE_MODEL_TEST_UTIL_H_
#define SERDAB_TESTS_ENGINE_MODEL_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"

namespace serdab::engine::testing {

// The model in `bytes` (a serialised ModelProto), imported and prepared with
// `options`; a failed step fails the test and gives nullptr.
inline std::unique_ptr<Model> LoadModelBytes(const std::string& bytes,
                                             const ModelOptions& options) {
  Result<Graph> graph = ImportOnnxBytes(bytes, "test.onnx");
  EXPECT_TRUE(graph.ok()) << graph.status().ToString();
  if (!graph.ok()) return nullptr;
  auto model = Model::FromGraph(std::move(graph).value(), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? std::move(model).value() : nullptr;
}

}  // namespace serdab::engine::testing

#endif  // SERDAB_TESTS_ENGINE_MODEL_TEST_UTIL_H_
