#!/usr/bin/env bash
# Probes use only Secrets labelled healthgate.dev/probe-credentials: "true" (the operator's
# --require-secret-label, on by default), against a real kube-apiserver with RBAC and the
# operator running with the ServiceAccount token of manifests/rbac.yaml:
#   - an HTTP probe whose header comes from an unlabelled Secret is blocked: reason
#     SecretNotAllowed in the status, one Warning Event (not one per secret refresh), and the
#     target, a listener that records every request, receives nothing;
#   - `kubectl label secret ...=true` unblocks it without a restart: the header arrives;
#   - removing the label blocks it again.
#
# Needs KUBECONFIG, KUBECTL (from `tests/e2e/testenv up`) and HEALTHGATE_BINARY. One
# PASS/FAIL line per case; non-zero exit when any case fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TESTENV="$HERE/testenv"
BIN="${HEALTHGATE_BINARY:-$ROOT/build/healthgate}"

# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
require_cluster
[[ -x "$BIN" ]] || fatal "healthgate binary not found at $BIN"

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

NS=seclabel
CANARY="canary-label-$RANDOM-$RANDOM"
LABEL=healthgate.dev/probe-credentials

k apply --server-side -f "$ROOT/crds/healthgate.dev_healthchecks.yaml" >/dev/null
wait_crd_established || fatal "crd: not Established"
k apply -f "$ROOT/manifests/rbac.yaml" >/dev/null
k create namespace "$NS" >/dev/null
TOKEN="$("$TESTENV" token healthgate-system healthgate 1h)"
"$TESTENV" kubeconfig-for-token "$TOKEN" "$TMP/operator.kubeconfig" >/dev/null 2>&1

# The target: answers 200 to everything and records each request's headers.
TARGET_PORT="$(free_port)"
cat >"$TMP/listener.py" <<'PY'
import http.server, sys
out = open(sys.argv[2], "a", buffering=1)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        out.write("REQUEST %s %r\n" % (self.path, sorted(self.headers.items())))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
python3 "$TMP/listener.py" "$TARGET_PORT" "$TMP/requests.log" 2>"$TMP/listener.err" &
PIDS+=($!)
touch "$TMP/requests.log"
wait_until 5 code_is "http://127.0.0.1:$TARGET_PORT/ping" 200 || fatal "listener: did not start" "$(cat "$TMP/listener.err")"
: >"$TMP/requests.log"

k -n "$NS" create secret generic api-token --from-literal=token="$CANARY" >/dev/null

OP_PORT="$(free_port)"
"$BIN" operator --kubeconfig "$TMP/operator.kubeconfig" --http-address "127.0.0.1:$OP_PORT" \
  --secret-refresh 2s --log-level debug >"$TMP/op.log" 2>&1 &
PIDS+=($!)
wait_until 20 code_is "http://127.0.0.1:$OP_PORT/readyz" 200 || fatal "operator: not ready" "$(tail -20 "$TMP/op.log")"

cat <<YAML | k apply -f - >/dev/null
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: api, namespace: $NS}
spec:
  interval: 1s
  timeout: 500ms
  probes:
  - name: web
    http:
      url: http://127.0.0.1:$TARGET_PORT/healthz
      headers:
      - {name: X-Api-Token, valueSecretRef: {name: api-token, key: token}}
YAML

jp() { k -n "$NS" get hg api -o jsonpath="$1" 2>/dev/null; }
ready_reason_is() { [[ "$(jp '{.status.conditions[?(@.type=="Ready")].reason}')" == "$1" ]]; }
not_allowed_events() { # prints "<events> <sum of counts>" of SecretNotAllowed Events on hg/api
  k -n "$NS" get events --field-selector "involvedObject.name=api,reason=SecretNotAllowed" -o json \
    | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print(len(i), sum(e.get("count", 1) for e in i), " ".join(sorted({e["type"] for e in i})))'
}

# --- unlabelled: blocked, nothing sent -------------------------------------------------------
if wait_until 20 ready_reason_is SecretNotAllowed; then
  pass "unlabelled: Ready=False with reason SecretNotAllowed"
else
  fail "unlabelled: Ready=False with reason SecretNotAllowed" "$(k -n "$NS" get hg api -o yaml)"$'\n'"$(tail -5 "$TMP/op.log")"
fi
msg="$(jp '{.status.probes[0].message}')"
reason="$(jp '{.status.probes[0].reason}')"
if [[ "$reason" == SecretNotAllowed && "$msg" == *'secret "api-token"'* && "$msg" == *'"token"'* \
      && "$msg" == *"kubectl -n $NS label secret api-token $LABEL=true"* ]]; then
  pass "unlabelled: the probe's status names the Secret, the key and the label to add"
else
  fail "unlabelled: the probe's status message" "reason '$reason', message '$msg'"
fi
sleep 7  # three secret refreshes and several probe intervals
read -r n count types <<<"$(not_allowed_events)"
if [[ "$n" == 1 && "$count" == 1 && "$types" == Warning ]]; then
  pass "unlabelled: one Warning SecretNotAllowed Event after three secret refreshes"
else
  fail "unlabelled: one Warning SecretNotAllowed Event" "$n events, count $count, types '$types'"$'\n'"$(k -n "$NS" get events -o wide)"
fi
if [[ ! -s "$TMP/requests.log" ]]; then
  pass "unlabelled: the target received no request at all"
else
  fail "unlabelled: the target received no request" "$(cat "$TMP/requests.log")"
fi
m="$(curl -s "http://127.0.0.1:$OP_PORT/metrics")"
grep -q "^healthgate_probe_blocked{healthcheck=\"api\",namespace=\"$NS\",probe=\"web\",reason=\"SecretNotAllowed\",type=\"http\"} 1" <<<"$m" \
  && pass "unlabelled: healthgate_probe_blocked{reason=SecretNotAllowed} 1" \
  || fail "unlabelled: healthgate_probe_blocked{reason=SecretNotAllowed} 1" "$(grep -E 'probe_blocked|probe_success' <<<"$m")"

# --- labelled: the probe runs with the header, without a restart ------------------------------
k -n "$NS" label secret api-token "$LABEL=true" >/dev/null
if k -n "$NS" wait --for=condition=Ready --timeout=20s hg/api >/dev/null 2>&1; then
  pass "labelled: the check becomes Ready without a restart"
else
  fail "labelled: the check becomes Ready" "$(k -n "$NS" get hg api -o yaml)"$'\n'"$(tail -5 "$TMP/op.log")"
fi
if wait_until 10 grep -qiF "x-api-token', '$CANARY'" "$TMP/requests.log"; then
  pass "labelled: the target receives the header from the Secret"
else
  fail "labelled: the header arrives" "$(tail -3 "$TMP/requests.log")"
fi

# --- unlabelled again: blocked again ---------------------------------------------------------
k -n "$NS" label secret api-token "$LABEL-" >/dev/null
if wait_until 20 ready_reason_is SecretNotAllowed && [[ "$(jp '{.status.probes[0].reason}')" == SecretNotAllowed ]]; then
  pass "label removed: blocked again with SecretNotAllowed"
else
  fail "label removed: blocked again" "$(k -n "$NS" get hg api -o yaml)"
fi
sleep 2  # a probe attempt already under way when the block landed may still arrive
before="$(wc -l <"$TMP/requests.log")"
sleep 4
after="$(wc -l <"$TMP/requests.log")"
[[ "$before" == "$after" ]] && pass "label removed: the target receives no more requests" \
  || fail "label removed: no more requests" "$before -> $after requests"
read -r n count types <<<"$(not_allowed_events)"
[[ "$count" == 2 ]] && pass "label removed: announced once more ($n Event(s), count $count)" \
  || fail "label removed: announced once more" "$n events, count $count"

# --- the value never leaks --------------------------------------------------------------------
leak=""
for src in "$(cat "$TMP/op.log")" "$(k -n "$NS" get hg -o yaml)" "$(k -n "$NS" get events -o yaml)" \
           "$(curl -s "http://127.0.0.1:$OP_PORT/metrics")" "$(curl -s "http://127.0.0.1:$OP_PORT/api/v1/healthchecks")"; do
  [[ "$src" == *"$CANARY"* ]] && leak+="x"
done
[[ -z "$leak" ]] && pass "secrets: the value is in no log, status, Event, metric or API output" \
  || fail "secrets: the value leaked" "$leak"

k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
finish
