#include "operator/sinks/status_writer.h"

#include <algorithm>

#include "operator/results/json.h"

namespace healthgate::sinks {

StatusPatchFn PatchStatusThrough(kube::Interface& api, kube::ResourceRef collection) {
  return
      [&api, collection = std::move(collection)](const std::string& ns, const std::string& name,
                                                 const nlohmann::json& status, std::string* error) {
        // A merge patch keeps fields it does not name: clear optional ones explicitly.
        nlohmann::json body = status;
        if (!body.contains("invalidSpec")) body["invalidSpec"] = nullptr;
        body["lastProbeTime"] = nullptr;  // written by earlier versions, no longer kept
        auto r = api.PatchStatus(collection.InNamespace(ns), name, kube::PatchType::kMerge,
                                 nlohmann::json{{"status", std::move(body)}});
        if (r.ok()) return WriteResult::kOk;
        *error = r.error().ToString();
        if (r.error().IsConflict()) return WriteResult::kConflict;
        if (r.error().IsNotFound()) return WriteResult::kNotFound;
        return WriteResult::kError;
      };
}

nlohmann::json VisibleStatus(const nlohmann::json& status) {
  nlohmann::json v = status;
  v.erase("lastProbeTime");
  if (v.contains("probes")) {
    for (auto& p : v["probes"]) {
      p.erase("lastProbeTime");
      p.erase("latencyMs");
      p.erase("consecutiveSuccesses");
      p.erase("consecutiveFailures");
    }
  }
  return v;
}

namespace {
std::string ReadyStatus(const nlohmann::json& status) {
  if (!status.is_object() || !status.contains("conditions")) return "";
  for (const auto& c : status["conditions"])
    if (c.value("type", "") == "Ready") return c.value("status", "");
  return "";
}
}  // namespace

WriteDecision DecideWrite(nlohmann::json& status, const std::optional<nlohmann::json>& observed,
                          const nlohmann::json* last_written, bool invalid_spec) {
  if (observed) {
    const std::string before = ReadyStatus(*observed);
    if (ReadyStatus(status) == "Unknown" && !before.empty() && before != "Unknown" && !invalid_spec)
      return WriteDecision::kKeepPending;
    KeepTransitionTimes(status, *observed);
    return VisibleStatus(*observed) == VisibleStatus(status) ? WriteDecision::kUpToDate
                                                             : WriteDecision::kWrite;
  }
  if (last_written != nullptr && *last_written == VisibleStatus(status))
    return WriteDecision::kUpToDate;
  return WriteDecision::kWrite;
}

void KeepTransitionTimes(nlohmann::json& status, const nlohmann::json& observed) {
  if (!observed.is_object()) return;
  auto keep = [](nlohmann::json& items, const nlohmann::json& old_items, const char* id,
                 const char* state) {
    if (!items.is_array() || !old_items.is_array()) return;
    for (auto& item : items) {
      for (const auto& old : old_items) {
        if (old.value(id, "") != item.value(id, "")) continue;
        if (old.contains(state) && old[state] == item[state] && old.contains("lastTransitionTime"))
          item["lastTransitionTime"] = old["lastTransitionTime"];
        break;
      }
    }
  };
  if (status.contains("conditions") && observed.contains("conditions"))
    keep(status["conditions"], observed["conditions"], "type", "status");
  if (status.contains("probes") && observed.contains("probes"))
    keep(status["probes"], observed["probes"], "name", "healthy");
}

StatusWriter::StatusWriter(const results::Store& store, StatusPatchFn patch, Metrics* metrics,
                           Logger& log, Options options)
    : store_(store),
      patch_(std::move(patch)),
      metrics_(metrics),
      log_(log),
      options_(options),
      queue_(WorkQueue::Options{
          options_.retry_min, options_.retry_max, options_.may_write, {}, options_.waits}) {}

StatusWriter::~StatusWriter() { Stop(); }

void StatusWriter::Start() {
  thread_ = std::thread([this] { Run(); });
}

void StatusWriter::Stop() {
  queue_.Shutdown();
  if (thread_.joinable()) thread_.join();
}

void StatusWriter::Notify(const std::string& ns, const std::string& name) {
  queue_.Add(ns + "/" + name);
}

void StatusWriter::Forget(const std::string& ns, const std::string& name) {
  const std::string key = ns + "/" + name;
  queue_.Forget(key);
  std::lock_guard lock(mu_);
  written_.erase(key);
}

std::uint64_t StatusWriter::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

void StatusWriter::Run() {
  while (auto key = queue_.Next()) WriteOne(*key);
}

void StatusWriter::WriteOne(const std::string& key) {
  auto slash = key.find('/');
  const std::string ns = key.substr(0, slash), name = key.substr(slash + 1);
  auto snap = store_.Get(ns, name);
  if (!snap) {
    Forget(ns, name);
    return;
  }
  nlohmann::json status = results::StatusJson(*snap);
  std::optional<nlohmann::json> observed;
  if (options_.observed) observed = options_.observed(ns, name);
  nlohmann::json last_written;
  bool have_written = false;
  if (!observed) {  // only then does our last write decide
    std::lock_guard lock(mu_);
    if (auto w = written_.find(key); w != written_.end()) {
      last_written = w->second;
      have_written = true;
    }
  }
  const WriteDecision decision = DecideWrite(
      status, observed, have_written ? &last_written : nullptr, !snap->invalid_message.empty());
  if (decision == WriteDecision::kKeepPending) return;
  nlohmann::json visible = VisibleStatus(status);
  if (decision == WriteDecision::kUpToDate) {
    std::lock_guard lock(mu_);
    written_[key] = std::move(visible);
    return;
  }
  const char* why = observed ? "differs from the stored status" : "no stored status known";
  nlohmann::json diff;
  if (log_.Enabled(LogLevel::kDebug))
    diff = nlohmann::json::diff(observed ? VisibleStatus(*observed) : last_written, visible);
  log_.Debug("writing status",
             {{"namespace", ns}, {"healthcheck", name}, {"why", why}, {"changes", diff}});
  std::string error;
  WriteResult result = patch_(ns, name, status, &error);
  const char* label = result == WriteResult::kOk         ? "success"
                      : result == WriteResult::kConflict ? "conflict"
                      : result == WriteResult::kNotFound ? "not_found"
                                                         : "error";
  if (metrics_) metrics_->StatusWrite(label);
  if (result == WriteResult::kOk) {
    queue_.Succeeded(key);
    std::lock_guard lock(mu_);
    ++writes_;
    written_[key] = std::move(visible);
    return;
  }
  // Retry later from the store's state at that time (level-based).
  const auto delay = queue_.Retry(key);
  log_.Warn("status write failed; will retry", {{"namespace", ns},
                                                {"healthcheck", name},
                                                {"result", label},
                                                {"error", error},
                                                {"retry_in_ms", delay.count()}});
}

}  // namespace healthgate::sinks
