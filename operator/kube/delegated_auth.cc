#include "operator/kube/delegated_auth.h"

#include <openssl/evp.h>

#include <array>

namespace healthgate::kube {
namespace {

const ResourceRef kTokenReviews{"authentication.k8s.io", "v1", "tokenreviews", ""};
const ResourceRef kAccessReviews{"authorization.k8s.io", "v1", "subjectaccessreviews", ""};

// The cache key holds a digest of the token, never the token: a process dump
// or a debugger shows no credential of a client.
std::string TokenDigest(std::string_view token) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  EVP_Digest(token.data(), token.size(), md.data(), &n, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

AccessReview Unavailable(const std::string& what, const Error& e) {
  return {AccessReview::Outcome::kUnavailable, "",
          "authorization unavailable: " + what + " failed: " + e.message};
}

}  // namespace

DelegatedAuth::DelegatedAuth(Interface& api, const healthgate::Clock& clock,
                             DelegatedAuthOptions options)
    : api_(api), clock_(clock), options_(std::move(options)) {}

std::uint64_t DelegatedAuth::token_reviews() const {
  std::lock_guard<std::mutex> lock(mu_);
  return token_reviews_;
}

std::uint64_t DelegatedAuth::cache_hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_hits_;
}

std::string AccessAttributes::Describe() const {
  std::string out(verb);
  if (resource.empty()) return out + " " + std::string(path);
  out += " " + std::string(resource) + (group.empty() ? "" : "." + std::string(group));
  if (!name.empty()) out += " " + std::string(name);
  out += ns.empty() ? std::string(" in every namespace") : " in " + std::string(ns);
  return out;
}

AccessReview DelegatedAuth::Review(std::string_view token, const AccessAttributes& what) {
  if (token.empty()) {
    return {AccessReview::Outcome::kUnauthenticated, "", "a bearer token is required"};
  }
  if (token.size() > options_.max_token_bytes) {
    return {AccessReview::Outcome::kUnauthenticated, "", "the bearer token is too long"};
  }
  std::string key = TokenDigest(token);
  for (std::string_view part :
       {what.verb, what.path, what.group, what.resource, what.ns, what.name}) {
    key += '\n';
    key += part;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && clock_.Now() < it->second.expires) {
      ++cache_hits_;
      return it->second.review;
    }
  }
  AccessReview review = Ask(token, what);
  if (review.outcome != AccessReview::Outcome::kUnavailable) Remember(key, review);
  return review;
}

AccessReview DelegatedAuth::Ask(std::string_view token, const AccessAttributes& what) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++token_reviews_;
  }
  json tr = {{"apiVersion", "authentication.k8s.io/v1"},
             {"kind", "TokenReview"},
             {"spec", {{"token", std::string(token)}}}};
  if (!options_.audiences.empty()) tr["spec"]["audiences"] = options_.audiences;
  Result<json> authn = api_.Create(kTokenReviews, tr);
  if (!authn) return Unavailable("TokenReview", authn.error());
  const json& st = authn.value().contains("status") ? authn.value()["status"] : json::object();
  if (!st.is_object() || !st.value("authenticated", false)) {
    // status.error may say why; it never holds the token.
    std::string why = st.is_object() && st.contains("error") && st["error"].is_string()
                          ? st["error"].get<std::string>()
                          : std::string("the token was not accepted");
    return {AccessReview::Outcome::kUnauthenticated, "", "unauthorized: " + why};
  }
  const json user = st.contains("user") && st["user"].is_object() ? st["user"] : json::object();
  json spec = json::object();
  if (what.resource.empty()) {
    spec["nonResourceAttributes"] = {{"path", std::string(what.path)},
                                     {"verb", std::string(what.verb)}};
  } else {
    json attrs = {{"verb", std::string(what.verb)},
                  {"group", std::string(what.group)},
                  {"resource", std::string(what.resource)}};
    if (!what.ns.empty()) attrs["namespace"] = std::string(what.ns);
    if (!what.name.empty()) attrs["name"] = std::string(what.name);
    spec["resourceAttributes"] = attrs;
  }
  std::string username = user.contains("username") && user["username"].is_string()
                             ? user["username"].get<std::string>()
                             : std::string();
  spec["user"] = username;
  if (user.contains("uid") && user["uid"].is_string()) spec["uid"] = user["uid"];
  if (user.contains("groups") && user["groups"].is_array()) spec["groups"] = user["groups"];
  if (user.contains("extra") && user["extra"].is_object()) spec["extra"] = user["extra"];
  json sar = {
      {"apiVersion", "authorization.k8s.io/v1"}, {"kind", "SubjectAccessReview"}, {"spec", spec}};
  Result<json> authz = api_.Create(kAccessReviews, sar);
  if (!authz) return Unavailable("SubjectAccessReview", authz.error());
  const json& as = authz.value().contains("status") ? authz.value()["status"] : json::object();
  if (as.is_object() && as.value("allowed", false) && !as.value("denied", false)) {
    return {AccessReview::Outcome::kAllowed, username, ""};
  }
  return {AccessReview::Outcome::kForbidden, username,
          "forbidden: user \"" + username + "\" may not " + what.Describe()};
}

void DelegatedAuth::Remember(const std::string& key, const AccessReview& review) {
  std::lock_guard<std::mutex> lock(mu_);
  healthgate::MonoTime now = clock_.Now();
  if (cache_.size() >= options_.max_entries) {
    for (auto it = cache_.begin(); it != cache_.end();) {
      it = it->second.expires <= now ? cache_.erase(it) : std::next(it);
    }
    if (cache_.size() >= options_.max_entries) cache_.clear();
  }
  auto ttl = review.outcome == AccessReview::Outcome::kAllowed ? options_.allowed_ttl
                                                               : options_.denied_ttl;
  cache_[key] = Entry{review, now + ttl};
}

}  // namespace healthgate::kube
