#!/usr/bin/env bash
# healthgate benchmarks: bench/run.sh [--results DIR] [SCENARIO ...]
#
# Scenarios (default: all, in this order):
#   baseline        healthgate with 0 checks: RSS baseline for bytes-per-probe
#   scale-20k       CHECKS_20K checks x (HTTP + TCP) at 10s against nginx
#   scale-20k-hung  the same, half of the checks against a listener that never answers
#   scale-100k      CHECKS_100K checks x 2 probes at 60s
#   serving         /ready/NS/NAME under wrk while the scale-20k probes run; nginx side by side
#   blackbox        the same probes by blackbox_exporter driven by Prometheus, side by side
#
# Knobs (environment): HEALTHGATE_BINARY (build/healthgate), CHECKS_20K (10000),
# CHECKS_100K (50000), BB_CHECKS (= CHECKS_20K), WINDOW (120, seconds measured),
# SERVE_WINDOW (60), WRK_CONNECTIONS (8), WRK_THREADS (1), WRK_DELAY_MS (1), TIMEOUT (2s),
# SCRAPE_EVERY (0: scale windows scrape /metrics only at their start and end).
# Each scenario writes raw JSON and RESULTS/SCENARIO.json; the Markdown table goes to stdout.
# Needs: nginx-light, wrk, prometheus, prometheus-blackbox-exporter (scripts/setup.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="python3 $HERE/hgbench.py"
HG="${HEALTHGATE_BINARY:-$(cd "$HERE/.." && pwd)/build/healthgate}"
CHECKS_20K="${CHECKS_20K:-10000}"
CHECKS_100K="${CHECKS_100K:-50000}"
BB_CHECKS="${BB_CHECKS:-$CHECKS_20K}"
WINDOW="${WINDOW:-120}"
SERVE_WINDOW="${SERVE_WINDOW:-60}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-8}"
WRK_THREADS="${WRK_THREADS:-1}"
WRK_DELAY_MS="${WRK_DELAY_MS:-1}"
TIMEOUT="${TIMEOUT:-2s}"
SCRAPE_EVERY="${SCRAPE_EVERY:-0}"
RESULTS="bench-results/$(date -u +%Y%m%dT%H%M%SZ)"

scenarios=()
while [ $# -gt 0 ]; do
  case "$1" in
    --results) RESULTS="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(baseline scale-20k scale-20k-hung scale-100k serving blackbox)

mkdir -p "$RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"
WORK="$(mktemp -d /tmp/hgbench.XXXXXX)"
# Probes, targets and the load generator all hold sockets; take every descriptor allowed.
ulimit -n "$(ulimit -Hn)"

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# stop PID: ends one process we started and forgets it.
stop() {
  local pid="$1" p keep=()
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${pids[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  pids=("${keep[@]+"${keep[@]}"}")
}

# Writes a scenario's meta (machine, load before, command, knobs) for the summary.
meta() {
  local name="$1"
  $PY machine | python3 -c '
import json, sys
m = json.load(sys.stdin)
m.update(scenario=sys.argv[1], loadavg_before=open("/proc/loadavg").read().split()[:3],
         command=sys.argv[2], binary=sys.argv[3], binary_version=sys.argv[5],
         binary_commit=sys.argv[6])
json.dump(m, open(sys.argv[4], "w"), indent=1)' "$name" "$2" "$HG" "$RESULTS/$name.meta.json" \
    "$("$HG" --version 2>&1 | head -1)" \
    "$(git -C "$(dirname "$HG")" log -1 --format=%h 2>/dev/null || echo unknown)"
  log "$name: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
}

start_nginx() {  # sets NGINX_PORT NGINX_PID
  NGINX_PORT="$($PY free-port)"
  local dir="$WORK/nginx"
  mkdir -p "$dir/logs"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 16000; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    location = /healthz { return 200 "ok"; }
  }
}
EOF
  nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
  NGINX_PID=$!
  pids+=("$NGINX_PID")
  $PY wait-http "http://127.0.0.1:$NGINX_PORT/healthz" --deadline 20 || die "nginx did not start"
}

start_hung() {  # sets HUNG_PORT
  rm -f "$WORK/hung.port"
  $PY hung-listener --ready-file "$WORK/hung.port" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$WORK/hung.port" ] && break; sleep 0.1; done
  [ -s "$WORK/hung.port" ] || die "hung listener did not start"
  HUNG_PORT="$(cat "$WORK/hung.port")"
}

# start_healthgate DIR NAME: sets HG_PID HG_URL; waits for /readyz (initial load done).
start_healthgate() {
  local dir="$1" name="$2"
  local port
  port="$($PY free-port)"
  HG_URL="http://127.0.0.1:$port"
  "$HG" local -f "$dir" --http-address "127.0.0.1:$port" >"$RESULTS/$name.healthgate.log" 2>&1 &
  HG_PID=$!
  pids+=("$HG_PID")
  local t0=$SECONDS
  $PY wait-http "$HG_URL/readyz" --deadline 600 || {
    tail -5 "$RESULTS/$name.healthgate.log" >&2
    die "healthgate did not become ready"
  }
  log "$name: healthgate ready after $((SECONDS - t0))s (pid $HG_PID)"
}

check_alive() {  # check_alive PID WHAT LOG
  kill -0 "$1" 2>/dev/null || { tail -20 "$3" >&2 || true; die "$2 exited during the run"; }
}

gen() {  # gen DIR CHECKS INTERVAL HUNG_FRACTION
  rm -rf "$1"
  $PY gen --out "$1" --checks "$2" --interval "$3" --timeout "$TIMEOUT" \
    --nginx-port "$NGINX_PORT" --hung-port "${HUNG_PORT:-0}" --hung-fraction "$4" \
    >"$1.summary.json"
}

interval_s() { case "$1" in *s) echo "${1%s}" ;; *m) echo $(( ${1%m} * 60 )) ;; esac; }

# --- scenarios -------------------------------------------------------------------------------

run_baseline() {
  meta baseline "bench/run.sh baseline"
  mkdir -p "$WORK/empty"
  start_healthgate "$WORK/empty" baseline
  sleep 5
  $PY window --proc "healthgate=$HG_PID" --seconds 10 --out "$RESULTS/baseline.window.json"
  check_alive "$HG_PID" healthgate "$RESULTS/baseline.healthgate.log"
  stop "$HG_PID"
}

# run_scale NAME CHECKS INTERVAL HUNG_FRACTION
run_scale() {
  local name="$1" checks="$2" interval="$3" hung="$4"
  meta "$name" "CHECKS_20K=$CHECKS_20K CHECKS_100K=$CHECKS_100K WINDOW=$WINDOW SCRAPE_EVERY=$SCRAPE_EVERY bench/run.sh $name"
  start_nginx
  HUNG_PORT=0
  [ "$hung" = 0 ] || start_hung
  gen "$WORK/$name" "$checks" "$interval" "$hung"
  cp "$WORK/$name.summary.json" "$RESULTS/$name.manifests.json"
  start_healthgate "$WORK/$name" "$name"
  local warm
  warm="$(interval_s "$interval")"
  log "$name: warm-up ${warm}s, then a ${WINDOW}s window"
  sleep "$warm"
  $PY window --proc "healthgate=$HG_PID" --proc "nginx=$NGINX_PID" --seconds "$WINDOW" \
    --metrics-url "$HG_URL/metrics" --scrape-every "$SCRAPE_EVERY" --out "$RESULTS/$name.window.json"
  check_alive "$HG_PID" healthgate "$RESULTS/$name.healthgate.log"
  cleanup
}

run_serving() {
  local name=serving
  meta "$name" "CHECKS_20K=$CHECKS_20K SERVE_WINDOW=$SERVE_WINDOW WRK_CONNECTIONS=$WRK_CONNECTIONS WRK_THREADS=$WRK_THREADS WRK_DELAY_MS=$WRK_DELAY_MS bench/run.sh serving"
  start_nginx
  HUNG_PORT=0
  gen "$WORK/$name" "$CHECKS_20K" 10s 0
  start_healthgate "$WORK/$name" "$name"
  sleep 10
  local procs=(--proc "healthgate=$HG_PID" --proc "nginx=$NGINX_PID")
  log "$name: no load (${SERVE_WINDOW}s)"
  $PY window "${procs[@]}" --seconds "$SERVE_WINDOW" --metrics-url "$HG_URL/metrics" \
    --out "$RESULTS/$name.idle.window.json"
  local target mode url delay
  for target in ready healthz; do
    if [ $target = ready ]; then url="$HG_URL/ready/bench/c00000"; else url="http://127.0.0.1:$NGINX_PORT/healthz"; fi
    for delay in "$WRK_DELAY_MS" 0; do
      mode="$target.delay$delay"
      log "$name: wrk $mode (${SERVE_WINDOW}s)"
      $PY window "${procs[@]}" --seconds "$SERVE_WINDOW" --metrics-url "$HG_URL/metrics" \
        --out "$RESULTS/$name.$mode.window.json" &
      local wpid=$!
      HG_CHECKS="$CHECKS_20K" WRK_MODE=$target WRK_DELAY_MS=$delay \
        $PY wrk "$url" --threads "$WRK_THREADS" --connections "$WRK_CONNECTIONS" \
        --duration "$SERVE_WINDOW" --script "$HERE/ready.lua" --out "$RESULTS/$name.$mode.wrk.json"
      wait "$wpid"
      check_alive "$HG_PID" healthgate "$RESULTS/$name.healthgate.log"
    done
  done
  cleanup
}

run_blackbox() {
  local name=blackbox
  meta "$name" "BB_CHECKS=$BB_CHECKS WINDOW=$WINDOW bench/run.sh blackbox"
  start_nginx
  HUNG_PORT=0
  # healthgate side
  gen "$WORK/$name" "$BB_CHECKS" 10s 0
  start_healthgate "$WORK/$name" "$name"
  sleep 10
  log "$name: healthgate side (${WINDOW}s)"
  $PY window --proc "healthgate=$HG_PID" --proc "nginx=$NGINX_PID" --seconds "$WINDOW" \
    --metrics-url "$HG_URL/metrics" --out "$RESULTS/$name.healthgate.window.json"
  check_alive "$HG_PID" healthgate "$RESULTS/$name.healthgate.log"
  stop "$HG_PID"
  # blackbox_exporter side, driven by Prometheus as users deploy it
  local bb_port prom_port cfg="$WORK/bb"
  bb_port="$($PY free-port)"
  prom_port="$($PY free-port)"
  $PY bb-config --out "$cfg" --checks "$BB_CHECKS" --interval 10s --timeout "$TIMEOUT" \
    --nginx-port "$NGINX_PORT" --exporter-port "$bb_port" >/dev/null
  prometheus-blackbox-exporter --config.file="$cfg/blackbox.yml" \
    --web.listen-address="127.0.0.1:$bb_port" >"$RESULTS/$name.blackbox_exporter.log" 2>&1 &
  local bb_pid=$!
  pids+=("$bb_pid")
  $PY wait-http "http://127.0.0.1:$bb_port/metrics" --deadline 30 || die "blackbox_exporter did not start"
  prometheus --config.file="$cfg/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
    --web.listen-address="127.0.0.1:$prom_port" >"$RESULTS/$name.prometheus.log" 2>&1 &
  local prom_pid=$!
  pids+=("$prom_pid")
  $PY wait-http "http://127.0.0.1:$prom_port/-/ready" --deadline 120 || die "prometheus did not start"
  # Prometheus spreads a job's first scrapes over one interval; give it two.
  sleep 20
  log "$name: blackbox_exporter side (${WINDOW}s)"
  $PY window --proc "blackbox_exporter=$bb_pid" --proc "prometheus=$prom_pid" \
    --proc "nginx=$NGINX_PID" --seconds "$WINDOW" --prom-url "http://127.0.0.1:$prom_port" \
    --out "$RESULTS/$name.blackbox.window.json"
  check_alive "$bb_pid" blackbox_exporter "$RESULTS/$name.blackbox_exporter.log"
  check_alive "$prom_pid" prometheus "$RESULTS/$name.prometheus.log"
  cleanup
}

[ -x "$HG" ] || die "no healthgate binary at $HG (set HEALTHGATE_BINARY)"
for s in "${scenarios[@]}"; do
  case "$s" in
    baseline) run_baseline ;;
    scale-20k) run_scale scale-20k "$CHECKS_20K" 10s 0 ;;
    scale-20k-hung) run_scale scale-20k-hung "$CHECKS_20K" 10s 0.5 ;;
    scale-100k) run_scale scale-100k "$CHECKS_100K" 60s 0 ;;
    serving) run_serving ;;
    blackbox) run_blackbox ;;
    *) die "unknown scenario $s" ;;
  esac
  $PY summarize "$s" "$RESULTS" >/dev/null
done
$PY report "$RESULTS" "${scenarios[@]}"
log "raw results in $RESULTS"
