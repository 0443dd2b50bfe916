#include "operator/kube/reflector.h"

#include <algorithm>
#include <utility>

namespace healthgate::kube {

Backoff::Backoff(BackoffPolicy policy, std::function<double()> uniform)
    : policy_(policy), uniform_(std::move(uniform)), current_(policy.initial) {}

std::chrono::milliseconds Backoff::Next() {
  const double base = static_cast<double>(current_.count());
  const double jittered = base * (1.0 + policy_.jitter * uniform_());
  const auto d =
      std::min(policy_.max, std::chrono::milliseconds(static_cast<std::int64_t>(jittered)));
  const double grown = base * policy_.factor;
  current_ = std::min(policy_.max, std::chrono::milliseconds(static_cast<std::int64_t>(grown)));
  return d;
}

void Backoff::Reset() { current_ = policy_.initial; }

namespace {
// metadata.<field> when it is a string, else "" (whatever the object's shape:
// json::value() throws on a non-object or a field of another type).
std::string MetadataString(const nlohmann::json& object, const char* field) {
  if (!object.is_object()) return {};
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return {};
  const auto v = meta->find(field);
  return v != meta->end() && v->is_string() ? v->get<std::string>() : std::string();
}
}  // namespace

std::string ObjectKey(const nlohmann::json& object) {
  const std::string name = MetadataString(object, "name");
  const std::string ns = MetadataString(object, "namespace");
  return ns.empty() ? name : ns + "/" + name;
}

std::string ResourceVersionOf(const nlohmann::json& object) {
  return MetadataString(object, "resourceVersion");
}

StoreDelta DiffStores(const Store& before, const Store& after) {
  StoreDelta d;
  for (const auto& [key, obj] : after) {
    auto it = before.find(key);
    if (it == before.end() || ResourceVersionOf(it->second) != ResourceVersionOf(obj)) {
      d.upserts.push_back(obj);
    }
  }
  for (const auto& [key, obj] : before) {
    if (after.find(key) == after.end()) d.deletes.push_back(obj);
  }
  return d;
}

const char* ReflectorStateName(ReflectorState s) {
  switch (s) {
    case ReflectorState::kEmpty:
      return "Empty";
    case ReflectorState::kListing:
      return "Listing";
    case ReflectorState::kWatching:
      return "Watching";
    case ReflectorState::kBackoff:
      return "Backoff";
    case ReflectorState::kStopped:
      return "Stopped";
  }
  return "Unknown";
}

namespace {
common::Waits& WaitsOf(const ReflectorOptions& o) {
  return o.waits != nullptr ? *o.waits : common::SystemWaits();
}
}  // namespace

Reflector::Reflector(Interface& client, ReflectorOptions options, ReflectorHandlers handlers)
    : client_(client),
      options_(std::move(options)),
      handlers_(std::move(handlers)),
      sleeper_(WaitsOf(options_)),
      rng_(std::random_device{}()) {
  if (!options_.waits) options_.waits = &common::SystemWaits();
  if (!options_.uniform) {
    options_.uniform = [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); };
  }
}

Reflector::~Reflector() { Stop(); }

void Reflector::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Reflector::Stop() {
  stop_.Stop();
  sleeper_.Stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::string Reflector::resource_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rv_;
}

std::vector<nlohmann::json> Reflector::Items() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<nlohmann::json> out;
  out.reserve(store_.size());
  for (const auto& [key, obj] : store_) out.push_back(obj);
  return out;
}

std::optional<nlohmann::json> Reflector::Find(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = store_.find(key);
  if (it == store_.end()) return std::nullopt;
  return it->second;
}

bool Reflector::Sleep(Backoff& backoff, const Error* error) {
  auto d = backoff.Next();
  if (error != nullptr && error->retry_after > d)
    d = std::chrono::duration_cast<std::chrono::milliseconds>(error->retry_after);
  last_backoff_ = d;
  state_ = ReflectorState::kBackoff;
  return sleeper_.SleepFor(d);
}

bool Reflector::ListAndReplace(Error* error) {
  ListOptions lo;
  lo.label_selector = options_.label_selector;
  lo.field_selector = options_.field_selector;
  lo.limit = options_.page_size;
  auto list = client_.ListAll(options_.ref, lo);
  if (!list) {
    *error = list.error();
    if (handlers_.on_error) handlers_.on_error(list.error());
    return false;
  }
  Store fresh;
  for (auto& item : list.value()["items"]) {
    std::string key = ObjectKey(item);
    fresh.emplace(std::move(key), options_.transform ? options_.transform(item) : std::move(item));
  }
  StoreDelta delta;
  {
    std::lock_guard<std::mutex> lock(mu_);
    delta = DiffStores(store_, fresh);
    store_ = std::move(fresh);
    rv_ = list.value().value("/metadata/resourceVersion"_json_pointer, std::string());
  }
  for (const auto& obj : delta.deletes) {
    if (handlers_.on_delete) handlers_.on_delete(obj);
  }
  for (const auto& obj : delta.upserts) {
    if (handlers_.on_upsert) handlers_.on_upsert(obj);
  }
  return true;
}

void Reflector::OnEvent(const WatchEvent& ev) {
  ++events_this_watch_;
  if (ev.type == WatchEvent::Type::kError) return;  // Watch() returns it as an error
  const std::string rv = ResourceVersionOf(ev.object);
  if (ev.type == WatchEvent::Type::kBookmark) {
    if (!rv.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      rv_ = rv;
    }
    return;
  }
  nlohmann::json transformed;
  const nlohmann::json* object = &ev.object;
  if (options_.transform) {
    transformed = options_.transform(ev.object);
    object = &transformed;
  }
  const std::string key = ObjectKey(*object);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ev.type == WatchEvent::Type::kDeleted) {
      store_.erase(key);
    } else {
      store_[key] = *object;
    }
    if (!rv.empty()) rv_ = rv;
  }
  if (ev.type == WatchEvent::Type::kDeleted) {
    if (handlers_.on_delete) handlers_.on_delete(*object);
  } else if (handlers_.on_upsert) {
    handlers_.on_upsert(*object);
  }
}

void Reflector::Run() {
  Backoff backoff(options_.backoff, options_.uniform);
  const healthgate::Clock& clock = options_.waits->clock();
  bool need_list = true;
  bool watched_before = false;
  bool relisted = false;  // the next watch follows a relist (not a resume)
  while (!stop_.stopped()) {
    if (need_list) {
      state_ = ReflectorState::kListing;
      Error err;
      if (!ListAndReplace(&err)) {
        if (err.IsStopped() || Sleep(backoff, &err)) break;
        continue;
      }
      need_list = false;
      if (!synced_.exchange(true)) {
        if (handlers_.on_synced) handlers_.on_synced();
      } else {
        ++relists_;
        relisted = true;
      }
    }
    state_ = ReflectorState::kWatching;
    if (watched_before) {
      ++watch_restarts_;
      if (handlers_.on_watch_restart) handlers_.on_watch_restart(relisted);
    }
    relisted = false;
    watched_before = true;
    WatchOptions wo;
    wo.resource_version = resource_version();
    wo.label_selector = options_.label_selector;
    wo.field_selector = options_.field_selector;
    wo.allow_bookmarks = true;
    wo.timeout = options_.watch_timeout;
    events_this_watch_ = 0;
    const auto started = clock.Now();
    auto w = client_.Watch(
        options_.ref, wo, [this](const WatchEvent& ev) { OnEvent(ev); }, stop_);
    if (w) {
      // The server ended the stream (timeoutSeconds): resume at once, unless
      // it did so immediately and silently, which would make us spin.
      if (events_this_watch_ > 0 || clock.Now() - started >= std::chrono::seconds(1)) {
        backoff.Reset();
        continue;
      }
      if (Sleep(backoff, nullptr)) break;
      continue;
    }
    const Error& err = w.error();
    if (err.IsStopped()) break;
    if (handlers_.on_error) handlers_.on_error(err);
    if (err.IsGone()) {  // our resourceVersion was compacted away: relist
      need_list = true;
      state_ = ReflectorState::kEmpty;
      continue;
    }
    if (events_this_watch_ > 0) backoff.Reset();  // the watch was healthy for a while
    if (Sleep(backoff, &err)) break;
  }
  state_ = ReflectorState::kStopped;
}

}  // namespace healthgate::kube
