#!/usr/bin/env bash
# Start (or stop) the real PostgreSQL and Redis servers the test suite and benchmarks use.
# They live under .services/ on loopback ports, apart from any system-wide server.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_PORT=${HANDOFF_TEST_PG_PORT:-54329}
REDIS_PORT=${HANDOFF_TEST_REDIS_PORT:-63799}
DIR=$PWD/.services
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

as_pg() {
  # PostgreSQL refuses to run as root: hand the data directory to the postgres user.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  mkdir -p "$DIR"
  if [ -z "$PG_BIN" ]; then echo "PostgreSQL is not installed (make system-deps)" >&2; exit 1; fi
  if [ ! -f "$DIR/pg/PG_VERSION" ]; then
    mkdir -p "$DIR/pg"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR/pg" && chmod 700 "$DIR/pg"
    as_pg "$PG_BIN/initdb" -D "$DIR/pg" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pg.log" -w \
      -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  fi
  echo "postgresql on 127.0.0.1:$PG_PORT"
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
      --daemonize yes --logfile "$DIR/redis.log" --dir "$DIR"
  fi
  echo "redis on 127.0.0.1:$REDIS_PORT"
}

stop() {
  [ -n "$PG_BIN" ] && [ -d "$DIR/pg" ] && as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg" stop -m fast >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}

"${1:-start}"
