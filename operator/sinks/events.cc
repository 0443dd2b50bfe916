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

EventRecorder::EventRecorder(kube::Client& client, Metrics* metrics, Logger& log,
                             const probes::Clock& clock, Options options)
    : client_(client), metrics_(metrics), log_(log), clock_(clock), options_(std::move(options)) {}

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
  const std::string dedupe = e.ns + "/" + e.name + "|" + e.reason + "|" + e.message;
  const auto wall = clock_.WallNow();
  std::string uid;
  Sent previous;
  bool repeat = false;
  {
    std::lock_guard lock(mu_);
    uid = uids_[e.ns + "/" + e.name];
    auto it = sent_.find(dedupe);
    if (it != sent_.end() && wall - it->second.at < options_.dedupe_window) {
      previous = it->second;
      repeat = true;
    }
  }
  if (repeat) {
    nlohmann::json patch = {{"count", previous.count + 1}, {"lastTimestamp", kube::Time(wall)}};
    auto r = client_.Patch(events, previous.event_name, kube::PatchType::kMerge, patch);
    if (r.ok()) {
      std::lock_guard lock(mu_);
      sent_[dedupe] = {previous.event_name, previous.count + 1, wall};
      ++emitted_;
      if (metrics_) metrics_->EventEmitted(e.type);
      return;
    }
    // The Event expired or was deleted: create a new one below.
  }
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
  sent_[dedupe] = {event_name, 1, wall};
  ++emitted_;
  if (metrics_) metrics_->EventEmitted(e.type);
}

}  // namespace healthgate::sinks
