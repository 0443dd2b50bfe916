#include "operator/sinks/events.h"

#include <cstdio>
#include <functional>

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
  by_check_[check][reason] = std::move(sent);
}

std::size_t SentEvents::size() const {
  std::size_t n = 0;
  for (const auto& [check, reasons] : by_check_) n += reasons.size();
  return n;
}

EventRecorder::EventRecorder(kube::Client& client, Metrics* metrics, Logger& log,
                             const healthgate::Clock& clock, Options options)
    : client_(client),
      metrics_(metrics),
      log_(log),
      clock_(clock),
      options_(std::move(options)),
      sent_(options_.dedupe_window) {}

EventRecorder::~EventRecorder() { Stop(); }

void EventRecorder::Start() {
  thread_ = std::thread([this] { Run(); });
}

void EventRecorder::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventRecorder::Seed(const nlohmann::json& object) {
  const auto& meta = object.value("metadata", nlohmann::json::object());
  const std::string key = meta.value("namespace", "") + "/" + meta.value("name", "");
  std::lock_guard lock(mu_);
  uids_[key] = meta.value("uid", "");
  const std::string ready = ReadyOf(object);
  if (!last_ready_.contains(key) && (ready == "True" || ready == "False")) last_ready_[key] = ready;
}

void EventRecorder::Observe(const results::CheckSnapshot& s) {
  const std::string now = s.ready.status;
  if (now != "True" && now != "False") return;  // pending: no verdict yet
  const std::string key = s.key();
  std::lock_guard lock(mu_);
  auto it = last_ready_.find(key);
  const bool first = it == last_ready_.end();
  if (!first && it->second == now) return;
  last_ready_[key] = now;
  // A check seen for the first time that starts ready is not news; one that
  // starts failing is.
  if (first && now == "True") return;
  if (queue_.size() >= kMaxQueued) {
    const Pending& dropped = queue_.front();
    log_.Warn(
        "event queue full; dropping the oldest transition",
        {{"namespace", dropped.ns}, {"healthcheck", dropped.name}, {"reason", dropped.reason}});
    queue_.pop_front();
  }
  if (now == "True")
    queue_.push_back({s.ns, s.name, "Normal", "Ready", s.ready.message});
  else
    queue_.push_back({s.ns, s.name, "Warning", "NotReady", s.ready.message});
  cv_.notify_all();
}

void EventRecorder::Forget(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  const std::string key = ns + "/" + name;
  last_ready_.erase(key);
  uids_.erase(key);
  sent_.Forget(key);
}

std::uint64_t EventRecorder::emitted() const {
  std::lock_guard lock(mu_);
  return emitted_;
}

void EventRecorder::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Pending e = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    Emit(e);
    lock.lock();
  }
}

void EventRecorder::Emit(const Pending& e) {
  if (options_.may_write && !options_.may_write()) return;
  const kube::ResourceRef events{"", "v1", "events", e.ns};
  const std::string check = e.ns + "/" + e.name;
  const auto wall = clock_.WallNow();
  std::string uid;
  std::optional<SentEvents::Sent> previous;
  {
    std::lock_guard lock(mu_);
    uid = uids_[check];
    previous = sent_.Find(check, e.reason, e.message, wall);
  }
  if (previous) {
    nlohmann::json patch = {{"count", previous->count + 1}, {"lastTimestamp", kube::Time(wall)}};
    auto r = client_.Patch(events, previous->event_name, kube::PatchType::kMerge, patch);
    if (r.ok()) {
      std::lock_guard lock(mu_);
      sent_.Remember(check, e.reason, {previous->event_name, e.message, previous->count + 1, wall});
      ++emitted_;
      if (metrics_) metrics_->EventEmitted(e.type);
      return;
    }
    // The Event expired or was deleted: create a new one below.
  }
  const std::string dedupe = check + "|" + e.reason + "|" + e.message;
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%016llx",
                static_cast<unsigned long long>(
                    std::hash<std::string>{}(dedupe + kube::Time(wall)) & 0xffffffffffffffULL));
  const std::string event_name = e.name + suffix;
  nlohmann::json event = {{"apiVersion", "v1"},
                          {"kind", "Event"},
                          {"metadata", {{"name", event_name}, {"namespace", e.ns}}},
                          {"involvedObject",
                           {{"apiVersion", "healthgate.dev/v1alpha1"},
                            {"kind", "HealthCheck"},
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
  if (!r.ok()) {
    log_.Warn("cannot record event", {{"namespace", e.ns},
                                      {"healthcheck", e.name},
                                      {"reason", e.reason},
                                      {"error", r.error().ToString()}});
    return;
  }
  std::lock_guard lock(mu_);
  sent_.Remember(check, e.reason, {event_name, e.message, 1, wall});
  ++emitted_;
  if (metrics_) metrics_->EventEmitted(e.type);
}

}  // namespace healthgate::sinks
