#!/usr/bin/env bash
# The test cluster itself: repeated `up`s on one state directory leave no stray
# processes, `down` stops everything, the real version is reported, and a second
# identity can be minted. Uses its own state directory beside the suite's cluster.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTENV="$HERE/testenv"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

STATE="$(mktemp -d "${TMPDIR:-/tmp}/healthgate-testenv-test.XXXXXX")"
rmdir "$STATE"
trap '"$TESTENV" down "$STATE" >/dev/null 2>&1 || true' EXIT
procs() { { pgrep -f -- "$STATE" || true; } | wc -l; }

t0=$SECONDS
"$TESTENV" up "$STATE" >"$STATE.env1" 2>"$STATE.err" || fatal "testenv: first up" "$(cat "$STATE.err")"
first=$((SECONDS - t0))
n1="$(procs)"
"$TESTENV" up "$STATE" >"$STATE.env2" 2>"$STATE.err" || fatal "testenv: second up" "$(cat "$STATE.err")"
n2="$(procs)"
[[ "$n1" -ge 2 && "$n2" == "$n1" ]] && pass "testenv: a second up replaces the first ($n1 processes before and after; up took ${first}s)" \
  || fail "testenv: a second up replaces the first" "processes: $n1 then $n2"
tail -n 3 "$STATE.env2" | grep -q '^KUBECONFIG=' && tail -n 3 "$STATE.env2" | grep -q '^KUBECTL=' \
  && tail -n 3 "$STATE.env2" | grep -q '^HELM=' && pass "testenv: the last lines assign KUBECONFIG, KUBECTL and HELM" \
  || fail "testenv: the last lines assign KUBECONFIG, KUBECTL and HELM" "$(tail -n 3 "$STATE.env2")"
(
  set -a; eval "$(cat "$STATE.env2")"; set +a
  want="$(awk -v m="${HEALTHGATE_K8S_VERSION:-1.34}" '!/^#/ && ($1==m || $2==m) {print $2}' "$HERE/tools/versions.tsv")"
  server="$("$KUBECTL" get --raw /version | python3 -c 'import json,sys; print(json.load(sys.stdin)["gitVersion"])')"
  client="$("$KUBECTL" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
  helm="$("$HELM" version --short)"
  [[ "$server" == "$want" && "$client" == "$want" ]] && echo "PASS: testenv: /version and kubectl report $want; helm $helm" \
    || { echo "FAIL: testenv: versions are stamped"; echo "      | server $server, client $client, want $want"; exit 1; }
  token="$(HEALTHGATE_TESTENV_STATE="$STATE" "$TESTENV" token default probe-reader 10m)"
  "$TESTENV" kubeconfig-for-token "$token" "$STATE.sa.kubeconfig" >/dev/null 2>&1
  who="$("$KUBECTL" --kubeconfig "$STATE.sa.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1)"
  [[ "$who" == system:serviceaccount:default:probe-reader ]] && echo "PASS: testenv: a ServiceAccount token authenticates as $who" \
    || { echo "FAIL: testenv: a ServiceAccount token"; echo "      | $who"; exit 1; }
) && PASSES=$((PASSES + 2)) || FAILURES=$((FAILURES + 1))
"$TESTENV" down "$STATE" >/dev/null 2>&1
n3="$(procs)"
[[ "$n3" == 0 && ! -e "$STATE" ]] && pass "testenv: down stops every process and removes the state" \
  || fail "testenv: down stops everything" "$n3 processes left; state exists: $([[ -e $STATE ]] && echo yes || echo no)"
rm -f "$STATE.env1" "$STATE.env2" "$STATE.err" "$STATE.sa.kubeconfig"
finish
