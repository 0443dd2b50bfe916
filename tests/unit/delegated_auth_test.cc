// Delegated authentication and authorization (TokenReview, then
// SubjectAccessReview) against the in-memory API, whose reactors answer the
// reviews as the API server's authenticator and RBAC authorizer would.
#include "operator/kube/delegated_auth.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tests/support/fake_kube.h"

namespace healthgate::kube {
namespace {

using healthgate::testing::FakeKube;
using healthgate::testing::Verb;
using std::chrono::seconds;
using Outcome = AccessReview::Outcome;

constexpr const char* kTokenReviews = "/apis/authentication.k8s.io/v1/tokenreviews";
constexpr const char* kAccessReviews = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

class DelegatedAuthTest : public ::testing::Test {
 protected:
  DelegatedAuthTest() {
    // Tokens the "cluster" knows, and the non-resource paths each user may get.
    users_["tok-reader"] = "system:serviceaccount:monitoring:prometheus";
    users_["tok-nobody"] = "system:serviceaccount:demo:nobody";
    allowed_.insert({"system:serviceaccount:monitoring:prometheus", "/metrics"});
    api_.ReactToCreate(kTokenReviews, [this](const json& tr) -> Result<json> {
      json out = tr;
      const std::string token = tr["spec"]["token"].get<std::string>();
      auto it = users_.find(token);
      if (it == users_.end()) {
        out["status"] = {{"authenticated", false}, {"error", "invalid bearer token"}};
      } else {
        json user = json::object();
        user["username"] = it->second;
        user["uid"] = "uid-" + token;
        user["groups"] = json::array({"system:serviceaccounts", "system:authenticated"});
        user["extra"] = json::object();
        user["extra"]["authentication.kubernetes.io/pod-name"] = json::array({"p-1"});
        out["status"] = json::object();
        out["status"]["authenticated"] = true;
        out["status"]["user"] = user;
      }
      return out;
    });
    api_.ReactToCreate(kAccessReviews, [this](const json& sar) -> Result<json> {
      json out = sar;
      const json& spec = sar["spec"];
      // Non-resource: the path; resource: "verb group/resource ns/name".
      std::string what;
      if (spec.contains("nonResourceAttributes")) {
        const json& a = spec["nonResourceAttributes"];
        what = a["verb"] == "get" ? a["path"].get<std::string>() : std::string("?");
      } else {
        const json& a = spec["resourceAttributes"];
        what = a["verb"].get<std::string>() + " " + a["group"].get<std::string>() + "/" +
               a["resource"].get<std::string>() + " " + a.value("namespace", "") + "/" +
               a.value("name", "");
      }
      bool allowed = allowed_.count({spec["user"].get<std::string>(), what}) > 0;
      out["status"] = {{"allowed", allowed}};
      if (!allowed) out["status"]["reason"] = "no RBAC rule";
      return out;
    });
  }

  FakeKube api_;
  healthgate::SimClock clock_;
  std::map<std::string, std::string> users_;
  std::set<std::pair<std::string, std::string>> allowed_;
};

TEST_F(DelegatedAuthTest, NoTokenIsUnauthenticatedWithoutAReview) {
  DelegatedAuth auth(api_, clock_);
  AccessReview r = auth.Review("", "/metrics", "get");
  EXPECT_EQ(r.outcome, Outcome::kUnauthenticated);
  EXPECT_EQ(api_.Count(Verb::kCreate), 0u);
  r = auth.Review(std::string(20000, 'x'), "/metrics", "get");
  EXPECT_EQ(r.outcome, Outcome::kUnauthenticated);
  EXPECT_EQ(api_.Count(Verb::kCreate), 0u) << "an oversized token is refused without a review";
}

TEST_F(DelegatedAuthTest, AuthorizedUserIsAllowedAndTheReviewsCarryItsIdentity) {
  DelegatedAuth auth(api_, clock_);
  AccessReview r = auth.Review("tok-reader", "/metrics", "get");
  EXPECT_EQ(r.outcome, Outcome::kAllowed) << r.message;
  EXPECT_EQ(r.user, "system:serviceaccount:monitoring:prometheus");
  std::vector<FakeKube::Call> calls = api_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].path, kTokenReviews);
  EXPECT_EQ(calls[0].body["spec"]["token"], "tok-reader");
  EXPECT_EQ(calls[1].path, kAccessReviews);
  const json& spec = calls[1].body["spec"];
  EXPECT_EQ(spec["user"], "system:serviceaccount:monitoring:prometheus");
  EXPECT_EQ(spec["uid"], "uid-tok-reader");
  EXPECT_EQ(spec["groups"], json({"system:serviceaccounts", "system:authenticated"}));
  EXPECT_EQ(spec["extra"]["authentication.kubernetes.io/pod-name"], json({"p-1"}));
  EXPECT_EQ(spec["nonResourceAttributes"], json({{"path", "/metrics"}, {"verb", "get"}}));
  EXPECT_FALSE(spec.contains("token")) << "the token goes to the TokenReview only";
}

TEST_F(DelegatedAuthTest, UnknownTokenIsUnauthenticatedAndAUserWithoutTheRuleIsForbidden) {
  DelegatedAuth auth(api_, clock_);
  AccessReview r = auth.Review("tok-stolen", "/metrics", "get");
  EXPECT_EQ(r.outcome, Outcome::kUnauthenticated);
  EXPECT_NE(r.message.find("invalid bearer token"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("tok-stolen"), std::string::npos) << "never echo the token";
  EXPECT_EQ(api_.Count(Verb::kCreate, kAccessReviews), 0u) << "no authorization without a user";

  r = auth.Review("tok-nobody", "/metrics", "get");
  EXPECT_EQ(r.outcome, Outcome::kForbidden);
  EXPECT_NE(r.message.find("system:serviceaccount:demo:nobody"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("/metrics"), std::string::npos) << r.message;
  r = auth.Review("tok-reader", "/api/v1/healthchecks", "get");
  EXPECT_EQ(r.outcome, Outcome::kForbidden) << "the rule is per path";
}

TEST_F(DelegatedAuthTest, ResourceRequestsAskAboutTheObject) {
  allowed_.insert(
      {"system:serviceaccount:demo:nobody", "get healthgate.dev/healthchecks shop/orders"});
  allowed_.insert({"system:serviceaccount:demo:nobody", "list healthgate.dev/healthchecks shop/"});
  DelegatedAuth auth(api_, clock_);
  auto ask = [&](std::string_view verb, std::string_view ns, std::string_view name) {
    AccessAttributes a;
    a.verb = verb;
    a.group = "healthgate.dev";
    a.resource = "healthchecks";
    a.ns = ns;
    a.name = name;
    return auth.Review("tok-nobody", a);
  };
  EXPECT_EQ(ask("get", "shop", "orders").outcome, Outcome::kAllowed);
  EXPECT_EQ(ask("list", "shop", "").outcome, Outcome::kAllowed);
  AccessReview r = ask("list", "", "");
  EXPECT_EQ(r.outcome, Outcome::kForbidden) << "every namespace is another question";
  EXPECT_NE(r.message.find("list healthchecks.healthgate.dev in every namespace"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(ask("get", "shop", "payments").outcome, Outcome::kForbidden);
  EXPECT_EQ(ask("get", "other", "orders").outcome, Outcome::kForbidden);
  const json last = api_.calls().back().body["spec"];
  EXPECT_EQ(last["resourceAttributes"], json({{"verb", "get"},
                                              {"group", "healthgate.dev"},
                                              {"resource", "healthchecks"},
                                              {"namespace", "other"},
                                              {"name", "orders"}}));
  EXPECT_FALSE(last.contains("nonResourceAttributes"));
}

TEST_F(DelegatedAuthTest, AnswersAreCachedPerTokenPathAndVerbForTheirTtl) {
  DelegatedAuthOptions o;
  o.allowed_ttl = seconds(120);
  o.denied_ttl = seconds(10);
  DelegatedAuth auth(api_, clock_, o);
  EXPECT_EQ(auth.Review("tok-reader", "/metrics", "get").outcome, Outcome::kAllowed);
  EXPECT_EQ(auth.Review("tok-nobody", "/metrics", "get").outcome, Outcome::kForbidden);
  EXPECT_EQ(auth.token_reviews(), 2u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(auth.Review("tok-reader", "/metrics", "get").outcome, Outcome::kAllowed);
    EXPECT_EQ(auth.Review("tok-nobody", "/metrics", "get").outcome, Outcome::kForbidden);
  }
  EXPECT_EQ(auth.token_reviews(), 2u);
  EXPECT_EQ(auth.cache_hits(), 10u);
  EXPECT_EQ(auth.Review("tok-reader", "/metrics", "head").outcome, Outcome::kForbidden)
      << "another verb is another question";
  EXPECT_EQ(auth.token_reviews(), 3u);

  // A revoked right (RBAC removed) takes effect within the TTLs.
  clock_.Advance(seconds(11));
  allowed_.insert({"system:serviceaccount:demo:nobody", "/metrics"});
  EXPECT_EQ(auth.Review("tok-nobody", "/metrics", "get").outcome, Outcome::kAllowed)
      << "a denial is remembered for denied_ttl only";
  allowed_.erase({"system:serviceaccount:monitoring:prometheus", "/metrics"});
  EXPECT_EQ(auth.Review("tok-reader", "/metrics", "get").outcome, Outcome::kAllowed)
      << "still within allowed_ttl";
  clock_.Advance(seconds(110));
  EXPECT_EQ(auth.Review("tok-reader", "/metrics", "get").outcome, Outcome::kForbidden);
}

TEST_F(DelegatedAuthTest, ApiServerTroubleIsUnavailableNeverForbiddenAndNotCached) {
  DelegatedAuth auth(api_, clock_);
  api_.FailNext(Verb::kCreate, kTokenReviews, FakeKube::Refused());
  AccessReview r = auth.Review("tok-reader", "/metrics", "get");
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_NE(r.message.find("TokenReview"), std::string::npos) << r.message;
  // healthgate lacking the right to review is healthgate's fault, not the client's.
  api_.FailNext(Verb::kCreate, kAccessReviews, FakeKube::Forbidden("cannot create"));
  r = auth.Review("tok-reader", "/metrics", "get");
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_NE(r.message.find("SubjectAccessReview"), std::string::npos) << r.message;
  // Not cached: the next request is reviewed again, and is allowed.
  EXPECT_EQ(auth.Review("tok-reader", "/metrics", "get").outcome, Outcome::kAllowed);
  EXPECT_EQ(auth.cache_hits(), 0u);
}

TEST_F(DelegatedAuthTest, TheCacheStaysBounded) {
  DelegatedAuthOptions o;
  o.max_entries = 8;
  DelegatedAuth auth(api_, clock_, o);
  // A client cycling through paths cannot grow the cache past its bound; the
  // answers stay right.
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(
        auth.Review("tok-reader", "/api/v1/healthchecks/ns/c" + std::to_string(i), "get").outcome,
        Outcome::kForbidden);
  }
  EXPECT_EQ(auth.Review("tok-reader", "/metrics", "get").outcome, Outcome::kAllowed);
  EXPECT_EQ(auth.Review("tok-reader", "/metrics", "get").outcome, Outcome::kAllowed);
  EXPECT_EQ(auth.cache_hits(), 1u);
}

}  // namespace
}  // namespace healthgate::kube
