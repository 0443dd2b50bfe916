// Secure serving end to end: the real server over TLS (GnuTLS in
// libmicrohttpd) with a certificate made by SelfSignedCertificate, a real TLS
// client verifying it, and an authorizer behind the server's AuthorizeFn seam
// (the TokenReview/SubjectAccessReview implementation is tested against the
// in-memory API in tests/unit/delegated_auth_test.cc and against the real API
// server in tests/e2e/secure_serving_test.sh).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <set>

#include "operator/server/server.h"
#include "operator/server/tls.h"
#include "tests/support/process.h"

namespace healthgate::server {
namespace {

using healthgate::testing::ReadAll;
using healthgate::testing::TempDir;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Outcome = AuthDecision::Outcome;

constexpr const char* kCanaryToken = "hg-canary-token-7Qz2x";

class SecureServingTest : public ::testing::Test {
 protected:
  SecureServingTest()
      : log_file_(std::tmpfile()),
        logger_(LogLevel::kDebug, log_file_, clock_),
        metrics_(std::make_shared<prometheus::Registry>()) {
    std::string error;
    auto tls = SelfSignedCertificate({"localhost", "127.0.0.1"}, 2, error);
    EXPECT_TRUE(tls) << error;
    if (tls) tls_ = *tls;
    ca_file_ = std::string(dir_.path()) + "/ca.pem";
    std::ofstream(ca_file_) << tls_.cert_pem;
    results::CheckInfo i;
    i.ns = "shop";
    i.name = "orders";
    i.generation = 1;
    i.probes = {
        std::make_shared<const results::ProbeInfo>(results::ProbeInfo{"db", "tcp", true, "", ""})};
    store_.UpsertCheck(i);
  }
  ~SecureServingTest() override {
    server_.reset();
    if (log_file_) std::fclose(log_file_);
  }

  // Tokens: "tok-good" may read everything, "tok-limited" only /metrics,
  // kCanaryToken is unknown; "tok-hang" blocks until release(); "tok-down"
  // is an API server outage.
  AuthDecision Decide(const AuthRequest& r) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      asked_.push_back(
          std::string(r.verb) + " " +
          (r.resource ? std::string(r.ns) + "/" + std::string(r.name) : std::string(r.path)));
    }
    if (r.token.empty()) return {Outcome::kUnauthenticated, "a bearer token is required"};
    if (r.token == "tok-good") return {Outcome::kAllowed, ""};
    if (r.token == "tok-limited") {
      return r.path == "/metrics" ? AuthDecision{Outcome::kAllowed, ""}
                                  : AuthDecision{Outcome::kForbidden, "forbidden: limited"};
    }
    if (r.token == "tok-hang") {
      std::unique_lock<std::mutex> lock(mu_);
      ++hanging_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
      return {Outcome::kAllowed, ""};
    }
    if (r.token == "tok-down") return {Outcome::kUnavailable, "authorization unavailable: down"};
    return {Outcome::kUnauthenticated, "unauthorized: invalid bearer token"};
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

  void Start(bool tls, bool protect_readiness = false, bool auth = true) {
    ServerOptions options;
    options.address = "127.0.0.1:0";
    if (tls) {
      options.tls_cert_pem = tls_.cert_pem;
      options.tls_key_pem = tls_.key_pem;
    }
    options.protect_readiness_urls = protect_readiness;
    AuthorizeFn fn;
    if (auth) fn = [this](const AuthRequest& r) { return Decide(r); };
    server_ = std::make_unique<Server>(options, ServerInputs{store_, metrics_, nullptr,
                                                             [] {
                                                               return HealthStatus{true, ""};
                                                             },
                                                             logger_, clock_, fn});
    auto err = server_->Start();
    ASSERT_FALSE(err.has_value()) << *err;
  }

  std::unique_ptr<httplib::SSLClient> Tls() {
    auto c = std::make_unique<httplib::SSLClient>("localhost", server_->BoundPort());
    c->set_ca_cert_path(ca_file_);
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(seconds(2));
    c->set_read_timeout(seconds(10));
    return c;
  }
  httplib::Result Get(const std::string& path, const std::string& token = "") {
    auto c = Tls();
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    return c->Get(path.c_str(), h);
  }
  int Status(const std::string& path, const std::string& token = "") {
    auto r = Get(path, token);
    return r ? r->status : -1;
  }

  TempDir dir_;
  healthgate::SimClock clock_;
  results::Store store_{clock_};
  std::FILE* log_file_;
  Logger logger_;
  Metrics metrics_;
  TlsMaterial tls_;
  std::string ca_file_;
  std::unique_ptr<Server> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> asked_;
  int hanging_ = 0;
  bool released_ = false;
};

TEST_F(SecureServingTest, ServesHttpsWithAVerifiableSelfSignedCertificate) {
  Start(/*tls=*/true, false, /*auth=*/false);
  auto r = Get("/livez");
  ASSERT_TRUE(r) << "TLS handshake verified against the certificate: "
                 << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  // The certificate names the host: a client asking for another name refuses it.
  httplib::SSLClient other("127.0.0.2", server_->BoundPort());
  other.set_ca_cert_path(ca_file_);
  other.enable_server_certificate_verification(true);
  other.set_connection_timeout(seconds(2));
  EXPECT_FALSE(other.Get("/livez")) << "127.0.0.2 is not in the certificate";
  // Plain HTTP on the TLS port gets no answer.
  httplib::Client plain("127.0.0.1", server_->BoundPort());
  plain.set_connection_timeout(seconds(2));
  plain.set_read_timeout(seconds(3));
  auto p = plain.Get("/livez");
  EXPECT_TRUE(!p || p->status != 200);
}

TEST_F(SecureServingTest, ProtectedEndpointsNeedAnAuthorizedToken) {
  Start(true);
  for (const std::string path :
       {"/metrics", "/api/v1/healthchecks", "/api/v1/healthchecks/shop/orders", "/"}) {
    auto r = Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer") << path;
    EXPECT_EQ(Status(path, kCanaryToken), 401) << path;
    EXPECT_EQ(Status(path, "tok-good"), 200) << path;
  }
  EXPECT_EQ(Status("/metrics", "tok-limited"), 200);
  auto r = Get("/api/v1/healthchecks", "tok-limited");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("forbidden: limited"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("orders"), std::string::npos) << "a refused client sees no data";
  // The scheme is case-insensitive; anything but a bearer token is no token.
  auto c = Tls();
  auto lower = c->Get("/metrics", {{"Authorization", "bearer tok-good"}});
  ASSERT_TRUE(lower);
  EXPECT_EQ(lower->status, 200);
  auto basic = c->Get("/metrics", {{"Authorization", "Basic dG9rLWdvb2Q6"}});
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 401);
  // /metrics and the dashboard are asked about as paths (no query), HEAD as get;
  // the API as reading HealthChecks: list in the ?namespace= (or all), get one.
  {
    std::lock_guard<std::mutex> lock(mu_);
    asked_.clear();
  }
  const httplib::Headers good = {{"Authorization", "Bearer tok-good"}};
  ASSERT_TRUE(c->Get("/api/v1/healthchecks?namespace=shop", good));
  ASSERT_TRUE(c->Get("/api/v1/healthchecks", good));
  ASSERT_TRUE(c->Get("/api/v1/healthchecks/shop/orders", good));
  ASSERT_TRUE(c->Head("/metrics", good));
  ASSERT_TRUE(c->Get("/?x=1", good));
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(asked_, (std::vector<std::string>{"list shop/", "list /", "get shop/orders",
                                              "get /metrics", "get /"}));
}

TEST_F(SecureServingTest, ProbeEndpointsStayOpenUnlessProtected) {
  Start(true);
  EXPECT_EQ(Status("/livez"), 200);
  EXPECT_EQ(Status("/readyz"), 200);
  EXPECT_EQ(Status("/ready/shop/orders"), 503) << "no verdict yet: 503, not 401";
  EXPECT_EQ(Status("/health/shop/orders"), 503);
  EXPECT_EQ(Status("/nope"), 404);
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_TRUE(asked_.empty()) << "open endpoints never call the authorizer";
  }
  server_.reset();
  Start(true, /*protect_readiness=*/true);
  EXPECT_EQ(Status("/ready/shop/orders"), 401);
  EXPECT_EQ(Status("/health/shop/orders"), 401);
  EXPECT_EQ(Status("/ready/shop/orders", "tok-good"), 503);
  EXPECT_EQ(Status("/livez"), 200) << "the kubelet's probes stay open";
}

TEST_F(SecureServingTest, AnAuthorizerOutageIs503NotARefusal) {
  Start(true);
  auto r = Get("/metrics", "tok-down");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "5");
  EXPECT_NE(r->body.find("authorization unavailable"), std::string::npos) << r->body;
}

TEST_F(SecureServingTest, AHangingAuthorizationNeverDelaysTheReadinessUrls) {
  Start(true);
  // More hanging authorizations than handler threads: they wait in the heavy
  // queue, and the thread kept for the probe routes stays free.
  std::vector<std::future<int>> hung;
  for (int i = 0; i < 6; ++i) {
    hung.push_back(
        std::async(std::launch::async, [this] { return Status("/metrics", "tok-hang"); }));
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, seconds(10), [this] { return hanging_ >= 3; }));
  }
  for (int i = 0; i < 5; ++i) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(Status("/ready/shop/orders"), 503);
    EXPECT_EQ(Status("/livez"), 200);
    EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3));
  }
  Release();
  for (auto& f : hung) EXPECT_EQ(f.get(), 200);
}

TEST_F(SecureServingTest, TokensNeverAppearInLogsOrAnswers) {
  Start(true);
  auto r = Get("/metrics", kCanaryToken);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.find(kCanaryToken), std::string::npos);
  r = Get("/api/v1/healthchecks", "tok-good");
  ASSERT_TRUE(r);
  r = Get("/metrics", "tok-good");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.find(kCanaryToken), std::string::npos);
  server_.reset();
  EXPECT_EQ(ReadAll(log_file_).find(kCanaryToken), std::string::npos);
}

TEST(ServingTls, LoadsAMatchingPairAndNamesTheFileOtherwise) {
  TempDir dir;
  std::string error;
  auto a = SelfSignedCertificate({"localhost"}, 1, error);
  auto b = SelfSignedCertificate({"localhost"}, 1, error);
  ASSERT_TRUE(a && b) << error;
  const std::string base = dir.path();
  std::ofstream(base + "/a.crt") << a->cert_pem;
  std::ofstream(base + "/a.key") << a->key_pem;
  std::ofstream(base + "/b.key") << b->key_pem;
  std::ofstream(base + "/junk") << "not a certificate";
  auto ok = LoadTlsFiles(base + "/a.crt", base + "/a.key", error);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(ok->cert_pem, a->cert_pem);
  EXPECT_FALSE(LoadTlsFiles(base + "/a.crt", base + "/b.key", error));
  EXPECT_NE(error.find("does not belong"), std::string::npos) << error;
  EXPECT_FALSE(LoadTlsFiles(base + "/junk", base + "/a.key", error));
  EXPECT_NE(error.find(base + "/junk"), std::string::npos) << error;
  EXPECT_FALSE(LoadTlsFiles(base + "/missing.crt", base + "/a.key", error));
  EXPECT_NE(error.find("missing.crt"), std::string::npos) << error;
  EXPECT_EQ(error.find("PRIVATE KEY"), std::string::npos) << "never the key";
}

}  // namespace
}  // namespace healthgate::server
