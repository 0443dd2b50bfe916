#include "tests/support/fake_kube.h"

#include <algorithm>
#include <thread>

namespace healthgate::testing {
namespace {

using kube::Error;
using kube::ErrorKind;
using kube::Reason;
using kube::WatchEvent;

Error ApiError(long code, Reason reason, const std::string& reason_text, std::string message) {
  Error e;
  e.kind = ErrorKind::kApi;
  e.http_code = code;
  e.reason = reason;
  e.reason_text = reason_text;
  e.message = std::move(message);
  return e;
}

std::map<std::string, std::string> ParseSelector(const std::string& s) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    const std::string term = s.substr(start, end - start);
    const std::size_t eq = term.find('=');
    if (eq != std::string::npos) out[term.substr(0, eq)] = term.substr(eq + 1);
    start = end + 1;
  }
  return out;
}

bool LabelsMatch(const std::map<std::string, std::string>& want, const json& object) {
  const json labels = object.value("/metadata/labels"_json_pointer, json::object());
  for (const auto& [k, v] : want) {
    if (!labels.contains(k) || labels[k] != v) return false;
  }
  return true;
}

// JSON merge patch, except arrays named "conditions", merged by "type".
void StrategicMerge(json& target, const json& patch) {
  if (!patch.is_object() || !target.is_object()) {
    target = patch;
    return;
  }
  for (const auto& [k, v] : patch.items()) {
    if (v.is_null()) {
      target.erase(k);
    } else if (k == "conditions" && v.is_array() && target.contains(k) && target[k].is_array()) {
      for (const auto& c : v) {
        auto it = std::find_if(target[k].begin(), target[k].end(), [&](const json& old) {
          return old.value("type", "") == c.value("type", "");
        });
        if (it == target[k].end())
          target[k].push_back(c);
        else
          StrategicMerge(*it, c);
      }
    } else if (v.is_object() && target.contains(k) && target[k].is_object()) {
      StrategicMerge(target[k], v);
    } else {
      target[k] = v;
    }
  }
}

}  // namespace

const char* VerbName(Verb v) {
  switch (v) {
    case Verb::kGet:
      return "get";
    case Verb::kGetMetadata:
      return "get-metadata";
    case Verb::kList:
      return "list";
    case Verb::kWatch:
      return "watch";
    case Verb::kCreate:
      return "create";
    case Verb::kUpdate:
      return "update";
    case Verb::kUpdateStatus:
      return "update-status";
    case Verb::kPatch:
      return "patch";
    case Verb::kPatchStatus:
      return "patch-status";
    case Verb::kDelete:
      return "delete";
  }
  return "?";
}

FakeKube::~FakeKube() { CloseWatches(); }

std::string FakeKube::Collection(const kube::ResourceRef& ref) {
  return ref.group + "/" + ref.version + "/" + ref.resource;
}

std::string FakeKube::Key(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

Error FakeKube::Conflict(const std::string& what) {
  return ApiError(409, Reason::kConflict, "Conflict",
                  "Operation cannot be fulfilled: " + what +
                      "; please apply your changes to the "
                      "latest version and try again");
}
Error FakeKube::NotFound(const std::string& what) {
  return ApiError(404, Reason::kNotFound, "NotFound", what);
}
Error FakeKube::Forbidden(const std::string& what) {
  return ApiError(403, Reason::kForbidden, "Forbidden", what);
}
Error FakeKube::Gone() {
  return ApiError(410, Reason::kExpired, "Expired", "too old resource version");
}
Error FakeKube::TooManyRequests(std::chrono::seconds retry_after) {
  Error e = ApiError(429, Reason::kTooManyRequests, "TooManyRequests",
                     "the server has received too many requests and has asked us to try again "
                     "later");
  e.retry_after = retry_after;
  return e;
}
Error FakeKube::ServerError(long code) {
  const Reason r = code == 503   ? Reason::kServiceUnavailable
                   : code == 504 ? Reason::kServerTimeout
                                 : Reason::kInternalError;
  return ApiError(code, r, code == 503 ? "ServiceUnavailable" : "InternalError",
                  "the server is currently unable to handle the request");
}
Error FakeKube::Timeout() {
  return kube::TransportError("Operation timed out after 30000 milliseconds");
}
Error FakeKube::Refused() { return kube::TransportError("Couldn't connect to server"); }

std::optional<Error> FakeKube::Enter(Call call) {
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if ((!it->any_verb && it->verb != call.verb) ||
        call.path.compare(0, it->prefix.size(), it->prefix) != 0)
      continue;
    Error e = it->error;
    if (it->remaining > 0 && --it->remaining == 0) faults_.erase(it);
    calls_.push_back(std::move(call));
    cv_.notify_all();
    return e;
  }
  calls_.push_back(std::move(call));
  cv_.notify_all();
  return std::nullopt;
}

void FakeKube::EmitLocked(const kube::ResourceRef& ref, WatchEvent::Type type, const json& object,
                          std::uint64_t rv) {
  const std::string collection = Collection(ref);
  history_.push_back({collection, ref.ns, type, object, rv});
  for (auto& w : watches_) {
    if (w->collection != collection || (!w->ns.empty() && w->ns != ref.ns)) continue;
    if (!LabelsMatch(w->labels, object)) continue;
    w->queue.push_back(WatchEvent{type, object});
  }
  cv_.notify_all();
}

json FakeKube::StoreLocked(const kube::ResourceRef& ref, json object, bool created) {
  const std::uint64_t rv = ++rv_;
  auto& meta = object["metadata"];
  if (!ref.ns.empty()) meta["namespace"] = ref.ns;
  meta["resourceVersion"] = std::to_string(rv);
  if (created) {
    if (!meta.contains("uid")) meta["uid"] = "uid-" + std::to_string(++uid_);
    if (!meta.contains("generation")) meta["generation"] = 1;
  }
  const std::string key = Key(ref.ns, meta.value("name", ""));
  objects_[Collection(ref)][key] = Stored{object, rv};
  EmitLocked(ref, created ? WatchEvent::Type::kAdded : WatchEvent::Type::kModified, object, rv);
  return object;
}

json FakeKube::Put(const kube::ResourceRef& ref, json object) {
  std::lock_guard lock(mu_);
  const std::string name = object.value("/metadata/name"_json_pointer, std::string());
  auto& coll = objects_[Collection(ref)];
  auto it = coll.find(Key(ref.ns, name));
  const bool created = it == coll.end();
  if (!created) {
    for (const char* k : {"uid", "generation"}) {
      if (!object["metadata"].contains(k) && it->second.object["metadata"].contains(k))
        object["metadata"][k] = it->second.object["metadata"][k];
    }
  }
  return StoreLocked(ref, std::move(object), created);
}

bool FakeKube::Remove(const kube::ResourceRef& ref, const std::string& name) {
  std::lock_guard lock(mu_);
  auto& coll = objects_[Collection(ref)];
  auto it = coll.find(Key(ref.ns, name));
  if (it == coll.end()) return false;
  json object = std::move(it->second.object);
  coll.erase(it);
  const std::uint64_t rv = ++rv_;
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  EmitLocked(ref, WatchEvent::Type::kDeleted, object, rv);
  return true;
}

std::optional<json> FakeKube::Object(const kube::ResourceRef& ref, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto c = objects_.find(Collection(ref));
  if (c == objects_.end()) return std::nullopt;
  auto it = c->second.find(Key(ref.ns, name));
  if (it == c->second.end()) return std::nullopt;
  return it->second.object;
}

std::vector<json> FakeKube::Objects(const kube::ResourceRef& ref) const {
  std::lock_guard lock(mu_);
  std::vector<json> out;
  auto c = objects_.find(Collection(ref));
  if (c == objects_.end()) return out;
  for (const auto& [key, s] : c->second) {
    if (ref.ns.empty() || s.object.value("/metadata/namespace"_json_pointer, "") == ref.ns)
      out.push_back(s.object);
  }
  return out;
}

std::string FakeKube::resource_version() const {
  std::lock_guard lock(mu_);
  return std::to_string(rv_);
}

void FakeKube::Bookmark(const kube::ResourceRef& ref) {
  std::lock_guard lock(mu_);
  const std::string collection = Collection(ref);
  json object = {{"metadata", {{"resourceVersion", std::to_string(rv_)}}}};
  for (auto& w : watches_) {
    if (w->collection != collection || (!w->ns.empty() && !ref.ns.empty() && w->ns != ref.ns))
      continue;
    w->queue.push_back(WatchEvent{WatchEvent::Type::kBookmark, object});
  }
  cv_.notify_all();
}

void FakeKube::Compact() {
  std::lock_guard lock(mu_);
  compacted_ = rv_;
  history_.clear();
  for (auto& w : watches_) {
    if (!w->closed) w->error = Gone();
  }
  cv_.notify_all();
}

void FakeKube::CloseWatches() {
  std::lock_guard lock(mu_);
  for (auto& w : watches_) w->closed = true;
  cv_.notify_all();
}

void FakeKube::FailWatches(const Error& error) {
  std::lock_guard lock(mu_);
  for (auto& w : watches_) {
    if (!w->closed) w->error = error;
  }
  cv_.notify_all();
}

std::size_t FakeKube::open_watches() const {
  std::lock_guard lock(mu_);
  return watches_.size();
}

bool FakeKube::AwaitOpenWatches(std::size_t n, std::chrono::milliseconds limit) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, limit, [&] { return watches_.size() >= n; });
}

bool FakeKube::AwaitCalls(Verb verb, const std::string& prefix, std::size_t n,
                          std::chrono::milliseconds limit) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, limit, [&] {
    return static_cast<std::size_t>(std::count_if(calls_.begin(), calls_.end(), [&](const Call& c) {
             return c.verb == verb && c.path.compare(0, prefix.size(), prefix) == 0;
           })) >= n;
  });
}

void FakeKube::FailNext(Verb verb, const std::string& prefix, Error error, int times) {
  std::lock_guard lock(mu_);
  faults_.push_back(Fault{verb, false, prefix, std::move(error), std::max(times, 1)});
}

void FakeKube::FailAlways(Verb verb, const std::string& prefix, Error error) {
  std::lock_guard lock(mu_);
  faults_.push_back(Fault{verb, false, prefix, std::move(error), -1});
}

void FakeKube::Unreachable() {
  std::lock_guard lock(mu_);
  faults_.push_back(Fault{Verb::kGet, true, "", Refused(), -1});
  for (auto& w : watches_) {
    if (!w->closed) w->error = Refused();
  }
  cv_.notify_all();
}

void FakeKube::ClearFaults() {
  std::lock_guard lock(mu_);
  faults_.clear();
}

std::vector<FakeKube::Call> FakeKube::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

std::size_t FakeKube::Count(Verb verb, const std::string& prefix) const {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(std::count_if(calls_.begin(), calls_.end(), [&](const Call& c) {
    return c.verb == verb && c.path.compare(0, prefix.size(), prefix) == 0;
  }));
}

void FakeKube::ClearCalls() {
  std::lock_guard lock(mu_);
  calls_.clear();
}

kube::Result<json> FakeKube::Get(const kube::ResourceRef& ref, const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto f = Enter({Verb::kGet, ref.Path(name), nullptr, ""})) return *f;
  auto c = objects_.find(Collection(ref));
  if (c != objects_.end()) {
    if (auto it = c->second.find(Key(ref.ns, name)); it != c->second.end())
      return it->second.object;
  }
  return NotFound(ref.resource + " \"" + name + "\" not found");
}

kube::Result<json> FakeKube::GetMetadata(const kube::ResourceRef& ref, const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto f = Enter({Verb::kGetMetadata, ref.Path(name), nullptr, ""})) return *f;
  auto c = objects_.find(Collection(ref));
  if (c != objects_.end()) {
    if (auto it = c->second.find(Key(ref.ns, name)); it != c->second.end()) {
      return json{{"apiVersion", "meta.k8s.io/v1"},
                  {"kind", "PartialObjectMetadata"},
                  {"metadata", it->second.object.value("metadata", json::object())}};
    }
  }
  return NotFound(ref.resource + " \"" + name + "\" not found");
}

kube::Result<json> FakeKube::List(const kube::ResourceRef& ref, const kube::ListOptions& o) {
  std::lock_guard lock(mu_);
  if (auto f = Enter({Verb::kList, ref.Path(), nullptr, o.resource_version})) return *f;
  if (!o.resource_version.empty() && o.resource_version != "0" &&
      std::stoull(o.resource_version) < compacted_)
    return Gone();
  const auto want = ParseSelector(o.label_selector);
  std::vector<const json*> items;
  if (auto c = objects_.find(Collection(ref)); c != objects_.end()) {
    for (const auto& [key, s] : c->second) {
      if (!ref.ns.empty() && s.object.value("/metadata/namespace"_json_pointer, "") != ref.ns)
        continue;
      if (LabelsMatch(want, s.object)) items.push_back(&s.object);
    }
  }
  std::size_t start = o.continue_token.empty() ? 0 : std::stoul(o.continue_token);
  std::size_t end = items.size();
  if (o.limit > 0) end = std::min(end, start + static_cast<std::size_t>(o.limit));
  json list = {{"kind", "List"}, {"apiVersion", "v1"}, {"items", json::array()}};
  for (std::size_t i = start; i < end; ++i) list["items"].push_back(*items[i]);
  list["metadata"] = {{"resourceVersion", std::to_string(rv_)}};
  if (end < items.size()) list["metadata"]["continue"] = std::to_string(end);
  return list;
}

void FakeKube::ReactToCreate(const std::string& path_prefix, Reactor reactor) {
  std::lock_guard lock(mu_);
  reactors_.emplace_back(path_prefix, std::move(reactor));
}

kube::Result<json> FakeKube::Create(const kube::ResourceRef& ref, const json& object,
                                    const kube::WriteOptions&) {
  Reactor reactor;
  {
    std::lock_guard lock(mu_);
    if (auto f = Enter({Verb::kCreate, ref.Path(), object, ""})) return *f;
    for (const auto& [prefix, r] : reactors_) {
      if (ref.Path().rfind(prefix, 0) == 0) {
        reactor = r;
        break;
      }
    }
  }
  if (reactor) return reactor(object);  // outside the lock: it may take its time
  std::lock_guard lock(mu_);
  const std::string name = object.value("/metadata/name"_json_pointer, std::string());
  if (name.empty()) return ApiError(422, Reason::kInvalid, "Invalid", "metadata.name: Required");
  auto& coll = objects_[Collection(ref)];
  if (coll.contains(Key(ref.ns, name)))
    return ApiError(409, Reason::kAlreadyExists, "AlreadyExists",
                    ref.resource + " \"" + name + "\" already exists");
  json o = object;
  o["metadata"].erase("resourceVersion");
  return StoreLocked(ref, std::move(o), true);
}

kube::Result<json> FakeKube::UpdateLocked(const kube::ResourceRef& ref, const json& object,
                                          bool status) {
  const std::string name = object.value("/metadata/name"_json_pointer, std::string());
  auto& coll = objects_[Collection(ref)];
  auto it = coll.find(Key(ref.ns, name));
  if (it == coll.end()) return NotFound(ref.resource + " \"" + name + "\" not found");
  const std::string rv = object.value("/metadata/resourceVersion"_json_pointer, std::string());
  if (!rv.empty() && rv != std::to_string(it->second.rv))
    return Conflict(ref.resource + " \"" + name + "\"");
  json next = it->second.object;
  if (status) {
    next["status"] = object.value("status", json::object());
  } else {
    json keep_status = next.value("status", json());
    const bool spec_changed = next.value("spec", json()) != object.value("spec", json());
    const json meta = next["metadata"];
    next = object;
    for (const char* k : {"uid", "generation"}) {
      if (meta.contains(k)) next["metadata"][k] = meta[k];
    }
    if (spec_changed) next["metadata"]["generation"] = meta.value("generation", 1) + 1;
    if (!keep_status.is_null()) next["status"] = keep_status;
  }
  return StoreLocked(ref, std::move(next), false);
}

kube::Result<json> FakeKube::Update(const kube::ResourceRef& ref, const json& object,
                                    const kube::WriteOptions&) {
  std::lock_guard lock(mu_);
  const std::string name = object.value("/metadata/name"_json_pointer, std::string());
  if (auto f = Enter({Verb::kUpdate, ref.Path(name), object,
                      object.value("/metadata/resourceVersion"_json_pointer, std::string())}))
    return *f;
  return UpdateLocked(ref, object, false);
}

kube::Result<json> FakeKube::UpdateStatus(const kube::ResourceRef& ref, const json& object,
                                          const kube::WriteOptions&) {
  std::lock_guard lock(mu_);
  const std::string name = object.value("/metadata/name"_json_pointer, std::string());
  if (auto f = Enter({Verb::kUpdateStatus, ref.Path(name, "status"), object,
                      object.value("/metadata/resourceVersion"_json_pointer, std::string())}))
    return *f;
  return UpdateLocked(ref, object, true);
}

kube::Result<json> FakeKube::PatchLocked(const kube::ResourceRef& ref, const std::string& name,
                                         kube::PatchType type, const json& patch, bool status) {
  auto& coll = objects_[Collection(ref)];
  auto it = coll.find(Key(ref.ns, name));
  if (it == coll.end()) return NotFound(ref.resource + " \"" + name + "\" not found");
  const std::string rv = patch.is_object()
                             ? patch.value("/metadata/resourceVersion"_json_pointer, std::string())
                             : std::string();
  if (!rv.empty() && rv != std::to_string(it->second.rv))
    return Conflict(ref.resource + " \"" + name + "\"");
  json next = it->second.object;
  switch (type) {
    case kube::PatchType::kJson: {
      try {
        next = next.patch(patch);
      } catch (const json::exception& e) {
        return ApiError(422, Reason::kInvalid, "Invalid", e.what());
      }
      break;
    }
    case kube::PatchType::kStrategicMerge:
      StrategicMerge(next, patch);
      break;
    case kube::PatchType::kMerge:
    case kube::PatchType::kApply:
      next.merge_patch(patch);
      break;
  }
  if (status) {
    json merged_status = next.value("status", json());
    next = it->second.object;
    if (merged_status.is_null())
      next.erase("status");
    else
      next["status"] = merged_status;
  }
  next["metadata"]["name"] = name;
  return StoreLocked(ref, std::move(next), false);
}

kube::Result<json> FakeKube::Patch(const kube::ResourceRef& ref, const std::string& name,
                                   kube::PatchType type, const json& patch,
                                   const kube::WriteOptions&) {
  std::lock_guard lock(mu_);
  Call call{Verb::kPatch, ref.Path(name), patch, "", type};
  if (auto f = Enter(std::move(call))) return *f;
  return PatchLocked(ref, name, type, patch, false);
}

kube::Result<json> FakeKube::PatchStatus(const kube::ResourceRef& ref, const std::string& name,
                                         kube::PatchType type, const json& patch,
                                         const kube::WriteOptions&) {
  std::lock_guard lock(mu_);
  Call call{Verb::kPatchStatus, ref.Path(name, "status"), patch, "", type};
  if (auto f = Enter(std::move(call))) return *f;
  return PatchLocked(ref, name, type, patch, true);
}

kube::Result<json> FakeKube::Delete(const kube::ResourceRef& ref, const std::string& name,
                                    const json& options) {
  std::unique_lock lock(mu_);
  if (auto f = Enter({Verb::kDelete, ref.Path(name), options, ""})) return *f;
  auto& coll = objects_[Collection(ref)];
  auto it = coll.find(Key(ref.ns, name));
  if (it == coll.end()) return NotFound(ref.resource + " \"" + name + "\" not found");
  json object = std::move(it->second.object);
  coll.erase(it);
  const std::uint64_t rv = ++rv_;
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  EmitLocked(ref, WatchEvent::Type::kDeleted, object, rv);
  return object;
}

kube::Result<kube::WatchEnd> FakeKube::Watch(const kube::ResourceRef& ref,
                                             const kube::WatchOptions& options,
                                             const std::function<void(const WatchEvent&)>& on_event,
                                             const kube::StopSignal& stop) {
  auto w = std::make_shared<OpenWatch>();
  w->collection = Collection(ref);
  w->ns = ref.ns;
  w->labels = ParseSelector(options.label_selector);
  {
    std::lock_guard lock(mu_);
    if (auto f = Enter({Verb::kWatch, ref.Path(), nullptr, options.resource_version})) {
      if (f->IsGone()) on_event(WatchEvent{WatchEvent::Type::kError, json{{"code", 410}}});
      return *f;
    }
    const std::uint64_t from =
        options.resource_version.empty() ? 0 : std::stoull(options.resource_version);
    if (!options.resource_version.empty() && from < compacted_) {
      w->error = Gone();
    } else if (options.resource_version.empty()) {
      if (auto c = objects_.find(w->collection); c != objects_.end()) {
        for (const auto& [key, s] : c->second) {
          if ((w->ns.empty() || s.object.value("/metadata/namespace"_json_pointer, "") == w->ns) &&
              LabelsMatch(w->labels, s.object))
            w->queue.push_back(WatchEvent{WatchEvent::Type::kAdded, s.object});
        }
      }
    } else {
      for (const Event& e : history_) {
        if (e.rv <= from || e.collection != w->collection || (!w->ns.empty() && e.ns != w->ns) ||
            !LabelsMatch(w->labels, e.object))
          continue;
        w->queue.push_back(WatchEvent{e.type, e.object});
      }
    }
    watches_.push_back(w);
    cv_.notify_all();
  }
  // Stop() wakes this wait (the waker runs under the signal's lock and takes
  // mu_; this thread never touches the signal while holding mu_).
  const bool attached = stop.AttachWaker([this, w] {
    std::lock_guard lock(mu_);
    w->stopped = true;
    cv_.notify_all();
  });
  kube::Result<kube::WatchEnd> result = kube::WatchEnd{};
  std::uint64_t delivered = 0;
  if (!attached) {
    result = Error{ErrorKind::kStopped, 0, Reason::kUnknown, "", "stopped", {}};
  } else {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return w->stopped || w->closed || w->error || !w->queue.empty(); });
      if (w->stopped) {
        result = Error{ErrorKind::kStopped, 0, Reason::kUnknown, "", "stopped", {}};
        break;
      }
      if (!w->queue.empty()) {
        WatchEvent ev = std::move(w->queue.front());
        w->queue.pop_front();
        lock.unlock();
        on_event(ev);
        ++delivered;
        lock.lock();
        continue;
      }
      if (w->error) {
        if (w->error->kind == ErrorKind::kApi) {
          lock.unlock();
          on_event(WatchEvent{WatchEvent::Type::kError,
                              json{{"kind", "Status"}, {"code", w->error->http_code}}});
          lock.lock();
        }
        result = *w->error;
        break;
      }
      result = kube::WatchEnd{delivered};
      break;
    }
  }
  {
    std::lock_guard lock(mu_);
    std::erase(watches_, w);
    cv_.notify_all();
  }
  stop.DetachWaker();
  return result;
}

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace healthgate::testing
