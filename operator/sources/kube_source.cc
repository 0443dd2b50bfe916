#include "operator/sources/kube_source.h"

namespace healthgate::sources {

namespace {

// Labels of an object's metadata; null when there are none.
const nlohmann::json* LabelsOf(const nlohmann::json& object) {
  if (!object.is_object()) return nullptr;
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return nullptr;
  auto l = m->find("labels");
  return l != m->end() && l->is_object() ? &*l : nullptr;
}

std::string ResourceVersion(const nlohmann::json& object) {
  // Any other shape is "no version" (value() would throw on a non-string).
  if (!object.is_object()) return "";
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return "";
  auto rv = m->find("resourceVersion");
  return rv != m->end() && rv->is_string() ? rv->get<std::string>() : std::string();
}

// Empty when `object` carries the label with the value "true"; else why not, for
// the message (names the label, never a value of the Secret's data).
std::string NotAllowedBecause(const nlohmann::json& object, const std::string& ns,
                              const v1alpha1::SecretRef& ref) {
  const std::string label(kProbeCredentialsLabel);
  const nlohmann::json* labels = LabelsOf(object);
  const auto it = labels ? labels->find(label) : nlohmann::json::const_iterator();
  const bool present = labels && it != labels->end();
  if (present && it->is_string() && it->get<std::string>() == "true") return "";
  std::string why =
      "secret \"" + ref.name + "\" in namespace \"" + ns + "\" is not allowed for probes: ";
  if (present && it->is_string()) {
    why += "its label " + label + " is \"" + it->get<std::string>() + "\", not \"true\"";
  } else {
    why += "it lacks the label " + label + "=true";
  }
  why += ", so its key \"" + ref.key + "\" was not read (to allow it: kubectl -n " + ns +
         " label secret " + ref.name + " " + label + "=true" + (present ? " --overwrite" : "") +
         ")";
  return why;
}

v1alpha1::SecretLookup Refused(const kube::Error& e, const std::string& ns,
                               const v1alpha1::SecretRef& ref) {
  v1alpha1::SecretLookup out;
  if (e.IsNotFound()) {
    out.blocked_reason = "SecretNotFound";
    out.error = "secret \"" + ref.name + "\" not found in namespace \"" + ns + "\"";
  } else if (e.IsForbidden()) {
    out.blocked_reason = "SecretForbidden";
    out.error = "not allowed to read secret \"" + ref.name + "\" in namespace \"" + ns +
                "\" (RBAC: secrets get)";
  } else {
    out.blocked_reason = "SecretUnavailable";
    out.error = "cannot read secret \"" + ref.name + "\" in namespace \"" + ns +
                "\" from the API server: " + e.ToString();
  }
  return out;
}

}  // namespace

KubeSecretResolver::KubeSecretResolver(kube::Interface& client, Logger& log, Options options)
    : get_([&client](const std::string& ns, const std::string& name) {
        return client.Get(kube::ResourceRef{"", "v1", "secrets", ns}, name);
      }),
      get_metadata_([&client](const std::string& ns, const std::string& name) {
        return client.GetMetadata(kube::ResourceRef{"", "v1", "secrets", ns}, name);
      }),
      log_(log),
      options_(options) {}

KubeSecretResolver::KubeSecretResolver(GetFn get, Logger& log,
                                       std::function<std::chrono::steady_clock::time_point()> now,
                                       GetFn get_metadata)
    : get_(std::move(get)),
      get_metadata_(std::move(get_metadata)),
      log_(log),
      options_{static_cast<bool>(get_metadata_)},
      now_(std::move(now)) {}

std::optional<std::string> KubeSecretResolver::Get(const std::string& ns,
                                                   const v1alpha1::SecretRef& ref,
                                                   std::string* error) {
  v1alpha1::SecretLookup r = Lookup(ns, ref);
  if (!r.value && error != nullptr) *error = r.error;
  return r.value;
}

KubeSecretResolver::Read KubeSecretResolver::ReadSecret(const std::string& ns,
                                                        const v1alpha1::SecretRef& ref,
                                                        const Known* held) const {
  Read out;
  if (options_.require_label) {
    // The metadata first: an unlabelled Secret's data is never requested.
    auto meta = get_metadata_(ns, ref.name);
    if (!meta.ok()) {
      out.lookup = Refused(meta.error(), ns, ref);
      return out;
    }
    if (std::string why = NotAllowedBecause(*meta, ns, ref); !why.empty()) {
      out.lookup.blocked_reason = "SecretNotAllowed";
      out.lookup.error = std::move(why);
      return out;
    }
    const std::string rv = ResourceVersion(*meta);
    if (held != nullptr && held->value && !rv.empty() && rv == held->resource_version) {
      out.lookup.value = held->value;  // unchanged since it was read
      out.resource_version = rv;
      return out;
    }
  }
  auto secret = get_(ns, ref.name);
  if (!secret.ok()) {
    out.lookup = Refused(secret.error(), ns, ref);
    return out;
  }
  if (options_.require_label) {
    // The label may have been removed between the two reads.
    if (std::string why = NotAllowedBecause(*secret, ns, ref); !why.empty()) {
      out.lookup.blocked_reason = "SecretNotAllowed";
      out.lookup.error = std::move(why);
      return out;
    }
  }
  out.resource_version = ResourceVersion(*secret);
  // data.<key> when it is a string; any other shape is a missing key (value()
  // and operator[] would throw or assert).
  const nlohmann::json& object = secret.value();
  const nlohmann::json* entry = nullptr;
  if (object.is_object()) {
    if (auto d = object.find("data"); d != object.end() && d->is_object()) {
      if (auto v = d->find(ref.key); v != d->end() && v->is_string()) entry = &*v;
    }
  }
  if (entry != nullptr) {
    out.lookup.value = kube::DecodeBase64(entry->get_ref<const std::string&>());
    if (out.lookup.value) return out;
    out.lookup.blocked_reason = "SecretNotFound";
    out.lookup.error = "secret \"" + ref.name + "\" key \"" + ref.key + "\" is not valid base64";
    return out;
  }
  out.lookup.blocked_reason = "SecretNotFound";
  out.lookup.error =
      "secret \"" + ref.name + "\" in namespace \"" + ns + "\" has no key \"" + ref.key + "\"";
  return out;
}

v1alpha1::SecretLookup KubeSecretResolver::Lookup(const std::string& ns,
                                                  const v1alpha1::SecretRef& ref) {
  const std::string id = ns + "/" + ref.name + "/" + ref.key;
  std::optional<Known> held;
  {
    std::lock_guard lock(mu_);
    if (auto it = known_.find(id);
        it != known_.end() && it->second.value && Now() - it->second.used <= forget_after) {
      held = it->second;
    }
  }
  Read read = ReadSecret(ns, ref, held ? &*held : nullptr);  // the API calls run outside the lock
  v1alpha1::SecretLookup& r = read.lookup;
  const auto now = Now();
  std::string state = r.value ? "ok" : r.blocked_reason;
  std::string logged_error = r.error;
  {
    std::lock_guard lock(mu_);
    for (auto it = known_.begin(); it != known_.end();) {
      it = now - it->second.used > forget_after ? known_.erase(it) : std::next(it);
    }
    Known& k = known_[id];
    k.used = now;
    if (r.blocked_reason == "SecretForbidden" && k.value) {
      if (!k.forbidden_since) k.forbidden_since = now;
    } else {
      k.forbidden_since.reset();
    }
    if (r.value) {
      k.value = r.value;
      k.resource_version = read.resource_version;
    } else if (k.value && k.forbidden_since && now - *k.forbidden_since < forbidden_grace) {
      // A 403 not yet confirmed by its duration: an authorizer warming up.
      r.value = k.value;
      r.blocked_reason.clear();
      state = "last-known";
    } else if (r.blocked_reason == "SecretUnavailable" && k.value) {
      r.value = k.value;  // an API blip: keep probing with the last value read
      r.blocked_reason.clear();
      state = "last-known";
    } else {
      // NotFound / NotAllowed / a lasting Forbidden are answers: never keep a
      // revoked value.
      k.value.reset();
      k.resource_version.clear();
      k.forbidden_since.reset();
    }
    if (k.state == state) return r;
    if (k.state.empty() && state == "ok") {
      k.state = state;  // a first successful read is not news
      return r;
    }
    k.state = state;
  }
  nlohmann::json f = {{"namespace", ns}, {"secret", ref.name}, {"key", ref.key}, {"state", state}};
  if (state == "ok") {
    log_.Info("secret readable again", f);
  } else if (state == "last-known") {
    f["error"] = logged_error;
    log_.Warn("secret cannot be read; probes keep its last value", f);
  } else {
    f["error"] = logged_error;
    log_.Warn("secret cannot be used; its probes are blocked", f);
  }
  return r;
}

namespace {
kube::ReflectorOptions ReflectorOptionsFor(const std::string& ns) {
  kube::ReflectorOptions o;
  o.ref = kHealthChecks.InNamespace(ns);
  return o;
}
}  // namespace

KubeSource::KubeSource(kube::Interface& client, controller::Controller& controller,
                       Metrics* metrics, Logger& log, Options options, Hooks hooks)
    : controller_(controller),
      metrics_(metrics),
      log_(log),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      reflector_(
          client, ReflectorOptionsFor(options_.ns),
          kube::ReflectorHandlers{
              [this](const nlohmann::json& o) { OnUpsert(o); },
              [this](const nlohmann::json& o) { OnDelete(o); },
              [this] { log_.Info("initial list of HealthChecks done"); },
              [this](const kube::Error& e) {
                log_.Warn("HealthCheck list/watch failed; retrying", {{"error", e.ToString()}});
              },
              [this](bool relist) {
                if (metrics_) metrics_->WatchRestart();
                log_.Debug("HealthCheck watch restarted", {{"relist", relist}});
              }}) {}

KubeSource::~KubeSource() { Stop(); }

void KubeSource::Start() {
  reflector_.Start();
  refresher_ = std::thread([this] {
    while (!stop_.WaitFor(options_.secret_refresh)) controller_.Refresh();
  });
}

void KubeSource::Stop() {
  stop_.Stop();
  if (refresher_.joinable()) refresher_.join();
  reflector_.Stop();
}

void KubeSource::OnUpsert(const nlohmann::json& object) {
  if (hooks_.on_object) hooks_.on_object(object);
  v1alpha1::Document doc = v1alpha1::ParseJson(object, "api", options_.validation);
  controller::DesiredCheck d;
  const auto& meta = object.value("metadata", nlohmann::json::object());
  d.ns = meta.value("namespace", doc.ns);
  d.name = meta.value("name", doc.name);
  d.generation = meta.value("generation", std::int64_t{0});
  if (d.name.empty()) return;  // not addressable; the API server never sends this
  if (doc.check) {
    if (hooks_.on_gate) hooks_.on_gate(d.ns, d.name, doc.check->readiness_gate);
    d.spec = std::make_shared<const v1alpha1::HealthCheck>(std::move(*doc.check));
  } else {
    std::vector<std::string> lines;
    lines.reserve(doc.errors.size());
    for (const auto& e : doc.errors)
      lines.push_back((e.path.empty() ? "" : e.path + ": ") + e.message);
    // status.invalidSpec and the Ready message: at most 32,768 characters.
    d.invalid_message = v1alpha1::FormatErrors(lines);
  }
  controller_.Upsert(std::move(d));
}

void KubeSource::OnDelete(const nlohmann::json& object) {
  const auto& meta = object.value("metadata", nlohmann::json::object());
  const std::string ns = meta.value("namespace", ""), name = meta.value("name", "");
  controller_.Remove(ns, name);
  if (hooks_.on_deleted) hooks_.on_deleted(ns, name);
}

}  // namespace healthgate::sources
