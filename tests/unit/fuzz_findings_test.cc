// Regression tests for what the fuzz targets (tests/fuzz, docs/testing.md
// "Fuzzing") found: each input that broke an invariant, reduced.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "operator/api/v1alpha1/model.h"
#include "operator/api/v1alpha1/yaml_json.h"
#include "operator/kube/reflector.h"
#include "operator/kube/watch.h"
#include "operator/leader/lease.h"
#include "operator/log/log.h"
#include "operator/sources/kube_source.h"

namespace healthgate::v1alpha1 {
namespace {

std::string TcpHostManifest(const std::string& host) {
  return "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\nmetadata: {name: demo}\n"
         "spec:\n  probes:\n  - name: a\n    tcp: {host: " +
         host + ", port: 1}\n";
}

// A plain scalar is resolved like go-yaml: a long number used to go through
// std::regex, which recursed once per character and overflowed the stack (a
// 300 KB scalar crashed `healthgate check`). It is a float, so a string field
// names its path.
TEST(FuzzFindings, LongNumberScalarIsResolvedWithoutRecursion) {
  for (const std::string& number :
       {std::string(300000, '1') + ".", "." + std::string(300000, '7'), std::string(300000, '9'),
        "1." + std::string(300000, '0') + "e5"}) {
    const auto docs = ParseYaml(TcpHostManifest(number), "big.yaml");
    ASSERT_EQ(docs.size(), 1u);
    ASSERT_FALSE(docs[0].errors.empty());
    for (const auto& e : docs[0].errors) {
      EXPECT_EQ(e.path, "spec.probes[0].tcp.host") << e.message.substr(0, 200);
    }
  }
  // The float syntax is unchanged: these are numbers, the rest strings.
  for (const char* f : {"1.", ".5", "-1.5e3", "+2E-7", "1_000.5"}) {
    const auto d = ParseYaml(TcpHostManifest(f), "f.yaml");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_FALSE(d[0].check.has_value()) << f;
  }
  for (const char* s : {"1.5.5", "e5", "1e", "1e+", ".", "-.", "1.5x", "0x1p3"}) {
    const auto d = ParseYaml(TcpHostManifest(s), "s.yaml");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_TRUE(d[0].check.has_value()) << s;
  }
}

// yaml-cpp's LoadAll looped forever, growing, on a stream where a document
// starts with a flow entry (manifest_fuzz: a timeout). Now a syntax error with
// its line, like any other.
TEST(FuzzFindings, DocumentStartingWithAFlowEntryIsASyntaxErrorNotAHang) {
  for (const char* text : {",a: b\n", "a: b\n---\n,\n", "---\n, x\n"}) {
    const auto docs = ParseYaml(text, "f.yaml");
    ASSERT_EQ(docs.size(), 1u) << text;
    ASSERT_EQ(docs[0].errors.size(), 1u) << text;
    EXPECT_NE(docs[0].errors[0].message.find("YAML syntax error"), std::string::npos)
        << docs[0].errors[0].message;
    EXPECT_GT(docs[0].line, 0) << text;
  }
  // Empty documents still parse as nothing, valid ones as before.
  EXPECT_TRUE(ParseYaml("---\n---\n", "e.yaml").empty());
  EXPECT_EQ(ParseYaml(TcpHostManifest("h") + "---\n" + TcpHostManifest("h"), "t.yaml").size(), 2u);
}

// yaml-cpp quotes the offending byte in its message ("unknown escape character:
// \xff"), which made the error line invalid UTF-8 on its way into JSON
// (manifest_fuzz: FormatErrors not UTF-8).
TEST(FuzzFindings, SyntaxErrorMessagesAreValidUtf8) {
  const auto docs = ParseYaml("metadata: {name: \"a\\\xff\"}\n", "u.yaml");
  ASSERT_EQ(docs.size(), 1u);
  const std::string line = docs[0].ErrorLines().at(0);
  EXPECT_NE(line.find("unknown escape character"), std::string::npos) << line;
  EXPECT_TRUE(IsUtf8(line)) << line;
  EXPECT_TRUE(IsUtf8(FormatErrors(docs[0].ErrorLines())));
}

}  // namespace
}  // namespace healthgate::v1alpha1

namespace healthgate::kube {
namespace {

// A line longer than the limit was emitted when it arrived within one read and
// refused when split over two (watch_stream_fuzz): the limit now holds either way.
TEST(FuzzFindings, LineLimitHoldsWhateverTheReadSplit) {
  std::vector<std::string> lines;
  auto keep = [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  LineFramer exact(8);
  EXPECT_TRUE(exact.Feed("12345678\n", keep));
  EXPECT_EQ(lines, std::vector<std::string>{"12345678"});
  LineFramer whole(8);
  EXPECT_FALSE(whole.Feed("123456789\nnext\n", keep));
  EXPECT_TRUE(whole.overflowed());
  EXPECT_EQ(lines.size(), 1u);
}

// Decoders of what the API server (or whatever answers in its place) sends
// threw nlohmann::json::type_error on a field of another type (api_object_fuzz).
TEST(FuzzFindings, ApiObjectsOfAnyShapeDecodeWithoutThrowing) {
  const Error e = ApiErrorFromBody(502, R"({"kind": {"a": 1}, "message": "m"})");
  EXPECT_EQ(e.http_code, 502);
  EXPECT_NE(e.message.find("HTTP 502"), std::string::npos) << e.message;

  const auto odd = nlohmann::json::parse(
      R"({"metadata": {"name": 5, "namespace": ["x"], "resourceVersion": {}}})");
  EXPECT_EQ(ObjectKey(odd), "");
  EXPECT_EQ(ResourceVersionOf(odd), "");
  EXPECT_EQ(ObjectKey(nlohmann::json::array({1, 2})), "");
  EXPECT_EQ(ObjectKey(nlohmann::json::parse(R"({"metadata": 7})")), "");
  EXPECT_EQ(ObjectKey(nlohmann::json::parse(R"({"metadata": {"name": "a", "namespace": "n"}})")),
            "n/a");
}

}  // namespace
}  // namespace healthgate::kube

namespace healthgate::leader {
namespace {

TEST(FuzzFindings, LeaseFieldsOfAnotherTypeReadAsAbsent) {
  const auto lease = nlohmann::json::parse(
      R"({"spec": {"holderIdentity": 5, "leaseDurationSeconds": "15", "renewTime": "t",
                   "leaseTransitions": 2}})");
  const LeaseRecord r = RecordFromLease(lease);
  EXPECT_EQ(r.holder, "");
  EXPECT_EQ(r.lease_duration_seconds, 0);
  EXPECT_EQ(r.renew_time, "t");
  EXPECT_EQ(r.transitions, 2);
}

}  // namespace
}  // namespace healthgate::leader

namespace healthgate::sources {
namespace {

TEST(FuzzFindings, SecretOfAnyShapeIsNotFoundWithoutThrowing) {
  RealClock clock;
  std::FILE* devnull = std::fopen("/dev/null", "w");
  ASSERT_NE(devnull, nullptr);
  Logger log(LogLevel::kError, devnull, clock);
  for (const char* body :
       {R"(["not", "a", "secret"])", R"({"data": "x"})", R"({"data": {"k": 1}})", R"("text")"}) {
    const auto object = nlohmann::json::parse(body);
    KubeSecretResolver resolver(
        [&](const std::string&, const std::string&) -> kube::Result<nlohmann::json> {
          return object;
        },
        log);
    const v1alpha1::SecretLookup r = resolver.Lookup("ns", {"s", "k"});
    EXPECT_FALSE(r.value.has_value()) << body;
    EXPECT_EQ(r.blocked_reason, "SecretNotFound") << body;
  }
  KubeSecretResolver ok(
      [](const std::string&, const std::string&) -> kube::Result<nlohmann::json> {
        return nlohmann::json::parse(R"({"data": {"k": "dmFsdWU="}})");
      },
      log);
  EXPECT_EQ(ok.Lookup("ns", {"s", "k"}).value, "value");
  std::fclose(devnull);
}

}  // namespace
}  // namespace healthgate::sources
