#!/usr/bin/env bash
# End-to-end tests: starts a throwaway test cluster (tests/e2e/testenv up), runs
# tests/e2e/*_test.sh against it (or the scripts given as arguments), and stops the
# cluster again, whatever happens. Exit status is non-zero when any test script fails or
# the cluster cannot start.
#
#   tests/e2e/run.sh                      # every tests/e2e/*_test.sh
#   tests/e2e/run.sh tests/e2e/crd_test.sh
#   HEALTHGATE_K8S_VERSION=1.36 tests/e2e/run.sh
#   HEALTHGATE_E2E_KEEP=1 tests/e2e/run.sh   # leave the cluster running (prints how to stop it)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTENV="$HERE/testenv"

STATE="$(mktemp -d "${TMPDIR:-/tmp}/healthgate-e2e.XXXXXX")"
cleanup() {
  if [[ -n "${HEALTHGATE_E2E_KEEP:-}" ]]; then
    echo "run.sh: cluster kept; stop it with: $TESTENV down $STATE" >&2
  else
    "$TESTENV" down "$STATE" || echo "run.sh: WARNING: testenv down $STATE failed" >&2
  fi
}
trap cleanup EXIT

if ! env_lines="$("$TESTENV" up "$STATE")"; then
  echo "FAIL: the test cluster did not start (tests/e2e/testenv up $STATE)" >&2
  exit 1
fi
set -a
eval "$env_lines"
set +a

if [[ $# -gt 0 ]]; then
  tests=("$@")
else
  tests=("$HERE"/*_test.sh)
fi
[[ ${#tests[@]} -gt 0 && -e "${tests[0]}" ]] || { echo "FAIL: no tests/e2e/*_test.sh found" >&2; exit 1; }

failed=()
for t in "${tests[@]}"; do
  echo "=== RUN $t"
  start=$SECONDS
  if "$t"; then
    echo "=== OK   $t ($((SECONDS - start))s)"
  else
    echo "=== FAIL $t ($((SECONDS - start))s)"
    failed+=("$t")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run.sh: FAILED: ${failed[*]}"
  exit 1
fi
echo "run.sh: all ${#tests[@]} e2e test script(s) passed"
