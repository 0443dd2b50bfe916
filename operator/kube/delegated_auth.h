// Delegated authentication and authorization of HTTP clients through the API
// server, as kube-rbac-proxy and controller-runtime's metrics filter do: the
// client's bearer token goes to a TokenReview; the user it names, its groups
// and extra attributes go to a SubjectAccessReview for a non-resource request
// (path, verb), so RBAC rules such as
//   rules: [{nonResourceURLs: ["/metrics"], verbs: ["get"]}]
// decide who may read an endpoint. The operator's ServiceAccount needs create
// on tokenreviews and subjectaccessreviews (the system:auth-delegator role).
//
// Answers are cached by the SHA-256 of the token (never the token itself) with
// the path and verb: an allowed answer for `allowed_ttl`, a denied one for
// `denied_ttl`, at most `max_entries` (expired ones are dropped first, then the
// whole cache). A review that cannot be made (API server unreachable, an
// error status) is Unavailable and not cached: healthgate's own trouble is
// never reported as the client's lack of rights.
//
// Thread-safety: Review may be called from any number of threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "operator/kube/interface.h"

namespace healthgate::kube {

struct AccessReview {
  enum class Outcome { kAllowed, kUnauthenticated, kForbidden, kUnavailable };
  Outcome outcome = Outcome::kUnauthenticated;
  std::string user;     // the authenticated user ("" when not authenticated)
  std::string message;  // why, for the client (never the token)
};

// What a client asks to do, as a SubjectAccessReview states it: a
// non-resource URL (`path` set) or a resource (`resource` set; `ns` empty is
// every namespace, `name` empty a list).
struct AccessAttributes {
  std::string_view verb;
  std::string_view path;
  std::string_view group;
  std::string_view resource;
  std::string_view ns;
  std::string_view name;
  std::string Describe() const;  // "get /metrics", "list healthchecks.healthgate.dev in ns"
};

struct DelegatedAuthOptions {
  std::chrono::seconds allowed_ttl{120};
  std::chrono::seconds denied_ttl{10};
  std::size_t max_entries = 4096;
  // Tokens longer than this are refused without a review.
  std::size_t max_token_bytes = 16 * 1024;
  // TokenReview spec.audiences; empty: the API server's own audiences.
  std::vector<std::string> audiences;
};

class DelegatedAuth {
 public:
  DelegatedAuth(Interface& api, const healthgate::Clock& clock, DelegatedAuthOptions options = {});

  AccessReview Review(std::string_view token, const AccessAttributes& what);
  // A non-resource URL.
  AccessReview Review(std::string_view token, std::string_view path, std::string_view verb) {
    AccessAttributes a;
    a.verb = verb;
    a.path = path;
    return Review(token, a);
  }

  // Reviews sent to the API server (TokenReviews) and answers from the cache.
  std::uint64_t token_reviews() const;
  std::uint64_t cache_hits() const;

 private:
  struct Entry {
    AccessReview review;
    healthgate::MonoTime expires;
  };
  AccessReview Ask(std::string_view token, const AccessAttributes& what);
  void Remember(const std::string& key, const AccessReview& review);

  Interface& api_;
  const healthgate::Clock& clock_;
  DelegatedAuthOptions options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;
  std::uint64_t token_reviews_ = 0;
  std::uint64_t cache_hits_ = 0;
};

}  // namespace healthgate::kube
