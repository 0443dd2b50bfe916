// An in-memory Kubernetes API for unit tests, behind kube::Interface: objects
// with resourceVersions (one counter, as etcd's), list (with paging) and watch
// (events pushed to every open watch; resume from a resourceVersion replays the
// history after it; a compacted one answers 410 Gone), create / update (a stale
// metadata.resourceVersion is a 409 Conflict) / patch / delete, and the status
// subresource. It exists to inject, on demand, the faults a real API server
// does not produce when a test wants them: 409, 410, 429 with Retry-After, 5xx
// and timeouts on chosen calls (by verb and path prefix, for the next N calls
// or always), and to record every call for assertions. The end-to-end tests
// run the same code against a real kube-apiserver.
//
// Simplifications (documented, not hidden): label selectors support only
// equality terms (k=v,k2=v2); field selectors are ignored; a strategic merge
// patch is a JSON merge patch in which arrays named "conditions" merge by
// "type"; server-side apply is a merge patch.
//
// Thread-safety: every method is thread-safe. A watch blocks its caller's
// thread until it is closed, fails or its StopSignal fires.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "operator/kube/interface.h"

namespace healthgate::testing {

using nlohmann::json;

enum class Verb {
  kGet,
  kGetMetadata,  // GetMetadata: the same path as kGet, metadata only
  kList,
  kWatch,
  kCreate,
  kUpdate,
  kUpdateStatus,
  kPatch,
  kPatchStatus,
  kDelete
};
const char* VerbName(Verb v);

class FakeKube final : public kube::Interface {
 public:
  struct Call {
    Verb verb;
    std::string path;              // ref.Path(name[, "status"]), no query
    json body;                     // the object or patch sent (null for reads)
    std::string resource_version;  // list/watch: the version asked for; update: the object's
    kube::PatchType patch_type = kube::PatchType::kMerge;
  };

  FakeKube() = default;
  ~FakeKube() override;

  // --- Interface ---
  kube::Result<json> Get(const kube::ResourceRef& ref, const std::string& name) override;
  kube::Result<json> GetMetadata(const kube::ResourceRef& ref, const std::string& name) override;
  kube::Result<json> List(const kube::ResourceRef& ref, const kube::ListOptions& options) override;
  kube::Result<json> Create(const kube::ResourceRef& ref, const json& object,
                            const kube::WriteOptions& w) override;
  kube::Result<json> Update(const kube::ResourceRef& ref, const json& object,
                            const kube::WriteOptions& w) override;
  kube::Result<json> UpdateStatus(const kube::ResourceRef& ref, const json& object,
                                  const kube::WriteOptions& w) override;
  kube::Result<json> Patch(const kube::ResourceRef& ref, const std::string& name,
                           kube::PatchType type, const json& patch,
                           const kube::WriteOptions& w) override;
  kube::Result<json> PatchStatus(const kube::ResourceRef& ref, const std::string& name,
                                 kube::PatchType type, const json& patch,
                                 const kube::WriteOptions& w) override;
  kube::Result<json> Delete(const kube::ResourceRef& ref, const std::string& name,
                            const json& options) override;
  kube::Result<kube::WatchEnd> Watch(const kube::ResourceRef& ref,
                                     const kube::WatchOptions& options,
                                     const std::function<void(const kube::WatchEvent&)>& on_event,
                                     const kube::StopSignal& stop) override;
  using kube::Interface::Create;
  using kube::Interface::Delete;
  using kube::Interface::Patch;
  using kube::Interface::PatchStatus;
  using kube::Interface::Update;

  // --- The cluster's state, as an administrator changes it (no faults, not
  // recorded as calls). Each returns the object as stored. ---
  // Creates or replaces (metadata.namespace comes from `ref`); ADDED/MODIFIED.
  json Put(const kube::ResourceRef& ref, json object);
  // DELETED to watches; false when absent.
  bool Remove(const kube::ResourceRef& ref, const std::string& name);
  std::optional<json> Object(const kube::ResourceRef& ref, const std::string& name) const;
  std::vector<json> Objects(const kube::ResourceRef& ref) const;
  std::string resource_version() const;  // the newest one handed out
  // Sends a BOOKMARK at the current resourceVersion to the open watches of `ref`.
  void Bookmark(const kube::ResourceRef& ref);
  // Forgets the history: a watch or list from an older version gets 410 Gone,
  // and every open watch ends with an ERROR 410 event (as after etcd compaction).
  void Compact();
  // Ends every open watch as a server does when timeoutSeconds pass.
  void CloseWatches();
  // Ends every open watch with `error` (an ERROR event first for API errors).
  void FailWatches(const kube::Error& error);
  std::size_t open_watches() const;
  // Blocks (real time, at most `limit`) until `n` watches are open. For tests.
  bool AwaitOpenWatches(std::size_t n,
                        std::chrono::milliseconds limit = std::chrono::milliseconds(10'000)) const;
  // Also blocks for at most `limit`: until at least `n` calls matched.
  bool AwaitCalls(Verb verb, const std::string& path_prefix, std::size_t n,
                  std::chrono::milliseconds limit = std::chrono::milliseconds(10'000)) const;

  // --- Faults: the first matching rule answers the call instead of the store.
  // `path_prefix` matches the start of Call::path ("" matches any). ---
  void FailNext(Verb verb, const std::string& path_prefix, kube::Error error, int times = 1);
  void FailAlways(Verb verb, const std::string& path_prefix, kube::Error error);
  // Every verb, every path, until ClearFaults: the API server is unreachable.
  void Unreachable();
  void ClearFaults();

  // --- Review APIs (TokenReview, SubjectAccessReview) store nothing: the API
  // server computes the answer from the request. A reactor does that here for
  // Creates whose path starts with `path_prefix` (calls are still recorded and
  // faults still apply first). ---
  using Reactor = std::function<kube::Result<json>(const json& object)>;
  void ReactToCreate(const std::string& path_prefix, Reactor reactor);

  // --- What was called ---
  std::vector<Call> calls() const;
  std::size_t Count(Verb verb, const std::string& path_prefix = "") const;
  void ClearCalls();

  // Errors as the API server (or the network) produces them.
  static kube::Error Conflict(const std::string& what = "the object has been modified");
  static kube::Error NotFound(const std::string& what = "not found");
  static kube::Error Forbidden(const std::string& what = "forbidden");
  static kube::Error Gone();
  static kube::Error TooManyRequests(std::chrono::seconds retry_after);
  static kube::Error ServerError(long code = 500);
  static kube::Error Timeout();  // no answer within the client's timeout
  static kube::Error Refused();  // connection refused

 private:
  struct Stored {
    json object;
    std::uint64_t rv = 0;
  };
  struct Event {
    std::string collection;  // group/version/resource
    std::string ns;
    kube::WatchEvent::Type type;
    json object;
    std::uint64_t rv;
  };
  struct OpenWatch {
    std::string collection;
    std::string ns;  // "" = all
    std::map<std::string, std::string> labels;
    std::deque<kube::WatchEvent> queue;
    bool closed = false;
    std::optional<kube::Error> error;
    bool stopped = false;
  };
  struct Fault {
    Verb verb;
    bool any_verb = false;
    std::string prefix;
    kube::Error error;
    int remaining;  // < 0: always
  };

  static std::string Collection(const kube::ResourceRef& ref);
  static std::string Key(const std::string& ns, const std::string& name);
  // mu_ held. Records the call and answers with a fault when one matches.
  std::optional<kube::Error> Enter(Call call);
  // mu_ held. Stores `object` (bumping its resourceVersion) and notifies watches.
  json StoreLocked(const kube::ResourceRef& ref, json object, bool created);
  void EmitLocked(const kube::ResourceRef& ref, kube::WatchEvent::Type type, const json& object,
                  std::uint64_t rv);
  kube::Result<json> UpdateLocked(const kube::ResourceRef& ref, const json& object, bool status);
  kube::Result<json> PatchLocked(const kube::ResourceRef& ref, const std::string& name,
                                 kube::PatchType type, const json& patch, bool status);

  mutable std::mutex mu_;
  std::vector<std::pair<std::string, Reactor>> reactors_;
  mutable std::condition_variable cv_;
  std::map<std::string, std::map<std::string, Stored>> objects_;  // collection -> ns/name
  std::vector<Event> history_;
  std::uint64_t rv_ = 100;
  std::uint64_t compacted_ = 0;  // versions <= this are gone
  std::uint64_t uid_ = 0;
  std::vector<std::shared_ptr<OpenWatch>> watches_;
  std::vector<Fault> faults_;
  std::vector<Call> calls_;
};

// Polls `pred` (real time, at most `limit`) until it is true; returns pred().
// For waiting on another thread's progress in tests, never to measure time.
bool Eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds limit = std::chrono::milliseconds(10'000));

}  // namespace healthgate::testing
