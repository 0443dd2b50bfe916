// The HTTP probe's part of the HealthCheck model: bodyRegex is RE2 and compiled
// when the spec is read (a pattern RE2 cannot run is refused, naming the field),
// and header values from Secrets are marked, so redirects keep them to the origin.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "operator/api/v1alpha1/model.h"

namespace healthgate::v1alpha1 {
namespace {

std::string WithHttp(const std::string& http) {
  return "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\nmetadata:\n  name: orders\n"
         "  namespace: shop\nspec:\n  probes:\n  - name: web\n    http: " +
         http + "\n";
}

Document ParseOne(const std::string& yaml) {
  auto docs = ParseYaml(yaml, "test.yaml");
  EXPECT_EQ(docs.size(), 1u) << yaml;
  return docs.empty() ? Document{} : docs[0];
}

// The message of the error at `path`, or empty.
std::string ErrorAt(const Document& d, const std::string& path) {
  for (const auto& e : d.errors) {
    if (e.path == path) return e.message;
  }
  return {};
}

TEST(HttpSpec, BodyRegexIsCompiledWhenTheSpecIsRead) {
  Document d = ParseOne(WithHttp("{url: 'http://h/', bodyRegex: 'ok: (healthy|fine)$'}"));
  ASSERT_TRUE(d.check.has_value()) << (d.errors.empty() ? "" : d.errors[0].message);
  const auto& http = std::get<probes::HttpConfig>(d.check->probes.at(0).target);
  ASSERT_TRUE(http.body_regex.has_value());
  EXPECT_TRUE(http.body_regex->ok());
  EXPECT_EQ(http.body_regex->pattern(), "ok: (healthy|fine)$");
  EXPECT_TRUE(http.body_regex->Search("status ok: fine"));
}

TEST(HttpSpec, BodyRegexOutsideRe2SyntaxNamesTheField) {
  const std::string path = "spec.probes[0].http.bodyRegex";
  Document backreference = ParseOne(WithHttp("{url: 'http://h/', bodyRegex: '(ok)\\1'}"));
  EXPECT_FALSE(backreference.check.has_value());
  EXPECT_EQ(ErrorAt(backreference, path),
            "invalid regular expression (RE2 syntax: no backreferences or lookaround): invalid "
            "escape sequence: \\1");
  Document lookahead = ParseOne(WithHttp("{url: 'http://h/', bodyRegex: 'ok(?=:)'}"));
  EXPECT_FALSE(lookahead.check.has_value());
  EXPECT_NE(ErrorAt(lookahead, path).find("invalid perl operator: (?="), std::string::npos)
      << ErrorAt(lookahead, path);
}

class OneSecret final : public SecretResolver {
 public:
  std::optional<std::string> Get(const std::string&, const SecretRef&, std::string*) override {
    return "Bearer t0k";
  }
};

TEST(HttpSpec, HeaderValuesFromSecretsAreMarked) {
  Document d =
      ParseOne(WithHttp("{url: 'http://h/', headers: [{name: X-Probe, value: healthgate}, "
                        "{name: X-Token, valueSecretRef: {name: pay, key: token}}]}"));
  ASSERT_TRUE(d.check.has_value()) << (d.errors.empty() ? "" : d.errors[0].message);
  OneSecret secrets;
  auto probes = Materialize(*d.check, secrets);
  ASSERT_EQ(probes.size(), 1u);
  const auto& http = std::get<probes::HttpConfig>(*probes[0].definition.target);
  ASSERT_EQ(http.headers.size(), 2u);
  EXPECT_FALSE(http.headers[0].from_secret);
  EXPECT_TRUE(http.headers[1].from_secret);
  EXPECT_EQ(http.headers[1].value.reveal(), "Bearer t0k");
}

}  // namespace
}  // namespace healthgate::v1alpha1
