#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster: its own data directory,
# its own port on 127.0.0.1, trust authentication, stopped and deleted afterwards
# (also when the command fails or is interrupted). The command sees
#   DUROXIDE_PG="host=127.0.0.1 port=<port> user=postgres dbname=postgres"
# Usage: bash scripts/with-postgres.sh COMMAND [ARGS...]
# DUROXIDE_PG_SERVER_OPTIONS, when set, is appended to the server's options, after
# the defaults it may override (e.g. "-c fsync=on" for a durable cluster, or
# "-c shared_preload_libraries=pg_stat_statements" for per-statement statistics).
# Needs Debian's postgresql package (scripts/setup.sh installs it). As root the
# server runs as the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "with-postgres: no PostgreSQL server found (apt-get install postgresql)" >&2
  exit 1
fi
work=$(mktemp -d /tmp/duroxide-pg.XXXXXX)
chmod 755 "$work"
as_server=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres:postgres "$work"
  as_server=(runuser -u postgres --)
fi
# A free port: ask the kernel, via node (always present for the JS suites).
port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')

stop() {
  "${as_server[@]}" "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap stop EXIT INT TERM

"${as_server[@]}" "$bin/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
  >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; exit 1; }
"${as_server[@]}" "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w -t 60 \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 ${DUROXIDE_PG_SERVER_OPTIONS:-}" start \
  >/dev/null || { cat "$work/server.log" >&2; exit 1; }
export DUROXIDE_PG="host=127.0.0.1 port=$port user=postgres dbname=postgres"
echo "with-postgres: throwaway cluster on 127.0.0.1:$port ($work)"
set +e
"$@"
status=$?
set -e
exit $status
