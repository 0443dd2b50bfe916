// KubeSecretResolver with the API call replaced by a scripted function: the
// faults here (refused connections, 5xx, 429, 403, 404) are injected because a
// unit test has no API server; the real-apiserver outage is covered end to end
// (tests/e2e/operator_test.sh, "secret outage").
#include <gtest/gtest.h>

#include <cstdio>
#include <deque>

#include "common/clock.h"
#include "operator/kube/error.h"
#include "operator/sources/kube_source.h"

namespace healthgate::sources {
namespace {

using nlohmann::json;

kube::Error ApiError(long code, kube::Reason reason) {
  kube::Error e;
  e.kind = kube::ErrorKind::kApi;
  e.http_code = code;
  e.reason = reason;
  e.message = "injected";
  return e;
}

json SecretWith(const std::string& key, const std::string& base64) {
  return json{{"data", {{key, base64}}}};
}

class KubeSecretResolverTest : public ::testing::Test {
 protected:
  KubeSecretResolverTest()
      : out_(std::tmpfile()),
        log_(LogLevel::kInfo, out_, clock_),
        resolver_(
            [this](const std::string&, const std::string&) -> kube::Result<json> {
              kube::Result<json> r = answers_.front();
              if (answers_.size() > 1) answers_.pop_front();
              return r;
            },
            log_, [this] { return now_; }) {}
  ~KubeSecretResolverTest() override { std::fclose(out_); }

  std::vector<json> LogLines() {
    std::fflush(out_);
    std::rewind(out_);
    std::vector<json> lines;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, out_)) lines.push_back(json::parse(buf));
    return lines;
  }

  std::FILE* out_;
  healthgate::SimClock clock_;
  Logger log_;
  std::deque<kube::Result<json>> answers_;
  std::chrono::steady_clock::time_point now_{};
  KubeSecretResolver resolver_;
  const v1alpha1::SecretRef ref_{"pg", "password"};
};

TEST_F(KubeSecretResolverTest, TransientErrorsKeepTheLastValue) {
  answers_ = {SecretWith("password", "czNjcjN0"),  // "s3cr3t"
              kube::TransportError("connection refused"),
              ApiError(503, kube::Reason::kServiceUnavailable),
              ApiError(429, kube::Reason::kTooManyRequests),
              ApiError(504, kube::Reason::kTimeout),
              SecretWith("password", "czNjcjN0")};
  for (int i = 0; i < 6; ++i) {
    auto r = resolver_.Lookup("shop", ref_);
    ASSERT_TRUE(r.value) << "lookup " << i << ": " << r.error;
    EXPECT_EQ(*r.value, "s3cr3t");
  }
  // One line when it went bad, one when it came back; never a value.
  auto lines = LogLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["state"], "last-known");
  EXPECT_EQ(lines[1]["state"], "ok");
  for (const auto& l : lines) EXPECT_EQ(l.dump().find("s3cr3t"), std::string::npos);
}

TEST_F(KubeSecretResolverTest, OnlyA404IsNotFoundAndA403IsForbidden) {
  answers_ = {ApiError(404, kube::Reason::kNotFound)};
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretNotFound");
  answers_ = {ApiError(403, kube::Reason::kForbidden)};
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretForbidden");
  answers_ = {SecretWith("other", "eA==")};
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretNotFound");
}

// An API server that just restarted answers 403 until its RBAC authorizer has
// synced: a 403 for a value read before keeps it for forbidden_grace, and only a
// 403 that lasts is a revocation.
TEST_F(KubeSecretResolverTest, A403AfterAReadValueIsARevocationOnlyOnceItLasts) {
  answers_ = {SecretWith("password", "czNjcjN0"), ApiError(403, kube::Reason::kForbidden)};
  ASSERT_TRUE(resolver_.Lookup("shop", ref_).value);
  auto warming = resolver_.Lookup("shop", ref_);
  EXPECT_EQ(warming.value, "s3cr3t") << "a first 403 keeps the last value";
  EXPECT_EQ(warming.blocked_reason, "");
  now_ += resolver_.forbidden_grace - std::chrono::seconds(1);
  answers_ = {ApiError(403, kube::Reason::kForbidden)};
  EXPECT_EQ(resolver_.Lookup("shop", ref_).value, "s3cr3t") << "still within the grace";
  now_ += std::chrono::seconds(1);
  answers_ = {ApiError(403, kube::Reason::kForbidden)};
  auto revoked = resolver_.Lookup("shop", ref_);
  EXPECT_FALSE(revoked.value) << "a 403 lasting forbidden_grace is a revocation";
  EXPECT_EQ(revoked.blocked_reason, "SecretForbidden");
  answers_ = {ApiError(403, kube::Reason::kForbidden)};
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretForbidden")
      << "the revoked value does not come back";
  auto lines = LogLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["state"], "last-known");
  EXPECT_EQ(lines[1]["state"], "SecretForbidden");
}

TEST_F(KubeSecretResolverTest, AReadBetween403sStartsTheGraceAgain) {
  answers_ = {SecretWith("password", "czNjcjN0"), ApiError(403, kube::Reason::kForbidden),
              SecretWith("password", "czNjcjN0")};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(resolver_.Lookup("shop", ref_).value);
  now_ += resolver_.forbidden_grace;
  answers_ = {ApiError(403, kube::Reason::kForbidden)};
  EXPECT_EQ(resolver_.Lookup("shop", ref_).value, "s3cr3t")
      << "the earlier 403 was followed by a read; this one starts a new grace";
}

TEST_F(KubeSecretResolverTest, WithoutAnEarlierValueATransientErrorIsUnavailable) {
  answers_ = {kube::TransportError("connection refused")};
  auto r = resolver_.Lookup("shop", ref_);
  EXPECT_FALSE(r.value);
  EXPECT_EQ(r.blocked_reason, "SecretUnavailable");
  EXPECT_NE(r.error.find("pg"), std::string::npos);
}

TEST_F(KubeSecretResolverTest, ADeletedSecretIsNotServedFromMemory) {
  answers_ = {SecretWith("password", "czNjcjN0"), ApiError(404, kube::Reason::kNotFound),
              kube::TransportError("connection refused")};
  EXPECT_TRUE(resolver_.Lookup("shop", ref_).value);
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretNotFound");
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretUnavailable")
      << "the value was revoked; an outage afterwards must not bring it back";
}

TEST_F(KubeSecretResolverTest, StateChangesAreLoggedOnce) {
  answers_ = {ApiError(404, kube::Reason::kNotFound)};
  for (int i = 0; i < 5; ++i) (void)resolver_.Lookup("shop", ref_);
  EXPECT_EQ(LogLines().size(), 1u);
}

TEST_F(KubeSecretResolverTest, UnusedReferencesAreForgotten) {
  answers_ = {SecretWith("password", "czNjcjN0")};
  EXPECT_TRUE(resolver_.Lookup("shop", ref_).value);
  now_ += std::chrono::minutes(11);
  answers_ = {kube::TransportError("connection refused")};
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretUnavailable");
}

}  // namespace
}  // namespace healthgate::sources
