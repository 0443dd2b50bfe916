#include "operator/sinks/readiness_gates.h"

#include <algorithm>

#include "operator/kube/time.h"

namespace healthgate::sinks {

namespace {

const nlohmann::json& Field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::optional<std::string> Label(const nlohmann::json& labels, const std::string& key) {
  const auto& v = Field(labels, key.c_str());
  if (!v.is_string()) return std::nullopt;
  return v.get<std::string>();
}

std::string PodKey(const nlohmann::json& pod) {
  const auto& meta = Field(pod, "metadata");
  return Field(meta, "namespace").get<std::string>() + "/" + Field(meta, "name").get<std::string>();
}

bool IsNamedPod(const nlohmann::json& pod) {
  const auto& meta = Field(pod, "metadata");
  return Field(meta, "namespace").is_string() && Field(meta, "name").is_string();
}

}  // namespace

bool SelectorMatches(const spec::LabelSelector& selector, const nlohmann::json& labels) {
  for (const auto& [k, v] : selector.match_labels) {
    if (Label(labels, k) != v) return false;
  }
  for (const auto& r : selector.match_expressions) {
    auto value = Label(labels, r.key);
    const bool in = value && std::find(r.values.begin(), r.values.end(), *value) != r.values.end();
    if (r.op == "In" && !in) return false;
    if (r.op == "NotIn" && in) return false;
    if (r.op == "Exists" && !value) return false;
    if (r.op == "DoesNotExist" && value) return false;
  }
  return true;
}

GateCondition GateConditionFor(const results::CheckSnapshot& check) {
  if (check.is_ready()) return {"True", "Ready", check.ready.message};
  return {"False", check.ready.reason, check.ready.message};
}

GateCondition Combine(const GateCondition& a, const GateCondition& b) {
  if (a.status != "True") return a;
  if (b.status != "True") return b;
  return a;
}

bool PodHasGate(const nlohmann::json& pod, const std::string& type) {
  const auto& gates = Field(Field(pod, "spec"), "readinessGates");
  if (!gates.is_array()) return false;
  for (const auto& g : gates) {
    const auto& t = Field(g, "conditionType");
    if (t.is_string() && t.get<std::string>() == type) return true;
  }
  return false;
}

std::optional<nlohmann::json> PodConditionPatch(const nlohmann::json& pod, const std::string& type,
                                                const GateCondition& want, const std::string& now) {
  std::string transition = now;
  const auto& conditions = Field(Field(pod, "status"), "conditions");
  if (conditions.is_array()) {
    for (const auto& c : conditions) {
      if (Field(c, "type") != type) continue;
      if (Field(c, "status") == want.status) {
        if (Field(c, "reason") == want.reason && Field(c, "message") == want.message)
          return std::nullopt;
        if (Field(c, "lastTransitionTime").is_string())
          transition = Field(c, "lastTransitionTime").get<std::string>();
      }
      break;
    }
  }
  nlohmann::json condition{{"type", type},
                           {"status", want.status},
                           {"reason", want.reason},
                           {"message", want.message},
                           {"lastTransitionTime", transition},
                           {"lastProbeTime", nullptr}};
  return nlohmann::json{{"status", {{"conditions", nlohmann::json::array({condition})}}}};
}

nlohmann::json GatePodView(const nlohmann::json& pod) {
  const auto& meta = Field(pod, "metadata");
  nlohmann::json view_meta = nlohmann::json::object();
  for (const char* k : {"namespace", "name", "uid", "resourceVersion"}) {
    if (Field(meta, k).is_string()) view_meta[k] = Field(meta, k);
  }
  nlohmann::json view{{"metadata", std::move(view_meta)}};
  const auto& gates = Field(Field(pod, "spec"), "readinessGates");
  if (!gates.is_array() || gates.empty()) return view;
  if (Field(meta, "labels").is_object()) view["metadata"]["labels"] = Field(meta, "labels");
  view["spec"] = {{"readinessGates", gates}};
  const auto& conditions = Field(Field(pod, "status"), "conditions");
  view["status"] = {{"conditions", conditions.is_array() ? conditions : nlohmann::json::array()}};
  return view;
}

ReadinessGates::ReadinessGates(kube::Client& client, const results::Store& store, Metrics* metrics,
                               Logger& log, const healthgate::Clock& clock, Options options)
    : client_(client),
      store_(store),
      metrics_(metrics),
      log_(log),
      clock_(clock),
      options_(std::move(options)),
      queue_(WorkQueue::Options{options_.retry_min, options_.retry_max, options_.may_write, {}}) {}

ReadinessGates::~ReadinessGates() { Stop(); }

void ReadinessGates::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void ReadinessGates::Stop() {
  std::unique_ptr<kube::Reflector> pods;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    pods = std::move(pods_);
  }
  queue_.Shutdown();
  if (pods) pods->Stop();  // outside the lock: its handlers take it
  if (thread_.joinable()) thread_.join();
}

void ReadinessGates::StartPodWatch() {
  if (pods_ || stop_) return;
  kube::ReflectorOptions ro;
  ro.ref = kube::ResourceRef{"", "v1", "pods", options_.ns};
  ro.transform = GatePodView;
  pods_ = std::make_unique<kube::Reflector>(
      client_, ro,
      kube::ReflectorHandlers{[this](const nlohmann::json& p) { OnPod(p); },
                              [this](const nlohmann::json& p) { OnPodDeleted(p); },
                              [this] { log_.Info("initial list of pods done (readiness gates)"); },
                              [this](const kube::Error& e) {
                                log_.Warn("pod list/watch failed; retrying (readiness gates)",
                                          {{"error", e.ToString()}});
                              },
                              [this](bool relist) {
                                if (metrics_) metrics_->WatchRestart();
                                log_.Debug("pod watch restarted", {{"relist", relist}});
                              }});
  pods_->Start();
  log_.Info("watching pods for readiness gates",
            {{"namespace", options_.ns.empty() ? "(all)" : options_.ns}});
}

void ReadinessGates::SetGate(const std::string& ns, const std::string& name,
                             const std::optional<spec::ReadinessGate>& gate) {
  const std::string key = ns + "/" + name;
  {
    std::lock_guard lock(mu_);
    auto it = gates_.find(key);
    if (!gate) {
      if (it != gates_.end()) gates_.erase(it);
      return;
    }
    if (it != gates_.end() && it->second.gate == *gate) return;
    Gate& g = gates_[key];
    g = Gate{ns, name, *gate};
    StartPodWatch();
    MarkSelected(g);
  }
}

void ReadinessGates::Forget(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  gates_.erase(ns + "/" + name);
}

void ReadinessGates::CheckChanged(const std::string& ns, const std::string& name) {
  {
    std::lock_guard lock(mu_);
    auto it = gates_.find(ns + "/" + name);
    if (it == gates_.end()) return;
    MarkSelected(it->second);
  }
}

void ReadinessGates::MarkSelected(const Gate& gate) {
  const std::string prefix = gate.ns + "/";
  for (auto it = gated_pods_.lower_bound(prefix);
       it != gated_pods_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (SelectorMatches(gate.gate.pod_selector, it->second)) queue_.Add(it->first);
  }
}

void ReadinessGates::OnPod(const nlohmann::json& pod) {
  if (!IsNamedPod(pod)) return;
  const std::string key = PodKey(pod);
  const auto& gates = Field(Field(pod, "spec"), "readinessGates");
  {
    std::lock_guard lock(mu_);
    if (!gates.is_array() || gates.empty()) {
      gated_pods_.erase(key);
      return;
    }
    gated_pods_[key] = Field(Field(pod, "metadata"), "labels");
  }
  queue_.Add(key);
}

void ReadinessGates::OnPodDeleted(const nlohmann::json& pod) {
  if (!IsNamedPod(pod)) return;
  const std::string key = PodKey(pod);
  queue_.Forget(key);
  std::lock_guard lock(mu_);
  gated_pods_.erase(key);
}

void ReadinessGates::Run() {
  while (auto key = queue_.Next()) Reconcile(*key);
}

void ReadinessGates::Reconcile(const std::string& pod_key) {
  std::optional<nlohmann::json> pod;
  std::vector<Gate> gates;
  {
    std::lock_guard lock(mu_);
    if (!pods_) return;
    pod = pods_->Find(pod_key);
    if (!pod) return;
    const std::string prefix = pod_key.substr(0, pod_key.find('/') + 1);
    const auto& labels = Field(Field(*pod, "metadata"), "labels");
    for (auto it = gates_.lower_bound(prefix);
         it != gates_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (PodHasGate(*pod, it->second.gate.condition_type) &&
          SelectorMatches(it->second.gate.pod_selector, labels))
        gates.push_back(it->second);
    }
  }
  // One condition per type; several checks on one type must all be Ready.
  std::map<std::string, GateCondition> wanted;
  for (const Gate& g : gates) {
    auto snap = store_.Get(g.ns, g.check);
    GateCondition c = snap ? GateConditionFor(*snap)
                           : GateCondition{"False", "ProbesPending", "waiting for " + g.check};
    auto [it, inserted] = wanted.emplace(g.gate.condition_type, c);
    if (!inserted) it->second = Combine(it->second, c);
  }
  const std::string ns = pod_key.substr(0, pod_key.find('/'));
  const std::string name = pod_key.substr(pod_key.find('/') + 1);
  const std::string now = kube::Time(clock_.WallNow());
  for (const auto& [type, want] : wanted) {
    auto patch = PodConditionPatch(*pod, type, want, now);
    if (!patch) continue;
    auto r = client_.PatchStatus(kube::ResourceRef{"", "v1", "pods", ns}, name,
                                 kube::PatchType::kStrategicMerge, *patch);
    if (r.ok()) {
      queue_.Succeeded(pod_key);
      if (metrics_) metrics_->SetReadinessGatePatch("success");
      log_.Info("pod readiness gate set", {{"namespace", ns},
                                           {"pod", name},
                                           {"condition", type},
                                           {"status", want.status},
                                           {"reason", want.reason}});
      *pod = r.value();  // the next type compares against the pod as patched
      continue;
    }
    if (r.error().IsNotFound()) return;  // the pod is gone; its delete event follows
    if (metrics_) metrics_->SetReadinessGatePatch("error");
    const auto delay = queue_.Retry(pod_key);
    log_.Warn("pod readiness gate patch failed; will retry", {{"namespace", ns},
                                                              {"pod", name},
                                                              {"condition", type},
                                                              {"error", r.error().ToString()},
                                                              {"retry_in_ms", delay.count()}});
    return;
  }
}

}  // namespace healthgate::sinks
