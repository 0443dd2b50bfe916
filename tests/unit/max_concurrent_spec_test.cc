// A probe's maxConcurrent: parsed, validated with the field named, and carried
// into the engine definition (where it replaces the per-endpoint bound).
#include <gtest/gtest.h>

#include <string>

#include "operator/api/v1alpha1/model.h"

namespace healthgate::v1alpha1 {
namespace {

std::string Doc(const std::string& probe_extra) {
  return "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\nmetadata:\n  name: orders\n"
         "  namespace: shop\nspec:\n  probes:\n  - name: db\n    tcp: {host: db, port: 5432}\n" +
         probe_extra;
}

std::string FirstError(const Document& d) {
  return d.errors.empty() ? std::string() : d.errors[0].path + ": " + d.errors[0].message;
}

TEST(MaxConcurrentSpec, ParsedAndMaterialized) {
  auto docs = ParseYaml(Doc("    maxConcurrent: 3\n"), "t.yaml");
  ASSERT_EQ(docs.size(), 1u);
  ASSERT_TRUE(docs[0].check.has_value()) << FirstError(docs[0]);
  EXPECT_EQ(docs[0].check->probes.at(0).max_concurrent, 3u);
  LocalSecretResolver secrets("");
  auto m = Materialize(*docs[0].check, secrets);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].definition.max_concurrent, 3u);
}

TEST(MaxConcurrentSpec, DefaultIsTheEngineBound) {
  auto docs = ParseYaml(Doc(""), "t.yaml");
  ASSERT_TRUE(docs.at(0).check.has_value()) << FirstError(docs[0]);
  EXPECT_EQ(docs[0].check->probes.at(0).max_concurrent, 0u);
}

TEST(MaxConcurrentSpec, RejectedValuesNameTheField) {
  for (const std::string bad : {"0", "4097", "-1", "\"3\"", "1.5"}) {
    auto docs = ParseYaml(Doc("    maxConcurrent: " + bad + "\n"), "t.yaml");
    ASSERT_EQ(docs.size(), 1u);
    EXPECT_FALSE(docs[0].check.has_value()) << bad;
    ASSERT_FALSE(docs[0].errors.empty()) << bad;
    EXPECT_EQ(docs[0].errors[0].path, "spec.probes[0].maxConcurrent") << FirstError(docs[0]);
  }
}

}  // namespace
}  // namespace healthgate::v1alpha1
