// The status writer (through PatchStatusThrough, the production patch path)
// and the secret resolver against the in-memory API and simulated waits.
#include <gtest/gtest.h>

#include <cstdio>

#include "common/wait.h"
#include "operator/sinks/status_writer.h"
#include "operator/sources/kube_source.h"
#include "tests/support/fake_kube.h"

namespace healthgate::sinks {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::Eventually;
using testing::FakeKube;
using testing::Verb;

const kube::ResourceRef kChecks = sources::kHealthChecks.InNamespace("shop");
const std::string kStatusPath =
    "/apis/healthgate.dev/v1alpha1/namespaces/shop/healthchecks/orders/status";

class StatusWriterSeam : public ::testing::Test {
 protected:
  StatusWriterSeam()
      : out_(std::tmpfile()), log_(LogLevel::kError, out_, waits_.clock()), store_(waits_.clock()) {
    kube_.Put(kChecks, json{{"metadata", {{"name", "orders"}}}, {"spec", json::object()}});
    StatusWriter::Options o;
    o.waits = &waits_;
    writer_ = std::make_unique<StatusWriter>(
        store_, PatchStatusThrough(kube_, sources::kHealthChecks), nullptr, log_, o);
    writer_->Start();
  }
  ~StatusWriterSeam() override {
    writer_->Stop();
    std::fclose(out_);
  }
  void Upsert(const std::string& invalid = "") {
    store_.UpsertCheck(results::CheckInfo{"shop", "orders", 1, {}, invalid});
  }
  std::string Reason() {
    auto o = kube_.Object(kChecks, "orders");
    for (const auto& c : o->value("/status/conditions"_json_pointer, json::array()))
      if (c.value("type", "") == "Ready") return c.value("reason", "");
    return "";
  }
  FakeKube kube_;
  common::SimWaits waits_;
  std::FILE* out_;
  Logger log_;
  results::Store store_;
  std::unique_ptr<StatusWriter> writer_;
};

TEST_F(StatusWriterSeam, NoticesCoalesceIntoOneWriteAndAnUnchangedStatusIsNotRewritten) {
  Upsert();
  for (int i = 0; i < 10; ++i) writer_->Notify("shop", "orders");
  ASSERT_TRUE(Eventually([&] { return writer_->writes() == 1 && writer_->pending() == 0; }));
  EXPECT_EQ(kube_.Count(Verb::kPatchStatus, kStatusPath), 1u);
  const auto rv = kube_.Object(kChecks, "orders")->at("metadata").at("resourceVersion");
  writer_->Notify("shop", "orders");  // nothing visible changed
  Upsert("spec.interval: bad");       // now something did
  writer_->Notify("shop", "orders");
  ASSERT_TRUE(Eventually([&] { return writer_->writes() == 2; }));
  EXPECT_EQ(kube_.Count(Verb::kPatchStatus, kStatusPath), 2u);
  EXPECT_NE(kube_.Object(kChecks, "orders")->at("metadata").at("resourceVersion"), rv)
      << "each write is a new resourceVersion";
  EXPECT_TRUE(kube_.calls().back().body["status"].contains("invalidSpec"));
}

TEST_F(StatusWriterSeam, AConflictIsRetriedAfterTheBackoff) {
  kube_.FailNext(Verb::kPatchStatus, kStatusPath, FakeKube::Conflict());
  Upsert();
  writer_->Notify("shop", "orders");
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kPatchStatus, kStatusPath, 1));
  ASSERT_TRUE(Eventually([&] { return writer_->pending() == 1; }));
  EXPECT_EQ(writer_->writes(), 0u);
  ASSERT_TRUE(waits_.AwaitTimedBlocked(1));
  EXPECT_EQ(*waits_.NextDeadline() - waits_.clock().Now(), 200ms) << "retry_min";
  waits_.Advance(200ms);
  ASSERT_TRUE(Eventually([&] { return writer_->writes() == 1; }));
  EXPECT_EQ(kube_.Count(Verb::kPatchStatus, kStatusPath), 2u);
  EXPECT_FALSE(Reason().empty());
}

TEST_F(StatusWriterSeam, PatchesDoNotSendAResourceVersion) {
  // A merge patch of status never conflicts on a stale cache: the writer is
  // level-based and sends no resourceVersion precondition.
  Upsert();
  writer_->Notify("shop", "orders");
  ASSERT_TRUE(Eventually([&] { return writer_->writes() == 1; }));
  const auto body = kube_.calls().back().body;
  EXPECT_FALSE(body.contains("metadata"));
}

}  // namespace
}  // namespace healthgate::sinks

namespace healthgate::sources {
namespace {

using testing::FakeKube;
using testing::Verb;

class SecretResolverSeam : public ::testing::Test {
 protected:
  SecretResolverSeam() : out_(std::tmpfile()), log_(LogLevel::kError, out_, clock_) {}
  ~SecretResolverSeam() override { std::fclose(out_); }
  const kube::ResourceRef secrets_{"", "v1", "secrets", "shop"};
  const std::string path_ = "/api/v1/namespaces/shop/secrets/pg";
  FakeKube kube_;
  healthgate::SimClock clock_;
  std::FILE* out_;
  Logger log_;
  // The GET path with --require-secret-label=false; the labelled path, which
  // reads the metadata first, is in secret_label_test.cc.
  KubeSecretResolver resolver_{kube_, log_, KubeSecretResolver::Options{false}};
  const v1alpha1::SecretRef ref_{"pg", "password"};
};

TEST_F(SecretResolverSeam, ClassifiesApiAnswersAndKeepsTheLastValueOnTransientErrors) {
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretNotFound") << "404";
  kube_.FailNext(Verb::kGet, path_, FakeKube::Forbidden());
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretForbidden") << "403";
  kube_.FailNext(Verb::kGet, path_, FakeKube::ServerError(503));
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretUnavailable")
      << "5xx without an earlier value";
  kube_.Put(secrets_, nlohmann::json{{"metadata", {{"name", "pg"}}},
                                     {"data", {{"password", "czNjcjN0"}}}});  // s3cr3t
  EXPECT_EQ(resolver_.Lookup("shop", ref_).value, "s3cr3t");
  for (const auto& e :
       {FakeKube::ServerError(500), FakeKube::TooManyRequests(std::chrono::seconds(3)),
        FakeKube::Timeout(), FakeKube::Refused()}) {
    kube_.FailNext(Verb::kGet, path_, e);
    auto r = resolver_.Lookup("shop", ref_);
    EXPECT_EQ(r.value, "s3cr3t") << e.ToString();
    EXPECT_EQ(r.blocked_reason, "");
  }
  resolver_.forbidden_grace = std::chrono::seconds(0);  // the grace: kube_secret_resolver_test
  kube_.FailNext(Verb::kGet, path_, FakeKube::Forbidden());
  auto revoked = resolver_.Lookup("shop", ref_);
  EXPECT_FALSE(revoked.value) << "a lasting 403 is an answer: the old value is not kept";
  EXPECT_EQ(revoked.blocked_reason, "SecretForbidden");
  kube_.FailNext(Verb::kGet, path_, FakeKube::ServerError(500));
  EXPECT_EQ(resolver_.Lookup("shop", ref_).blocked_reason, "SecretUnavailable");
  EXPECT_EQ(kube_.Count(Verb::kGet, path_), 10u);
}

}  // namespace
}  // namespace healthgate::sources
