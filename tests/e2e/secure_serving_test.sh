#!/usr/bin/env bash
# Secure serving against a real kube-apiserver: `healthgate operator --secure-serving`
# with the chart's RBAC (secureServing.enabled=true) serves HTTPS, and answers
# /metrics, the JSON API and the dashboard only to tokens the API server authenticates
# (TokenReview) and authorizes for the path (SubjectAccessReview); /livez, /readyz and
# the per-check URLs stay open; a mounted certificate verifies against its CA.
#
# Needs KUBECONFIG, KUBECTL, HELM, HEALTHGATE_TESTENV_STATE (from `tests/e2e/testenv up`)
# and HEALTHGATE_BINARY. One PASS/FAIL line per case; non-zero exit when any case fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TESTENV="$HERE/testenv"
BIN="${HEALTHGATE_BINARY:-$ROOT/build/healthgate}"

# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
require_cluster
[[ -n "${HEALTHGATE_TESTENV_STATE:-}" ]] || fatal "cluster: HEALTHGATE_TESTENV_STATE is not set"
[[ -n "${HELM:-}" && -x "${HELM}" ]] || fatal "cluster: HELM is not set or not executable"
[[ -x "$BIN" ]] || fatal "healthgate binary not found at $BIN"

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  k delete clusterrolebinding hg-secure-metrics hg-secure-api --ignore-not-found >/dev/null 2>&1 || true
  k delete namespace hg-secure --wait=false >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

k apply --server-side -f "$ROOT/crds/healthgate.dev_healthchecks.yaml" >/dev/null
wait_crd_established || fatal "crd: not Established"
k apply -f "$ROOT/manifests/rbac.yaml" >/dev/null
# The chart's RBAC for secure serving (auth-delegator binding, reader roles).
render() { "$HELM" template healthgate "$ROOT/helm/healthgate" --namespace healthgate-system --kube-version 1.34.0 "$@"; }
render --set secureServing.enabled=true --show-only templates/rbac.yaml >"$TMP/rbac.yaml"
grep -q "name: system:auth-delegator" "$TMP/rbac.yaml" \
  && pass "chart: secureServing.enabled binds the operator to system:auth-delegator" \
  || fail "chart: auth-delegator binding" "$(cat "$TMP/rbac.yaml")"
k apply -f "$TMP/rbac.yaml" >/dev/null
render --show-only templates/rbac.yaml >"$TMP/rbac-default.yaml"
! grep -q "auth-delegator" "$TMP/rbac-default.yaml" \
  && pass "chart: no review rights without secure serving" || fail "chart: default RBAC has auth-delegator"
render --set secureServing.enabled=true --set serviceMonitor.enabled=true >"$TMP/chart.yaml"
grep -q -- "- --secure-serving" "$TMP/chart.yaml" && grep -q "scheme: HTTPS" "$TMP/chart.yaml" \
  && grep -q "bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token" "$TMP/chart.yaml" \
  && grep -q "insecureSkipVerify: true" "$TMP/chart.yaml" \
  && pass "chart: the operator, its probes and the ServiceMonitor switch to HTTPS with a bearer token" \
  || fail "chart: secure serving rendering" "$(grep -n -i -E "secure|scheme|bearer|tlsConfig|insecure" "$TMP/chart.yaml")"

TOKEN="$("$TESTENV" token healthgate-system healthgate 1h)"
"$TESTENV" kubeconfig-for-token "$TOKEN" "$TMP/operator.kubeconfig" >/dev/null 2>&1
k create namespace hg-secure >/dev/null
k -n hg-secure create serviceaccount prometheus >/dev/null
k -n hg-secure create serviceaccount nobody >/dev/null
READER="$("$TESTENV" token hg-secure prometheus 1h)"
NOBODY="$("$TESTENV" token hg-secure nobody 1h)"
CANARY="hg-canary-bogus-token-$RANDOM$RANDOM"

PORT="$(free_port)"
"$BIN" operator --kubeconfig "$TMP/operator.kubeconfig" --http-address "127.0.0.1:$PORT" \
  --secure-serving --log-level debug >"$TMP/op1.log" 2>&1 &
PIDS+=($!)
URL="https://127.0.0.1:$PORT"
code() { # PATH [TOKEN] [curl args...]
  local path=$1 tok=${2:-}; shift 2 || shift $#
  if [[ -n "$tok" ]]; then
    curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$@" "$URL$path" || true
  else
    curl -sk -o /dev/null -w '%{http_code}' "$@" "$URL$path" || true
  fi
}
ready() { [[ "$(code /readyz)" == 200 ]]; }
wait_until 30 ready || fatal "operator: not ready over HTTPS" "$(tail -20 "$TMP/op1.log")"
pass "serving: HTTPS with a self-signed certificate; /readyz answers without a token"

out="$(curl -s -o /dev/null -w '%{http_code}' "$URL/livez" 2>&1 || true)"
[[ "$out" == 000 ]] && pass "serving: a client that verifies refuses the self-signed certificate" \
  || fail "serving: self-signed certificate accepted without -k" "$out"
[[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/livez" || true)" != 200 ]] \
  && pass "serving: no plain HTTP on the port" || fail "serving: plain HTTP answered"

[[ "$(code /metrics)" == 401 ]] && pass "authn: /metrics without a token is 401" \
  || fail "authn: /metrics without a token" "$(code /metrics)"
[[ "$(code /metrics "$CANARY")" == 401 ]] && pass "authn: a token the API server rejects is 401" \
  || fail "authn: bogus token" "$(code /metrics "$CANARY")"
[[ "$(code /metrics "$NOBODY")" == 403 ]] && pass "authz: a valid token without the RBAC rule is 403" \
  || fail "authz: token without RBAC" "$(code /metrics "$NOBODY")"
[[ "$(code /metrics "$READER")" == 403 ]] && pass "authz: the reader before its binding is 403" \
  || fail "authz: reader before binding" "$(code /metrics "$READER")"

k create clusterrolebinding hg-secure-metrics --clusterrole healthgate-metrics-reader \
  --serviceaccount hg-secure:prometheus >/dev/null
# Denials are cached for 10 s: the binding takes effect within that.
metrics_ok() { [[ "$(code /metrics "$READER")" == 200 ]]; }
wait_until 20 metrics_ok && pass "authz: bound to healthgate-metrics-reader, the token scrapes /metrics" \
  || fail "authz: reader with binding" "$(code /metrics "$READER")"
body="$(curl -sk -H "Authorization: Bearer $READER" "$URL/metrics")"
[[ "$body" == *"healthgate_"* ]] && pass "authz: the scrape holds healthgate's metrics" \
  || fail "authz: scrape body" "${body:0:300}"
# The API server's system:discovery role grants every user the paths /api/*: the JSON
# API must not be authorized as a path.
[[ "$(code /api/v1/healthchecks "$READER")" == 403 ]] \
  && pass "authz: the metrics reader may not read the JSON API (system:discovery's /api/* does not open it)" \
  || fail "authz: reader on the API" "$(code /api/v1/healthchecks "$READER")"
[[ "$(code /api/v1/healthchecks/hg-secure/x "$READER")" == 403 ]] && pass "authz: nor one check" \
  || fail "authz: reader on one check" "$(code /api/v1/healthchecks/hg-secure/x "$READER")"
[[ "$(code / "$READER")" == 403 ]] && pass "authz: nor the dashboard" || fail "authz: dashboard"
k create clusterrolebinding hg-secure-api --clusterrole healthgate-dashboard-reader \
  --serviceaccount hg-secure:prometheus >/dev/null
api_ok() { [[ "$(code /api/v1/healthchecks "$READER")" == 200 && "$(code / "$READER")" == 200 ]]; }
wait_until 20 api_ok && pass "authz: bound to healthgate-dashboard-reader, the JSON API and the dashboard answer" \
  || fail "authz: dashboard reader" "$(code /api/v1/healthchecks "$READER") $(code / "$READER")"
# A tenant: may read the HealthChecks of one namespace, so their results there only.
k -n hg-secure create role hc-view --verb get,list --resource healthchecks.healthgate.dev >/dev/null
k -n hg-secure create rolebinding hc-view --role hc-view --serviceaccount hg-secure:nobody >/dev/null
tenant_ok() { [[ "$(code "/api/v1/healthchecks?namespace=hg-secure" "$NOBODY")" == 200 ]]; }
wait_until 20 tenant_ok && pass "authz: a tenant who may list HealthChecks in a namespace reads its results there" \
  || fail "authz: tenant list" "$(code "/api/v1/healthchecks?namespace=hg-secure" "$NOBODY")"
[[ "$(code /api/v1/healthchecks/hg-secure/none "$NOBODY")" == 404 ]] \
  && pass "authz: and one check there (404: authorized, no such check)" \
  || fail "authz: tenant get" "$(code /api/v1/healthchecks/hg-secure/none "$NOBODY")"
[[ "$(code /api/v1/healthchecks "$NOBODY")" == 403 && "$(code "/api/v1/healthchecks?namespace=other" "$NOBODY")" == 403 \
   && "$(code /api/v1/healthchecks/other/x "$NOBODY")" == 403 ]] \
  && pass "authz: but not every namespace's, nor another namespace's" \
  || fail "authz: tenant outside its namespace" "$(code /api/v1/healthchecks "$NOBODY") $(code /api/v1/healthchecks/other/x "$NOBODY")"

[[ "$(code /livez)" == 200 ]] && pass "open: /livez needs no token" || fail "open: /livez" "$(code /livez)"
[[ "$(code /ready/hg-secure/none)" == 404 ]] \
  && pass "open: the per-check URLs need no token (404 for an unknown check, not 401)" \
  || fail "open: /ready without a token" "$(code /ready/hg-secure/none)"

# A mounted certificate (here made with openssl, as cert-manager would) verifies.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=hg-test-ca" \
  -keyout "$TMP/ca.key" -out "$TMP/ca.crt" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=healthgate" \
  -keyout "$TMP/tls.key" -out "$TMP/tls.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$TMP/ext.cnf"
openssl x509 -req -in "$TMP/tls.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" -CAcreateserial -days 2 \
  -extfile "$TMP/ext.cnf" -out "$TMP/tls.crt" >/dev/null 2>&1
PORT2="$(free_port)"
"$BIN" operator --kubeconfig "$TMP/operator.kubeconfig" --http-address "127.0.0.1:$PORT2" \
  --secure-serving --tls-cert-file "$TMP/tls.crt" --tls-private-key-file "$TMP/tls.key" \
  --protect-readiness-urls >"$TMP/op2.log" 2>&1 &
PIDS+=($!)
verified() { [[ "$(curl -s --cacert "$TMP/ca.crt" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT2/readyz")" == 200 ]]; }
wait_until 30 verified && pass "serving: a mounted certificate verifies against its CA" \
  || fail "serving: mounted certificate" "$(tail -20 "$TMP/op2.log")"
c2="$(curl -s --cacert "$TMP/ca.crt" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT2/ready/hg-secure/none" || true)"
[[ "$c2" == 401 ]] && pass "authn: --protect-readiness-urls puts the per-check URLs behind a token" \
  || fail "authn: protected readiness URL" "$c2"
out="$("$BIN" operator --kubeconfig "$TMP/operator.kubeconfig" --http-address "127.0.0.1:$(free_port)" \
  --secure-serving --tls-cert-file "$TMP/tls.crt" --tls-private-key-file "$TMP/ca.key" 2>&1)" && rc=0 || rc=$?
[[ $rc == 2 && "$out" == *"does not belong"* ]] && pass "serving: a key that does not match the certificate is exit 2, named" \
  || fail "serving: mismatched key" "rc=$rc $out"

leak=""
for tok in "$READER" "$NOBODY" "$CANARY"; do
  grep -qF -- "$tok" "$TMP"/op*.log && leak+="log "
done
[[ -z "$leak" ]] && pass "secrets: no client token in the operator logs" || fail "secrets: a token leaked" "$leak"

if grep -lE "ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:" "$TMP"/op*.log >/dev/null 2>&1; then
  fail "sanitizers: reports in the operator logs" "$(grep -hE -A20 "ThreadSanitizer|AddressSanitizer|runtime error:" "$TMP"/op*.log | head -60)"
else
  pass "sanitizers: no sanitizer report in the operator logs"
fi
finish
