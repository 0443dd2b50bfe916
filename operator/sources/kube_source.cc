#include "operator/sources/kube_source.h"

namespace healthgate::sources {

std::optional<std::string> KubeSecretResolver::Get(const std::string& ns,
                                                   const spec::SecretRef& ref, std::string* error) {
  auto secret = client_.Get(kube::ResourceRef{"", "v1", "secrets", ns}, ref.name);
  if (!secret.ok()) {
    const auto& e = secret.error();
    if (e.IsNotFound())
      *error = "secret \"" + ref.name + "\" not found in namespace \"" + ns + "\"";
    else if (e.IsForbidden())
      *error = "not allowed to read secret \"" + ref.name + "\" in namespace \"" + ns +
               "\" (RBAC: secrets get)";
    else
      *error = "reading secret \"" + ref.name + "\" in namespace \"" + ns + "\": " + e.ToString();
    return std::nullopt;
  }
  const auto& data = secret->value("data", nlohmann::json::object());
  if (data.is_object() && data.contains(ref.key) && data[ref.key].is_string()) {
    auto decoded = kube::DecodeBase64(data[ref.key].get<std::string>());
    if (decoded) return decoded;
    *error = "secret \"" + ref.name + "\" key \"" + ref.key + "\" is not valid base64";
    return std::nullopt;
  }
  *error = "secret \"" + ref.name + "\" in namespace \"" + ns + "\" has no key \"" + ref.key + "\"";
  return std::nullopt;
}

namespace {
kube::ReflectorOptions ReflectorOptionsFor(const std::string& ns) {
  kube::ReflectorOptions o;
  o.ref = kHealthChecks.InNamespace(ns);
  return o;
}
}  // namespace

KubeSource::KubeSource(kube::Client& client, controller::Controller& controller, Metrics* metrics,
                       Logger& log, Options options, Hooks hooks)
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
  spec::Document doc = spec::ParseJson(object, "api");
  controller::DesiredCheck d;
  const auto& meta = object.value("metadata", nlohmann::json::object());
  d.ns = meta.value("namespace", doc.ns);
  d.name = meta.value("name", doc.name);
  d.generation = meta.value("generation", std::int64_t{0});
  if (d.name.empty()) return;  // not addressable; the API server never sends this
  if (doc.check) {
    if (hooks_.on_gate) hooks_.on_gate(d.ns, d.name, doc.check->readiness_gate);
    d.spec = std::make_shared<const spec::HealthCheck>(std::move(*doc.check));
  } else {
    std::vector<std::string> lines;
    lines.reserve(doc.errors.size());
    for (const auto& e : doc.errors)
      lines.push_back((e.path.empty() ? "" : e.path + ": ") + e.message);
    // status.invalidSpec and the Ready message: at most 32,768 characters.
    d.invalid_message = spec::FormatErrors(lines);
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
