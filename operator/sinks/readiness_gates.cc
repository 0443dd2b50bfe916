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

std::string StringField(const nlohmann::json& j, const char* key) {
  const auto& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

WallTime TimeField(const nlohmann::json& j, const char* key) {
  const auto& v = Field(j, key);
  if (!v.is_string()) return WallTime{};
  return ParseRfc3339(v.get_ref<const std::string&>()).value_or(WallTime{});
}

const nlohmann::json* ConditionOf(const nlohmann::json& pod, const std::string& type) {
  const auto& conditions = Field(Field(pod, "status"), "conditions");
  if (!conditions.is_array()) return nullptr;
  for (const auto& c : conditions) {
    if (Field(c, "type") == type) return &c;
  }
  return nullptr;
}

}  // namespace

bool SelectorMatches(const v1alpha1::LabelSelector& selector, const nlohmann::json& labels) {
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

bool PodHasGate(const nlohmann::json& pod, const std::string& type) {
  const auto& gates = Field(Field(pod, "spec"), "readinessGates");
  if (!gates.is_array()) return false;
  for (const auto& g : gates) {
    const auto& t = Field(g, "conditionType");
    if (t.is_string() && t.get<std::string>() == type) return true;
  }
  return false;
}

PodGate PodGateOf(const nlohmann::json& pod, const std::string& type) {
  PodGate out;
  out.created = TimeField(Field(pod, "metadata"), "creationTimestamp");
  out.gated_since = out.created;
  if (const nlohmann::json* c = ConditionOf(pod, type)) {
    out.current = GateCondition{StringField(*c, "status"), StringField(*c, "reason"),
                                StringField(*c, "message")};
    if (out.current->status != "True") {
      out.gated_since = std::max(out.gated_since, TimeField(*c, "lastTransitionTime"));
    }
  }
  return out;
}

bool VerdictSince(const results::CheckSnapshot& check, WallTime t) {
  bool any = false;
  for (const auto& p : check.probes) {
    if (!p.info->critical) continue;
    any = true;
    if (!p.last_probe_time || *p.last_probe_time < t) return false;
  }
  return any || (check.last_probe_time && *check.last_probe_time >= t);
}

namespace {
// The check's Ready as a gate condition; ProbesPending when there is no snapshot yet.
GateCondition CheckCondition(const results::CheckSnapshot* check, const std::string& check_name) {
  return check ? GateConditionFor(*check)
               : GateCondition{"False", "ProbesPending", "waiting for " + check_name};
}
}  // namespace

GateDecision DecideGate(const v1alpha1::ReadinessGate& gate, const std::string& check_name,
                        const results::CheckSnapshot* check, const PodGate& pod, bool may_close,
                        WallTime now) {
  const bool continuous = gate.mode == v1alpha1::GateMode::kContinuous;
  const bool ready = check != nullptr && check->is_ready();
  GateDecision d;
  if (pod.current && pod.current->status == "True") {
    // Rollout latches; a pod released by fail-open stays so until the check is Ready.
    if (!continuous) return d;
    if (ready) {
      d.want = GateConditionFor(*check);
      return d;
    }
    if (pod.current->reason == "FailOpen" || !may_close) return d;
    d.want = CheckCondition(check, check_name);
    return d;
  }
  if (ready && (continuous || VerdictSince(*check, pod.created))) {
    d.want = GateConditionFor(*check);
    return d;
  }
  if (gate.fail_open_after) {
    const WallTime deadline = pod.gated_since + *gate.fail_open_after;
    if (now >= deadline) {
      d.want = GateCondition{
          "True", "FailOpen",
          "released without a Ready verdict of " + check_name + " after failOpenAfter " +
              v1alpha1::FormatDuration(*gate.fail_open_after) +
              (check && !check->ready.message.empty()
                   ? " (" + check->ready.reason + ": " + check->ready.message + ")"
                   : std::string())};
      return d;
    }
    d.recheck_at = deadline;
  }
  if (ready) {
    // Ready on results older than the pod: wait for the next one.
    d.want =
        GateCondition{"False", "ProbesPending",
                      "waiting for a verdict of " + check_name + " made after the pod was created"};
    d.await_verdict = true;
    return d;
  }
  d.want = CheckCondition(check, check_name);
  return d;
}

std::optional<GateCondition> CombineDecisions(const std::vector<GateDecision>& decisions) {
  std::optional<GateCondition> out;
  for (const auto& d : decisions) {
    if (!d.want) continue;
    if (d.want->status != "True") return d.want;
    if (!out || (out->reason != "FailOpen" && d.want->reason == "FailOpen")) out = d.want;
  }
  return out;
}

std::optional<GateEvent> TransitionEvent(const std::optional<GateCondition>& before,
                                         const GateCondition& after,
                                         const std::string& condition_type) {
  const std::string was = before ? before->status : "";
  if (was == after.status) return std::nullopt;
  if (after.status == "True") {
    if (after.reason == "FailOpen")
      return GateEvent{"Warning", "ReadinessGateFailOpen",
                       condition_type + " set True: " + after.message};
    return GateEvent{
        "Normal", "ReadinessGateReleased",
        condition_type + " set True: " +
            (after.message.empty() ? std::string("the check is Ready") : after.message)};
  }
  if (was == "True")
    return GateEvent{"Warning", "ReadinessGateClosed",
                     condition_type + " set False (" + after.reason + "): " + after.message};
  return std::nullopt;  // a first False: the gate was unmet without the condition too
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
  for (const char* k : {"namespace", "name", "uid", "resourceVersion", "creationTimestamp"}) {
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

ReadinessGates::ReadinessGates(kube::Interface& client, const results::Store& store,
                               Metrics* metrics, Logger& log, common::Waits& waits, Options options)
    : client_(client),
      store_(store),
      metrics_(metrics),
      log_(log),
      waits_(waits),
      clock_(waits.clock()),
      options_(std::move(options)),
      queue_(WorkQueue::Options{
          options_.retry_min, options_.retry_max, options_.may_write, {}, &waits}) {}

const kube::Reflector* ReadinessGates::pod_reflector() const {
  std::lock_guard lock(mu_);
  return pods_.get();
}

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
  ro.waits = &waits_;
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
                             const std::optional<v1alpha1::ReadinessGate>& gate) {
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
    if (SelectorMatches(gate.gate.pod_selector, it->second.labels)) queue_.Add(it->first);
  }
}

bool ReadinessGates::MayClose(const Gate& gate) const {
  const std::string prefix = gate.ns + "/";
  const std::string& type = gate.gate.condition_type;
  std::int64_t selected = 0, unavailable = 0;
  for (auto it = gated_pods_.lower_bound(prefix);
       it != gated_pods_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (!SelectorMatches(gate.gate.pod_selector, it->second.labels)) continue;
    const auto st = it->second.status.find(type);
    if (st == it->second.status.end()) continue;  // does not list this gate
    ++selected;
    if (st->second != "True") ++unavailable;
  }
  return unavailable < gate.gate.max_unavailable.Of(selected);
}

void ReadinessGates::Index(const std::string& key, const nlohmann::json& view) {
  GatedPod& p = gated_pods_[key];
  p.labels = Field(Field(view, "metadata"), "labels");
  p.status.clear();
  const auto& gates = Field(Field(view, "spec"), "readinessGates");
  for (const auto& g : gates) {
    const auto& t = Field(g, "conditionType");
    if (!t.is_string()) continue;
    const nlohmann::json* c = ConditionOf(view, t.get<std::string>());
    p.status[t.get<std::string>()] = c ? StringField(*c, "status") : std::string();
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
      written_.erase(key);
      return;
    }
    const nlohmann::json* view = &pod;
    if (auto w = written_.find(key); w != written_.end()) {
      const bool caught_up =
          StringField(Field(pod, "metadata"), "resourceVersion") == w->second.resource_version;
      if (caught_up || clock_.Now() - w->second.at > kWrittenTtl) {
        written_.erase(w);
      } else {
        view = &w->second.view;  // an older version than the one patched: keep what was written
      }
    }
    Index(key, *view);
  }
  queue_.Add(key);
}

void ReadinessGates::OnPodDeleted(const nlohmann::json& pod) {
  if (!IsNamedPod(pod)) return;
  const std::string key = PodKey(pod);
  queue_.Forget(key);
  std::lock_guard lock(mu_);
  gated_pods_.erase(key);
  written_.erase(key);
  // One pod fewer: a Continuous gate may now close another (or must not).
  const std::string prefix = key.substr(0, key.find('/') + 1);
  const auto& labels = Field(Field(pod, "metadata"), "labels");
  for (auto it = gates_.lower_bound(prefix);
       it != gates_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (it->second.gate.mode == v1alpha1::GateMode::kContinuous &&
        SelectorMatches(it->second.gate.pod_selector, labels))
      MarkSelected(it->second);
  }
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
    if (auto w = written_.find(pod_key);
        w != written_.end() && clock_.Now() - w->second.at <= kWrittenTtl) {
      pod = w->second.view;
    } else {
      pod = pods_->Find(pod_key);
    }
    if (!pod) return;
    const std::string prefix = pod_key.substr(0, pod_key.find('/') + 1);
    const auto& labels = Field(Field(*pod, "metadata"), "labels");
    for (auto it = gates_.lower_bound(prefix);
         it != gates_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (PodHasGate(*pod, it->second.gate.condition_type) &&
          SelectorMatches(it->second.gate.pod_selector, labels)) {
        gates.push_back(it->second);
      }
    }
  }
  // One condition per type; several checks on one type must all release it.
  const WallTime wall = clock_.WallNow();
  std::map<std::string, std::vector<GateDecision>> decisions;
  std::optional<WallTime> recheck;
  bool poll = false;
  for (std::size_t i = 0; i < gates.size(); ++i) {
    const Gate& g = gates[i];
    auto snap = store_.Get(g.ns, g.check);
    const PodGate pg = PodGateOf(*pod, g.gate.condition_type);
    // The budget (a pass over the namespace's pods) only when it can matter: a
    // Continuous gate, a True pod, a check that is not Ready.
    bool may_close = false;
    if (g.gate.mode == v1alpha1::GateMode::kContinuous && pg.current &&
        pg.current->status == "True" && !(snap && snap->is_ready())) {
      std::lock_guard lock(mu_);
      may_close = MayClose(g);
    }
    GateDecision d = DecideGate(g.gate, g.ns + "/" + g.check, snap.get(), pg, may_close, wall);
    if (d.recheck_at) recheck = recheck ? std::min(*recheck, *d.recheck_at) : *d.recheck_at;
    poll = poll || d.await_verdict;
    decisions[g.gate.condition_type].push_back(std::move(d));
  }
  if (recheck || poll) {
    std::chrono::nanoseconds delay =
        recheck ? std::max<std::chrono::nanoseconds>(*recheck - wall, std::chrono::milliseconds(1))
                : std::chrono::nanoseconds(options_.verdict_poll);
    if (poll) delay = std::min<std::chrono::nanoseconds>(delay, options_.verdict_poll);
    queue_.AddAfter(pod_key, delay);
  }
  const std::string ns = pod_key.substr(0, pod_key.find('/'));
  const std::string name = pod_key.substr(pod_key.find('/') + 1);
  const std::string now = kube::Time(wall);
  for (const auto& [type, list] : decisions) {
    std::optional<GateCondition> want = CombineDecisions(list);
    if (!want) continue;
    auto patch = PodConditionPatch(*pod, type, *want, now);
    if (!patch) continue;
    const std::optional<GateCondition> before = PodGateOf(*pod, type).current;
    auto r = client_.PatchStatus(kube::ResourceRef{"", "v1", "pods", ns}, name,
                                 kube::PatchType::kStrategicMerge, *patch);
    if (r.ok()) {
      queue_.Succeeded(pod_key);
      if (metrics_) {
        metrics_->SetReadinessGatePatch("success");
        metrics_->ReadinessGateTransition(want->status, want->reason);
      }
      log_.Info("pod readiness gate set", {{"namespace", ns},
                                           {"pod", name},
                                           {"condition", type},
                                           {"status", want->status},
                                           {"reason", want->reason}});
      *pod = GatePodView(r.value());  // the next type compares against the pod as patched
      {
        std::lock_guard lock(mu_);
        if (gated_pods_.count(pod_key)) {
          written_[pod_key] =
              Written{*pod, StringField(Field(*pod, "metadata"), "resourceVersion"), clock_.Now()};
          Index(pod_key, *pod);
        }
      }
      if (auto ev = TransitionEvent(before, *want, type); ev && options_.on_event) {
        options_.on_event(PodEvent{ns, name, StringField(Field(*pod, "metadata"), "uid"), *ev});
      }
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
