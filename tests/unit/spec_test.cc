// The HealthCheck model: every input that must be rejected names its field, every
// valid manifest parses with the documented defaults, and Materialize() resolves
// secrets without ever letting a value into a message.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "operator/api/v1alpha1/model.h"

namespace healthgate::v1alpha1 {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::filesystem::path SourceDir() {
#ifdef HEALTHGATE_SOURCE_DIR
  return HEALTHGATE_SOURCE_DIR;
#else
  // unit_tests has no HEALTHGATE_SOURCE_DIR define; this file is compiled from
  // <source>/tests/unit/spec_test.cc with an absolute path.
  return fs::path(__FILE__).parent_path().parent_path().parent_path();
#endif
}

std::string Header(const std::string& name = "orders") {
  return "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\nmetadata:\n  name: " + name +
         "\n  namespace: shop\n";
}

// A document with `spec` (indented YAML under "spec:").
std::string WithSpec(const std::string& spec) { return Header() + "spec:\n" + spec; }

// One probe `body` (YAML lines of the probe item, first line without "- ").
std::string WithProbe(const std::string& body) { return WithSpec("  probes:\n  - " + body); }

Document ParseOne(const std::string& yaml) {
  auto docs = ParseYaml(yaml, "test.yaml");
  EXPECT_EQ(docs.size(), 1u) << yaml;
  if (docs.empty()) return Document{};
  return docs[0];
}

std::string Dump(const Document& d) {
  std::string out;
  for (const auto& l : d.ErrorLines()) out += "  " + l + "\n";
  return out;
}

struct BadCase {
  const char* label;
  std::string yaml;
  std::string path;      // exact path of one error
  std::string fragment;  // part of that error's message
};

class SpecRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(SpecRejects, NamesFieldAndReason) {
  const BadCase& c = GetParam();
  Document d = ParseOne(c.yaml);
  EXPECT_FALSE(d.check.has_value());
  bool found = false;
  for (const auto& e : d.errors) {
    if (e.path == c.path && e.message.find(c.fragment) != std::string::npos) found = true;
  }
  EXPECT_TRUE(found) << c.label << ": want " << c.path << ": ..." << c.fragment << "...\ngot:\n"
                     << Dump(d);
}

const std::string kTcp = "name: broker\n    tcp: {host: 127.0.0.1, port: 5672}\n";

std::vector<BadCase> BadCases() {
  return {
      // Document level.
      {"not an object", "- a\n- b\n", "", "must be an object, not a list"},
      {"scalar document", "hello\n", "", "must be an object, not a string"},
      {"wrong apiVersion",
       "apiVersion: healthgate.dev/v1\nkind: HealthCheck\nmetadata: {name: a}\n"
       "spec: {probes: [{name: b, tcp: {host: h, port: 1}}]}\n",
       "apiVersion", "must be healthgate.dev/v1alpha1"},
      {"missing apiVersion",
       "kind: HealthCheck\nmetadata: {name: a}\n"
       "spec: {probes: [{name: b, tcp: {host: h, port: 1}}]}\n",
       "apiVersion", "required"},
      {"wrong kind",
       "apiVersion: healthgate.dev/v1alpha1\nkind: Pod\nmetadata: {name: a}\n"
       "spec: {probes: [{name: b, tcp: {host: h, port: 1}}]}\n",
       "kind", "must be HealthCheck"},
      {"unknown top-level field", WithProbe(kTcp) + "spek: {}\n", "spek", "unknown field"},
      {"missing spec", Header(), "spec", "required"},
      {"spec is a list", Header() + "spec: []\n", "spec", "must be an object, not a list"},
      {"missing metadata",
       "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\nspec: {probes: [{name: b, tcp: "
       "{host: h, port: 1}}]}\n",
       "metadata", "required"},
      {"missing name",
       "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\nmetadata: {}\n"
       "spec: {probes: [{name: b, tcp: {host: h, port: 1}}]}\n",
       "metadata.name", "required"},
      {"name with capitals", WithProbe(kTcp).replace(WithProbe(kTcp).find("orders"), 6, "Orders"),
       "metadata.name", "DNS subdomain"},
      {"name too long",
       Header(std::string(254, 'a')) + "spec: {probes: [{name: b, tcp: {host: h, port: 1}}]}\n",
       "metadata.name", "DNS subdomain"},
      {"namespace not a label",
       "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\nmetadata: {name: a, namespace: "
       "a.b}\nspec: {probes: [{name: b, tcp: {host: h, port: 1}}]}\n",
       "metadata.namespace", "DNS label"},
      {"unknown metadata field",
       WithProbe(kTcp).replace(WithProbe(kTcp).find("  namespace"), 0, "  nmae: x\n"),
       "metadata.nmae", "unknown field"},
      {"labels not a map",
       WithProbe(kTcp).replace(WithProbe(kTcp).find("  namespace"), 0, "  labels: [a]\n"),
       "metadata.labels", "must be an object"},
      {"label value not a string",
       WithProbe(kTcp).replace(WithProbe(kTcp).find("  namespace"), 0, "  labels: {a: 1}\n"),
       "metadata.labels.a", "must be a string"},
      // spec fields.
      {"unknown spec field", WithSpec("  foo: 1\n  probes:\n  - " + kTcp), "spec.foo",
       "unknown field \"foo\""},
      {"interval is a list", WithSpec("  interval: [10s]\n  probes:\n  - " + kTcp), "spec.interval",
       "must be a string, not a list"},
      {"interval is a number", WithSpec("  interval: 10\n  probes:\n  - " + kTcp), "spec.interval",
       "must be a string, not an integer"},
      {"interval without unit", WithSpec("  interval: \"10\"\n  probes:\n  - " + kTcp),
       "spec.interval", "missing unit"},
      {"interval zero", WithSpec("  interval: 0s\n  probes:\n  - " + kTcp), "spec.interval",
       "greater than zero"},
      {"interval negative", WithSpec("  interval: -5s\n  probes:\n  - " + kTcp), "spec.interval",
       "duration"},
      {"interval huge", WithSpec("  interval: 9999999999h\n  probes:\n  - " + kTcp),
       "spec.interval", "out of range"},
      {"interval too long",
       WithSpec("  interval: 1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s\n  probes:\n  - " + kTcp),
       "spec.interval", "at most 32"},
      {"timeout bad unit", WithSpec("  timeout: 1x\n  probes:\n  - " + kTcp), "spec.timeout",
       "duration"},
      {"timeout equals interval", WithSpec("  interval: 5s\n  timeout: 5s\n  probes:\n  - " + kTcp),
       "spec.timeout", "less than interval"},
      {"timeout above default interval", WithSpec("  timeout: 11s\n  probes:\n  - " + kTcp),
       "spec.timeout", "less than interval"},
      {"initialDelay negative", WithSpec("  initialDelay: -1s\n  probes:\n  - " + kTcp),
       "spec.initialDelay", "duration"},
      {"successThreshold zero", WithSpec("  successThreshold: 0\n  probes:\n  - " + kTcp),
       "spec.successThreshold", "between 1 and 1000"},
      {"successThreshold negative", WithSpec("  successThreshold: -1\n  probes:\n  - " + kTcp),
       "spec.successThreshold", "between 1 and 1000"},
      {"failureThreshold 1001", WithSpec("  failureThreshold: 1001\n  probes:\n  - " + kTcp),
       "spec.failureThreshold", "between 1 and 1000"},
      {"failureThreshold huge",
       WithSpec("  failureThreshold: 99999999999999999999\n  probes:\n  - " + kTcp),
       "spec.failureThreshold", "between 1 and 1000"},
      {"failureThreshold fraction", WithSpec("  failureThreshold: 2.5\n  probes:\n  - " + kTcp),
       "spec.failureThreshold", "must be an integer"},
      {"failureThreshold string", WithSpec("  failureThreshold: \"3\"\n  probes:\n  - " + kTcp),
       "spec.failureThreshold", "must be an integer, not a string"},
      {"failureThreshold bool", WithSpec("  failureThreshold: true\n  probes:\n  - " + kTcp),
       "spec.failureThreshold", "must be an integer, not a boolean"},
      {"probes missing", WithSpec("  interval: 10s\n"), "spec.probes", "required"},
      {"probes empty", WithSpec("  probes: []\n"), "spec.probes", "must not be empty"},
      {"probes is a map", WithSpec("  probes: {name: x}\n"), "spec.probes", "must be a list"},
      {"probe is null", WithSpec("  probes:\n  -\n"), "spec.probes[0]",
       "must be an object, not null"},
      {"probe is a string", WithSpec("  probes:\n  - tcp\n"), "spec.probes[0]",
       "must be an object"},
      // Probes.
      {"probe without name", WithProbe("tcp: {host: h, port: 1}\n"), "spec.probes[0].name",
       "required"},
      {"probe name upper case", WithProbe("name: Main_DB\n    tcp: {host: h, port: 1}\n"),
       "spec.probes[0].name", "DNS label"},
      {"probe name 64 chars",
       WithProbe("name: " + std::string(64, 'a') + "\n    tcp: {host: h, port: 1}\n"),
       "spec.probes[0].name", "DNS label"},
      {"probe name number", WithProbe("name: 5\n    tcp: {host: h, port: 1}\n"),
       "spec.probes[0].name", "must be a string, not an integer (quote it in YAML)"},
      {"duplicate probe names",
       WithSpec("  probes:\n  - " + kTcp + "  - {name: x, tcp: {host: h, port: 2}}\n  - " + kTcp),
       "spec.probes[2].name", "duplicate probe name \"broker\" (also spec.probes[0])"},
      {"two probe types",
       WithProbe("name: a\n    tcp: {host: h, port: 1}\n    http: {url: 'http://h/'}\n"),
       "spec.probes[0]", "exactly one of postgres, redis, http, tcp must be set (found http, tcp)"},
      {"no probe type", WithProbe("name: a\n    critical: true\n"), "spec.probes[0]",
       "exactly one of postgres, redis, http, tcp must be set (none is)"},
      {"unknown probe field", WithProbe("name: a\n    foo: 1\n    tcp: {host: h, port: 1}\n"),
       "spec.probes[0].foo", "unknown field"},
      {"probe-level threshold is not in the CRD",
       WithProbe("name: a\n    successThreshold: 2\n    tcp: {host: h, port: 1}\n"),
       "spec.probes[0].successThreshold", "unknown field"},
      {"critical quoted",
       WithProbe("name: a\n    critical: \"yes\"\n    tcp: {host: h, port: 1}\n"),
       "spec.probes[0].critical", "must be a boolean"},
      {"critical number", WithProbe("name: a\n    critical: 1\n    tcp: {host: h, port: 1}\n"),
       "spec.probes[0].critical", "must be a boolean"},
      {"probe timeout >= own interval",
       WithProbe("name: a\n    interval: 2s\n    timeout: 3s\n    tcp: {host: h, port: 1}\n"),
       "spec.probes[0].timeout", "less than interval"},
      {"probe timeout >= inherited interval",
       WithSpec("  interval: 4s\n  timeout: 1s\n  probes:\n  - name: a\n    timeout: 5s\n    tcp: "
                "{host: h, port: 1}\n"),
       "spec.probes[0].timeout", "takes from spec.interval"},
      {"probe interval <= inherited timeout",
       WithSpec("  timeout: 3s\n  probes:\n  - name: a\n    interval: 3s\n    tcp: {host: h, port: "
                "1}\n"),
       "spec.probes[0].interval", "takes from spec.timeout"},
      {"probe interval zero", WithProbe("name: a\n    interval: 0s\n    tcp: {host: h, port: 1}\n"),
       "spec.probes[0].interval", "greater than zero"},
      // tcp
      {"tcp port zero", WithProbe("name: a\n    tcp: {host: h, port: 0}\n"),
       "spec.probes[0].tcp.port", "between 1 and 65535"},
      {"tcp port negative", WithProbe("name: a\n    tcp: {host: h, port: -80}\n"),
       "spec.probes[0].tcp.port", "between 1 and 65535"},
      {"tcp port 65536", WithProbe("name: a\n    tcp: {host: h, port: 65536}\n"),
       "spec.probes[0].tcp.port", "between 1 and 65535"},
      {"tcp port huge", WithProbe("name: a\n    tcp: {host: h, port: 99999999999999999999}\n"),
       "spec.probes[0].tcp.port", "between 1 and 65535"},
      {"tcp port quoted", WithProbe("name: a\n    tcp: {host: h, port: \"8080\"}\n"),
       "spec.probes[0].tcp.port", "must be an integer, not a string"},
      {"tcp port fraction", WithProbe("name: a\n    tcp: {host: h, port: 80.5}\n"),
       "spec.probes[0].tcp.port", "must be an integer"},
      {"tcp port missing", WithProbe("name: a\n    tcp: {host: h}\n"), "spec.probes[0].tcp.port",
       "required"},
      {"tcp host empty", WithProbe("name: a\n    tcp: {host: '', port: 1}\n"),
       "spec.probes[0].tcp.host", "must not be empty"},
      {"tcp host number", WithProbe("name: a\n    tcp: {host: 10, port: 1}\n"),
       "spec.probes[0].tcp.host", "must be a string"},
      {"tcp host list", WithProbe("name: a\n    tcp: {host: [a], port: 1}\n"),
       "spec.probes[0].tcp.host", "must be a string, not a list"},
      {"tcp host not UTF-8", WithProbe("name: a\n    tcp: {host: \"h\xff\xfe\", port: 1}\n"),
       "spec.probes[0].tcp.host", "UTF-8"},
      {"tcp unknown field", WithProbe("name: a\n    tcp: {hostname: h, host: h, port: 1}\n"),
       "spec.probes[0].tcp.hostname", "unknown field"},
      {"tcp is a string", WithProbe("name: a\n    tcp: h:1\n"), "spec.probes[0].tcp",
       "must be an object"},
      {"tcp send too long",
       WithProbe("name: a\n    tcp: {host: h, port: 1, send: " + std::string(4097, 'x') + "}\n"),
       "spec.probes[0].tcp.send", "at most 4096"},
      // postgres
      {"postgres host missing", WithProbe("name: db\n    postgres: {port: 5432}\n"),
       "spec.probes[0].postgres.host", "required"},
      {"postgres port string", WithProbe("name: db\n    postgres: {host: h, port: five}\n"),
       "spec.probes[0].postgres.port", "must be an integer"},
      {"postgres sslMode", WithProbe("name: db\n    postgres: {host: h, sslMode: strict}\n"),
       "spec.probes[0].postgres.sslMode",
       "must be one of disable, allow, prefer, require, verify-ca, verify-full"},
      {"postgres secret without key",
       WithProbe("name: db\n    postgres: {host: h, passwordSecretRef: {name: pg}}\n"),
       "spec.probes[0].postgres.passwordSecretRef.key", "required"},
      {"postgres secret without name",
       WithProbe("name: db\n    postgres: {host: h, passwordSecretRef: {key: pw}}\n"),
       "spec.probes[0].postgres.passwordSecretRef.name", "required"},
      {"postgres secret ref unknown field",
       WithProbe("name: db\n    postgres: {host: h, passwordSecretRef: {name: pg, key: pw, "
                 "namespace: x}}\n"),
       "spec.probes[0].postgres.passwordSecretRef.namespace", "unknown field"},
      {"postgres secret key with slash",
       WithProbe("name: db\n    postgres: {host: h, passwordSecretRef: {name: pg, key: a/b}}\n"),
       "spec.probes[0].postgres.passwordSecretRef.key", "letters, digits"},
      {"postgres secret name invalid",
       WithProbe("name: db\n    postgres: {host: h, caSecretRef: {name: PG, key: ca}}\n"),
       "spec.probes[0].postgres.caSecretRef.name", "DNS subdomain"},
      {"postgres secret ref is a string",
       WithProbe("name: db\n    postgres: {host: h, passwordSecretRef: pg}\n"),
       "spec.probes[0].postgres.passwordSecretRef", "must be an object"},
      {"postgres inline password",
       WithProbe("name: db\n    postgres: {host: h, password: hunter2}\n"),
       "spec.probes[0].postgres.password", "unknown field"},
      {"postgres query empty", WithProbe("name: db\n    postgres: {host: h, query: ''}\n"),
       "spec.probes[0].postgres.query", "must not be empty"},
      {"postgres user too long",
       WithProbe("name: db\n    postgres: {host: h, user: " + std::string(64, 'u') + "}\n"),
       "spec.probes[0].postgres.user", "at most 63"},
      // redis
      {"redis role", WithProbe("name: c\n    redis: {host: h, role: primary}\n"),
       "spec.probes[0].redis.role", "must be one of master, replica"},
      {"redis db negative", WithProbe("name: c\n    redis: {host: h, db: -1}\n"),
       "spec.probes[0].redis.db", "between 0 and 2147483647"},
      {"redis db string", WithProbe("name: c\n    redis: {host: h, db: zero}\n"),
       "spec.probes[0].redis.db", "must be an integer"},
      {"redis command spaces", WithProbe("name: c\n    redis: {host: h, command: '   '}\n"),
       "spec.probes[0].redis.command", "only spaces"},
      {"redis command list", WithProbe("name: c\n    redis: {host: h, command: [PING]}\n"),
       "spec.probes[0].redis.command", "must be a string, not a list"},
      // http
      {"http url missing", WithProbe("name: w\n    http: {method: GET}\n"),
       "spec.probes[0].http.url", "required"},
      {"http url ftp", WithProbe("name: w\n    http: {url: 'ftp://files.example/'}\n"),
       "spec.probes[0].http.url", "http:// or https://"},
      {"http url relative", WithProbe("name: w\n    http: {url: /healthz}\n"),
       "spec.probes[0].http.url", "http:// or https://"},
      {"http url no host", WithProbe("name: w\n    http: {url: 'http:///x'}\n"),
       "spec.probes[0].http.url", "http:// or https://"},
      {"http url only port", WithProbe("name: w\n    http: {url: 'http://:80/x'}\n"),
       "spec.probes[0].http.url", "must have a host"},
      {"http url bad port", WithProbe("name: w\n    http: {url: 'http://h:99999/x'}\n"),
       "spec.probes[0].http.url", "invalid port"},
      {"http url with space", WithProbe("name: w\n    http: {url: 'http://h/a b'}\n"),
       "spec.probes[0].http.url", "no spaces"},
      {"http url upper-case scheme", WithProbe("name: w\n    http: {url: 'HTTP://h/'}\n"),
       "spec.probes[0].http.url", "http:// or https://"},
      {"http method", WithProbe("name: w\n    http: {url: 'http://h/', method: FETCH}\n"),
       "spec.probes[0].http.method", "must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"},
      {"http method lower case", WithProbe("name: w\n    http: {url: 'http://h/', method: get}\n"),
       "spec.probes[0].http.method", "must be one of"},
      {"expectStatus 2xx",
       WithProbe("name: w\n    http: {url: 'http://h/', expectStatus: ['2xx']}\n"),
       "spec.probes[0].http.expectStatus[0]", "status code"},
      {"expectStatus 600",
       WithProbe("name: w\n    http: {url: 'http://h/', expectStatus: ['200', '600']}\n"),
       "spec.probes[0].http.expectStatus[1]", "100-599"},
      {"expectStatus 99",
       WithProbe("name: w\n    http: {url: 'http://h/', expectStatus: ['99']}\n"),
       "spec.probes[0].http.expectStatus[0]", "status code"},
      {"expectStatus reversed",
       WithProbe("name: w\n    http: {url: 'http://h/', expectStatus: ['299-200']}\n"),
       "spec.probes[0].http.expectStatus[0]", "must not be greater than its end"},
      {"expectStatus unquoted number",
       WithProbe("name: w\n    http: {url: 'http://h/', expectStatus: [200]}\n"),
       "spec.probes[0].http.expectStatus[0]",
       "must be a string, not an integer (quote it in YAML)"},
      {"expectStatus empty", WithProbe("name: w\n    http: {url: 'http://h/', expectStatus: []}\n"),
       "spec.probes[0].http.expectStatus", "must not be empty"},
      {"expectStatus a string",
       WithProbe("name: w\n    http: {url: 'http://h/', expectStatus: '200'}\n"),
       "spec.probes[0].http.expectStatus", "must be a list"},
      {"bodyRegex invalid", WithProbe("name: w\n    http: {url: 'http://h/', bodyRegex: '(ok'}\n"),
       "spec.probes[0].http.bodyRegex", "invalid regular expression"},
      {"maxBodyBytes huge",
       WithProbe("name: w\n    http: {url: 'http://h/', maxBodyBytes: 1099511627776}\n"),
       "spec.probes[0].http.maxBodyBytes", "between 0 and 67108864"},
      {"maxBodyBytes negative",
       WithProbe("name: w\n    http: {url: 'http://h/', maxBodyBytes: -1}\n"),
       "spec.probes[0].http.maxBodyBytes", "between 0 and 67108864"},
      {"redis maxReplyBytes over the hard limit",
       WithProbe("name: w\n    redis: {host: h, maxReplyBytes: 16777217}\n"),
       "spec.probes[0].redis.maxReplyBytes", "between 1 and 16777216"},
      {"postgres maxReplyBytes zero",
       WithProbe("name: w\n    postgres: {host: h, maxReplyBytes: 0}\n"),
       "spec.probes[0].postgres.maxReplyBytes", "between 1 and 16777216"},
      {"postgres maxReplyBytes string",
       WithProbe("name: w\n    postgres: {host: h, maxReplyBytes: '1Mi'}\n"),
       "spec.probes[0].postgres.maxReplyBytes", "integer"},
      {"followRedirects string",
       WithProbe("name: w\n    http: {url: 'http://h/', followRedirects: 'false'}\n"),
       "spec.probes[0].http.followRedirects", "must be a boolean"},
      {"header value and secret",
       WithProbe("name: w\n    http:\n      url: 'http://h/'\n      headers:\n      - {name: A, "
                 "value: x, "
                 "valueSecretRef: {name: t, key: k}}\n"),
       "spec.probes[0].http.headers[0]", "exactly one of value and valueSecretRef"},
      {"header neither",
       WithProbe("name: w\n    http:\n      url: 'http://h/'\n      headers:\n      - {name: A}\n"),
       "spec.probes[0].http.headers[0]", "exactly one of value and valueSecretRef"},
      {"header valueFrom is not the CRD's name",
       WithProbe("name: w\n    http:\n      url: 'http://h/'\n      headers:\n      - {name: A, "
                 "value: x, "
                 "valueFrom: {secretKeyRef: {name: t, key: k}}}\n"),
       "spec.probes[0].http.headers[0].valueFrom", "unknown field"},
      {"header bad name",
       WithProbe("name: w\n    http:\n      url: 'http://h/'\n      headers:\n      - {name: 'X "
                 "Probe', value: x}\n"),
       "spec.probes[0].http.headers[0].name", "not a valid HTTP header name"},
      {"header value with newline",
       WithProbe("name: w\n    http:\n      url: 'http://h/'\n      headers:\n      - {name: A, "
                 "value: \"x\\r\\nB: y\"}\n"),
       "spec.probes[0].http.headers[0].value", "line breaks"},
      {"tls unknown field",
       WithProbe("name: w\n    http: {url: 'https://h/', tls: {verify: false}}\n"),
       "spec.probes[0].http.tls.verify", "unknown field"},
      {"tls insecureSkipVerify string",
       WithProbe("name: w\n    http: {url: 'https://h/', tls: {insecureSkipVerify: 'true'}}\n"),
       "spec.probes[0].http.tls.insecureSkipVerify", "must be a boolean"},
      // readinessGate
      {"gate without podSelector",
       WithSpec("  probes:\n  - " + kTcp + "  readinessGate: {conditionType: a}\n"),
       "spec.readinessGate.podSelector", "required"},
      {"gate unknown field",
       WithSpec("  probes:\n  - " + kTcp + "  readinessGate: {podSelector: {}, foo: 1}\n"),
       "spec.readinessGate.foo", "unknown field"},
      {"selector unknown field",
       WithSpec("  probes:\n  - " + kTcp +
                "  readinessGate: {podSelector: {matchLabel: {a: b}}}\n"),
       "spec.readinessGate.podSelector.matchLabel", "unknown field"},
      {"selector label value int",
       WithSpec("  probes:\n  - " + kTcp +
                "  readinessGate: {podSelector: {matchLabels: {a: 1}}}\n"),
       "spec.readinessGate.podSelector.matchLabels.a", "must be a string"},
      {"selector In without values",
       WithSpec("  probes:\n  - " + kTcp +
                "  readinessGate: {podSelector: {matchExpressions: [{key: a, operator: In}]}}\n"),
       "spec.readinessGate.podSelector.matchExpressions[0]", "needs values"},
      {"selector NotIn with empty values",
       WithSpec("  probes:\n  - " + kTcp +
                "  readinessGate: {podSelector: {matchExpressions: [{key: a, operator: NotIn, "
                "values: []}]}}\n"),
       "spec.readinessGate.podSelector.matchExpressions[0]", "needs values"},
      {"selector Exists with values",
       WithSpec("  probes:\n  - " + kTcp +
                "  readinessGate: {podSelector: {matchExpressions: [{key: a, operator: Exists, "
                "values: [x]}]}}\n"),
       "spec.readinessGate.podSelector.matchExpressions[0]", "takes no values"},
      {"gate mode unknown",
       WithSpec("  probes:\n  - " + kTcp + "  readinessGate: {podSelector: {}, mode: Always}\n"),
       "spec.readinessGate.mode", "must be one of Rollout, Continuous"},
      {"gate maxUnavailable with Rollout",
       WithSpec("  probes:\n  - " + kTcp +
                "  readinessGate: {podSelector: {}, maxUnavailable: 1}\n"),
       "spec.readinessGate.maxUnavailable", "applies only to mode: Continuous"},
      {"gate maxUnavailable bad percentage",
       WithSpec("  probes:\n  - " + kTcp +
                "  readinessGate: {podSelector: {}, mode: Continuous, maxUnavailable: 120%}\n"),
       "spec.readinessGate.maxUnavailable", "percentage from 0% to 100%"},
      {"gate maxUnavailable negative",
       WithSpec("  probes:\n  - " + kTcp +
                "  readinessGate: {podSelector: {}, mode: Continuous, maxUnavailable: -1}\n"),
       "spec.readinessGate.maxUnavailable", "must be between"},
      {"gate failOpenAfter zero",
       WithSpec("  probes:\n  - " + kTcp +
                "  readinessGate: {podSelector: {}, failOpenAfter: 0s}\n"),
       "spec.readinessGate.failOpenAfter", "greater than zero"},
      {"selector bad operator",
       WithSpec(
           "  probes:\n  - " + kTcp +
           "  readinessGate: {podSelector: {matchExpressions: [{key: a, operator: Equals}]}}\n"),
       "spec.readinessGate.podSelector.matchExpressions[0].operator",
       "must be one of In, NotIn, Exists, DoesNotExist"},
      {"selector missing key",
       WithSpec("  probes:\n  - " + kTcp +
                "  readinessGate: {podSelector: {matchExpressions: [{operator: Exists}]}}\n"),
       "spec.readinessGate.podSelector.matchExpressions[0].key", "required"},
      {"condition type with spaces",
       WithSpec("  probes:\n  - " + kTcp +
                "  readinessGate: {podSelector: {}, conditionType: 'healthgate.dev/has spaces'}\n"),
       "spec.readinessGate.conditionType", "qualified name"},
      {"long name without conditionType",
       Header(std::string(64, 'a')) + "spec:\n  probes:\n  - " + kTcp +
           "  readinessGate: {podSelector: {}}\n",
       "spec.readinessGate.conditionType",
       "required when the HealthCheck's name is longer than 63"},
      // YAML-level problems.
      {"duplicate YAML key", WithSpec("  interval: 10s\n  interval: 20s\n  probes:\n  - " + kTcp),
       "spec.interval", "duplicate key"},
      {"custom YAML tag", WithSpec("  interval: !dur 10s\n  probes:\n  - " + kTcp), "spec.interval",
       "unsupported YAML tag"},
      {"bad !!int", WithSpec("  failureThreshold: !!int three\n  probes:\n  - " + kTcp),
       "spec.failureThreshold", "not an integer"},
  };
}

INSTANTIATE_TEST_SUITE_P(Table, SpecRejects, ::testing::ValuesIn(BadCases()),
                         [](const ::testing::TestParamInfo<BadCase>& param_info) {
                           std::string n;
                           for (const char* p = param_info.param.label; *p != '\0'; ++p) {
                             const char c = *p;
                             n += (std::isalnum(static_cast<unsigned char>(c)) != 0) ? c : '_';
                           }
                           return n + "_" + std::to_string(param_info.index);
                         });

// ---------------------------------------------------------------------------------------
// Whole-document behaviour
// ---------------------------------------------------------------------------------------

TEST(Spec, ReportsAllErrorsOfADocument) {
  Document d = ParseOne(WithSpec(
      "  interval: 1x\n  failureThreshold: 0\n  probes:\n  - name: A\n    tcp: {host: h, port: 0}\n"
      "  - name: b\n    http: {url: 'ftp://x/', method: FETCH}\n"));
  std::set<std::string> paths;
  for (const auto& e : d.errors) paths.insert(e.path);
  EXPECT_TRUE(paths.contains("spec.interval")) << Dump(d);
  EXPECT_TRUE(paths.contains("spec.failureThreshold")) << Dump(d);
  EXPECT_TRUE(paths.contains("spec.probes[0].name")) << Dump(d);
  EXPECT_TRUE(paths.contains("spec.probes[0].tcp.port")) << Dump(d);
  EXPECT_TRUE(paths.contains("spec.probes[1].http.url")) << Dump(d);
  EXPECT_TRUE(paths.contains("spec.probes[1].http.method")) << Dump(d);
  EXPECT_FALSE(d.check.has_value());
  // Identity survives an invalid spec.
  EXPECT_EQ(d.ns, "shop");
  EXPECT_EQ(d.name, "orders");
}

TEST(Spec, ErrorLinesFormat) {
  auto docs = ParseYaml("# leading comment\n" + WithSpec("  interval: 1x\n  probes:\n  - " + kTcp),
                        "checks/a.yaml");
  ASSERT_EQ(docs.size(), 1u);
  ASSERT_EQ(docs[0].ErrorLines().size(), 1u);
  EXPECT_EQ(docs[0].ErrorLines()[0],
            "checks/a.yaml document 0 (line 2): spec.interval: \"1x\": must be a duration such as "
            "500ms, 10s or 1m30s (units ns, us, ms, s, m, h)");
}

TEST(Spec, YamlSyntaxErrorIsOneDocumentWithItsLine) {
  const std::string text =
      WithProbe(kTcp) + "---\n" + Header("b") + "spec: {probes: [\n---\n" + WithProbe(kTcp);
  auto docs = ParseYaml(text, "bad.yaml");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_FALSE(docs[0].check.has_value());
  ASSERT_EQ(docs[0].errors.size(), 1u);
  EXPECT_EQ(docs[0].errors[0].path, "");
  EXPECT_NE(docs[0].errors[0].message.find("YAML syntax error"), std::string::npos);
  // The error is reported at the next document marker (line 17), in the second document.
  EXPECT_EQ(docs[0].line, 17);
  EXPECT_EQ(docs[0].index, 1);
  EXPECT_NE(docs[0].ErrorLines()[0].find("bad.yaml document 1 (line 17): YAML syntax error"),
            std::string::npos)
      << docs[0].ErrorLines()[0];
}

TEST(Spec, MultiDocumentWithOneBadDocumentInTheMiddle) {
  const std::string text = "---\n" + WithProbe(kTcp) + "---\n" + Header("middle") +
                           "spec:\n  probes: []\n---\n---\n" + Header("last") +
                           "spec:\n  probes:\n  - " + kTcp + "...\n";
  auto docs = ParseYaml(text, "multi.yaml");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_TRUE(docs[0].check.has_value()) << Dump(docs[0]);
  EXPECT_EQ(docs[0].index, 0);
  EXPECT_EQ(docs[0].line, 2);
  EXPECT_FALSE(docs[1].check.has_value());
  EXPECT_EQ(docs[1].index, 1);
  EXPECT_EQ(docs[1].line, 12);
  EXPECT_EQ(docs[1].name, "middle");
  ASSERT_EQ(docs[1].errors.size(), 1u);
  EXPECT_EQ(docs[1].errors[0].path, "spec.probes");
  // The empty document between "---" markers is skipped but keeps its index.
  EXPECT_TRUE(docs[2].check.has_value()) << Dump(docs[2]);
  EXPECT_EQ(docs[2].index, 3);
  EXPECT_EQ(docs[2].check->name, "last");
}

TEST(Spec, EmptyStreamHasNoDocuments) {
  EXPECT_TRUE(ParseYaml("", "e.yaml").empty());
  EXPECT_TRUE(ParseYaml("# nothing\n---\n---\n", "e.yaml").empty());
}

TEST(Spec, YamlScalarsAreTypedLikeKubectl) {
  // Unquoted yes/on are booleans to go-yaml v2 (and so to kubectl); 0x50 is 80.
  Document d = ParseOne(WithProbe("name: a\n    critical: no\n    tcp: {host: h, port: 0x50}\n"));
  ASSERT_TRUE(d.check.has_value()) << Dump(d);
  EXPECT_FALSE(d.check->probes[0].critical);
  EXPECT_EQ(std::get<probes::TcpConfig>(d.check->probes[0].target).port, 80);
  // An unquoted host that looks like a number is a number, not a string.
  Document n = ParseOne(WithProbe("name: a\n    tcp: {host: 1.5, port: 1}\n"));
  ASSERT_EQ(n.errors.size(), 1u) << Dump(n);
  EXPECT_EQ(n.errors[0].path, "spec.probes[0].tcp.host");
  // A quoted "yes" in a string field stays a string.
  Document s = ParseOne(WithProbe("name: a\n    tcp: {host: h, port: 1, expect: 'yes'}\n"));
  ASSERT_TRUE(s.check.has_value()) << Dump(s);
  EXPECT_EQ(std::get<probes::TcpConfig>(s.check->probes[0].target).expect, "yes");
  // Block scalars are strings.
  Document b = ParseOne(
      WithProbe("name: a\n    tcp:\n      host: h\n      port: 1\n      send: |\n        8080\n"));
  ASSERT_TRUE(b.check.has_value()) << Dump(b);
  EXPECT_EQ(std::get<probes::TcpConfig>(b.check->probes[0].target).send, "8080\n");
}

TEST(Spec, NullMeansAbsent) {
  Document d = ParseOne(WithSpec(
      "  interval:\n  probes:\n  - name: a\n    critical: ~\n    tcp: {host: h, port: 1}\n"));
  ASSERT_TRUE(d.check.has_value()) << Dump(d);
  EXPECT_EQ(d.check->interval, 10s);
  EXPECT_TRUE(d.check->probes[0].critical);
}

TEST(Spec, NonUtf8ProbeNameIsRejectedWithoutEchoingIt) {
  Document d = ParseOne(WithProbe("name: \"a\xc3\x28\"\n    tcp: {host: h, port: 1}\n"));
  ASSERT_FALSE(d.errors.empty());
  EXPECT_EQ(d.errors[0].path, "spec.probes[0].name");
  EXPECT_NE(d.errors[0].message.find("UTF-8"), std::string::npos);
  for (const auto& l : d.ErrorLines()) EXPECT_EQ(l.find("\xc3\x28"), std::string::npos) << l;
}

TEST(Spec, NonUtf8KeyIsRejected) {
  Document d = ParseOne(WithProbe("name: a\n    \xff: 1\n    tcp: {host: h, port: 1}\n"));
  EXPECT_FALSE(d.check.has_value());
  ASSERT_FALSE(d.errors.empty());
  EXPECT_EQ(d.errors[0].path, "spec.probes[0]");
}

TEST(Spec, MessagesDoNotEchoUrlsOrHugeValues) {
  Document d = ParseOne(WithProbe("name: w\n    http: {url: 'http://user:hunter2@:80/'}\n"));
  ASSERT_EQ(d.errors.size(), 1u) << Dump(d);
  EXPECT_EQ(d.errors[0].path, "spec.probes[0].http.url");
  EXPECT_EQ(d.ErrorLines()[0].find("hunter2"), std::string::npos) << d.ErrorLines()[0];

  Document big =
      ParseOne(WithProbe("name: " + std::string(5000, 'X') + "\n    tcp: {host: h, port: 1}\n"));
  ASSERT_EQ(big.errors.size(), 1u) << Dump(big);
  EXPECT_LT(big.errors[0].message.size(), 300u);
  EXPECT_NE(big.errors[0].message.find("XXX\"..."), std::string::npos) << big.errors[0].message;
}

TEST(Spec, AliasBombIsBounded) {
  std::string y = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  const char* names = "bcdefghij";
  char prev = 'a';
  for (const char* n = names; *n != '\0'; ++n) {
    y += std::string(1, *n) + ": &" + *n + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
         prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" +
         prev + "]\n";
    prev = *n;
  }
  Document d = ParseOne(y);
  EXPECT_FALSE(d.check.has_value());
  bool found = false;
  for (const auto& e : d.errors) {
    if (e.message.find("too large") != std::string::npos) found = true;
  }
  EXPECT_TRUE(found) << Dump(d);
}

TEST(Spec, ApiServerJson) {
  const auto object = nlohmann::json::parse(R"({
    "apiVersion": "healthgate.dev/v1alpha1", "kind": "HealthCheck",
    "metadata": {"name": "orders", "namespace": "shop", "uid": "7d2c-11", "generation": 4,
      "resourceVersion": "12345", "creationTimestamp": "2026-01-01T00:00:00Z",
      "labels": {"app": "orders"}, "annotations": {"a": "b"}, "finalizers": ["x"],
      "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]},
    "spec": {"interval": "10s", "timeout": "2s", "initialDelay": "0s", "successThreshold": 1,
      "failureThreshold": 3,
      "probes": [{"name": "db", "critical": true, "postgres": {"host": "pg", "port": 5432,
        "sslMode": "prefer", "query": "SELECT 1", "passwordSecretRef": {"name": "pg", "key": "password"}}}]},
    "status": {"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "True"}],
      "whatever": 1}
  })");
  Document d = ParseJson(object, "api");
  ASSERT_TRUE(d.check.has_value()) << Dump(d);
  EXPECT_EQ(d.check->uid, "7d2c-11");
  EXPECT_EQ(d.check->generation, 4);
  EXPECT_EQ(d.check->resource_version, "12345");
  EXPECT_EQ(d.check->key(), "shop/orders");
  ASSERT_EQ(d.check->probes.size(), 1u);
  const auto& p = d.check->probes[0];
  ASSERT_EQ(p.secrets.size(), 1u);
  EXPECT_EQ(p.secrets[0].slot, SecretSlot::kPostgresPassword);
  EXPECT_EQ(p.secrets[0].field, "postgres.passwordSecretRef");
  EXPECT_EQ(p.secrets[0].ref, (SecretRef{"pg", "password"}));
  EXPECT_TRUE(std::get<probes::PostgresConfig>(p.target).password.empty());

  auto bad = object;
  bad["metadata"]["generation"] = "4";
  bad["spec"]["probes"][0]["postgres"]["port"] = 5432.5;
  Document b = ParseJson(bad, "api");
  ASSERT_EQ(b.errors.size(), 2u) << Dump(b);
  EXPECT_EQ(b.errors[0].path, "metadata.generation");
  EXPECT_EQ(b.errors[1].path, "spec.probes[0].postgres.port");
  EXPECT_EQ(b.ErrorLines()[0],
            "api document 0: metadata.generation: must be an integer, not a string");
  EXPECT_EQ(b.name, "orders");

  // Integral floats count as integers, as for the API server.
  auto f = object;
  f["spec"]["failureThreshold"] = 5.0;
  Document fd = ParseJson(f, "api");
  ASSERT_TRUE(fd.check.has_value()) << Dump(fd);
  EXPECT_EQ(fd.check->failure_threshold, 5u);

  // Non-UTF-8 in a JSON value built in memory.
  auto u = object;
  u["spec"]["probes"][0]["postgres"]["host"] = std::string("p\xffg");
  Document ud = ParseJson(u, "api");
  ASSERT_EQ(ud.errors.size(), 1u) << "non-UTF-8 host";
  EXPECT_EQ(ud.errors[0].path, "spec.probes[0].postgres.host");
}

TEST(Spec, Defaults) {
  Document d = ParseOne(Header() +
                        "spec:\n  probes:\n  - {name: web, http: {url: 'http://h/'}}\n"
                        "  - {name: db, postgres: {host: pg, user: app}}\n"
                        "  - {name: c, redis: {host: r, command: 'GET  key'}}\n"
                        "  - {name: b, tcp: {host: t, port: 1}}\n"
                        "  readinessGate: {podSelector: {matchLabels: {app: orders}}}\n");
  ASSERT_TRUE(d.check.has_value()) << Dump(d);
  const HealthCheck& c = *d.check;
  EXPECT_EQ(c.interval, 10s);
  EXPECT_EQ(c.timeout, 2s);
  EXPECT_EQ(c.initial_delay, 0s);
  EXPECT_EQ(c.success_threshold, 1u);
  EXPECT_EQ(c.failure_threshold, 3u);
  EXPECT_EQ(c.uid, "");
  EXPECT_EQ(c.generation, 0);
  ASSERT_EQ(c.probes.size(), 4u);
  for (const auto& p : c.probes) {
    EXPECT_TRUE(p.critical);
    EXPECT_EQ(p.interval, 10s);
    EXPECT_EQ(p.timeout, 2s);
    EXPECT_EQ(p.success_threshold, 1u);
    EXPECT_EQ(p.failure_threshold, 3u);
  }
  const auto& http = std::get<probes::HttpConfig>(c.probes[0].target);
  EXPECT_EQ(http.method, "GET");
  EXPECT_EQ(http.expect_status, (std::vector<probes::StatusRange>{{200, 299}}));
  EXPECT_EQ(http.max_body_bytes, 1048576u);
  EXPECT_FALSE(http.follow_redirects);
  EXPECT_FALSE(http.insecure_skip_verify);
  EXPECT_FALSE(http.body_regex.has_value());
  const auto& pg = std::get<probes::PostgresConfig>(c.probes[1].target);
  EXPECT_EQ(pg.port, 5432);
  EXPECT_EQ(pg.user, "app");
  EXPECT_EQ(pg.database, "app");  // libpq: the user name
  EXPECT_EQ(pg.ssl_mode, "prefer");
  EXPECT_EQ(pg.query, "SELECT 1");
  EXPECT_FALSE(pg.expect.has_value());
  EXPECT_EQ(pg.max_reply_bytes, 1048576u);
  const auto& redis = std::get<probes::RedisConfig>(c.probes[2].target);
  EXPECT_EQ(redis.max_reply_bytes, 1048576u);
  EXPECT_EQ(redis.port, 6379);
  EXPECT_EQ(redis.db, 0);
  EXPECT_EQ(redis.command, (std::vector<std::string>{"GET", "key"}));
  EXPECT_FALSE(redis.role.has_value());
  ASSERT_TRUE(c.readiness_gate.has_value());
  EXPECT_EQ(c.readiness_gate->condition_type, "healthgate.dev/orders");
  EXPECT_EQ(c.readiness_gate->pod_selector.match_labels.at("app"), "orders");
  EXPECT_EQ(c.readiness_gate->mode, GateMode::kRollout) << "the default";
  EXPECT_FALSE(c.readiness_gate->fail_open_after);

  // Namespace defaults to "default".
  Document nd = ParseOne(
      "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\nmetadata: {name: x}\n"
      "spec: {probes: [{name: b, tcp: {host: h, port: 1}}]}\n");
  ASSERT_TRUE(nd.check.has_value()) << Dump(nd);
  EXPECT_EQ(nd.check->ns, "default");
  EXPECT_EQ(nd.ns, "default");
  EXPECT_FALSE(nd.check->readiness_gate.has_value());
}

fs::path TestData() { return SourceDir() / "tests" / "testdata"; }

TEST(Spec, FullValidFile) {
  auto docs = LoadPaths({(TestData() / "valid" / "01-full.yaml").string()});
  ASSERT_EQ(docs.size(), 1u);
  ASSERT_TRUE(docs[0].check.has_value()) << Dump(docs[0]);
  const HealthCheck& c = *docs[0].check;
  EXPECT_EQ(c.key(), "default/orders-deps");
  ASSERT_EQ(c.probes.size(), 5u);
  const auto& db = c.probes[0];
  const auto& pg = std::get<probes::PostgresConfig>(db.target);
  EXPECT_EQ(pg.database, "orders");
  EXPECT_EQ(pg.ssl_mode, "verify-full");
  EXPECT_EQ(pg.expect, "t");
  EXPECT_EQ(
      db.secrets,
      (std::vector<SecretUse>{
          {SecretSlot::kPostgresPassword, 0, "postgres.passwordSecretRef", {"pg", "password"}},
          {SecretSlot::kPostgresCa, 0, "postgres.caSecretRef", {"pg-ca", "ca.crt"}}}));
  const auto& cache = c.probes[1];
  EXPECT_EQ(cache.interval, 5s);
  EXPECT_EQ(cache.timeout, 500ms);
  EXPECT_EQ(std::get<probes::RedisConfig>(cache.target).role, "master");
  EXPECT_EQ(std::get<probes::RedisConfig>(cache.target).username, "probe");
  const auto& pay = c.probes[2];
  EXPECT_FALSE(pay.critical);
  const auto& http = std::get<probes::HttpConfig>(pay.target);
  EXPECT_EQ(http.expect_status, (std::vector<probes::StatusRange>{{200, 299}, {301, 301}}));
  EXPECT_EQ(http.body_regex, "ok");
  ASSERT_EQ(http.headers.size(), 2u);
  EXPECT_EQ(http.headers[0].name, "X-Probe");
  EXPECT_EQ(http.headers[0].value.reveal(), "healthgate");
  EXPECT_EQ(http.headers[1].name, "Authorization");
  EXPECT_TRUE(http.headers[1].value.empty());
  EXPECT_EQ(http.max_body_bytes, 65536u);
  EXPECT_EQ(http.server_name, "pay.example");
  EXPECT_EQ(
      pay.secrets,
      (std::vector<SecretUse>{
          {SecretSlot::kHttpHeader, 1, "http.headers[1].valueSecretRef", {"pay-token", "header"}},
          {SecretSlot::kHttpCa, 0, "http.tls.caSecretRef", {"ca", "ca.crt"}}}));
  EXPECT_EQ(std::get<probes::HttpConfig>(c.probes[3].target).method, "POST");
  EXPECT_EQ(std::get<probes::HttpConfig>(c.probes[3].target).body, "{\"probe\": true}");
  const auto& tcp = std::get<probes::TcpConfig>(c.probes[4].target);
  EXPECT_EQ(tcp.send, "PING\r\n");
  EXPECT_EQ(tcp.expect, "AMQP");
  ASSERT_TRUE(c.readiness_gate.has_value());
  EXPECT_EQ(c.readiness_gate->pod_selector.match_expressions,
            (std::vector<LabelSelectorRequirement>{{"tier", "In", {"web", "api"}},
                                                   {"canary", "DoesNotExist", {}}}));
}

TEST(Spec, EffectiveTimingPerProbe) {
  auto docs = LoadPaths({(TestData() / "valid" / "03-durations.yaml").string()});
  ASSERT_EQ(docs.size(), 1u);
  ASSERT_TRUE(docs[0].check.has_value()) << Dump(docs[0]);
  const HealthCheck& c = *docs[0].check;
  EXPECT_EQ(c.interval, 90s);
  EXPECT_EQ(c.timeout, 1500ms);
  EXPECT_EQ(c.initial_delay, 250ms);
  ASSERT_EQ(c.probes.size(), 4u);
  EXPECT_EQ(c.probes[0].interval, 500ms);
  EXPECT_EQ(c.probes[0].timeout, 100ms);
  EXPECT_EQ(c.probes[1].interval, 1h);
  EXPECT_EQ(c.probes[1].timeout, 1500ms);  // inherited
  EXPECT_EQ(c.probes[2].timeout, 1500us);
  EXPECT_EQ(c.probes[3].interval, 90s);  // inherited
  for (const auto& p : c.probes) {
    EXPECT_EQ(p.initial_delay, 250ms);
    EXPECT_EQ(p.success_threshold, 2u);
    EXPECT_EQ(p.failure_threshold, 1000u);
  }
}

TEST(Spec, SameSpecIgnoresApiBookkeeping) {
  Document a = ParseOne(WithProbe(kTcp));
  ASSERT_TRUE(a.check.has_value());
  HealthCheck b = *a.check;
  b.uid = "u";
  b.generation = 7;
  b.resource_version = "9";
  EXPECT_TRUE(a.check->SameSpec(b));
  b.probes[0].interval = 1s;
  EXPECT_FALSE(a.check->SameSpec(b));
}

// ---------------------------------------------------------------------------------------
// The shared table of testdata files (also applied to a real kube-apiserver).
// ---------------------------------------------------------------------------------------

std::vector<fs::path> Files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SpecTestdata, EveryValidFileParsesClean) {
  const auto files = Files(TestData() / "valid");
  ASSERT_GE(files.size(), 3u) << TestData();
  for (const auto& f : files) {
    auto docs = LoadPaths({f.string()});
    ASSERT_FALSE(docs.empty()) << f;
    for (const auto& d : docs) {
      EXPECT_TRUE(d.check.has_value()) << f << "\n" << Dump(d);
      EXPECT_TRUE(d.errors.empty()) << f;
    }
  }
}

TEST(SpecTestdata, EveryInvalidFileNamesItsField) {
  const auto files = Files(TestData() / "invalid");
  ASSERT_GE(files.size(), 39u) << TestData();
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string first;
    std::getline(in, first);
    ASSERT_EQ(first.rfind("# field: ", 0), 0u) << f << ": first line must be '# field: <path>'";
    const std::string field = first.substr(9);
    auto docs = LoadPaths({f.string()});
    ASSERT_EQ(docs.size(), 1u) << f;
    EXPECT_FALSE(docs[0].check.has_value()) << f;
    bool named = false;
    for (const auto& e : docs[0].errors) {
      if (e.path.find(field) != std::string::npos) named = true;
    }
    EXPECT_TRUE(named) << f.filename() << ": no error names " << field << "\n" << Dump(docs[0]);
  }
}

// ---------------------------------------------------------------------------------------
// Bounded input: NUL, nesting, size, error lists
// ---------------------------------------------------------------------------------------

std::string FirstError(const Document& d) {
  return d.errors.empty() ? "" : d.errors[0].path + ": " + d.errors[0].message;
}

TEST(Spec, NulInsideStringsIsRejectedWithItsField) {
  // YAML "\0" is a NUL byte. A C library stops at it: "127.0.0.1\0evil" would probe 127.0.0.1.
  Document host = ParseOne(WithProbe("name: a\n    tcp: {host: \"127.0.0.1\\0evil\", port: 1}\n"));
  EXPECT_FALSE(host.check.has_value());
  ASSERT_EQ(host.errors.size(), 1u) << Dump(host);
  EXPECT_EQ(host.errors[0].path, "spec.probes[0].tcp.host");
  EXPECT_NE(host.errors[0].message.find("NUL"), std::string::npos) << Dump(host);

  Document url =
      ParseOne(WithProbe("name: w\n    http:\n      url: \"http://127.0.0.1/\\0.evil.example/\"\n"
                         "      headers: [{name: X-A, value: \"v\\0w\"}]\n"));
  std::set<std::string> paths;
  for (const auto& e : url.errors) paths.insert(e.path);
  EXPECT_TRUE(paths.contains("spec.probes[0].http.url")) << Dump(url);
  EXPECT_TRUE(paths.contains("spec.probes[0].http.headers[0].value")) << Dump(url);

  Document redis = ParseOne(WithProbe("name: r\n    redis: {host: \"h\\0x\"}\n"));
  ASSERT_EQ(redis.errors.size(), 1u) << Dump(redis);
  EXPECT_EQ(redis.errors[0].path, "spec.probes[0].redis.host");

  Document pg = ParseOne(WithProbe("name: p\n    postgres: {host: h, database: \"d\\0b\"}\n"));
  ASSERT_EQ(pg.errors.size(), 1u) << Dump(pg);
  EXPECT_EQ(pg.errors[0].path, "spec.probes[0].postgres.database");

  // A TCP payload is bytes, sent and matched by length: NUL is allowed there.
  Document payload = ParseOne(
      WithProbe("name: t\n    tcp: {host: h, port: 1, send: \"\\0\\x01\", expect: \"a\\0\"}\n"));
  ASSERT_TRUE(payload.check.has_value()) << Dump(payload);
  const auto& tcp = std::get<probes::TcpConfig>(payload.check->probes[0].target);
  EXPECT_EQ(tcp.send, std::string("\0\x01", 2));
  EXPECT_EQ(tcp.expect, std::string("a\0", 2));
}

TEST(Spec, RedisUsernameWithoutPasswordIsRejected) {
  Document d = ParseOne(WithProbe("name: r\n    redis: {host: h, username: app}\n"));
  EXPECT_FALSE(d.check.has_value());
  ASSERT_EQ(d.errors.size(), 1u) << Dump(d);
  EXPECT_EQ(d.errors[0].path, "spec.probes[0].redis.username");
  EXPECT_NE(d.errors[0].message.find("passwordSecretRef"), std::string::npos) << Dump(d);
  Document ok = ParseOne(WithProbe(
      "name: r\n    redis: {host: h, username: app, passwordSecretRef: {name: s, key: k}}\n"));
  ASSERT_TRUE(ok.check.has_value()) << Dump(ok);
  EXPECT_EQ(std::get<probes::RedisConfig>(ok.check->probes[0].target).username, "app");
}

TEST(Spec, DeepNestingIsOneReadableErrorWithItsLine) {
  // 100,000 levels, flow style: yaml-cpp's parser stops at its own bound (2000).
  const std::string flow = Header() + "spec:\n  probes: []\n  x: " + std::string(100000, '[') +
                           std::string(100000, ']') + "\n";
  auto docs = ParseYaml(flow, "deep.yaml");
  ASSERT_EQ(docs.size(), 1u);
  ASSERT_EQ(docs[0].errors.size(), 1u) << Dump(docs[0]);
  EXPECT_EQ(docs[0].errors[0].message.rfind("nesting deeper than 64 levels at line 8", 0), 0u)
      << FirstError(docs[0]);
  EXPECT_EQ(docs[0].line, 8);

  // 100,000 levels of compact block sequences ("- - - x") on one line.
  std::string block = Header() + "spec:\n  probes:\n  ";
  for (int i = 0; i < 100000; ++i) block += "- ";
  block += "x\n";
  docs = ParseYaml(block, "deep.yaml");
  ASSERT_EQ(docs.size(), 1u);
  ASSERT_EQ(docs[0].errors.size(), 1u) << Dump(docs[0]);
  EXPECT_EQ(docs[0].errors[0].message.rfind("nesting deeper than 64 levels at line 8", 0), 0u)
      << FirstError(docs[0]);

  // 200 levels (below yaml-cpp's bound): one error from the conversion, with its
  // path and line, and nothing else about the dropped part.
  const std::string mid = Header() + "spec:\n  probes: []\n  x:\n" + "    " +
                          std::string(200, '[') + std::string(200, ']') + "\n";
  Document d = ParseOne(mid);
  ASSERT_EQ(d.errors.size(), 1u) << Dump(d);
  EXPECT_NE(d.errors[0].message.find("nesting deeper than 64 levels at line 9"), std::string::npos)
      << FirstError(d);
  EXPECT_EQ(d.errors[0].path.rfind("spec.x[0][0]", 0), 0u) << FirstError(d);
  EXPECT_EQ(d.name, "orders");  // still attributable
}

TEST(Spec, HugeDocumentIsOneErrorNotOnePerDroppedValue) {
  // 70,000 annotations: past the 20,000-value bound. The values dropped by the
  // bound used to be reported one by one ("must be a string, not null").
  std::string y = Header() + "  annotations:\n";
  for (int i = 0; i < 70000; ++i) y += "    a" + std::to_string(i) + ": v\n";
  y += "spec:\n  probes:\n  - " + kTcp;
  Document d = ParseOne(y);
  EXPECT_FALSE(d.check.has_value());
  ASSERT_EQ(d.errors.size(), 1u) << d.errors.size() << " errors, first: " << FirstError(d);
  EXPECT_NE(d.errors[0].message.find("too large"), std::string::npos) << FirstError(d);
  EXPECT_EQ(d.name, "orders");
}

TEST(FormatErrors, JoinsWhatFitsAndCountsTheRest) {
  EXPECT_EQ(FormatErrors({}), "");
  EXPECT_EQ(FormatErrors({"a: bad", "b: worse"}), "a: bad; b: worse");
  EXPECT_EQ(FormatErrors({"a", "b", "c"}, 100, "\n"), "a\nb\nc");

  std::vector<std::string> many;
  for (int i = 0; i < 71289; ++i) {
    many.push_back("f.yaml document 0 (line 5): metadata.annotations.a" + std::to_string(i) +
                   ": must be a string, not null");
  }
  const std::string out = FormatErrors(many);
  EXPECT_LE(out.size(), kMaxMessageBytes);
  EXPECT_GT(out.size(), kMaxMessageBytes - 200);  // it fills the room it has
  EXPECT_EQ(out.rfind(many[0], 0), 0u);
  // The count is exact: the lines shown plus N are all of them.
  const std::size_t shown = static_cast<std::size_t>(std::count(out.begin(), out.end(), ';'));
  const std::string suffix =
      "\xE2\x80\xA6 (" + std::to_string(many.size() - shown) + " more errors)";
  EXPECT_EQ(out.substr(out.size() - suffix.size()), suffix) << out.substr(out.size() - 80);

  // Exactly at the limit: nothing is dropped.
  const std::string two = FormatErrors({std::string(10, 'a'), std::string(10, 'b')}, 22);
  EXPECT_EQ(two, std::string(10, 'a') + "; " + std::string(10, 'b'));
  EXPECT_EQ(FormatErrors({std::string(10, 'a'), std::string(10, 'b'), std::string(10, 'c')}, 33),
            std::string(10, 'a') + "; \xE2\x80\xA6 (2 more errors)");
  EXPECT_EQ(FormatErrors({std::string(10, 'a'), std::string(10, 'b')}, 21),
            "\xE2\x80\xA6 (2 more errors)");  // no room for any line
  // One error longer than the limit by itself is cut on a character boundary.
  std::string huge;
  for (int i = 0; i < 20000; ++i) huge += "\xC3\xA9";  // "é", two bytes
  const std::string one = FormatErrors({huge, "next"}, 1001);
  EXPECT_LE(one.size(), 1001u);
  EXPECT_NE(one.find("(1 more error)"), std::string::npos);
  // Every "é" is whole: the text before the ellipsis has an even length.
  EXPECT_EQ(one.find("\xE2\x80\xA6") % 2, 0u) << one.substr(0, 40);

  EXPECT_EQ(CapMessage("short"), "short");
  const std::string capped = CapMessage(std::string(100000, 'x'));
  EXPECT_LE(capped.size(), kMaxMessageBytes);
  EXPECT_NE(capped.find("(truncated)"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// LoadPaths
// ---------------------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "healthgate-spec-XXXXXX").string();
    path_ = ::mkdtemp(t.data());
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  void Write(const fs::path& rel, const std::string& text) const {
    fs::create_directories((path_ / rel).parent_path());
    std::ofstream(path_ / rel, std::ios::binary) << text;
  }

 private:
  fs::path path_;
};

TEST(LoadPaths, DirectoryIsSortedAndNotRecursive) {
  TempDir dir;
  dir.Write("b.yml", WithProbe(kTcp).replace(WithProbe(kTcp).find("orders"), 6, "bee"));
  dir.Write("a.yaml", WithProbe(kTcp).replace(WithProbe(kTcp).find("orders"), 6, "ay") + "---\n" +
                          Header("ay2") + "spec: {probes: [{name: b, tcp: {host: h, port: 1}}]}\n");
  dir.Write("c.json",
            R"({"apiVersion": "healthgate.dev/v1alpha1", "kind": "HealthCheck",
               "metadata": {"name": "cee"}, "spec": {"probes": [{"name": "b", "tcp": {"host": "h", "port": 1}}]}})");
  dir.Write("notes.txt", "not a manifest");
  dir.Write("sub/d.yaml", WithProbe(kTcp));
  auto docs = LoadPaths({dir.path().string()});
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[0].name, "ay");
  EXPECT_EQ(docs[0].source, (dir.path() / "a.yaml").string());
  EXPECT_EQ(docs[1].name, "ay2");
  EXPECT_EQ(docs[1].index, 1);
  EXPECT_EQ(docs[2].name, "bee");
  EXPECT_EQ(docs[3].name, "cee");
  for (const auto& d : docs) EXPECT_TRUE(d.check.has_value()) << Dump(d);
}

TEST(LoadPaths, UnreadableAndBrokenFiles) {
  TempDir dir;
  dir.Write("broken.json", "{\n  \"apiVersion\": \n}");
  const std::string missing = (dir.path() / "missing.yaml").string();
  auto docs = LoadPaths({missing, (dir.path() / "broken.json").string()});
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].source, missing);
  ASSERT_EQ(docs[0].errors.size(), 1u);
  EXPECT_NE(docs[0].errors[0].message.find("cannot read"), std::string::npos);
  EXPECT_NE(docs[0].errors[0].message.find("No such file"), std::string::npos);
  ASSERT_EQ(docs[1].errors.size(), 1u);
  EXPECT_NE(docs[1].errors[0].message.find("JSON syntax error"), std::string::npos);
  EXPECT_EQ(docs[1].line, 3);
}

TEST(LoadPaths, OnlyRegularFilesAreRead) {
  TempDir dir;
  dir.Write("good.yaml", WithProbe(kTcp));
  const fs::path fifo = dir.path() / "fifo.yaml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const fs::path zero = dir.path() / "zero.yaml";
  fs::create_symlink("/dev/zero", zero);
  const fs::path sock = dir.path() / "sock.yaml";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock.string().size(), sizeof addr.sun_path);
  std::strcpy(addr.sun_path, sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  // A symlink to a regular file (the shape of a mounted ConfigMap) is read.
  dir.Write("data/real.yaml", WithProbe(kTcp).replace(WithProbe(kTcp).find("orders"), 6, "linked"));
  fs::create_symlink(dir.path() / "data/real.yaml", dir.path() / "linked.yaml");

  // Without the type check this hangs on the FIFO (open blocks for a writer) or
  // aborts on /dev/zero (bad_alloc).
  auto docs = LoadPaths({dir.path().string()});
  ::close(fd);
  std::map<std::string, const Document*> by_file;
  for (const auto& d : docs) by_file[fs::path(d.source).filename().string()] = &d;
  ASSERT_EQ(by_file.size(), 5u);
  ASSERT_TRUE(by_file["good.yaml"]->check.has_value());
  ASSERT_TRUE(by_file["linked.yaml"]->check.has_value());
  const auto message = [&](const char* f) {
    const Document* d = by_file[f];
    return d->errors.empty() ? std::string() : d->ErrorLines()[0];
  };
  EXPECT_NE(message("fifo.yaml").find("a FIFO, only regular files are"), std::string::npos)
      << message("fifo.yaml");
  EXPECT_NE(message("fifo.yaml").find(fifo.string()), std::string::npos);
  EXPECT_NE(message("zero.yaml").find("a character device"), std::string::npos)
      << message("zero.yaml");
  EXPECT_NE(message("sock.yaml").find("a socket"), std::string::npos) << message("sock.yaml");

  // The same when named directly, and the read says the file is not usable as a whole.
  auto f = ReadManifestFile(fifo.string());
  EXPECT_TRUE(f.failed);
  ASSERT_EQ(f.documents.size(), 1u);
}

TEST(LoadPaths, FilesOverTheSizeCapAreNotRead) {
  TempDir dir;
  // Exactly 4 MiB (a valid document padded with a comment) is read.
  std::string text = WithProbe(kTcp) + "#";
  text += std::string(kMaxManifestBytes - text.size() - 1, 'x') + "\n";
  ASSERT_EQ(text.size(), kMaxManifestBytes);
  dir.Write("max.yaml", text);
  auto at = ReadManifestFile((dir.path() / "max.yaml").string());
  ASSERT_EQ(at.documents.size(), 1u);
  EXPECT_TRUE(at.documents[0].check.has_value()) << Dump(at.documents[0]);
  // One byte more is refused with a clear error, before anything is parsed.
  dir.Write("over.yaml", text + "\n");
  auto over = ReadManifestFile((dir.path() / "over.yaml").string());
  EXPECT_TRUE(over.failed);
  ASSERT_EQ(over.documents.size(), 1u);
  EXPECT_NE(over.documents[0].ErrorLines()[0].find("larger than the 4 MiB limit"),
            std::string::npos)
      << over.documents[0].ErrorLines()[0];
  EXPECT_NE(over.documents[0].ErrorLines()[0].find("4194305 bytes"), std::string::npos);

  // Empty files read fine and say so.
  dir.Write("empty.yaml", "");
  auto empty = ReadManifestFile((dir.path() / "empty.yaml").string());
  EXPECT_FALSE(empty.failed);
  EXPECT_TRUE(empty.empty);
  EXPECT_TRUE(empty.documents.empty());
}

TEST(LoadPaths, DeepJsonIsOneReadableError) {
  TempDir dir;
  dir.Write("deep.json", "{\"apiVersion\": \"healthgate.dev/v1alpha1\",\n \"x\": " +
                             std::string(100000, '[') + std::string(100000, ']') + "}");
  auto f = ReadManifestFile((dir.path() / "deep.json").string());
  EXPECT_TRUE(f.failed);
  ASSERT_EQ(f.documents.size(), 1u);
  ASSERT_EQ(f.documents[0].errors.size(), 1u);
  EXPECT_EQ(f.documents[0].errors[0].message, "nesting deeper than 64 levels at line 2");
  // Brackets inside strings do not count.
  dir.Write("strings.json", R"({"apiVersion": "healthgate.dev/v1alpha1", "kind": "HealthCheck",
      "metadata": {"name": "s", "annotations": {"a": ")" +
                                std::string(1000, '[') + R"(\"["}},
      "spec": {"probes": [{"name": "b", "tcp": {"host": "h", "port": 1}}]}})");
  auto s = ReadManifestFile((dir.path() / "strings.json").string());
  ASSERT_EQ(s.documents.size(), 1u);
  EXPECT_TRUE(s.documents[0].check.has_value()) << Dump(s.documents[0]);
}

// ---------------------------------------------------------------------------------------
// Secrets and Materialize
// ---------------------------------------------------------------------------------------

class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_.c_str()); }

 private:
  std::string name_;
};

TEST(LocalSecrets, EnvName) {
  EXPECT_EQ(LocalSecretResolver::EnvName("shop", {"pg-main", "ca.crt"}),
            "HEALTHGATE_SECRET_SHOP_PG_MAIN_CA_CRT");
}

TEST(LocalSecrets, FileThenEnvironment) {
  TempDir dir;
  dir.Write("shop/pg/password", "s3cret\n");
  dir.Write("shop/pg/crlf", "two\r\n");
  dir.Write("shop/pg/twolines", "a\n\n");
  dir.Write("shop/pg/raw", "no-newline");
  dir.Write("shop/pg/empty", "");
  LocalSecretResolver r(dir.path().string());
  std::string error;
  EXPECT_EQ(r.Get("shop", {"pg", "password"}, &error), "s3cret");  // one newline stripped
  EXPECT_EQ(r.Get("shop", {"pg", "crlf"}, &error), "two");
  EXPECT_EQ(r.Get("shop", {"pg", "twolines"}, &error), "a\n");  // only one
  EXPECT_EQ(r.Get("shop", {"pg", "raw"}, &error), "no-newline");
  EXPECT_EQ(r.Get("shop", {"pg", "empty"}, &error), "");

  ScopedEnv env("HEALTHGATE_SECRET_SHOP_REDIS_PW", "from-env\n");
  EXPECT_EQ(r.Get("shop", {"redis", "pw"}, &error), "from-env\n");  // verbatim
  LocalSecretResolver env_only("");
  EXPECT_EQ(env_only.Get("shop", {"redis", "pw"}, &error), "from-env\n");
  EXPECT_FALSE(env_only.Get("shop", {"pg", "password"}, &error).has_value());
}

TEST(LocalSecrets, MissingNamesSecretAndPlacesNeverAValue) {
  TempDir dir;
  dir.Write("shop/pg/password", "s3cret\n");
  LocalSecretResolver r(dir.path().string());
  std::string error;
  EXPECT_FALSE(r.Get("other", {"pg", "password"}, &error).has_value());
  EXPECT_NE(error.find("secret \"pg\" key \"password\" not found in namespace \"other\""),
            std::string::npos)
      << error;
  EXPECT_NE(error.find((dir.path() / "other" / "pg" / "password").string()), std::string::npos);
  EXPECT_NE(error.find("HEALTHGATE_SECRET_OTHER_PG_PASSWORD"), std::string::npos);
  EXPECT_EQ(error.find("s3cret"), std::string::npos);
  // A key cannot climb out of the secret's directory.
  dir.Write("shop/x", "outside");
  EXPECT_FALSE(r.Get("shop", {"pg", ".."}, &error).has_value());
}

TEST(Materialize, ResolvesSecretsIntoTargets) {
  TempDir dir;
  dir.Write("default/pg/password", "pg-pass\n");
  dir.Write("default/pg-ca/ca.crt", "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n");
  dir.Write("default/redis/pw", "redis-pass");
  dir.Write("default/ca/ca.crt", "CA");
  ScopedEnv env("HEALTHGATE_SECRET_DEFAULT_PAY_TOKEN_HEADER", "Bearer t0k");
  auto docs = LoadPaths({(TestData() / "valid" / "01-full.yaml").string()});
  ASSERT_EQ(docs.size(), 1u);
  ASSERT_TRUE(docs[0].check.has_value());
  LocalSecretResolver r(dir.path().string());
  auto probes = Materialize(*docs[0].check, r);
  ASSERT_EQ(probes.size(), 5u);
  for (const auto& m : probes) EXPECT_FALSE(m.blocked()) << m.name << ": " << m.blocked_message;

  EXPECT_EQ(probes[0].name, "db");
  EXPECT_EQ(probes[0].type, "postgres");
  EXPECT_EQ(probes[0].definition.key, "default/orders-deps/db");
  const auto& pg = std::get<probes::PostgresConfig>(*probes[0].definition.target);
  EXPECT_EQ(pg.password.reveal(), "pg-pass");
  EXPECT_EQ(pg.ca_pem.reveal(), "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----");
  EXPECT_EQ(probes[0].definition.interval, 10s);
  EXPECT_EQ(probes[0].definition.timeout, 2s);
  EXPECT_EQ(pg.server_timeout, 2000ms);  // the backend's work is bounded by the probe's timeout
  EXPECT_EQ(probes[0].definition.thresholds.success, 1u);
  EXPECT_EQ(probes[0].definition.thresholds.failure, 3u);

  EXPECT_EQ(probes[1].type, "redis");
  EXPECT_EQ(probes[1].definition.interval, 5s);
  EXPECT_EQ(probes[1].definition.timeout, 500ms);
  EXPECT_EQ(std::get<probes::RedisConfig>(*probes[1].definition.target).password.reveal(),
            "redis-pass");

  EXPECT_EQ(probes[2].type, "http");
  EXPECT_FALSE(probes[2].critical);
  const auto& http = std::get<probes::HttpConfig>(*probes[2].definition.target);
  EXPECT_EQ(http.headers[0].value.reveal(), "healthgate");
  EXPECT_EQ(http.headers[1].value.reveal(), "Bearer t0k");
  EXPECT_FALSE(http.headers[0].from_secret);
  EXPECT_TRUE(http.headers[1].from_secret);  // scrubbed from result messages
  EXPECT_EQ(http.ca_pem.reveal(), "CA");
  EXPECT_EQ(probes[4].type, "tcp");
  EXPECT_EQ(probes[4].definition.key, "default/orders-deps/broker");
}

TEST(Materialize, MissingSecretBlocksOnlyThatProbe) {
  TempDir dir;
  auto docs = ParseYaml(
      Header() +
          "spec:\n  initialDelay: 3s\n  failureThreshold: 5\n  probes:\n"
          "  - name: db\n    postgres: {host: h, passwordSecretRef: {name: pg, key: password}}\n"
          "  - " +
          kTcp,
      "t.yaml");
  ASSERT_EQ(docs.size(), 1u);
  ASSERT_TRUE(docs[0].check.has_value()) << Dump(docs[0]);
  LocalSecretResolver r(dir.path().string());
  auto probes = Materialize(*docs[0].check, r);
  ASSERT_EQ(probes.size(), 2u);
  EXPECT_TRUE(probes[0].blocked());
  EXPECT_EQ(probes[0].blocked_reason, "SecretNotFound");
  EXPECT_NE(probes[0].blocked_message.find(
                "secret \"pg\" key \"password\" not found in namespace \"shop\""),
            std::string::npos)
      << probes[0].blocked_message;
  EXPECT_EQ(probes[0].definition.key, "shop/orders/db");
  EXPECT_TRUE(std::get<probes::PostgresConfig>(*probes[0].definition.target).password.empty());
  EXPECT_FALSE(probes[1].blocked());
  EXPECT_EQ(probes[1].definition.initial_delay, 3s);
  EXPECT_EQ(probes[1].definition.thresholds.failure, 5u);
}

TEST(Materialize, SharesTargetsWithoutSecretsAndCopiesFilledOnes) {
  TempDir dir;
  dir.Write("shop/pg/password", "pg-pass");
  auto docs = ParseYaml(
      Header() +
          "spec:\n  probes:\n"
          "  - name: db\n    postgres: {host: h, passwordSecretRef: {name: pg, key: password}}\n"
          "  - " +
          kTcp,
      "t.yaml");
  ASSERT_EQ(docs.size(), 1u);
  ASSERT_TRUE(docs[0].check.has_value()) << Dump(docs[0]);
  auto check = std::make_shared<const HealthCheck>(std::move(*docs[0].check));
  LocalSecretResolver r(dir.path().string());
  auto probes = Materialize(check, r);
  ASSERT_EQ(probes.size(), 2u);
  // The TCP probe points into the spec; the spec stays alive as long as it does.
  EXPECT_EQ(probes[1].definition.target.get(), &check->probes[1].target);
  // The postgres probe got its password: a copy of its own, the spec untouched.
  EXPECT_NE(probes[0].definition.target.get(), &check->probes[0].target);
  EXPECT_EQ(std::get<probes::PostgresConfig>(*probes[0].definition.target).password.reveal(),
            "pg-pass");
  EXPECT_TRUE(std::get<probes::PostgresConfig>(check->probes[0].target).password.empty());
  std::weak_ptr<const HealthCheck> weak = check;
  check.reset();
  EXPECT_FALSE(weak.expired()) << "the shared target keeps its spec alive";
  EXPECT_TRUE(std::holds_alternative<probes::TcpConfig>(*probes[1].definition.target));
  probes.clear();
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace healthgate::v1alpha1

namespace healthgate::v1alpha1 {
namespace {

// One redis probe with `command`, validated with `options`.
Document RedisCommand(const std::string& command, const ValidationOptions& options = {}) {
  auto docs = ParseYaml(WithSpec("  probes:\n  - {name: a, tcp: {host: h, port: 1}}\n"
                                 "  - {name: b, tcp: {host: h, port: 1}}\n"
                                 "  - {name: c, redis: {host: r, command: '" +
                                 command + "'}}\n"),
                        "test.yaml", options);
  EXPECT_EQ(docs.size(), 1u);
  return docs.empty() ? Document{} : docs[0];
}

TEST(SpecRedisAllowlist, ReadOnlyCommandsAreAccepted) {
  for (const char* command :
       {"PING", "ECHO hello", "INFO replication", "ROLE", "GET key", "EXISTS a b", "TYPE k",
        "TTL k", "PTTL k", "STRLEN k", "DBSIZE", "LLEN l", "SCARD s", "ZCARD z", "HLEN h", "XLEN x",
        "CLUSTER INFO", "TIME", "LASTSAVE"}) {
    Document d = RedisCommand(command);
    EXPECT_TRUE(d.check.has_value()) << command << ": " << Dump(d);
  }
}

TEST(SpecRedisAllowlist, OtherCommandsAreRefusedNamingTheField) {
  for (const char* command : {"FLUSHALL", "SET k v", "DEL k", "CONFIG SET dir /tmp", "EVAL x 0",
                              "SHUTDOWN", "BLPOP k 5", "KEYS *", "DEBUG SLEEP 1", "MONITOR"}) {
    Document d = RedisCommand(command);
    EXPECT_FALSE(d.check.has_value()) << command;
    ASSERT_EQ(d.errors.size(), 1u) << command << ": " << Dump(d);
    EXPECT_EQ(d.errors[0].path, "spec.probes[2].redis.command") << command;
    EXPECT_NE(d.errors[0].message.find("is not in the read-only allowlist"), std::string::npos)
        << d.errors[0].message;
    EXPECT_NE(d.errors[0].message.find("--redis-allow-commands"), std::string::npos)
        << d.errors[0].message;
  }
  Document d = RedisCommand("flushall");
  ASSERT_EQ(d.errors.size(), 1u) << Dump(d);
  EXPECT_EQ(d.errors[0].message.rfind("\"FLUSHALL\" is not in the read-only allowlist (PING, ", 0),
            0u)
      << d.errors[0].message;
  EXPECT_EQ(d.ErrorLines().at(0).find("spec.probes[2].redis.command: \"FLUSHALL\" is not in"),
            std::string("test.yaml document 0 (line 1): ").size())
      << d.ErrorLines().at(0);
}

TEST(SpecRedisAllowlist, CaseDoesNotMatter) {
  for (const char* command : {"ping", "Ping", "get key", "cluster info", "Cluster Info"}) {
    Document d = RedisCommand(command);
    EXPECT_TRUE(d.check.has_value()) << command << ": " << Dump(d);
  }
  // The command is sent as written.
  Document d = RedisCommand("get Key");
  ASSERT_TRUE(d.check.has_value()) << Dump(d);
  EXPECT_EQ(std::get<probes::RedisConfig>(d.check->probes[2].target).command,
            (std::vector<std::string>{"get", "Key"}));
}

TEST(SpecRedisAllowlist, ClusterOnlyWithInfo) {
  EXPECT_TRUE(RedisCommand("CLUSTER INFO").check.has_value());
  for (const char* command :
       {"CLUSTER RESET", "cluster reset hard", "CLUSTER", "CLUSTER FAILOVER", "CLUSTER INFOX"}) {
    Document d = RedisCommand(command);
    EXPECT_FALSE(d.check.has_value()) << command;
    ASSERT_EQ(d.errors.size(), 1u) << Dump(d);
    EXPECT_EQ(d.errors[0].path, "spec.probes[2].redis.command");
  }
  EXPECT_EQ(RedisCommand("cluster reset").errors.at(0).message.rfind("\"CLUSTER RESET\" is not", 0),
            0u);
}

TEST(SpecRedisAllowlist, OnlyTheProcessOptionsWiden) {
  std::string error;
  auto extra = ParseRedisCommandList(" config get ,SCAN", &error);
  ASSERT_TRUE(extra.has_value()) << error;
  EXPECT_EQ(*extra, (std::vector<std::string>{"CONFIG GET", "SCAN"}));
  ValidationOptions options;
  options.redis_extra_commands = *extra;
  EXPECT_TRUE(RedisCommand("CONFIG GET maxmemory", options).check.has_value());
  EXPECT_TRUE(RedisCommand("scan 0", options).check.has_value());
  // A subcommand entry allows that subcommand only.
  EXPECT_FALSE(RedisCommand("CONFIG SET dir /tmp", options).check.has_value());
  EXPECT_FALSE(RedisCommand("FLUSHALL", options).check.has_value());
  // Without the options (another process, or a HealthCheck's own say) nothing is widened.
  EXPECT_FALSE(RedisCommand("CONFIG GET maxmemory").check.has_value());
  EXPECT_FALSE(RedisCommand("scan 0").check.has_value());
  // The whole stream and file readers pass the options on.
  EXPECT_TRUE(
      ParseYaml(WithProbe("name: c\n    redis: {host: r, command: 'SCAN 0'}\n"), "t.yaml", options)
          .at(0)
          .check.has_value());
}

TEST(SpecRedisAllowlist, BadFlagEntriesAreNamed) {
  std::string error;
  EXPECT_FALSE(ParseRedisCommandList("GET,,SCAN", &error).has_value());
  EXPECT_NE(error.find("\"\" is not a Redis command"), std::string::npos) << error;
  EXPECT_FALSE(ParseRedisCommandList("CONFIG GET X", &error).has_value());
  EXPECT_NE(error.find("\"CONFIG GET X\" is not a Redis command"), std::string::npos) << error;
  EXPECT_FALSE(ParseRedisCommandList("GET;FLUSHALL", &error).has_value());
  EXPECT_NE(error.find("\"GET;FLUSHALL\""), std::string::npos) << error;
  auto empty = ParseRedisCommandList("", &error);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace healthgate::v1alpha1
