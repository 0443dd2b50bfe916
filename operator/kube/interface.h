// The seam between healthgate and the Kubernetes API: the typed calls the
// reflector, the elector, the event recorder, the readiness gates, the status
// writer and the secret resolver make, on a resource path (group, version,
// resource, namespace) and an object name, in the manner of client-go's
// clientset interface and kube-rs' Api. Errors are the typed values of
// error.h (IsNotFound, IsConflict, IsGone, retry_after...).
//
// kube::Client implements it over HTTPS; tests/support/fake_kube.h is an
// in-memory implementation for unit tests that injects faults.
//
// Thread-safety: implementations allow concurrent calls from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

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

// How a watch ended without an error: the server closed the stream (its
// timeoutSeconds passed, or it shut down cleanly). The caller re-watches from
// the last resourceVersion it saw.
struct WatchEnd {
  std::uint64_t events = 0;  // events delivered (bookmarks included)
};

class Interface {
 public:
  virtual ~Interface() = default;

  virtual Result<json> Get(const ResourceRef& ref, const std::string& name) = 0;
  // The object's metadata only (a meta.k8s.io/v1 PartialObjectMetadata: name,
  // labels, annotations, resourceVersion...), never its other fields: a Secret's
  // `data` is not transferred. Same RBAC verb as Get.
  virtual Result<json> GetMetadata(const ResourceRef& ref, const std::string& name) = 0;
  // One page: the List object (items, metadata.resourceVersion, metadata.continue).
  virtual Result<json> List(const ResourceRef& ref, const ListOptions& options) = 0;
  // Every page, following `continue`: a List object whose items are all pages'
  // items and whose metadata.resourceVersion is the snapshot's version.
  Result<json> ListAll(const ResourceRef& ref, ListOptions options = {});

  virtual Result<json> Create(const ResourceRef& ref, const json& object,
                              const WriteOptions& w) = 0;
  // PUT; metadata.name and metadata.resourceVersion (optimistic concurrency: a
  // stale one is a Conflict) come from `object`.
  virtual Result<json> Update(const ResourceRef& ref, const json& object,
                              const WriteOptions& w) = 0;
  virtual Result<json> UpdateStatus(const ResourceRef& ref, const json& object,
                                    const WriteOptions& w) = 0;
  virtual Result<json> Patch(const ResourceRef& ref, const std::string& name, PatchType type,
                             const json& patch, const WriteOptions& w) = 0;
  virtual Result<json> PatchStatus(const ResourceRef& ref, const std::string& name, PatchType type,
                                   const json& patch, const WriteOptions& w) = 0;
  // `options` is a DeleteOptions body or null.
  virtual Result<json> Delete(const ResourceRef& ref, const std::string& name,
                              const json& options) = 0;

  // Streams events to `on_event` (on this thread) until the stream ends
  // (WatchEnd), an error occurs (a watch ERROR event is delivered, then
  // returned as its error; IsGone() means relist), or `stop` fires
  // (ErrorKind::kStopped, promptly).
  virtual Result<WatchEnd> Watch(const ResourceRef& ref, const WatchOptions& options,
                                 const std::function<void(const WatchEvent&)>& on_event,
                                 const StopSignal& stop) = 0;

  // Convenience overloads with default options.
  Result<json> Create(const ResourceRef& ref, const json& object) {
    return Create(ref, object, WriteOptions{});
  }
  Result<json> Update(const ResourceRef& ref, const json& object) {
    return Update(ref, object, WriteOptions{});
  }
  Result<json> Patch(const ResourceRef& ref, const std::string& name, PatchType type,
                     const json& patch) {
    return Patch(ref, name, type, patch, WriteOptions{});
  }
  Result<json> PatchStatus(const ResourceRef& ref, const std::string& name, PatchType type,
                           const json& patch) {
    return PatchStatus(ref, name, type, patch, WriteOptions{});
  }
  Result<json> Delete(const ResourceRef& ref, const std::string& name) {
    return Delete(ref, name, nullptr);
  }
};

}  // namespace healthgate::kube
