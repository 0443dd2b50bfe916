#include "operator/sinks/events.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

#include "operator/api/v1alpha1/model.h"
#include "operator/kube/time.h"

namespace healthgate::sinks {
namespace {

std::string ReadyOf(const nlohmann::json& object) {
  const auto& status = object.value("status", nlohmann::json::object());
  if (!status.is_object() || !status.contains("conditions")) return "";
  for (const auto& c : status["conditions"])
    if (c.value("type", "") == "Ready") return c.value("status", "");
  return "";
}

constexpr const char* kNotAllowed = "SecretNotAllowed";

// Probe name -> message of the status' probes blocked with SecretNotAllowed.
std::map<std::string, std::string> NotAllowedOf(const nlohmann::json& object) {
  std::map<std::string, std::string> out;
  const auto& status = object.value("status", nlohmann::json::object());
  if (!status.is_object() || !status.contains("probes") || !status["probes"].is_array()) return out;
  for (const auto& p : status["probes"]) {
    if (p.is_object() && p.value("reason", "") == kNotAllowed)
      out[p.value("name", "")] = p.value("message", "");
  }
  return out;
}

}  // namespace

std::optional<SentEvents::Sent> SentEvents::Find(const std::string& check,
                                                 const std::string& reason,
                                                 const std::string& message,
                                                 healthgate::WallTime now) {
  auto c = by_check_.find(check);
  if (c == by_check_.end()) return std::nullopt;
  std::erase_if(c->second, [&](const auto& kv) { return now - kv.second.at >= window_; });
  std::optional<Sent> out;
  if (auto r = c->second.find(reason); r != c->second.end() && r->second.message == message) {
    out = r->second;
  }
  if (c->second.empty()) by_check_.erase(c);
  return out;
}

void SentEvents::Remember(const std::string& check, const std::string& reason, Sent sent) {
  const healthgate::WallTime now = sent.at;
  by_check_[check][reason] = std::move(sent);
  // Objects that are never met again (deleted pods) must not stay: now and then,
  // drop everything older than the window.
  if (++remembered_ % kSweepEvery != 0) return;
  for (auto c = by_check_.begin(); c != by_check_.end();) {
    std::erase_if(c->second, [&](const auto& kv) { return now - kv.second.at >= window_; });
    c = c->second.empty() ? by_check_.erase(c) : std::next(c);
  }
}

std::size_t SentEvents::size() const {
  std::size_t n = 0;
  for (const auto& [check, reasons] : by_check_) n += reasons.size();
  return n;
}

EventRecorder::EventRecorder(kube::Interface& client, Metrics* metrics, Logger& log,
                             common::Waits& waits, Options options)
    : client_(client),
      metrics_(metrics),
      log_(log),
      clock_(waits.clock()),
      options_(std::move(options)),
      cond_(waits),
      sent_(options_.dedupe_window) {}

EventRecorder::~EventRecorder() { Stop(); }

void EventRecorder::Start() {
  thread_ = std::thread([this] { Run(); });
}

void EventRecorder::Stop() {
  {
    std::lock_guard lock(cond_.mu());
    stop_ = true;
  }
  cond_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

void EventRecorder::Seed(const nlohmann::json& object) {
  const auto& meta = object.value("metadata", nlohmann::json::object());
  const std::string key = meta.value("namespace", "") + "/" + meta.value("name", "");
  std::lock_guard lock(cond_.mu());
  uids_[key] = meta.value("uid", "");
  const std::string ready = ReadyOf(object);
  if (!last_ready_.contains(key) && (ready == "True" || ready == "False")) last_ready_[key] = ready;
  if (!not_allowed_.contains(key)) not_allowed_[key] = NotAllowedOf(object);
}

void EventRecorder::Observe(const results::CheckSnapshot& s) {
  const std::string key = s.key();
  std::lock_guard lock(cond_.mu());
  // Probes newly blocked with SecretNotAllowed (or blocked for another Secret).
  std::map<std::string, std::string> now_not_allowed;
  std::vector<std::string> fresh;
  for (const results::ProbeRecord& p : s.probes) {
    if (p.info->blocked_reason != kNotAllowed) continue;
    now_not_allowed[p.info->name] = p.info->blocked_message;
  }
  auto& before = not_allowed_[key];
  for (const auto& [probe, message] : now_not_allowed) {
    auto b = before.find(probe);
    if (b == before.end() || b->second != message) fresh.push_back(probe + ": " + message);
  }
  before = std::move(now_not_allowed);

  bool announce_ready = false;
  const std::string now = s.ready.status;
  if (now == "True" || now == "False") {  // else pending: no verdict yet
    auto it = last_ready_.find(key);
    const bool first = it == last_ready_.end();
    if (first || it->second != now) {
      last_ready_[key] = now;
      // A check seen for the first time that starts ready is not news; one that
      // starts failing is.
      announce_ready = !(first && now == "True");
    }
  }
  // The SecretNotAllowed Event says why the check stopped being ready: one
  // Event, not two.
  if (announce_ready && now == "False" && s.ready.reason == kNotAllowed && !fresh.empty())
    announce_ready = false;
  auto enqueue = [&](Pending p) {
    if (queue_.size() >= kMaxQueued) {
      const Pending& dropped = queue_.front();
      log_.Warn(
          "event queue full; dropping the oldest transition",
          {{"namespace", dropped.ns}, {"healthcheck", dropped.name}, {"reason", dropped.reason}});
      queue_.pop_front();
    }
    queue_.push_back(std::move(p));
  };
  if (announce_ready) {
    if (now == "True")
      enqueue({s.ns, s.name, "Normal", "Ready", s.ready.message, std::nullopt});
    else
      enqueue({s.ns, s.name, "Warning", "NotReady", s.ready.message, std::nullopt});
  }
  if (!fresh.empty()) {
    enqueue({s.ns, s.name, "Warning", kNotAllowed, v1alpha1::FormatErrors(fresh), std::nullopt});
  }
  if (announce_ready || !fresh.empty()) cond_.NotifyAll();
}

void EventRecorder::Forget(const std::string& ns, const std::string& name) {
  std::lock_guard lock(cond_.mu());
  const std::string key = ns + "/" + name;
  last_ready_.erase(key);
  not_allowed_.erase(key);
  uids_.erase(key);
  sent_.Forget(key);
}

namespace {
std::string ObjectKey(const EventRecorder::ObjectRef& o) {
  return o.kind + ":" + o.ns + "/" + o.name;
}
}  // namespace

void EventRecorder::Record(const ObjectRef& object, const std::string& type,
                           const std::string& reason, const std::string& message) {
  {
    std::lock_guard lock(cond_.mu());
    if (queue_.size() >= kMaxQueued) {
      const Pending& dropped = queue_.front();
      log_.Warn("event queue full; dropping the oldest transition",
                {{"namespace", dropped.ns}, {"object", dropped.name}, {"reason", dropped.reason}});
      queue_.pop_front();
    }
    queue_.push_back(Pending{object.ns, object.name, type, reason, message, object});
  }
  cond_.NotifyAll();
}

std::uint64_t EventRecorder::emitted() const {
  std::lock_guard lock(cond_.mu());
  return emitted_;
}

std::uint64_t EventRecorder::dropped() const {
  std::lock_guard lock(cond_.mu());
  return dropped_;
}

void EventRecorder::Run() {
  std::unique_lock lock(cond_.mu());
  for (;;) {
    cond_.Wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Pending e = std::move(queue_.front());
    queue_.pop_front();
    std::chrono::nanoseconds delay = kFirstRetry;
    for (int attempt = 1;; ++attempt) {
      lock.unlock();
      std::optional<kube::Error> failed = Emit(e);
      lock.lock();
      if (!failed) break;
      const bool retry = failed->IsRetryable() && attempt < kMaxAttempts;
      if (!retry) {
        ++dropped_;
        log_.Warn("cannot record event", {{"namespace", e.ns},
                                          {"healthcheck", e.name},
                                          {"reason", e.reason},
                                          {"attempts", attempt},
                                          {"error", failed->ToString()}});
        break;
      }
      const std::chrono::nanoseconds wait =
          std::max(delay, std::chrono::nanoseconds(failed->retry_after));
      delay *= 2;
      if (cond_.WaitFor(lock, wait, [this] { return stop_; })) return;
    }
  }
}

std::optional<kube::Error> EventRecorder::Emit(const Pending& e) {
  if (options_.may_write && !options_.may_write()) return std::nullopt;
  const kube::ResourceRef events{"", "v1", "events", e.ns};
  const std::string check = e.object ? ObjectKey(*e.object) : e.ns + "/" + e.name;
  const auto wall = clock_.WallNow();
  std::string uid;
  std::optional<SentEvents::Sent> previous;
  {
    std::lock_guard lock(cond_.mu());
    uid = e.object ? e.object->uid : uids_[check];
    previous = sent_.Find(check, e.reason, e.message, wall);
  }
  if (previous) {
    nlohmann::json patch = {{"count", previous->count + 1}, {"lastTimestamp", kube::Time(wall)}};
    auto r = client_.Patch(events, previous->event_name, kube::PatchType::kMerge, patch);
    if (r.ok()) {
      std::lock_guard lock(cond_.mu());
      sent_.Remember(check, e.reason, {previous->event_name, e.message, previous->count + 1, wall});
      ++emitted_;
      if (metrics_) metrics_->EventEmitted(e.type);
      return std::nullopt;
    }
    if (r.error().IsRetryable()) return r.error();  // try the same patch again later
    // The Event expired or was deleted: create a new one below.
  }
  const std::string dedupe = check + "|" + e.reason + "|" + e.message;
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%016llx",
                static_cast<unsigned long long>(
                    std::hash<std::string>{}(dedupe + kube::Time(wall)) & 0xffffffffffffffULL));
  const std::string event_name = e.name + suffix;
  nlohmann::json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", event_name}, {"namespace", e.ns}}},
      {"involvedObject",
       {{"apiVersion", e.object ? e.object->api_version : std::string("healthgate.dev/v1alpha1")},
        {"kind", e.object ? e.object->kind : std::string("HealthCheck")},
        {"name", e.name},
        {"namespace", e.ns},
        {"uid", uid}}},
      {"reason", e.reason},
      {"message", e.message},
      {"type", e.type},
      {"count", 1},
      {"firstTimestamp", kube::Time(wall)},
      {"lastTimestamp", kube::Time(wall)},
      {"source", {{"component", "healthgate"}}},
      {"reportingComponent", "healthgate.dev/operator"},
      {"reportingInstance", options_.reporting_instance}};
  auto r = client_.Create(events, event);
  if (!r.ok()) return r.error();
  std::lock_guard lock(cond_.mu());
  sent_.Remember(check, e.reason, {event_name, e.message, 1, wall});
  ++emitted_;
  if (metrics_) metrics_->EventEmitted(e.type);
  return std::nullopt;
}

}  // namespace healthgate::sinks
