#!/usr/bin/env bash
# Truthful verdicts against a real kube-apiserver and a real Redis: healthgate's own
# trouble (an API server outage, a rotated Secret, an edit, a fresh replica, a success
# payload that changes every run) must never show as "target unhealthy", a 503 on a
# per-check URL or a status write.
#
# Needs KUBECONFIG, KUBECTL, HEALTHGATE_TESTENV_STATE (from `tests/e2e/testenv up`) and
# HEALTHGATE_BINARY. One PASS/FAIL line per case; non-zero exit when any case fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TESTENV="$HERE/testenv"
BIN="${HEALTHGATE_BINARY:-$ROOT/build/healthgate}"

# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
require_cluster
[[ -n "${HEALTHGATE_TESTENV_STATE:-}" ]] || fatal "cluster: HEALTHGATE_TESTENV_STATE is not set"
[[ -x "$BIN" ]] || fatal "healthgate binary not found at $BIN"

TMP="$(mktemp -d)"
PIDS=()
APISERVER_STOPPED=0
cleanup() {
  [[ "$APISERVER_STOPPED" == 1 ]] && "$TESTENV" start-apiserver "$HEALTHGATE_TESTENV_STATE" >/dev/null 2>&1
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

NS=trust
PW1="canary-trust-$RANDOM-a1"
PW2="canary-trust-$RANDOM-b2"

k apply --server-side -f "$ROOT/crds/healthgate.dev_healthchecks.yaml" >/dev/null
wait_crd_established || fatal "crd: not Established"
k apply -f "$ROOT/manifests/rbac.yaml" >/dev/null
k create namespace "$NS" >/dev/null
TOKEN="$("$TESTENV" token healthgate-system healthgate 1h)"
"$TESTENV" kubeconfig-for-token "$TOKEN" "$TMP/operator.kubeconfig" >/dev/null 2>&1

REDIS_PORT="$(free_port)"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$TMP" \
  --requirepass "$PW1" --logfile "$TMP/redis.log" &
PIDS+=($!)
rcli() { redis-cli -p "$REDIS_PORT" -a "$PW1" --no-auth-warning "$@"; }
wait_until 5 rcli ping || fatal "redis: did not start" "$(cat "$TMP/redis.log")"
k -n "$NS" create secret generic redis --from-literal=password="$PW1" >/dev/null
# The operator uses only Secrets labelled for probes (--require-secret-label).
k -n "$NS" label secret redis healthgate.dev/probe-credentials=true >/dev/null

start_operator() { # NAME PORT
  "$BIN" operator --kubeconfig "$TMP/operator.kubeconfig" --http-address "127.0.0.1:$2" \
    --leader-elect --leader-election-namespace healthgate-system --leader-election-id trust-test \
    --leader-election-identity "$1" --lease-duration 4s --renew-deadline 3s --retry-period 1s \
    --secret-refresh 2s --log-level debug >"$TMP/$1.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
OP_PORT="$(free_port)"
start_operator op1 "$OP_PORT"
leads() { [[ "$(curl -s "http://127.0.0.1:$OP_PORT/readyz")" == "ok: leader" ]]; }
# Room for a loaded 2-core machine; on failure the answer and the log without its
# per-request debug lines say why.
wait_until 60 leads || fatal "operator: not leading and ready after 60 s" \
  "/readyz: $(curl -s "http://127.0.0.1:$OP_PORT/readyz")"$'\n'"$(grep -v '"msg":"http request"' "$TMP/op1.log" | tail -30)"

check() { # NAME TIMEOUT PROBE-YAML
  cat <<YAML | k apply -f - >/dev/null
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: $1, namespace: $NS}
spec:
  interval: 1s
  timeout: $2
  probes:
$3
YAML
}
secret_probe="  - name: cache
    redis: {host: 127.0.0.1, port: $REDIS_PORT, passwordSecretRef: {name: redis, key: password}}"
check rotate 500ms "$secret_probe"
check payload 500ms "  - name: value
    redis: {host: 127.0.0.1, port: $REDIS_PORT, passwordSecretRef: {name: redis, key: password}, command: 'GET k'}"
for c in rotate payload; do
  k -n "$NS" wait --for=condition=Ready --timeout=20s "hg/$c" >/dev/null 2>&1 \
    || fatal "setup: hg/$c Ready" "$(k -n "$NS" get hg "$c" -o yaml)"$'\n'"$(tail -5 "$TMP/op1.log")"
done

# --- a success payload that changes every run causes no status writes ----------------------
writes_of() { grep '"writing status"' "$TMP/op1.log" | grep -c "\"healthcheck\":\"$1\"" || true; }
( i=0; while [[ ! -e "$TMP/stop-setter" ]]; do rcli set k "v$((i++))" >/dev/null; sleep 0.3; done ) &
PIDS+=($!)
sleep 3
w0="$(writes_of payload)"; rv0="$(k -n "$NS" get hg payload -o jsonpath='{.metadata.resourceVersion}')"
sleep 20
w1="$(writes_of payload)"; rv1="$(k -n "$NS" get hg payload -o jsonpath='{.metadata.resourceVersion}')"
touch "$TMP/stop-setter"
live="$(curl -s "http://127.0.0.1:$OP_PORT/api/v1/healthchecks/$NS/payload" | python3 -c 'import json,sys; print(json.load(sys.stdin)["probes"][0]["message"])')"
if [[ $((w1 - w0)) -le 1 && "$live" == *'reply "v'* ]]; then
  pass "payload: a reply that changes every run: $((w1 - w0)) status writes in 20 s at 1 s (rv $rv0 -> $rv1); the API shows it live ($live)"
else
  fail "payload: status writes only on visible changes" "$((w1 - w0)) writes, rv $rv0 -> $rv1, live '$live'"
fi
[[ -z "$(k -n "$NS" get hg payload -o jsonpath='{.status.probes[0].message}')" ]] \
  && pass "payload: a healthy probe's status message is empty" \
  || fail "payload: a healthy probe's status message is empty" "$(k -n "$NS" get hg payload -o jsonpath='{.status.probes[0]}')"

# --- rotating a Secret to another valid value, editing a field: never 503 -----------------
poll_start() { rm -f "$TMP/stop-poll"; python3 "$HERE/poll_codes.py" "$TMP/stop-poll" 0.05 120 "$@" >"$TMP/poll.out" & POLLER=$!; }
poll_stop() { touch "$TMP/stop-poll"; wait "$POLLER" 2>/dev/null || true; }
poll_bad() { awk '{bad += $3; n += $2} END {print bad + 0, n + 0}' "$TMP/poll.out"; }
poll_start "http://127.0.0.1:$OP_PORT/ready/$NS/rotate" "http://127.0.0.1:$OP_PORT/ready/$NS/payload"
sleep 1
rcli acl setuser default on ">$PW2" >/dev/null  # both passwords valid
k -n "$NS" create secret generic redis --from-literal=password="$PW2" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n "$NS" label secret redis healthgate.dev/probe-credentials=true --overwrite >/dev/null
sleep 6  # three secret refreshes: the probes restart with the new password
k -n "$NS" patch hg rotate --type=merge -p '{"spec": {"timeout": "600ms"}}' >/dev/null
sleep 4
poll_stop
read -r bad n <<<"$(poll_bad)"
[[ "$n" -gt 100 && "$bad" == 0 ]] \
  && pass "rotation+edit: /ready polled every 50 ms never answered 503 ($n requests)" \
  || fail "rotation+edit: /ready never 503" "$(cat "$TMP/poll.out")"
k -n "$NS" wait --for=condition=Ready --timeout=5s hg/rotate >/dev/null 2>&1 \
  && [[ "$(k -n "$NS" get hg rotate -o jsonpath='{.status.observedGeneration}')" == "$(k -n "$NS" get hg rotate -o jsonpath='{.metadata.generation}')" ]] \
  && pass "rotation+edit: Ready for the new generation" \
  || fail "rotation+edit: Ready for the new generation" "$(k -n "$NS" get hg rotate -o yaml)"
rcli acl setuser default resetpass ">$PW2" >/dev/null  # PW1 no longer valid
rcli() { redis-cli -p "$REDIS_PORT" -a "$PW2" --no-auth-warning "$@"; }

# --- a blocked probe is visible in metrics and logged once --------------------------------
check blocked 500ms "  - name: cache
    redis: {host: 127.0.0.1, port: $REDIS_PORT, passwordSecretRef: {name: missing, key: password}}"
metric_blocked() {
  local m; m="$(curl -s "http://127.0.0.1:$OP_PORT/metrics")"
  grep -q "^healthgate_probe_success{healthcheck=\"blocked\",namespace=\"$NS\",probe=\"cache\",type=\"redis\"} 0" <<<"$m" \
    && grep -q "^healthgate_probe_blocked{healthcheck=\"blocked\",namespace=\"$NS\",probe=\"cache\",reason=\"SecretNotFound\",type=\"redis\"} 1" <<<"$m"
}
if wait_until 10 metric_blocked; then
  pass "blocked: healthgate_probe_success 0 and healthgate_probe_blocked{reason=SecretNotFound} 1"
else
  fail "blocked: metrics show the blocked probe" "$(curl -s "http://127.0.0.1:$OP_PORT/metrics" | grep 'healthcheck="blocked"')"
fi
sleep 6  # three refreshes re-resolve the missing Secret
nlog="$(grep '"probe blocked"' "$TMP/op1.log" | grep -c '"healthcheck":"blocked"' || true)"
[[ "$nlog" == 1 ]] && pass "blocked: one log line, not one per refresh" \
  || fail "blocked: one log line per change" "$nlog lines"
k -n "$NS" delete hg blocked >/dev/null

# --- an API server outage of 20 s: checks stay Ready, no Event ---------------------------
warnings() { k -n "$NS" get events --field-selector type=Warning -o name 2>/dev/null | wc -l; }
ev0="$(warnings)"
poll_start "http://127.0.0.1:$OP_PORT/ready/$NS/rotate" "http://127.0.0.1:$OP_PORT/ready/$NS/payload"
APISERVER_STOPPED=1
"$TESTENV" stop-apiserver "$HEALTHGATE_TESTENV_STATE" >/dev/null 2>&1 || fatal "testenv stop-apiserver failed"
sleep 20
"$TESTENV" start-apiserver "$HEALTHGATE_TESTENV_STATE" >/dev/null 2>&1 || fatal "testenv start-apiserver failed"
APISERVER_STOPPED=0
sleep 5
poll_stop
read -r bad n <<<"$(poll_bad)"
[[ "$n" -gt 100 && "$bad" == 0 ]] \
  && pass "outage: checks using a Secret stay Ready through a 20 s API server outage ($n requests, 0 not 200)" \
  || fail "outage: checks stay Ready through the outage" "$(cat "$TMP/poll.out")"$'\n'"$(grep -E 'secret|blocked' "$TMP/op1.log" | tail -5)"
grep -q '"state":"last-known"' "$TMP/op1.log" \
  && pass "outage: the unreadable Secret is logged, and its last value kept" \
  || fail "outage: the unreadable Secret is logged" "$(grep -i secret "$TMP/op1.log" | tail -5)"
sleep 2
ev1="$(warnings)"
[[ "$ev1" == "$ev0" ]] && pass "outage: no Warning Event ($ev1 before and after)" \
  || fail "outage: no Warning Event" "$ev0 -> $ev1: $(k -n "$NS" get events 2>&1 | tail -5)"
[[ "$(k -n "$NS" get hg rotate -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]] \
  && pass "outage: Ready=True in the status after the outage" \
  || fail "outage: Ready=True after the outage" "$(k -n "$NS" get hg rotate -o yaml)"

# --- a fresh replica answers /readyz 200 only when its per-check URLs are true -----------
OP2_PORT="$(free_port)"
start_operator op2 "$OP2_PORT"
out="$(python3 - "$OP2_PORT" "$NS" <<'PY'
import sys, time, urllib.request, urllib.error
port, ns = sys.argv[1], sys.argv[2]
def code(path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0
ready_seen, lies, end = 0, 0, time.monotonic() + 90
while ready_seen < 40 and time.monotonic() < end:
    if code("/readyz") == 200:
        ready_seen += 1
        for c in ("rotate", "payload"):
            if code(f"/ready/{ns}/{c}") != 200:
                lies += 1
    time.sleep(0.05)
print(ready_seen, lies)
PY
)"
read -r seen lies <<<"$out"
[[ "$seen" -ge 40 && "$lies" == 0 ]] \
  && pass "replica: a fresh replica's /readyz is 200 only once its per-check URLs answer 200 ($seen polls)" \
  || fail "replica: /readyz waits for verdicts" "readyz 200 seen $seen times, per-check 503 while ready: $lies"$'\n'"/readyz: $(curl -s "http://127.0.0.1:$OP2_PORT/readyz")"$'\n'"$(grep -v '"msg":"http request"' "$TMP/op2.log" | tail -30)"

# --- no password in any output -------------------------------------------------------------
leak=""
for src in "$(cat "$TMP"/op*.log)" "$(k -n "$NS" get hg -o yaml)" "$(k -n "$NS" get events -o yaml)" \
           "$(curl -s "http://127.0.0.1:$OP_PORT/metrics")" "$(curl -s "http://127.0.0.1:$OP_PORT/api/v1/healthchecks")"; do
  [[ "$src" == *"$PW1"* || "$src" == *"$PW2"* ]] && leak+="x"
done
[[ -z "$leak" ]] && pass "secrets: neither password is in a log, status, event, metric or API output" \
  || fail "secrets: a password leaked" "$leak"

if grep -lE "ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:" "$TMP"/op*.log >/dev/null 2>&1; then
  fail "sanitizers: reports in the operator logs" "$(grep -hE -A20 "ThreadSanitizer|AddressSanitizer|runtime error:" "$TMP"/op*.log | head -60)"
else
  pass "sanitizers: no sanitizer report in the operator logs"
fi
k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
finish
