// A small Kubernetes API client over libcurl: typed errors, JSON bodies
// (nlohmann::json), generic over group/version/resource/namespace.
//
// Thread-safety: every method may be called from any thread concurrently.
// Requests reuse pooled libcurl easy handles (and so their connections); a
// watch runs on the caller's thread with its own multi handle and returns when
// the stream ends, fails, or its StopSignal fires.
//
// The bearer token and client key never reach a log, an Error or a return
// value; libcurl's verbose mode is never enabled.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "operator/kube/config.h"
#include "operator/kube/error.h"
#include "operator/kube/stop.h"
#include "operator/kube/watch.h"

namespace healthgate::kube {

using nlohmann::json;

// Which collection a request addresses. `group` empty is the core group
// (/api/v1); `ns` empty means cluster-scoped, or all namespaces for List/Watch.
struct ResourceRef {
  std::string group;
  std::string version;
  std::string resource;  // plural, lower case: "configmaps", "healthchecks"
  std::string ns;

  ResourceRef InNamespace(std::string namespace_name) const {
    ResourceRef r = *this;
    r.ns = std::move(namespace_name);
    return r;
  }
  // "/api/v1/namespaces/ns/configmaps[/name[/subresource]]" (segments escaped).
  std::string Path(const std::string& name = "", const std::string& subresource = "") const;
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;        // "" = most recent (quorum read)
  std::string resource_version_match;  // "NotOlderThan" / "Exact" or ""
  std::int64_t limit = 0;              // page size, 0 = no paging
  std::string continue_token;
};

struct WatchOptions {
  std::string resource_version;  // start after this version ("" = from now, with synthetic ADDED)
  std::string label_selector;
  std::string field_selector;
  bool allow_bookmarks = true;
  std::chrono::seconds timeout{300};  // server-side timeoutSeconds
};

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJson,            // application/json-patch+json (RFC 6902), body is an array
  kStrategicMerge,  // built-in types only
  kApply,           // server-side apply; requires field_manager
};

struct WriteOptions {
  std::string field_manager;  // required for kApply
  bool force = false;         // server-side apply: take over conflicting fields
  bool dry_run = false;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};  // whole request, except watches
  std::string user_agent = "healthgate";
  std::size_t max_idle_handles = 8;
};

// How a watch ended without an error: the server closed the stream (its
// timeoutSeconds passed, or it shut down cleanly). The caller re-watches from
// the last resourceVersion it saw.
struct WatchEnd {
  std::uint64_t events = 0;  // events delivered (bookmarks included)
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> Create(Config config, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Config& config() const { return config_; }

  // GET of an arbitrary API path ("/version", "/apis"): the decoded JSON body.
  Result<json> GetPath(const std::string& path);

  Result<json> Get(const ResourceRef& ref, const std::string& name);
  // One page: the List object (items, metadata.resourceVersion, metadata.continue).
  Result<json> List(const ResourceRef& ref, const ListOptions& options = {});
  // Every page, following `continue`: a List object whose items are all pages'
  // items and whose metadata.resourceVersion is the snapshot's version.
  Result<json> ListAll(const ResourceRef& ref, ListOptions options = {});

  Result<json> Create(const ResourceRef& ref, const json& object, const WriteOptions& w = {});
  // PUT; the object's metadata.name (and resourceVersion, for optimistic
  // concurrency: a stale one yields a Conflict error) come from `object`.
  Result<json> Update(const ResourceRef& ref, const json& object, const WriteOptions& w = {});
  Result<json> UpdateStatus(const ResourceRef& ref, const json& object, const WriteOptions& w = {});
  Result<json> Patch(const ResourceRef& ref, const std::string& name, PatchType type,
                     const json& patch, const WriteOptions& w = {});
  Result<json> PatchStatus(const ResourceRef& ref, const std::string& name, PatchType type,
                           const json& patch, const WriteOptions& w = {});
  // `options` is a DeleteOptions body (preconditions, propagationPolicy) or null.
  // Returns what the server returns: the object (finalizers pending) or a Status.
  Result<json> Delete(const ResourceRef& ref, const std::string& name,
                      const json& options = nullptr);

  // Streams events to `on_event` (on this thread) until the server closes the
  // stream (WatchEnd), an error occurs, or `stop` fires (ErrorKind::kStopped,
  // promptly: the multi handle is woken). ERROR events are delivered and then
  // returned as the error they carry; 410 (IsGone()) means: relist.
  Result<WatchEnd> Watch(const ResourceRef& ref, const WatchOptions& options,
                         const std::function<void(const WatchEvent&)>& on_event,
                         const StopSignal& stop);

  // Escapes one URL path segment or query value.
  static std::string Escape(const std::string& s);

 private:
  Client(Config config, ClientOptions options);
  struct Response {
    long code = 0;
    std::string body;
  };
  Result<Response> Perform(const std::string& method, const std::string& path_and_query,
                           const std::string* body, const std::string& content_type);
  Result<json> Call(const std::string& method, const std::string& path_and_query,
                    const std::string* body, const std::string& content_type);
  // Sets TLS, auth, timeouts and headers common to every request. Returns the
  // header list the caller must free after the transfer.
  Result<void*> Prepare(void* easy, const std::string& url, const std::string& content_type);
  void* AcquireHandle();
  void ReleaseHandle(void* easy);

  Config config_;
  ClientOptions options_;
  std::mutex pool_mu_;
  std::vector<void*> idle_;  // CURL* easy handles, guarded by pool_mu_
};

std::string WriteQuery(const WriteOptions& w);

}  // namespace healthgate::kube
