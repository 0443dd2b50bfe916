#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with ASan+UBSan) and runs each
# for FUZZ_SECONDS on a copy of its seed corpus: nothing is written into the
# repository. Prints the executions per target and in total; exits non-zero on
# any crash, leak, timeout or out-of-memory, naming the input that caused it.
#
#   scripts/fuzz.sh                          every target, 30 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh manifest duration
#   FUZZ_PARALLEL=2                          targets run side by side (default 1)
#   HEALTHGATE_FUZZ_BUILD=dir                build tree (default: build-fuzz in the checkout,
#                                            beside build, build-asan and build-tsan)
#   FUZZ_WORK=dir                            where corpora and crashes go (default: a new
#                                            temporary directory, kept when a target fails)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${FUZZ_SECONDS:-30}
parallel=${FUZZ_PARALLEL:-1}
build=${HEALTHGATE_FUZZ_BUILD:-$root/build-fuzz}
cxx=${FUZZ_CXX:-clang++-14}
cc=${FUZZ_CC:-clang-14}

# target max_len dictionary
targets_table="manifest 16384 yaml.dict
api_object 16384 json.dict
duration 64 -
watch_stream 8192 json.dict
kubeconfig 8192 kubeconfig.dict
http_reply 4096 -
safe_message 4096 -"
if [ $# -gt 0 ]; then
  wanted=" $* "
  targets_table=$(printf '%s\n' "$targets_table" | while read -r t rest; do
    case "$wanted" in *" $t "*) echo "$t $rest" ;; esac
  done)
  [ -n "$targets_table" ] || { echo "fuzz: no such target: $*" >&2; exit 2; }
fi

launcher=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="$root"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
echo "fuzz: building in $build" >&2
cmake -S . -B "$build" -G Ninja -DHEALTHGATE_FUZZ=ON -DHEALTHGATE_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
  "${launcher[@]}" >/dev/null
names=$(printf '%s\n' "$targets_table" | awk '{print $1 "_fuzz"}')
# shellcheck disable=SC2086
ninja -C "$build" -j"${JOBS:-$(nproc)}" $names

work=${FUZZ_WORK:-$(mktemp -d /tmp/healthgate-fuzz.XXXXXX)}
mkdir -p "$work"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {  # target max_len dict
  local t=$1 max_len=$2 dict=$3
  local corpus="$work/corpus/$t" artifacts="$work/artifacts/$t/"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  cp tests/fuzz/corpus/"$t"/* "$corpus"/
  local args=(-max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10
    -print_final_stats=1 -artifact_prefix="$artifacts")
  [ "$dict" = - ] || args+=(-dict="tests/fuzz/$dict")
  local rc=0
  "$build/fuzz/${t}_fuzz" "${args[@]}" "$corpus" >"$work/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$t.rc"
}

start=$(date +%s)
running=0
while read -r t max_len dict; do
  [ -n "$t" ] || continue
  echo "fuzz: $t for ${seconds}s" >&2
  run_one "$t" "$max_len" "$dict" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done <<<"$targets_table"
wait || true

failed=0
total=0
printf '\n%-14s %14s %10s  %s\n' target executions exec/s result
while read -r t _ _; do
  [ -n "$t" ] || continue
  rc=$(cat "$work/$t.rc" 2>/dev/null || echo 99)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log" | tail -1)
  execs=${execs:-0}
  total=$((total + execs))
  result=ok
  if [ "$rc" != 0 ]; then
    failed=1
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/$t.log" | tail -1)
    kind=$(grep -m1 -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)[^(]*' \
      "$work/$t.log" || true)
    result="FAILED (exit $rc) ${kind:-see log}; input: ${input:-none written}; log: $work/$t.log"
  fi
  printf '%-14s %14s %10s  %s\n' "$t" "$execs" "${rate:-0}" "$result"
done <<<"$targets_table"
printf '%-14s %14s\n' total "$total"
echo "fuzz: $(( $(date +%s) - start ))s of fuzzing, ${seconds}s per target, work dir $work" >&2
if [ "$failed" != 0 ]; then
  echo "fuzz: FAILED: reproduce with <build>/fuzz/<target>_fuzz <input>" >&2
  exit 1
fi
[ -n "${FUZZ_WORK:-}" ] || rm -rf "$work"
