#!/usr/bin/env bash
# The demo: sets everything up on a fresh machine, starts throwaway PostgreSQL and
# Redis servers in a temporary directory, and runs `healthgate local -f examples/`
# against them with the dashboard on http://127.0.0.1:8080/. Ctrl-C stops and
# removes everything.
#
#   scripts/demo.sh            (HEALTHGATE_DEMO_ADDRESS=127.0.0.1:8080 by default)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ADDRESS="${HEALTHGATE_DEMO_ADDRESS:-127.0.0.1:8080}"
PG_PORT=55432
REDIS_PORT=56379
PG_BIN=/usr/lib/postgresql/15/bin

"$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ROOT/build" -j"$(nproc)" --target healthgate

WORK="$(mktemp -d /tmp/healthgate-demo.XXXXXX)"
chmod 755 "$WORK"
PG_DIR="$WORK/pg"
cleanup() {
  trap - EXIT INT TERM
  echo "demo: stopping" >&2
  [[ -n "${HG_PID:-}" ]] && kill "$HG_PID" 2>/dev/null && wait "$HG_PID" 2>/dev/null || true
  [[ -n "${REDIS_PID:-}" ]] && kill "$REDIS_PID" 2>/dev/null || true
  if [[ -f "$PG_DIR/data/postmaster.pid" ]]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

for port in "$PG_PORT" "$REDIS_PORT" "${ADDRESS##*:}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is already in use; stop what holds it and retry" >&2
    exit 1
  fi
done

# Throwaway passwords, handed to healthgate the way a mounted Secret would be.
PG_PASSWORD="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
REDIS_PASSWORD="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SECRETS="$WORK/secrets"
install -d -m 700 "$SECRETS/demo/pg" "$SECRETS/demo/redis"
printf '%s' "$PG_PASSWORD" >"$SECRETS/demo/pg/password"
printf '%s' "$REDIS_PASSWORD" >"$SECRETS/demo/redis/password"

echo "demo: starting PostgreSQL on 127.0.0.1:$PG_PORT" >&2
install -d -o postgres -g postgres -m 700 "$PG_DIR"
printf '%s\n' "$PG_PASSWORD" >"$WORK/pwfile" && chown postgres "$WORK/pwfile"
runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A scram-sha-256 \
  --pwfile="$WORK/pwfile" -E UTF8 --no-locale >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off" start >/dev/null
PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -q -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE app LOGIN PASSWORD '$PG_PASSWORD'" -c "CREATE DATABASE orders OWNER app" >/dev/null

echo "demo: starting Redis on 127.0.0.1:$REDIS_PORT" >&2
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK" \
  --requirepass "$REDIS_PASSWORD" --logfile "$WORK/redis.log" &
REDIS_PID=$!

"$ROOT/build/healthgate" local -f "$ROOT/examples" --secrets-dir "$SECRETS" \
  --http-address "$ADDRESS" &
HG_PID=$!

cat >&2 <<MSG

  healthgate is running on the examples in $ROOT/examples
    dashboard:  http://$ADDRESS/
    API:        http://$ADDRESS/api/v1/healthchecks
    readiness:  http://$ADDRESS/ready/demo/orders-deps
    metrics:    http://$ADDRESS/metrics
  Try: kill -STOP $REDIS_PID  (Redis hangs -> timeouts)   kill -CONT $REDIS_PID
  Ctrl-C stops everything and removes $WORK.

MSG
wait "$HG_PID"
