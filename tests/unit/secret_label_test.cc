// Operator mode uses only Secrets labelled healthgate.dev/probe-credentials:
// "true" (--require-secret-label, on by default): the resolver against the
// in-memory API, and Materialize on top of it (what reaches a probe).
#include <gtest/gtest.h>

#include <cstdio>
#include <deque>
#include <variant>

#include "common/clock.h"
#include "operator/api/v1alpha1/model.h"
#include "operator/sources/kube_source.h"
#include "tests/support/fake_kube.h"

namespace healthgate::sources {
namespace {

using nlohmann::json;
using testing::FakeKube;
using testing::Verb;

const kube::ResourceRef kSecrets{"", "v1", "secrets", "shop"};
const std::string kPath = "/api/v1/namespaces/shop/secrets/pg";
constexpr const char* kValue = "s3cr3t-canary";  // base64 below
constexpr const char* kValue64 = "czNjcjN0LWNhbmFyeQ==";

json SecretObject(std::optional<std::string> label, const std::string& base64 = kValue64) {
  json meta = {{"name", "pg"}};
  if (label) meta["labels"] = {{"healthgate.dev/probe-credentials", *label}, {"app", "pg"}};
  return json{{"metadata", meta}, {"type", "Opaque"}, {"data", {{"password", base64}}}};
}

class SecretLabelSeam : public ::testing::Test {
 protected:
  SecretLabelSeam() : out_(std::tmpfile()), log_(LogLevel::kInfo, out_, clock_) {}
  ~SecretLabelSeam() override { std::fclose(out_); }
  std::string LogText() {
    std::fflush(out_);
    std::rewind(out_);
    std::string text;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, out_)) text += buf;
    return text;
  }
  FakeKube kube_;
  healthgate::SimClock clock_;
  std::FILE* out_;
  Logger log_;
  KubeSecretResolver resolver_{kube_, log_};  // the default: the label is required
  const v1alpha1::SecretRef ref_{"pg", "password"};
};

TEST_F(SecretLabelSeam, ALabelledSecretIsResolvedAndNotReadAgainUntilItChanges) {
  kube_.Put(kSecrets, SecretObject("true"));
  auto r = resolver_.Lookup("shop", ref_);
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_EQ(*r.value, kValue);
  EXPECT_EQ(kube_.Count(Verb::kGetMetadata, kPath), 1u);
  EXPECT_EQ(kube_.Count(Verb::kGet, kPath), 1u);
  // A refresh: the metadata says the Secret is unchanged, so its data is not read again.
  EXPECT_EQ(resolver_.Lookup("shop", ref_).value, kValue);
  EXPECT_EQ(kube_.Count(Verb::kGetMetadata, kPath), 2u);
  EXPECT_EQ(kube_.Count(Verb::kGet, kPath), 1u);
  // Rotated: a new resourceVersion, read again.
  kube_.Put(kSecrets, SecretObject("true", "bmV3LXZhbHVl"));  // new-value
  EXPECT_EQ(resolver_.Lookup("shop", ref_).value, "new-value");
  EXPECT_EQ(kube_.Count(Verb::kGet, kPath), 2u);
}

TEST_F(SecretLabelSeam, AnUnlabelledSecretIsNotAllowedAndItsDataIsNeverRead) {
  for (const std::optional<std::string>& label :
       {std::optional<std::string>(), std::optional<std::string>("false"),
        std::optional<std::string>("True"), std::optional<std::string>("")}) {
    SCOPED_TRACE(label ? "label \"" + *label + "\"" : "no label");
    kube_.Put(kSecrets, SecretObject(label));
    auto r = resolver_.Lookup("shop", ref_);
    EXPECT_FALSE(r.value);
    EXPECT_EQ(r.blocked_reason, "SecretNotAllowed");
    // Names the Secret, its namespace, the key and the label to add; never the value.
    EXPECT_NE(r.error.find("secret \"pg\" in namespace \"shop\""), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("key \"password\""), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("kubectl -n shop label secret pg healthgate.dev/probe-credentials=true"),
              std::string::npos)
        << r.error;
    EXPECT_EQ(r.error.find(kValue), std::string::npos);
    EXPECT_EQ(r.error.find(kValue64), std::string::npos);
  }
  EXPECT_EQ(kube_.Count(Verb::kGet, kPath), 0u) << "an unlabelled Secret's data is never requested";
  EXPECT_EQ(kube_.Count(Verb::kGetMetadata, kPath), 4u);
  const std::string log = LogText();
  EXPECT_NE(log.find("SecretNotAllowed"), std::string::npos) << log;
  EXPECT_EQ(log.find(kValue), std::string::npos);
}

TEST_F(SecretLabelSeam, LabellingUnblocksAndUnlabellingBlocksAgainWithoutKeepingTheValue) {
  kube_.Put(kSecrets, SecretObject(std::nullopt));
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretNotAllowed");
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretNotAllowed");
  kube_.Put(kSecrets, SecretObject("true"));  // kubectl label secret pg ...=true
  EXPECT_EQ(resolver_.Lookup("shop", ref_).value, kValue);
  kube_.Put(kSecrets, SecretObject(std::nullopt));  // kubectl label secret pg ...-
  auto r = resolver_.Lookup("shop", ref_);
  EXPECT_FALSE(r.value) << "the label was removed: the value held is not used";
  EXPECT_EQ(r.blocked_reason, "SecretNotAllowed");
  kube_.FailNext(Verb::kGetMetadata, kPath, FakeKube::ServerError(503));
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretUnavailable")
      << "an outage afterwards must not bring the revoked value back";
  // One log line per change of state: blocked, readable again, blocked, unavailable.
  const std::string log = LogText();
  std::size_t lines = 0;
  for (char c : log) lines += c == '\n';
  EXPECT_EQ(lines, 4u) << log;
}

TEST_F(SecretLabelSeam, MetadataAnswersAreClassifiedAndTransientErrorsKeepTheLastValue) {
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretNotFound") << "404";
  kube_.FailNext(Verb::kGetMetadata, kPath, FakeKube::Forbidden());
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretForbidden") << "403";
  kube_.FailNext(Verb::kGetMetadata, kPath, FakeKube::ServerError(503));
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretUnavailable");
  kube_.Put(kSecrets, SecretObject("true"));
  EXPECT_EQ(resolver_.Lookup("shop", ref_).value, kValue);
  for (const auto& e :
       {FakeKube::ServerError(500), FakeKube::TooManyRequests(std::chrono::seconds(3)),
        FakeKube::Timeout(), FakeKube::Refused()}) {
    kube_.FailNext(Verb::kGetMetadata, kPath, e);
    auto r = resolver_.Lookup("shop", ref_);
    EXPECT_EQ(r.value, kValue) << e.ToString();
    EXPECT_EQ(r.blocked_reason, "");
  }
  // Labelled but without the key: still SecretNotFound.
  kube_.Put(kSecrets,
            json{{"metadata",
                  {{"name", "pg"}, {"labels", {{"healthgate.dev/probe-credentials", "true"}}}}},
                 {"data", {{"other", "eA=="}}}});
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretNotFound");
}

TEST_F(SecretLabelSeam, WithTheRequirementOffAnySecretIsUsedAndNoMetadataIsRead) {
  KubeSecretResolver open(kube_, log_, KubeSecretResolver::Options{false});
  kube_.Put(kSecrets, SecretObject(std::nullopt));
  EXPECT_EQ(open.Lookup("shop", ref_).value, kValue);
  kube_.Put(kSecrets, SecretObject("false"));
  EXPECT_EQ(open.Lookup("shop", ref_).value, kValue);
  EXPECT_EQ(kube_.Count(Verb::kGetMetadata), 0u);
  EXPECT_EQ(kube_.Count(Verb::kGet, kPath), 2u);
}

TEST(SecretLabelRace, TheLabelIsCheckedAgainOnTheSecretRead) {
  // Scripted: the label is removed between the metadata read and the Secret's
  // read, which the in-memory API cannot interleave on demand.
  std::FILE* out = std::tmpfile();
  healthgate::SimClock clock;
  Logger log(LogLevel::kError, out, clock);
  KubeSecretResolver resolver(
      [](const std::string&, const std::string&) -> kube::Result<json> {
        return SecretObject(std::nullopt);
      },
      log, {},
      [](const std::string&, const std::string&) -> kube::Result<json> {
        return json{{"metadata",
                     {{"name", "pg"},
                      {"resourceVersion", "7"},
                      {"labels", {{"healthgate.dev/probe-credentials", "true"}}}}}};
      });
  auto r = resolver.Lookup("shop", v1alpha1::SecretRef{"pg", "password"});
  EXPECT_FALSE(r.value);
  EXPECT_EQ(r.blocked_reason, "SecretNotAllowed");
  std::fclose(out);
}

// What a probe gets: Materialize over the resolver, for an HTTP header whose
// value comes from a Secret.
std::shared_ptr<const v1alpha1::HealthCheck> HeaderCheck() {
  auto docs = v1alpha1::ParseYaml(
      "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\nmetadata:\n  name: orders\n"
      "  namespace: shop\nspec:\n  probes:\n  - name: web\n    http:\n"
      "      url: http://127.0.0.1:9/\n      headers:\n"
      "      - {name: Authorization, valueSecretRef: {name: pg, key: password}}\n",
      "test.yaml");
  EXPECT_EQ(docs.size(), 1u);
  EXPECT_TRUE(docs.at(0).check) << (docs.at(0).errors.empty() ? "" : docs.at(0).errors[0].message);
  return std::make_shared<const v1alpha1::HealthCheck>(*docs.at(0).check);
}

const probes::HttpConfig& HttpOf(const v1alpha1::MaterializedProbe& m) {
  return std::get<probes::HttpConfig>(*m.definition.target);
}

TEST_F(SecretLabelSeam, AnUnlabelledSecretNeverReachesTheProbeDefinition) {
  auto check = HeaderCheck();
  kube_.Put(kSecrets, SecretObject(std::nullopt));
  auto probes = v1alpha1::Materialize(check, resolver_);
  ASSERT_EQ(probes.size(), 1u);
  EXPECT_EQ(probes[0].blocked_reason, "SecretNotAllowed");
  EXPECT_NE(probes[0].blocked_message.find("http.headers[0].valueSecretRef"), std::string::npos)
      << probes[0].blocked_message;
  EXPECT_NE(probes[0].blocked_message.find("healthgate.dev/probe-credentials"), std::string::npos);
  ASSERT_EQ(HttpOf(probes[0]).headers.size(), 1u);
  EXPECT_TRUE(HttpOf(probes[0]).headers[0].value.empty()) << "no value in the definition";
  EXPECT_FALSE(HttpOf(probes[0]).headers[0].from_secret);
  EXPECT_EQ(kube_.Count(Verb::kGet, kPath), 0u);

  kube_.Put(kSecrets, SecretObject("true"));  // labelled later: the next pass uses it
  probes = v1alpha1::Materialize(check, resolver_);
  ASSERT_EQ(probes.size(), 1u);
  EXPECT_FALSE(probes[0].blocked()) << probes[0].blocked_message;
  EXPECT_EQ(HttpOf(probes[0]).headers[0].value.reveal(), kValue);
}

}  // namespace
}  // namespace healthgate::sources
