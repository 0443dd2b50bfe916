#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing, builds with
# warnings as errors, runs unit and integration tests (release, then ASan+UBSan,
# then TSan for the threaded parts, then the fuzz targets for a short while) and
# the end-to-end tests against a real kube-apiserver. Exits non-zero on the first failing stage.
#
#   scripts/test.sh            everything
#   HEALTHGATE_SKIP_SANITIZERS=1 scripts/test.sh   (local iteration only; CI never sets it)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-$(nproc)}

stage() { printf '\n=== %s (at %ds) ===\n' "$*" "$SECONDS"; }

stage "setup"
scripts/setup.sh

# ccache, where installed, shares compiled objects between the three build trees'
# unchanged files and between checkouts (paths relative to the checkout).
launcher=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="$root"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
configure() {  # dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DHEALTHGATE_WERROR=ON "${launcher[@]}" "$@" >/dev/null
}

stage "build (release, warnings as errors)"
configure build -DCMAKE_BUILD_TYPE=Release
ninja -C build -j"$jobs"

stage "lint (clang-format, clang-tidy)"
scripts/lint.sh build

# The Kubernetes client's integration tests start a real kube-apiserver: build the
# pinned tools first (once; cached by version), so a cold cache never spends a
# test's timeout on compiling them.
stage "test cluster tools (etcd, kube-apiserver, kubectl, helm; built once and cached)"
tests/e2e/testenv build

stage "unit and integration tests (release)"
ctest --test-dir build -L 'unit|integration' --output-on-failure -j"$jobs"

stage "container image definition (static: Dockerfile against build/healthgate and scripts/setup.sh)"
HEALTHGATE_BINARY="$root/build/healthgate" tests/packaging/dockerfile_check.sh

if [ "${HEALTHGATE_SKIP_SANITIZERS:-0}" != 1 ]; then
  stage "ASan+UBSan build and tests"
  configure build-asan -DCMAKE_BUILD_TYPE=Debug -DHEALTHGATE_SANITIZE=address,undefined
  ninja -C build-asan -j"$jobs" unit_tests integration_tests
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -L 'unit|integration' --output-on-failure -j"$jobs"

  stage "TSan build and tests of the threaded parts"
  configure build-tsan -DCMAKE_BUILD_TYPE=Debug -DHEALTHGATE_SANITIZE=thread
  ninja -C build-tsan -j"$jobs" unit_tests integration_tests
  # The parts where threads meet: the loop's cross-thread queue, the results
  # store read by server threads, the HTTP server, local mode end to end, and the
  # Kubernetes client's watch and reflector threads (against a real apiserver).
  threaded='*SecureServing*:*EngineLoops*:*ProbeLinger*:WorkQueue*:*ResultsStore*:*Server*:*LocalMode*:*Metrics*:*Reflector*:*KubeClient*:ElectorLoop*:EventRecorderSeam*:ReadinessGatesSeam*:StatusWriterSeam*:SecretResolverSeam*:SimWaits*'
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp"
  build-tsan/tests/unit_tests --gtest_filter="$threaded"
  build-tsan/tests/integration_tests --gtest_filter="$threaded"

  # libFuzzer targets of the parsers of untrusted input (tests/fuzz): 30 s each
  # on a copy of the seed corpora, in build-fuzz; any crash, leak or timeout fails.
  stage "fuzzing (libFuzzer, ASan+UBSan; FUZZ_SECONDS=${FUZZ_SECONDS:-30} per target)"
  scripts/fuzz.sh
fi

stage "Argo CD health check (health.lua under Lua 5.4, Argo CD's fixture format)"
tests/argocd/health_test.py

stage "dashboard in headless Chromium"
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
HEALTHGATE_BINARY="$root/build/healthgate" node tests/browser/dashboard_test.mjs

stage "end-to-end tests (real kube-apiserver, etcd, kubectl, helm), Kubernetes 1.34"
HEALTHGATE_BINARY="$root/build/healthgate" tests/e2e/run.sh $(ls tests/e2e/*_test.sh | grep -v '/image_test.sh$')

# Shares the release build's compiler cache (same flags and build directory).
stage "container image: build the Dockerfile with Podman, run it (check, operator)"
tests/e2e/run.sh tests/e2e/image_test.sh

if [ "${HEALTHGATE_SKIP_SANITIZERS:-0}" != 1 ]; then
  # Operator mode is the most threaded part (watch, status writer, events,
  # elector, server, probe loop): run its end-to-end suite on the TSan binary too.
  stage "operator end-to-end tests under TSan"
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp" \
    HEALTHGATE_BINARY="$root/build-tsan/healthgate" tests/e2e/run.sh tests/e2e/operator_test.sh
fi


# The CRD must work on newer API servers too (CEL and schema rules change between
# minors): run its suite against the newest pinned minor we support as well.
for minor in ${HEALTHGATE_E2E_EXTRA_VERSIONS-1.36}; do
  stage "CRD and Helm chart end-to-end tests, Kubernetes $minor"
  HEALTHGATE_K8S_VERSION=$minor tests/e2e/testenv build
  HEALTHGATE_K8S_VERSION=$minor HEALTHGATE_BINARY="$root/build/healthgate" \
    tests/e2e/run.sh tests/e2e/crd_test.sh tests/e2e/helm_test.sh
done

stage "all tests passed"
