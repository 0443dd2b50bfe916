// ParseJson: strict validation and defaults of one HealthCheck object.
//
// The rules are those of crds/healthgate.dev_healthchecks.yaml (types, enums,
// bounds, patterns, CEL rules), so a manifest that `kubectl apply` rejects is
// rejected here too, with an error naming the same field. Every error of a
// document is collected; validation never stops at the first one. `null` counts
// as absent, as for the API server (it prunes nulls of non-nullable fields).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>

#include "operator/api/v1alpha1/model.h"
#include "operator/api/v1alpha1/yaml_json.h"

namespace healthgate::v1alpha1 {

using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------
// Primitive readers. Each reports into `Errors` with the field's path and returns
// nullopt when the value is absent or invalid.
// ---------------------------------------------------------------------------------------

class Errors {
 public:
  void Add(std::string path, std::string message) {
    list_.push_back({std::move(path), std::move(message)});
  }
  std::vector<ValidationError>& list() { return list_; }

 private:
  std::vector<ValidationError> list_;
};

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
std::string Index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string KindOf(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "a list";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

// A value echoed in a message, JSON-quoted and cut to 64 bytes so that a huge
// value cannot flood a condition message. `s` is valid UTF-8 (cut on a character
// boundary).
std::string Quote(const std::string& s) {
  constexpr std::size_t kMax = 64;
  if (s.size() <= kMax) return json(s).dump();
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return json(s.substr(0, cut)).dump() + "...";
}

// Characters (code points) of valid UTF-8, as JSON Schema's maxLength counts them.
std::size_t Chars(const std::string& s) {
  std::size_t n = 0;
  for (const char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

// A JSON object being read: Get() marks a field known, Finish() reports the rest.
class Obj {
 public:
  Obj(Errors& errors, const json* value, std::string path)
      : errors_(errors), path_(std::move(path)) {
    if (value == nullptr || value->is_null()) return;
    if (!value->is_object()) {
      errors_.Add(path_, "must be an object, not " + KindOf(*value));
      return;
    }
    value_ = value;
  }
  Obj(const Obj&) = delete;
  Obj& operator=(const Obj&) = delete;
  ~Obj() { Finish(); }

  bool present() const { return value_ != nullptr; }
  const std::string& path() const { return path_; }
  std::string Path(const std::string& key) const { return Join(path_, key); }

  // The field's value, or nullptr when absent or null.
  const json* Get(const std::string& key) {
    known_.insert(key);
    if (value_ == nullptr) return nullptr;
    auto it = value_->find(key);
    if (it == value_->end() || it->is_null()) return nullptr;
    return &*it;
  }
  bool Has(const std::string& key) const {
    if (value_ == nullptr) return false;
    auto it = value_->find(key);
    return it != value_->end() && !it->is_null();
  }
  // Like Get, but reports "required" when absent.
  const json* Need(const std::string& key) {
    const json* v = Get(key);
    if (v == nullptr && value_ != nullptr) errors_.Add(Path(key), "required field is missing");
    return v;
  }
  void Ignore(std::initializer_list<const char*> keys) {
    for (const char* k : keys) known_.insert(k);
  }

  // Reports fields that no Get/Ignore asked for. Called by the destructor.
  void Finish() {
    if (value_ == nullptr || finished_) return;
    finished_ = true;
    for (auto it = value_->begin(); it != value_->end(); ++it) {
      if (known_.contains(it.key())) continue;
      if (!IsUtf8(it.key())) {
        errors_.Add(path_, "unknown field (name is not valid UTF-8)");
      } else {
        errors_.Add(Path(it.key()), "unknown field " + Quote(it.key()));
      }
    }
  }

 private:
  Errors& errors_;
  const json* value_ = nullptr;
  std::string path_;
  std::set<std::string> known_;
  bool finished_ = false;
};

struct StrRule {
  std::size_t min = 0;
  std::size_t max = std::numeric_limits<std::size_t>::max();
  // NUL is refused everywhere but in byte payloads (tcp.send, tcp.expect): a
  // C library (libcurl, libpq, hiredis, getaddrinfo) would stop reading a host,
  // URL or header at the NUL, so "127.0.0.1\0evil" would probe 127.0.0.1.
  bool allow_nul = false;
};

std::optional<std::string> Str(Errors& e, const json* v, const std::string& path, StrRule rule) {
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    std::string msg = "must be a string, not " + KindOf(*v);
    if (v->is_number() || v->is_boolean()) msg += " (quote it in YAML)";
    e.Add(path, msg);
    return std::nullopt;
  }
  const auto& s = v->get_ref<const std::string&>();
  if (!IsUtf8(s)) {
    e.Add(path, "must be valid UTF-8");
    return std::nullopt;
  }
  if (!rule.allow_nul && s.find('\0') != std::string::npos) {
    e.Add(path, "must not contain a NUL character");
    return std::nullopt;
  }
  const std::size_t n = Chars(s);
  if (n < rule.min) {
    e.Add(path, rule.min == 1 ? "must not be empty"
                              : "must be at least " + std::to_string(rule.min) + " characters");
    return std::nullopt;
  }
  if (n > rule.max) {
    e.Add(path, "must be at most " + std::to_string(rule.max) + " characters");
    return std::nullopt;
  }
  return s;
}

// An integer in [min, max]. An integral float (1e3, 5.0) counts, as for the API
// server; a number beyond 64 bits arrives as a float and is out of range.
std::optional<std::int64_t> Int(Errors& e, const json* v, const std::string& path, std::int64_t min,
                                std::int64_t max) {
  if (v == nullptr) return std::nullopt;
  const std::string range =
      "must be between " + std::to_string(min) + " and " + std::to_string(max);
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(max)) {
      e.Add(path, range);
      return std::nullopt;
    }
    return static_cast<std::int64_t>(u);
  }
  if (v->is_number_integer()) {
    const auto i = v->get<std::int64_t>();
    if (i < min || i > max) {
      e.Add(path, range);
      return std::nullopt;
    }
    return i;
  }
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!std::isfinite(d) || std::trunc(d) != d) {
      e.Add(path, "must be an integer, not a fraction");
      return std::nullopt;
    }
    // Beyond +-9.2e18 the value cannot be an in-range int64 (and the cast would be UB).
    if (d < -9.2e18 || d > 9.2e18) {
      e.Add(path, range);
      return std::nullopt;
    }
    const auto i = static_cast<std::int64_t>(d);
    if (i < min || i > max) {
      e.Add(path, range);
      return std::nullopt;
    }
    return i;
  }
  e.Add(path, "must be an integer, not " + KindOf(*v));
  return std::nullopt;
}

std::optional<bool> Bool(Errors& e, const json* v, const std::string& path) {
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) {
    e.Add(path, "must be a boolean (true or false), not " + KindOf(*v));
    return std::nullopt;
  }
  return v->get<bool>();
}

// A duration string; `positive` requires > 0.
std::optional<Duration> Dur(Errors& e, const json* v, const std::string& path, bool positive) {
  auto s = Str(e, v, path, {});
  if (!s) return std::nullopt;
  if (Chars(*s) > 32) {
    e.Add(path, "must be at most 32 characters");
    return std::nullopt;
  }
  std::string error;
  auto d = ParseDuration(*s, &error);
  if (!d) {
    e.Add(path, Quote(*s) + ": " + error);
    return std::nullopt;
  }
  if (positive && d->count() <= 0) {
    e.Add(path, "must be greater than zero");
    return std::nullopt;
  }
  // Bounded (as in the CRD) so schedule arithmetic never nears int64 overflow.
  if (*d > std::chrono::hours(24)) {
    e.Add(path, "must be at most 24h");
    return std::nullopt;
  }
  return d;
}

bool Matches(const std::string& s, const std::regex& re) { return std::regex_match(s, re); }

const std::regex& DnsLabelRe() {
  static const std::regex re("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  return re;
}
const std::regex& DnsSubdomainRe() {
  static const std::regex re(
      R"(^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)");
  return re;
}

const char* kLabelRule =
    "must be a DNS label: lower case letters, digits and '-', starting and ending with a "
    "letter or digit, at most 63 characters";
const char* kSubdomainRule =
    "must be a DNS subdomain: lower case letters, digits, '-' and '.', starting and ending "
    "with a letter or digit, at most 253 characters";

std::optional<std::string> DnsLabel(Errors& e, const json* v, const std::string& path) {
  auto s = Str(e, v, path, {});
  if (!s) return std::nullopt;
  if (s->empty() || s->size() > 63 || !Matches(*s, DnsLabelRe())) {
    e.Add(path, Quote(*s) + " " + kLabelRule);
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> DnsSubdomain(Errors& e, const json* v, const std::string& path) {
  auto s = Str(e, v, path, {});
  if (!s) return std::nullopt;
  if (s->empty() || s->size() > 253 || !Matches(*s, DnsSubdomainRe())) {
    e.Add(path, Quote(*s) + " " + kSubdomainRule);
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> Enum(Errors& e, const json* v, const std::string& path,
                                std::initializer_list<const char*> allowed) {
  auto s = Str(e, v, path, {});
  if (!s) return std::nullopt;
  std::string list;
  for (const char* a : allowed) {
    if (*s == a) return s;
    if (!list.empty()) list += ", ";
    list += a;
  }
  e.Add(path, Quote(*s) + " must be one of " + list);
  return std::nullopt;
}

// A list with [min, max] items; nullptr when absent or not a list.
const json* List(Errors& e, const json* v, const std::string& path, std::size_t min,
                 std::size_t max) {
  if (v == nullptr) return nullptr;
  if (!v->is_array()) {
    e.Add(path, "must be a list, not " + KindOf(*v));
    return nullptr;
  }
  if (v->size() < min) {
    e.Add(path,
          min == 1 ? "must not be empty" : "must have at least " + std::to_string(min) + " items");
  }
  if (v->size() > max) {
    e.Add(path, "must have at most " + std::to_string(max) + " items");
  }
  return v;
}

// ---------------------------------------------------------------------------------------
// Composite fields
// ---------------------------------------------------------------------------------------

// Reads `<parent>.<key>` as {name, key}; records the use when valid.
void ReadSecretRef(Errors& e, Obj& parent, const std::string& key, const std::string& probe_path,
                   SecretSlot slot, std::size_t header_index, std::vector<SecretUse>* uses) {
  const json* v = parent.Get(key);
  if (v == nullptr) return;
  Obj o(e, v, parent.Path(key));
  if (!o.present()) return;
  auto name = o.Need("name") ? DnsSubdomain(e, o.Get("name"), o.Path("name")) : std::nullopt;
  std::optional<std::string> k;
  if (const json* kv = o.Need("key")) {
    k = Str(e, kv, o.Path("key"), {1, 253});
    static const std::regex re("^[-._a-zA-Z0-9]+$");
    if (k && !Matches(*k, re)) {
      e.Add(o.Path("key"), Quote(*k) + " must consist of letters, digits, '-', '_' and '.'");
      k.reset();
    }
  }
  if (name && k) {
    std::string field = o.path().substr(probe_path.size() + 1);
    uses->push_back(SecretUse{slot, header_index, std::move(field), SecretRef{*name, *k}});
  }
}

// Port in 1-65535.
std::optional<std::uint16_t> Port(Errors& e, const json* v, const std::string& path) {
  auto p = Int(e, v, path, 1, 65535);
  if (!p) return std::nullopt;
  return static_cast<std::uint16_t>(*p);
}

// The CRD: ^https?://[^\s/?#]+([/?#]\S*)?$ and a non-empty host (isURL, getHostname).
std::string UrlProblem(const std::string& url) {
  static const std::regex re(R"(^https?://[^\s/?#]+([/?#]\S*)?$)");
  if (!Matches(url, re)) {
    return "must be an absolute http:// or https:// URL with a host and no spaces";
  }
  const std::size_t start = url.find("://") + 3;
  std::size_t end = url.find_first_of("/?#", start);
  if (end == std::string::npos) end = url.size();
  std::string authority = url.substr(start, end - start);
  if (const auto at = authority.rfind('@'); at != std::string::npos) {
    authority = authority.substr(at + 1);
  }
  std::string host;
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) return "has an unterminated IPv6 address";
    host = authority.substr(1, close - 1);
    const std::string rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return "has text after the IPv6 address";
      port = rest.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (host.empty()) return "must have a host";
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) > 65535 || std::stoi(port) == 0) {
      return "has an invalid port " + Quote(port);
    }
  }
  return "";
}

std::optional<probes::HttpConfig> ReadHttp(Errors& e, const json* v, const std::string& base,
                                           std::vector<SecretUse>* uses) {
  Obj o(e, v, Join(base, "http"));
  if (!o.present()) return std::nullopt;
  probes::HttpConfig c;
  const std::size_t before = e.list().size();
  if (auto url = Str(e, o.Need("url"), o.Path("url"), {1, 2048})) {
    if (std::string p = UrlProblem(*url); !p.empty()) {
      // The URL itself is not echoed: it may carry user:password@.
      e.Add(o.Path("url"), p);
    } else {
      c.url = *url;
    }
  }
  if (auto m = Enum(e, o.Get("method"), o.Path("method"),
                    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})) {
    c.method = *m;
  }
  if (const json* list = List(e, o.Get("expectStatus"), o.Path("expectStatus"), 1, 20)) {
    static const std::regex re("^[1-5][0-9][0-9](-[1-5][0-9][0-9])?$");
    c.expect_status.clear();
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string path = Index(o.Path("expectStatus"), i);
      auto s = Str(e, &(*list)[i], path, {});
      if (!s) continue;
      if (!Matches(*s, re)) {
        e.Add(path, Quote(*s) + " must be a status code such as \"200\" or a range such as " +
                        "\"200-299\" (100-599)");
        continue;
      }
      probes::StatusRange r;
      r.low = std::stoi(s->substr(0, 3));
      r.high = s->size() == 7 ? std::stoi(s->substr(4, 3)) : r.low;
      if (r.low > r.high) {
        e.Add(path, Quote(*s) + ": the start of a status range must not be greater than its end");
        continue;
      }
      c.expect_status.push_back(r);
    }
  }
  if (auto re = Str(e, o.Get("bodyRegex"), o.Path("bodyRegex"), {0, 1024})) {
    // Compiled here, once per definition; the probe reuses the compiled form.
    probes::BodyRegex compiled(*re);
    if (compiled.ok()) {
      c.body_regex = std::move(compiled);
    } else {
      e.Add(o.Path("bodyRegex"),
            "invalid regular expression (RE2 syntax: no backreferences or lookaround): " +
                compiled.error());
    }
  }
  if (auto b = Str(e, o.Get("body"), o.Path("body"), {0, 65536})) c.body = *b;
  if (const json* list = List(e, o.Get("headers"), o.Path("headers"), 0, 32)) {
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string path = Index(o.Path("headers"), i);
      Obj h(e, &(*list)[i], path);
      if (!h.present()) {
        if ((*list)[i].is_null()) e.Add(path, "must be an object, not null");
        continue;
      }
      probes::HttpHeader header;
      if (auto name = Str(e, h.Need("name"), h.Path("name"), {1, 256})) {
        static const std::regex re("^[-!#$%&'*+.^_`|~0-9A-Za-z]+$");
        if (!Matches(*name, re)) {
          e.Add(h.Path("name"), Quote(*name) + " is not a valid HTTP header name");
        }
        header.name = *name;
      }
      const bool has_value = h.Has("value");
      const bool has_secret = h.Has("valueSecretRef");
      if (has_value == has_secret) {
        e.Add(path, "exactly one of value and valueSecretRef must be set");
      }
      if (auto value = Str(e, h.Get("value"), h.Path("value"), {0, 4096})) {
        if (value->find_first_of("\r\n") != std::string::npos) {
          e.Add(h.Path("value"), "must not contain line breaks");
        }
        header.value = probes::Secret(*value);
      }
      ReadSecretRef(e, h, "valueSecretRef", base, SecretSlot::kHttpHeader, c.headers.size(), uses);
      c.headers.push_back(std::move(header));
    }
  }
  if (auto n = Int(e, o.Get("maxBodyBytes"), o.Path("maxBodyBytes"), 0, 67108864)) {
    c.max_body_bytes = static_cast<std::uint64_t>(*n);
  }
  if (auto f = Bool(e, o.Get("followRedirects"), o.Path("followRedirects"))) {
    c.follow_redirects = *f;
  }
  if (const json* tv = o.Get("tls")) {
    Obj t(e, tv, o.Path("tls"));
    if (auto b = Bool(e, t.Get("insecureSkipVerify"), t.Path("insecureSkipVerify"))) {
      c.insecure_skip_verify = *b;
    }
    ReadSecretRef(e, t, "caSecretRef", base, SecretSlot::kHttpCa, 0, uses);
    if (auto sn = Str(e, t.Get("serverName"), t.Path("serverName"), {0, 253})) {
      c.server_name = *sn;
    }
  }
  if (e.list().size() != before) return std::nullopt;
  return c;
}

std::optional<probes::TcpConfig> ReadTcp(Errors& e, const json* v, const std::string& base) {
  Obj o(e, v, Join(base, "tcp"));
  if (!o.present()) return std::nullopt;
  probes::TcpConfig c;
  const std::size_t before = e.list().size();
  if (auto h = Str(e, o.Need("host"), o.Path("host"), {1, 253})) c.host = *h;
  if (auto p = Port(e, o.Need("port"), o.Path("port"))) c.port = *p;
  if (auto s = Str(e, o.Get("send"), o.Path("send"), {0, 4096, true})) c.send = *s;
  if (auto x = Str(e, o.Get("expect"), o.Path("expect"), {0, 4096, true})) c.expect = *x;
  if (e.list().size() != before) return std::nullopt;
  return c;
}

std::optional<probes::PostgresConfig> ReadPostgres(Errors& e, const json* v,
                                                   const std::string& base,
                                                   std::vector<SecretUse>* uses) {
  Obj o(e, v, Join(base, "postgres"));
  if (!o.present()) return std::nullopt;
  probes::PostgresConfig c;
  const std::size_t before = e.list().size();
  if (auto h = Str(e, o.Need("host"), o.Path("host"), {1, 253})) c.host = *h;
  if (auto p = Port(e, o.Get("port"), o.Path("port"))) c.port = *p;
  auto user = Str(e, o.Get("user"), o.Path("user"), {0, 63});
  if (user) c.user = *user;
  // libpq's default database is the user name.
  if (auto d = Str(e, o.Get("database"), o.Path("database"), {0, 63})) {
    c.database = *d;
  } else if (user) {
    c.database = *user;
  }
  ReadSecretRef(e, o, "passwordSecretRef", base, SecretSlot::kPostgresPassword, 0, uses);
  if (auto m = Enum(e, o.Get("sslMode"), o.Path("sslMode"),
                    {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})) {
    c.ssl_mode = *m;
  }
  ReadSecretRef(e, o, "caSecretRef", base, SecretSlot::kPostgresCa, 0, uses);
  if (auto q = Str(e, o.Get("query"), o.Path("query"), {1, 4096})) c.query = *q;
  if (auto x = Str(e, o.Get("expect"), o.Path("expect"), {0, 1024})) c.expect = *x;
  if (auto n = Int(e, o.Get("maxReplyBytes"), o.Path("maxReplyBytes"), 1,
                   static_cast<std::int64_t>(probes::kMaxReplyBytesLimit))) {
    c.max_reply_bytes = static_cast<std::uint64_t>(*n);
  }
  if (e.list().size() != before) return std::nullopt;
  return c;
}

std::optional<probes::RedisConfig> ReadRedis(Errors& e, const json* v, const std::string& base,
                                             std::vector<SecretUse>* uses,
                                             const ValidationOptions& options) {
  Obj o(e, v, Join(base, "redis"));
  if (!o.present()) return std::nullopt;
  probes::RedisConfig c;
  const std::size_t before = e.list().size();
  if (auto h = Str(e, o.Need("host"), o.Path("host"), {1, 253})) c.host = *h;
  if (auto p = Port(e, o.Get("port"), o.Path("port"))) c.port = *p;
  if (auto u = Str(e, o.Get("username"), o.Path("username"), {0, 256})) c.username = *u;
  // AUTH takes a user name only with a password: alone it would be ignored.
  if (o.Has("username") && !o.Has("passwordSecretRef")) {
    e.Add(o.Path("username"), "username requires passwordSecretRef");
  }
  ReadSecretRef(e, o, "passwordSecretRef", base, SecretSlot::kRedisPassword, 0, uses);
  if (auto db = Int(e, o.Get("db"), o.Path("db"), 0, std::numeric_limits<std::int32_t>::max())) {
    c.db = static_cast<int>(*db);
  }
  if (auto cmd = Str(e, o.Get("command"), o.Path("command"), {1, 1024})) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < cmd->size()) {
      const std::size_t j = cmd->find(' ', i);
      const std::size_t end = j == std::string::npos ? cmd->size() : j;
      if (end > i) words.push_back(cmd->substr(i, end - i));
      i = end + 1;
    }
    if (words.empty()) {
      e.Add(o.Path("command"), "must contain a command, not only spaces");
    } else if (std::string why = RedisCommandRefusal(words, options); !why.empty()) {
      // A probe reads; only the cluster admin can widen what it may send.
      e.Add(o.Path("command"), why);
    } else {
      c.command = std::move(words);
    }
  }
  if (auto x = Str(e, o.Get("expect"), o.Path("expect"), {0, 1024})) c.expect = *x;
  if (auto r = Enum(e, o.Get("role"), o.Path("role"), {"master", "replica"})) c.role = *r;
  if (auto n = Int(e, o.Get("maxReplyBytes"), o.Path("maxReplyBytes"), 1,
                   static_cast<std::int64_t>(probes::kMaxReplyBytesLimit))) {
    c.max_reply_bytes = static_cast<std::uint64_t>(*n);
  }
  if (e.list().size() != before) return std::nullopt;
  return c;
}

struct CheckTiming {
  std::optional<Duration> interval;  // nullopt when spec.interval is invalid
  std::optional<Duration> timeout;
};

std::optional<ProbeSpec> ReadProbe(Errors& e, const json& v, const std::string& path,
                                   const HealthCheck& check, const CheckTiming& timing,
                                   const ValidationOptions& options) {
  Obj o(e, &v, path);
  if (!o.present()) {
    if (v.is_null()) e.Add(path, "must be an object, not null");
    return std::nullopt;
  }
  const std::size_t before = e.list().size();
  ProbeSpec p;
  if (o.Need("name")) {
    if (auto n = DnsLabel(e, o.Get("name"), o.Path("name"))) p.name = *n;
  }
  if (auto c = Bool(e, o.Get("critical"), o.Path("critical"))) p.critical = *c;
  if (auto n = Int(e, o.Get("maxConcurrent"), o.Path("maxConcurrent"), 1, 4096)) {
    p.max_concurrent = static_cast<std::uint32_t>(*n);
  }

  const bool has_interval = o.Has("interval");
  const bool has_timeout = o.Has("timeout");
  auto interval = Dur(e, o.Get("interval"), o.Path("interval"), true);
  auto timeout = Dur(e, o.Get("timeout"), o.Path("timeout"), true);
  // Effective values; nullopt when the value it comes from is invalid.
  const std::optional<Duration> eff_interval = has_interval ? interval : timing.interval;
  const std::optional<Duration> eff_timeout = has_timeout ? timeout : timing.timeout;
  if ((has_interval || has_timeout) && eff_interval && eff_timeout &&
      *eff_timeout >= *eff_interval) {
    const std::string t = FormatDuration(*eff_timeout);
    const std::string i = FormatDuration(*eff_interval);
    if (has_interval && has_timeout) {
      e.Add(o.Path("timeout"), "timeout must be less than interval (" + t + " >= " + i + ")");
    } else if (has_timeout) {
      e.Add(o.Path("timeout"), "timeout " + t + " must be less than the interval " + i +
                                   " that this probe takes from spec.interval");
    } else {
      e.Add(o.Path("interval"), "interval " + i + " must be greater than the timeout " + t +
                                    " that this probe takes from spec.timeout");
    }
  }
  if (eff_interval) p.interval = *eff_interval;
  if (eff_timeout) p.timeout = *eff_timeout;
  p.initial_delay = check.initial_delay;
  p.success_threshold = check.success_threshold;
  p.failure_threshold = check.failure_threshold;

  static constexpr const char* kTypes[] = {"postgres", "redis", "http", "tcp"};
  std::string present;
  int count = 0;
  for (const char* t : kTypes) {
    if (o.Has(t)) {
      ++count;
      if (!present.empty()) present += ", ";
      present += t;
    }
  }
  if (count != 1) {
    e.Add(path, "exactly one of postgres, redis, http, tcp must be set" +
                    (count == 0 ? std::string(" (none is)") : " (found " + present + ")"));
  }
  std::optional<probes::Target> target;
  if (auto c = ReadPostgres(e, o.Get("postgres"), path, &p.secrets)) target = *c;
  if (auto c = ReadRedis(e, o.Get("redis"), path, &p.secrets, options)) target = *c;
  if (auto c = ReadHttp(e, o.Get("http"), path, &p.secrets)) target = *c;
  if (auto c = ReadTcp(e, o.Get("tcp"), path)) target = *c;
  if (e.list().size() != before || !target) return std::nullopt;
  p.target = std::move(*target);
  return p;
}

std::optional<ReadinessGate> ReadGate(Errors& e, const json* v, const std::string& name,
                                      bool name_valid) {
  Obj o(e, v, "spec.readinessGate");
  if (!o.present()) return std::nullopt;
  const std::size_t before = e.list().size();
  ReadinessGate gate;
  if (const json* sv = o.Need("podSelector")) {
    Obj sel(e, sv, o.Path("podSelector"));
    if (const json* ml = sel.Get("matchLabels")) {
      const std::string path = sel.Path("matchLabels");
      if (!ml->is_object()) {
        e.Add(path, "must be an object, not " + KindOf(*ml));
      } else {
        if (ml->size() > 64) e.Add(path, "must have at most 64 labels");
        for (auto it = ml->begin(); it != ml->end(); ++it) {
          if (!IsUtf8(it.key())) {
            e.Add(path, "a label key is not valid UTF-8");
            continue;
          }
          if (auto val = Str(e, &it.value(), Join(path, it.key()), {0, 63})) {
            gate.pod_selector.match_labels[it.key()] = *val;
          }
        }
      }
    }
    const std::string mepath = sel.Path("matchExpressions");
    if (const json* list = List(e, sel.Get("matchExpressions"), mepath, 0, 32)) {
      for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string path = Index(mepath, i);
        Obj req(e, &(*list)[i], path);
        if (!req.present()) {
          if ((*list)[i].is_null()) e.Add(path, "must be an object, not null");
          continue;
        }
        LabelSelectorRequirement r;
        if (auto k = Str(e, req.Need("key"), req.Path("key"), {1, 317})) r.key = *k;
        auto op = Enum(e, req.Need("operator"), req.Path("operator"),
                       {"In", "NotIn", "Exists", "DoesNotExist"});
        if (op) r.op = *op;
        if (const json* vals = List(e, req.Get("values"), req.Path("values"), 0, 64)) {
          for (std::size_t j = 0; j < vals->size(); ++j) {
            if (auto s = Str(e, &(*vals)[j], Index(req.Path("values"), j), {0, 63})) {
              r.values.push_back(*s);
            }
          }
        }
        const bool has_values =
            req.Has("values") && req.Get("values")->is_array() && !req.Get("values")->empty();
        if (op && (*op == "In" || *op == "NotIn") && !has_values) {
          e.Add(path, "operator " + *op + " needs values");
        } else if (op && (*op == "Exists" || *op == "DoesNotExist") && has_values) {
          e.Add(path, "operator " + *op + " takes no values");
        }
        gate.pod_selector.match_expressions.push_back(std::move(r));
      }
    }
  }
  const std::string ctpath = o.Path("conditionType");
  if (auto ct = Str(e, o.Get("conditionType"), ctpath, {0, 316})) {
    static const std::regex re(
        R"(^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$)");
    if (!Matches(*ct, re)) {
      e.Add(ctpath, Quote(*ct) +
                        " must be a qualified name such as healthgate.dev/orders (an optional "
                        "DNS-subdomain prefix and '/', then letters, digits, '-', '_', '.')");
    } else {
      gate.condition_type = *ct;
    }
  } else if (!o.Has("conditionType") && name_valid) {
    if (name.size() > 63) {
      e.Add(ctpath,
            "conditionType is required when the HealthCheck's name is longer than 63 "
            "characters (the default healthgate.dev/<name> would not be a valid condition "
            "type)");
    } else {
      gate.condition_type = "healthgate.dev/" + name;
    }
  }
  bool mode_known = !o.Has("mode");
  if (auto mode = Enum(e, o.Get("mode"), o.Path("mode"), {"Rollout", "Continuous"})) {
    gate.mode = *mode == "Continuous" ? GateMode::kContinuous : GateMode::kRollout;
    mode_known = true;
  }
  const std::string mupath = o.Path("maxUnavailable");
  if (const json* mu = o.Get("maxUnavailable")) {
    if (!mode_known) {
      // The mode's own error says what is wrong.
    } else if (gate.mode != GateMode::kContinuous) {
      e.Add(mupath, "applies only to mode: Continuous (Rollout never turns a serving pod False)");
    } else if (mu->is_string()) {
      static const std::regex pct(R"(^(100|[1-9]?[0-9])%$)");
      const std::string& text = mu->get_ref<const std::string&>();
      if (!Matches(text, pct)) {
        e.Add(mupath,
              Quote(text) + " must be a count (0, 1, 2 ...) or a percentage from 0% to 100%");
      } else {
        gate.max_unavailable = {std::stoll(text.substr(0, text.size() - 1)), true};
      }
    } else if (auto n = Int(e, mu, mupath, 0, 1'000'000)) {
      gate.max_unavailable = {*n, false};
    }
  }
  if (const json* fo = o.Get("failOpenAfter")) {
    if (auto d = Dur(e, fo, o.Path("failOpenAfter"), true)) gate.fail_open_after = *d;
  }
  if (e.list().size() != before) return std::nullopt;
  return gate;
}

void ReadMetadata(Errors& e, const json* v, Document& doc, HealthCheck& check, bool* name_valid) {
  Obj m(e, v, "metadata");
  if (!m.present()) {
    if (v == nullptr) e.Add("metadata", "required field is missing");
    return;
  }
  // Identity first, raw, so an invalid document can still be attributed.
  if (const json* n = m.Get("name");
      n != nullptr && n->is_string() && IsUtf8(n->get<std::string>())) {
    doc.name = n->get<std::string>();
  }
  if (const json* ns = m.Get("namespace");
      ns != nullptr && ns->is_string() && IsUtf8(ns->get<std::string>())) {
    doc.ns = ns->get<std::string>();
  }
  if (m.Need("name")) {
    if (auto n = DnsSubdomain(e, m.Get("name"), m.Path("name"))) {
      check.name = *n;
      *name_valid = true;
    }
  }
  if (auto ns = DnsLabel(e, m.Get("namespace"), m.Path("namespace"))) check.ns = *ns;
  for (const char* key : {"labels", "annotations"}) {
    const json* map = m.Get(key);
    if (map == nullptr) continue;
    if (!map->is_object()) {
      e.Add(m.Path(key), "must be an object, not " + KindOf(*map));
      continue;
    }
    for (auto it = map->begin(); it != map->end(); ++it) {
      Str(e, &it.value(), Join(m.Path(key), it.key()), {});
    }
  }
  if (auto uid = Str(e, m.Get("uid"), m.Path("uid"), {})) check.uid = *uid;
  if (auto g = Int(e, m.Get("generation"), m.Path("generation"), 0,
                   std::numeric_limits<std::int64_t>::max())) {
    check.generation = *g;
  }
  if (auto rv = Str(e, m.Get("resourceVersion"), m.Path("resourceVersion"), {})) {
    check.resource_version = *rv;
  }
  // Standard ObjectMeta fields that say nothing about probing.
  m.Ignore({"generateName", "selfLink", "creationTimestamp", "deletionTimestamp",
            "deletionGracePeriodSeconds", "ownerReferences", "finalizers", "managedFields"});
}

}  // namespace

Document ParseJson(const json& object, const std::string& source,
                   const ValidationOptions& options) {
  Document doc;
  doc.source = source;
  doc.ns = "default";
  Errors e;
  HealthCheck check;
  {
    Obj root(e, &object, "");
    if (!root.present()) {
      if (object.is_null()) e.Add("", "must be an object, not null");
      doc.errors = std::move(e.list());
      return doc;
    }
    if (auto av = Str(e, root.Need("apiVersion"), "apiVersion", {})) {
      if (*av != kApiVersion) {
        e.Add("apiVersion", Quote(*av) + " must be " + std::string(kApiVersion));
      }
    }
    if (auto k = Str(e, root.Need("kind"), "kind", {})) {
      if (*k != kKind) e.Add("kind", Quote(*k) + " must be " + std::string(kKind));
    }
    bool name_valid = false;
    ReadMetadata(e, root.Get("metadata"), doc, check, &name_valid);
    root.Ignore({"status"});

    Obj spec(e, root.Need("spec"), "spec");
    CheckTiming timing;
    timing.interval = Dur(e, spec.Get("interval"), "spec.interval", true);
    timing.timeout = Dur(e, spec.Get("timeout"), "spec.timeout", true);
    if (!spec.Has("interval")) timing.interval = check.interval;
    if (!spec.Has("timeout")) timing.timeout = check.timeout;
    if (timing.interval) check.interval = *timing.interval;
    if (timing.timeout) check.timeout = *timing.timeout;
    if (timing.interval && timing.timeout && *timing.timeout >= *timing.interval) {
      e.Add("spec.timeout", "timeout must be less than interval (" +
                                FormatDuration(*timing.timeout) +
                                " >= " + FormatDuration(*timing.interval) + ")");
    }
    if (auto d = Dur(e, spec.Get("initialDelay"), "spec.initialDelay", false)) {
      check.initial_delay = *d;
    }
    if (auto s = Int(e, spec.Get("successThreshold"), "spec.successThreshold", 1, 1000)) {
      check.success_threshold = static_cast<std::uint32_t>(*s);
    }
    if (auto f = Int(e, spec.Get("failureThreshold"), "spec.failureThreshold", 1, 1000)) {
      check.failure_threshold = static_cast<std::uint32_t>(*f);
    }
    if (spec.present()) {
      if (const json* list = List(e, spec.Need("probes"), "spec.probes", 1, 100)) {
        std::map<std::string, std::size_t> seen;
        for (std::size_t i = 0; i < list->size(); ++i) {
          const std::string path = Index("spec.probes", i);
          const json& item = (*list)[i];
          // Duplicate names are judged on the raw name so that they are found even
          // when another field of the probe is invalid.
          if (item.is_object() && item.contains("name") && item["name"].is_string()) {
            const auto& n = item["name"].get_ref<const std::string&>();
            auto [it, inserted] = seen.emplace(n, i);
            if (!inserted && IsUtf8(n)) {
              e.Add(Join(path, "name"), "duplicate probe name " + Quote(n) + " (also " +
                                            Index("spec.probes", it->second) + ")");
            }
          }
          if (auto p = ReadProbe(e, item, path, check, timing, options)) {
            check.probes.push_back(std::move(*p));
          }
        }
      }
      check.readiness_gate = ReadGate(e, spec.Get("readinessGate"), check.name, name_valid);
    }
  }
  doc.errors = std::move(e.list());
  if (doc.errors.empty()) doc.check = std::move(check);
  return doc;
}

namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// Whether `entry` ("GET", "CLUSTER INFO") allows `words`.
bool Allows(std::string_view entry, const std::vector<std::string>& words) {
  const std::size_t space = entry.find(' ');
  if (space == std::string_view::npos) return Upper(words[0]) == entry;
  return words.size() >= 2 && Upper(words[0]) == entry.substr(0, space) &&
         Upper(words[1]) == entry.substr(space + 1);
}

}  // namespace

std::optional<std::vector<std::string>> ParseRedisCommandList(std::string_view text,
                                                              std::string* error) {
  std::vector<std::string> out;
  if (text.find_first_not_of(" \t") == std::string_view::npos) return out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < item.size()) {
      const std::size_t j = item.find_first_of(" \t", i);
      const std::size_t end = j == std::string_view::npos ? item.size() : j;
      if (end > i) words.push_back(Upper(item.substr(i, end - i)));
      i = end + 1;
    }
    const bool valid_chars = std::all_of(words.begin(), words.end(), [](const std::string& w) {
      return std::all_of(w.begin(), w.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      });
    });
    if (words.empty() || words.size() > 2 || !valid_chars) {
      *error = json(std::string(item)).dump() +
               " is not a Redis command (one word, or a command and its subcommand, of "
               "letters, digits, '_' and '-')";
      return std::nullopt;
    }
    out.push_back(words.size() == 1 ? words[0] : words[0] + " " + words[1]);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string RedisCommandRefusal(const std::vector<std::string>& words,
                                const ValidationOptions& options) {
  if (words.empty()) return "must contain a command";
  for (std::string_view entry : kRedisReadOnlyCommands) {
    if (Allows(entry, words)) return {};
  }
  for (const std::string& entry : options.redis_extra_commands) {
    if (Allows(entry, words)) return {};
  }
  std::string list;
  for (std::string_view entry : kRedisReadOnlyCommands) {
    if (!list.empty()) list += ", ";
    list += entry;
  }
  std::string shown = Upper(words[0]);
  if (shown == "CLUSTER" && words.size() >= 2) shown += " " + Upper(words[1]);
  return Quote(shown) + " is not in the read-only allowlist (" + list +
         "); the cluster admin can allow more with --redis-allow-commands";
}

std::vector<std::string> Document::ErrorLines() const {
  std::vector<std::string> out;
  std::string prefix = source + " document " + std::to_string(index);
  if (line > 0) prefix += " (line " + std::to_string(line) + ")";
  prefix += ": ";
  for (const ValidationError& err : errors) {
    out.push_back(prefix + (err.path.empty() ? "" : err.path + ": ") + err.message);
  }
  return out;
}

}  // namespace healthgate::v1alpha1
