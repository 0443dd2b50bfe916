// The HealthCheck model: parse (YAML manifests or API JSON), validate strictly,
// apply defaults. Shared by the local file source, `healthgate check` and the
// Kubernetes source, so every entry point accepts and rejects the same input.
// Knows nothing of the probe loop; Materialize() turns a check into engine
// definitions once its secrets are resolved.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probes/definition.h"
#include "probes/target.h"

namespace healthgate::v1alpha1 {

using Duration = std::chrono::nanoseconds;

inline constexpr std::string_view kApiVersion = "healthgate.dev/v1alpha1";
inline constexpr std::string_view kKind = "HealthCheck";

struct SecretRef {
  std::string name;
  std::string key;
  bool operator==(const SecretRef&) const = default;
};

// Where a probe's target takes a credential from. `field` is the spec path of the
// reference relative to the probe, e.g. "postgres.passwordSecretRef".
enum class SecretSlot {
  kPostgresPassword,
  kPostgresCa,
  kRedisPassword,
  kHttpCa,
  kHttpHeader,  // `header_index` says which header
};
struct SecretUse {
  SecretSlot slot;
  std::size_t header_index = 0;
  std::string field;
  SecretRef ref;
  bool operator==(const SecretUse&) const = default;
};

struct ProbeSpec {
  std::string name;
  bool critical = true;
  // Effective values: the probe's own override, else the check's.
  Duration interval{};
  Duration timeout{};
  Duration initial_delay{};
  std::uint32_t success_threshold = 1;
  std::uint32_t failure_threshold = 3;
  // maxConcurrent: attempts of this probe start only while fewer than this many
  // run against its endpoint (0: the engine's per-endpoint/per-database bound).
  std::uint32_t max_concurrent = 0;
  // Secret fields of the target are left empty here; Materialize() fills them.
  probes::Target target;
  std::vector<SecretUse> secrets;
  bool operator==(const ProbeSpec&) const = default;
};

struct LabelSelectorRequirement {
  std::string key;
  std::string op;  // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
  bool operator==(const LabelSelectorRequirement&) const = default;
};

struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;
  bool operator==(const LabelSelector&) const = default;
};

// A count, or a percentage of a total (an IntOrString like a Deployment's
// maxUnavailable).
struct IntOrPercent {
  std::int64_t value = 0;
  bool percent = false;
  // Of `total`: the count, or the percentage rounded down (like a Deployment's
  // maxUnavailable, so 25% of 3 pods is 0 and a percentage below 100% never
  // covers every pod).
  std::int64_t Of(std::int64_t total) const { return percent ? total * value / 100 : value; }
  bool operator==(const IntOrPercent&) const = default;
};

// spec.readinessGate.mode: Rollout latches a pod's condition True once the check
// was Ready after the pod was created; Continuous follows Ready, within
// maxUnavailable.
enum class GateMode { kRollout, kContinuous };

struct ReadinessGate {
  LabelSelector pod_selector;
  std::string condition_type;  // defaulted to healthgate.dev/<name>
  GateMode mode = GateMode::kRollout;
  // Continuous only: at most this many selected pods False because of this check.
  IntOrPercent max_unavailable{25, true};
  // A pod still gated after this long gets True with reason FailOpen.
  std::optional<Duration> fail_open_after;
  bool operator==(const ReadinessGate&) const = default;
};

struct HealthCheck {
  std::string ns = "default";
  std::string name;
  std::string uid;               // from metadata (API JSON); empty in files
  std::int64_t generation = 0;   // metadata.generation; 0 in files
  std::string resource_version;  // metadata.resourceVersion; empty in files
  Duration interval = std::chrono::seconds(10);
  Duration timeout = std::chrono::seconds(2);
  Duration initial_delay{0};
  std::uint32_t success_threshold = 1;
  std::uint32_t failure_threshold = 3;
  std::vector<ProbeSpec> probes;
  std::optional<ReadinessGate> readiness_gate;
  std::string key() const { return ns + "/" + name; }
  // Equality of everything that affects probing (not uid/resourceVersion).
  bool SameSpec(const HealthCheck& o) const {
    return ns == o.ns && name == o.name && probes == o.probes && readiness_gate == o.readiness_gate;
  }
};

struct ValidationError {
  std::string path;     // e.g. spec.probes[2].http.url; "" for the whole document
  std::string message;  // why, e.g. "must be one of GET, HEAD, POST"
};

// One document of a source. `errors` empty <=> `check` set.
struct Document {
  std::string source;  // file path or "api"
  int index = 0;       // 0-based document index within the file
  int line = 0;        // 1-based line where the document starts (YAML), 0 if unknown
  // Identity when it could be read even though the document is invalid, so an
  // invalid new version can be attributed to its check.
  std::string ns;
  std::string name;
  std::optional<HealthCheck> check;
  std::vector<ValidationError> errors;
  // "<source> document <index> (line L): <path>: <message>", one per error.
  std::vector<std::string> ErrorLines() const;
};

// The read-only Redis commands a redis probe's `command` may use: one word
// (any arguments) or two ("CLUSTER INFO": only that subcommand). Matched
// case-insensitively.
inline constexpr std::string_view kRedisReadOnlyCommands[] = {
    "PING", "ECHO", "INFO",         "ROLE",   "GET",     "EXISTS", "TYPE",
    "TTL",  "PTTL", "STRLEN",       "DBSIZE", "LLEN",    "SCARD",  "ZCARD",
    "HLEN", "XLEN", "CLUSTER INFO", "TIME",   "LASTSAVE"};

// What the process decides about validation, never a HealthCheck (flags of
// `operator`, `local` and `check`).
struct ValidationOptions {
  // Redis commands allowed beyond kRedisReadOnlyCommands (--redis-allow-commands),
  // in ParseRedisCommandList's form.
  std::vector<std::string> redis_extra_commands;
};

// A comma-separated list of Redis commands ("CONFIG GET,SCAN"): each one word or
// two (command and subcommand) of letters, digits, '_' and '-', upper-cased,
// single-spaced. Empty text: an empty list. nullopt with `error` naming the entry.
std::optional<std::vector<std::string>> ParseRedisCommandList(std::string_view text,
                                                              std::string* error);
// Whether a redis probe's command (its words, as sent) is allowed: empty when it
// is, else why not (names the command and the allowlist).
std::string RedisCommandRefusal(const std::vector<std::string>& words,
                                const ValidationOptions& options);

// Every document of a YAML stream (multi-document). Empty documents are skipped.
// A YAML syntax error, or nesting deeper than kMaxNesting, yields one Document
// with the error and its line.
// Every parser takes the process's ValidationOptions (default: none).
std::vector<Document> ParseYaml(std::string_view text, const std::string& source,
                                const ValidationOptions& options = {});
// One object as the API server sends it.
Document ParseJson(const nlohmann::json& object, const std::string& source,
                   const ValidationOptions& options = {});

// Bounds on manifest input. A manifest file larger than kMaxManifestBytes is not
// read (the API server's own request limit is 3 MiB); YAML or JSON nested deeper
// than kMaxNesting levels is rejected with its line.
inline constexpr std::size_t kMaxManifestBytes = std::size_t{4} << 20;  // 4 MiB
inline constexpr int kMaxNesting = 64;

// One manifest file read from disk. Only regular files (or symlinks to them) are
// opened: a FIFO, device, socket or directory is not read (a FIFO would block
// and /dev/zero never ends), and neither is a file over kMaxManifestBytes.
struct ManifestFile {
  std::string path;
  // The file could not be used as a whole (not a regular file, unreadable, too
  // large, a YAML/JSON syntax error, nesting too deep): `documents` then holds
  // one Document with that error, and no document of the file can be trusted.
  bool failed = false;
  bool empty = false;  // read fine, zero bytes
  std::vector<Document> documents;
};
ManifestFile ReadManifestFile(const std::string& path, const ValidationOptions& options = {});
// The manifest files a path names: the path itself when it is not a directory,
// else the directory's *.yaml, *.yml and *.json entries that are not
// directories (non-recursive, sorted). nullopt with `error` set when the path
// does not exist or the directory cannot be listed.
std::optional<std::vector<std::string>> ListManifestFiles(const std::string& path,
                                                          std::string* error);
// Files and directories (ListManifestFiles then ReadManifestFile, in order).
// An unreadable path or file yields a Document with the error.
std::vector<Document> LoadPaths(const std::vector<std::string>& paths,
                                const ValidationOptions& options = {});

// Condition and status messages are capped at 32,768 characters, as Kubernetes
// caps a condition's message; the cap here is in bytes, so it also holds in
// characters.
inline constexpr std::size_t kMaxMessageBytes = 32768;
// `lines` joined with `separator`, at most `max_bytes` long: the lines that do
// not fit are counted instead, "… (N more errors)". A single line too long by
// itself is cut on a UTF-8 character boundary. The one formatter for error lists
// in condition messages, status.invalidSpec and local mode's API.
std::string FormatErrors(const std::vector<std::string>& lines,
                         std::size_t max_bytes = kMaxMessageBytes,
                         std::string_view separator = "; ");
// `text` cut to at most `max_bytes` on a UTF-8 character boundary, ending with
// "… (truncated)" when it was cut. For any other message that may grow (a
// condition naming many failing probes).
std::string CapMessage(std::string_view text, std::size_t max_bytes = kMaxMessageBytes);

// Kubernetes duration strings: "500ms", "10s", "1m30s", "1h", "1.5s", units ns us µs
// ms s m h. No sign, no bare number. nullopt with `error` set when invalid.
std::optional<Duration> ParseDuration(std::string_view text, std::string* error);
std::string FormatDuration(Duration d);  // "1m30s", "500ms"

// The outcome of resolving one `...SecretRef`: the value, or the reason a probe
// that needs it is blocked. Reasons (documented in docs/operator.md):
//   SecretNotFound     the Secret or its key does not exist (a configuration error);
//   SecretForbidden    healthgate is not allowed to read it (RBAC);
//   SecretNotAllowed   operator mode: the Secret exists but does not carry the label
//                      healthgate.dev/probe-credentials: "true", so its data was not
//                      read (a configuration error: the Secret's owner did not opt in);
//   SecretUnavailable  healthgate could not read it (API server unreachable, 5xx, 429,
//                      timeout) and knows no earlier value: healthgate's own fault,
//                      never a verdict about the target.
struct SecretLookup {
  std::optional<std::string> value;
  std::string blocked_reason;  // empty when `value` is set
  std::string error;           // names the secret and key, never a value
};

// Resolves `...SecretRef`s. Implementations: local (files/env) and Kubernetes.
class SecretResolver {
 public:
  virtual ~SecretResolver() = default;
  // The value, or nullopt with `error` naming the secret and key (never a value).
  virtual std::optional<std::string> Get(const std::string& ns, const SecretRef& ref,
                                         std::string* error) = 0;
  // With the reason a lookup failed. The default calls Get(): every failure is
  // SecretNotFound (files and environment have no transient errors).
  virtual SecretLookup Lookup(const std::string& ns, const SecretRef& ref) {
    SecretLookup out;
    out.value = Get(ns, ref, &out.error);
    if (!out.value) out.blocked_reason = "SecretNotFound";
    return out;
  }
};

// Local mode: DIR/<namespace>/<name>/<key> (the shape of a mounted Secret), then the
// environment variable HEALTHGATE_SECRET_<NAMESPACE>_<NAME>_<KEY> (upper-cased, every
// character outside [A-Z0-9] replaced by '_'). Empty `dir`: environment only.
class LocalSecretResolver final : public SecretResolver {
 public:
  explicit LocalSecretResolver(std::string dir) : dir_(std::move(dir)) {}
  std::optional<std::string> Get(const std::string& ns, const SecretRef& ref,
                                 std::string* error) override;
  static std::string EnvName(const std::string& ns, const SecretRef& ref);

 private:
  std::string dir_;
};

// A probe ready for the engine, or blocked (its secret is missing).
struct MaterializedProbe {
  std::string name;
  std::string type;  // http, tcp, postgres, redis
  bool critical = true;
  probes::ProbeDefinition definition;  // key "<ns>/<check>/<probe>"
  std::string blocked_reason;          // SecretLookup::blocked_reason when blocked
  std::string blocked_message;         // names the secret and key, never a value
  bool blocked() const { return !blocked_reason.empty(); }
};

// Targets without secrets point into `check` (shared, not copied); a target
// with secrets filled in is a copy of its own.
std::vector<MaterializedProbe> Materialize(const std::shared_ptr<const HealthCheck>& check,
                                           SecretResolver& secrets);
// The same for a check not held by a shared_ptr (copies it once).
std::vector<MaterializedProbe> Materialize(const HealthCheck& check, SecretResolver& secrets);

}  // namespace healthgate::v1alpha1
