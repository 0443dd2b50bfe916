#!/usr/bin/env bash
# The HealthCheck CRD (crds/healthgate.dev_healthchecks.yaml) against a real kube-apiserver.
#
# Needs KUBECONFIG and KUBECTL (as printed by `tests/e2e/testenv up`); the restricted-RBAC
# case also needs HEALTHGATE_TESTENV_STATE. Prints one PASS/FAIL line per case and exits
# non-zero when any case fails. It never skips: no cluster is a failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CRD="$ROOT/crds/healthgate.dev_healthchecks.yaml"
TESTENV="$HERE/testenv"

# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
require_cluster

if out="$(k get --raw /readyz 2>&1)" && [[ "$out" == ok ]]; then
  pass "cluster: kube-apiserver /readyz ($(k version -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p' | tail -n1))"
else
  fatal "cluster: kube-apiserver is not ready" "$out"
fi

NS="hg-crd-$(date +%s)-$RANDOM"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# ---------------------------------------------------------------------------------------
# CRD installs and is explained
# ---------------------------------------------------------------------------------------
if out="$(k apply --server-side --force-conflicts -f "$CRD" 2>&1)" \
   && wait_crd_established; then
  pass "crd: applied and Established"
else
  fatal "crd: applied and Established" "$out"
fi
# The CRD's NamesAccepted/NonStructuralSchema conditions and CEL cost errors surface here.
if out="$(k get crd healthchecks.healthgate.dev -o jsonpath='{range .status.conditions[*]}{.type}={.status} {end}' 2>&1)" \
   && [[ "$out" == *"NamesAccepted=True"* && "$out" != *"NonStructuralSchema=True"* ]]; then
  pass "crd: names accepted, structural schema ($out)"
else
  fail "crd: names accepted, structural schema" "$out"
fi
# Discovery catches up shortly after Established; the OpenAPI v3 document that
# `kubectl explain` reads is published by the apiserver a little later still.
for _ in $(seq 50); do k get hg -A >/dev/null 2>&1 && break; sleep 0.2; done
for _ in $(seq 100); do k explain hg.spec >/dev/null 2>&1 && break; sleep 0.3; done

if out="$(k explain healthchecks.spec.probes 2>&1)" \
   && grep -q "exactly one of postgres, redis, http or tcp" <<<"$out" \
   && grep -q "DNS label" <<<"$out" && grep -q "critical" <<<"$out"; then
  pass "explain: healthchecks.spec.probes has descriptions"
else
  fail "explain: healthchecks.spec.probes has descriptions" "$out"
fi
if out="$(k explain hg.spec.probes.http.expectStatus 2>&1)" && grep -q "200-299" <<<"$out"; then
  pass "explain: hg.spec.probes.http.expectStatus (short name)"
else
  fail "explain: hg.spec.probes.http.expectStatus (short name)" "$out"
fi
# Every property in the schema has a description (so that explain helps everywhere).
if out="$(k get crd healthchecks.healthgate.dev -o json | jq -r '
    def missing(p):
      ((.properties // {}) | to_entries[] | (p + "." + .key) as $q
        | (if ((.key | IN("apiVersion", "kind", "metadata")) | not) and ((.value.description // "") == "")
           then $q else empty end),
          (.value | missing($q))),
      (if .items then (.items | missing(p + "[]")) else empty end);
    [.spec.versions[0].schema.openAPIV3Schema | missing("")] | if length > 0 then (.[] | "no description: " + .), ("schema fields without a description\n" | halt_error(1)) else empty end' 2>&1)"; then
  pass "schema: every field has a description"
else
  fail "schema: every field has a description" "$out"
fi

if out="$(k create namespace "$NS" 2>&1)"; then
  pass "setup: namespace $NS"
else
  fatal "setup: namespace $NS" "$out"
fi

# ---------------------------------------------------------------------------------------
# Valid manifests: examples/*.yaml (when present) and tests/testdata/valid/*.yaml
# ---------------------------------------------------------------------------------------
# Objects without a namespace go to $NS; namespaces a manifest names are created first.
manifest_namespaces() {
  k create --dry-run=client -f "$1" -o go-template='{{if .items}}{{range .items}}{{.metadata.namespace}}{{"\n"}}{{end}}{{else}}{{.metadata.namespace}}{{"\n"}}{{end}}' 2>/dev/null | sort -u | sed '/^$/d;/<no value>/d'
}

check_valid() { # FILE LABEL
  local f="$1" label="$2" ns out
  for ns in $(manifest_namespaces "$f"); do
    k get namespace "$ns" >/dev/null 2>&1 || k create namespace "$ns" >/dev/null 2>&1 || true
  done
  local nsflag=(-n "$NS")
  [[ -n "$(manifest_namespaces "$f")" ]] && nsflag=() # the manifest names its namespaces
  if out="$(k apply "${nsflag[@]}" --dry-run=server --validate=strict -f "$f" 2>&1)"; then
    pass "valid: $label accepted (apply --dry-run=server --validate=strict)"
  else
    fail "valid: $label accepted (apply --dry-run=server --validate=strict)" "$out"
    return
  fi
  if out="$(k create "${nsflag[@]}" --validate=strict -f "$f" 2>&1)"; then
    pass "valid: $label created"
  else
    fail "valid: $label created" "$out"
  fi
  k delete "${nsflag[@]}" --ignore-not-found --wait=false -f "$f" >/dev/null 2>&1 || true
}

shopt -s nullglob
examples=("$ROOT"/examples/*.yaml "$ROOT"/examples/*.yml)
valid=("$ROOT"/tests/testdata/valid/*.yaml)
if [[ ${#examples[@]} -eq 0 ]]; then
  echo "note: no examples/*.yaml yet; the valid cases come from tests/testdata/valid only"
fi
[[ ${#valid[@]} -gt 0 ]] || fail "valid: tests/testdata/valid has manifests"
for f in "${examples[@]}" "${valid[@]}"; do
  check_valid "$f" "${f#"$ROOT"/}"
done

# ---------------------------------------------------------------------------------------
# Defaults are applied by the API server
# ---------------------------------------------------------------------------------------
cat >"$TMP/defaults.yaml" <<EOF
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: defaults, namespace: $NS}
spec:
  probes:
  - {name: db, postgres: {host: 127.0.0.1}}
  - {name: cache, redis: {host: 127.0.0.1}}
  - {name: web, http: {url: "http://127.0.0.1/"}}
  - {name: tls, http: {url: "https://127.0.0.1/", tls: {}}}
EOF
if out="$(k create -f "$TMP/defaults.yaml" 2>&1)"; then
  got="$(k get -n "$NS" hg defaults -o go-template='{{.spec.interval}} {{.spec.timeout}} {{.spec.initialDelay}} {{.spec.successThreshold}} {{.spec.failureThreshold}} {{range .spec.probes}}{{.name}}:{{.critical}} {{end}}')"
  want="10s 2s 0s 1 3 db:true cache:true web:true tls:true "
  [[ "$got" == "$want" ]] && pass "defaults: spec ($got)" || fail "defaults: spec" "got:  $got"$'\n'"want: $want"
  got="$(k get -n "$NS" hg defaults -o go-template='{{with index .spec.probes 0}}{{.postgres.port}} {{.postgres.sslMode}} {{.postgres.query}}{{end}}|{{with index .spec.probes 1}}{{.redis.port}} {{.redis.db}} {{.redis.command}}{{end}}|{{with index .spec.probes 2}}{{.http.method}} {{.http.expectStatus}} {{.http.maxBodyBytes}} {{.http.followRedirects}}{{end}}|{{with index .spec.probes 3}}{{.http.tls.insecureSkipVerify}}{{end}}')"
  want="5432 prefer SELECT 1|6379 0 PING|GET [200-299] 1048576 false|false"
  [[ "$got" == "$want" ]] && pass "defaults: probes ($got)" || fail "defaults: probes" "got:  $got"$'\n'"want: $want"
else
  fail "defaults: create" "$out"
fi

# ---------------------------------------------------------------------------------------
# Invalid manifests: one file per rule; line 1 is "# field: <path>" and that path must be
# named in the API server's error.
# ---------------------------------------------------------------------------------------
invalid=("$ROOT"/tests/testdata/invalid/*.yaml)
[[ ${#invalid[@]} -gt 0 ]] || fail "invalid: tests/testdata/invalid has manifests"
for f in "${invalid[@]}"; do
  label="${f#"$ROOT"/tests/testdata/}"
  field="$(sed -n '1s/^# field: *//p' "$f")"
  if [[ -z "$field" ]]; then
    fail "$label: first line must be '# field: <path>'"
    continue
  fi
  if out="$(k apply --dry-run=server --validate=strict -f "$f" 2>&1)"; then
    fail "$label: rejected (field $field)" "accepted: $out"
  elif grep -qF -- "$field" <<<"$out"; then
    pass "$label: rejected, error names $field"
  else
    fail "$label: rejected, but the error does not name $field" "$out"
  fi
done

# A Redis username needs a password (the CEL rule on the redis object): rejected with the
# rule's message alone, accepted with passwordSecretRef.
cat >"$TMP/redis-user.yaml" <<EOF
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: redis-user, namespace: $NS}
spec:
  probes:
  - {name: cache, redis: {host: 127.0.0.1, username: app}}
EOF
if out="$(k apply --dry-run=server --validate=strict -f "$TMP/redis-user.yaml" 2>&1)"; then
  fail "redis: username without passwordSecretRef rejected" "accepted: $out"
elif grep -qF "spec.probes[0].redis.username" <<<"$out" \
     && grep -qF "username requires passwordSecretRef" <<<"$out"; then
  pass "redis: username without passwordSecretRef rejected (CEL rule, names the field)"
else
  fail "redis: username without passwordSecretRef rejected with the rule's message" "$out"
fi
sed -i 's/username: app}/username: app, passwordSecretRef: {name: redis, key: password}}/' \
  "$TMP/redis-user.yaml"
if out="$(k apply --dry-run=server --validate=strict -f "$TMP/redis-user.yaml" 2>&1)"; then
  pass "redis: username with passwordSecretRef accepted"
else
  fail "redis: username with passwordSecretRef accepted" "$out"
fi

# ---------------------------------------------------------------------------------------
# Printer columns, categories and the status subresource
# ---------------------------------------------------------------------------------------
cat >"$TMP/status.yaml" <<EOF
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: columns, namespace: $NS}
spec:
  probes:
  - {name: web, http: {url: "http://127.0.0.1/"}}
  - {name: broker, critical: false, tcp: {host: 127.0.0.1, port: 5672}}
EOF
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
status_patch="$(cat <<EOF
{"status": {"observedGeneration": 1, "summary": "1/2", "lastProbeTime": "$now",
  "conditions": [
    {"type": "Ready", "status": "True", "reason": "AllCriticalProbesHealthy", "message": "1 of 1 critical probes healthy", "lastTransitionTime": "$now", "observedGeneration": 1},
    {"type": "Degraded", "status": "True", "reason": "ProbeFailing", "message": "broker: connect: connection refused", "lastTransitionTime": "$now", "observedGeneration": 1}],
  "probes": [
    {"name": "web", "type": "http", "healthy": true, "reason": "success", "lastProbeTime": "$now", "lastTransitionTime": "$now", "latencyMs": 3, "consecutiveSuccesses": 12, "consecutiveFailures": 0, "message": ""},
    {"name": "broker", "type": "tcp", "healthy": false, "reason": "connect", "lastProbeTime": "$now", "lastTransitionTime": "$now", "latencyMs": 0, "consecutiveSuccesses": 0, "consecutiveFailures": 4, "message": "connection refused"}]}}
EOF
)"
if out="$(k create -f "$TMP/status.yaml" 2>&1)"; then
  pass "status: create columns"
else
  fail "status: create columns" "$out"
fi

# Writing status through the main resource is ignored (status is a subresource).
out="$(k patch -n "$NS" hg columns --type=merge -p '{"status": {"summary": "9/9"}}' 2>&1 || true)"
got="$(k get -n "$NS" hg columns -o jsonpath='{.status.summary}' 2>&1 || true)"
[[ -z "$got" ]] && pass "status: a write through the main resource is ignored" \
  || fail "status: a write through the main resource is ignored" "status.summary is '$got' after: $out"

gen_before="$(k get -n "$NS" hg columns -o jsonpath='{.metadata.generation}')"
if out="$(k patch -n "$NS" hg columns --subresource=status --type=merge -p "$status_patch" 2>&1)" \
   && got="$(k get -n "$NS" hg columns -o jsonpath='{.status.summary} {.status.probes[1].consecutiveFailures} {.metadata.generation}')" \
   && [[ "$got" == "1/2 4 $gen_before" ]]; then
  pass "status: patch --subresource=status is stored; generation unchanged ($got)"
else
  fail "status: patch --subresource=status is stored; generation unchanged" "$out"$'\n'"got: ${got:-}"
fi

# kubectl wait compares the condition's observedGeneration with metadata.generation,
# so this runs while they agree (before the spec change below).
if out="$(k wait -n "$NS" --for=condition=Ready --timeout=10s hg/columns 2>&1)"; then
  pass "conditions: kubectl wait --for=condition=Ready understands the status"
else
  fail "conditions: kubectl wait --for=condition=Ready understands the status" "$out"
fi

# The status subresource ignores spec changes.
out="$(k patch -n "$NS" hg columns --subresource=status --type=merge -p '{"spec": {"failureThreshold": 7}}' 2>&1 || true)"
got="$(k get -n "$NS" hg columns -o jsonpath='{.spec.failureThreshold}')"
[[ "$got" == 3 ]] && pass "status: a spec write through the status subresource is ignored" \
  || fail "status: a spec write through the status subresource is ignored" "failureThreshold is $got after: $out"

# The status schema is validated too.
if out="$(k patch -n "$NS" hg columns --subresource=status --type=merge \
      -p '{"status": {"conditions": [{"type": "Ready", "status": "Maybe", "reason": "X", "message": "", "lastTransitionTime": "'"$now"'"}]}}' 2>&1)"; then
  fail "status: invalid condition status rejected" "accepted: $out"
elif grep -qF 'status.conditions[0].status' <<<"$out"; then
  pass "status: invalid condition status rejected (status.conditions[0].status)"
else
  fail "status: invalid condition status rejected" "$out"
fi

# A spec change bumps metadata.generation (the operator compares it with observedGeneration).
k patch -n "$NS" hg columns --type=merge -p '{"spec": {"failureThreshold": 5}}' >/dev/null
gen_after="$(k get -n "$NS" hg columns -o jsonpath='{.metadata.generation}')"
[[ "$gen_after" -gt "$gen_before" ]] && pass "status: a spec change bumps generation ($gen_before -> $gen_after)" \
  || fail "status: a spec change bumps generation" "$gen_before -> $gen_after"

if out="$(k get -n "$NS" hg 2>&1)" \
   && header="$(head -n1 <<<"$out")" \
   && [[ "$header" =~ ^NAME\ +READY\ +PROBES\ +LAST\ CHANGE\ +AGE\ *$ ]] \
   && grep -qE '^columns +True +1/2 +[0-9]+[smhd]' <<<"$out"; then
  pass "columns: kubectl get hg shows READY PROBES LAST CHANGE AGE"
else
  fail "columns: kubectl get hg shows READY PROBES LAST CHANGE AGE" "$out"
fi
if out="$(k get -n "$NS" hg columns -o wide 2>&1)" && grep -q "REASON" <<<"$out" \
   && grep -q "AllCriticalProbesHealthy" <<<"$out" && grep -q "DEGRADED" <<<"$out"; then
  pass "columns: -o wide adds REASON and DEGRADED"
else
  fail "columns: -o wide adds REASON and DEGRADED" "$out"
fi
if out="$(k get -n "$NS" healthgate 2>&1)" && grep -q "columns" <<<"$out"; then
  pass "names: category 'healthgate' lists HealthChecks"
else
  fail "names: category 'healthgate' lists HealthChecks" "$out"
fi
if out="$(k get -n "$NS" healthcheck columns -o name 2>&1)" && [[ "$out" == "healthcheck.healthgate.dev/columns" ]] \
   && k get -n "$NS" healthchecks.v1alpha1.healthgate.dev columns >/dev/null 2>&1; then
  pass "names: singular, plural and group-qualified names resolve"
else
  fail "names: singular, plural and group-qualified names resolve" "$out"
fi

# ---------------------------------------------------------------------------------------
# Restricted RBAC with a TokenRequest token: read HealthChecks and write their status only
# (the operator's needs), no spec writes.
# ---------------------------------------------------------------------------------------
if [[ -z "${HEALTHGATE_TESTENV_STATE:-}" ]]; then
  fail "rbac: HEALTHGATE_TESTENV_STATE is not set (needed to mint tokens)"
elif ! token="$("$TESTENV" token "$NS" status-writer 10m 2>"$TMP/token.err")"; then
  fail "rbac: testenv token mints a ServiceAccount token" "$(cat "$TMP/token.err")"
else
  pass "rbac: testenv token mints a ServiceAccount token"
  "$TESTENV" kubeconfig-for-token "$token" "$TMP/sa.kubeconfig" 2>/dev/null
  ks() { "$KUBECTL" --kubeconfig "$TMP/sa.kubeconfig" "$@"; }
  if out="$(ks auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1)" \
     && [[ "$out" == "system:serviceaccount:$NS:status-writer" ]]; then
    pass "rbac: token authenticates as $out"
  else
    fail "rbac: token authenticates as the ServiceAccount" "$out"
  fi
  if out="$(ks get -n "$NS" hg 2>&1)"; then
    fail "rbac: no access before a Role is bound" "$out"
  elif grep -q "Forbidden\|forbidden" <<<"$out"; then
    pass "rbac: no access before a Role is bound"
  else
    fail "rbac: no access before a Role is bound" "$out"
  fi
  k create role -n "$NS" hg-status-writer --verb=get,list,watch --resource=healthchecks.healthgate.dev >/dev/null
  k create role -n "$NS" hg-status-writer-status --verb=get,update,patch --resource=healthchecks.healthgate.dev/status >/dev/null
  k create rolebinding -n "$NS" hg-status-writer --role=hg-status-writer --serviceaccount="$NS:status-writer" >/dev/null
  k create rolebinding -n "$NS" hg-status-writer-status --role=hg-status-writer-status --serviceaccount="$NS:status-writer" >/dev/null
  ok=""
  for _ in $(seq 50); do ks get -n "$NS" hg columns >/dev/null 2>&1 && { ok=1; break; }; sleep 0.2; done
  [[ -n "$ok" ]] && pass "rbac: list/get allowed by the Role" || fail "rbac: list/get allowed by the Role" "$(ks get -n "$NS" hg columns 2>&1)"
  if out="$(ks patch -n "$NS" hg columns --subresource=status --type=merge -p '{"status": {"summary": "2/2"}}' 2>&1)"; then
    pass "rbac: status patch allowed"
  else
    fail "rbac: status patch allowed" "$out"
  fi
  if out="$(ks patch -n "$NS" hg columns --type=merge -p '{"spec": {"failureThreshold": 9}}' 2>&1)"; then
    fail "rbac: spec patch forbidden" "allowed: $out"
  elif grep -qi "forbidden" <<<"$out"; then
    pass "rbac: spec patch forbidden"
  else
    fail "rbac: spec patch forbidden" "$out"
  fi
fi

k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true

finish
