#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: started as an unprivileged user in a
# temporary directory on a free port, announced to the command as FEEDBACKD_TEST_POSTGRES_URL,
# and removed when the command ends. Usage: scripts/with-postgres.sh COMMAND [ARGS...]
set -euo pipefail
[[ $# -gt 0 ]] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" ]]; then
  echo "with-postgres: PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql (Debian: postgresql-15) or set PG_BIN" >&2
  exit 1
fi

work="$(mktemp -d /tmp/feedbackd-pg.XXXXXX)"
chmod 755 "$work"
# PostgreSQL refuses to run as root: run the cluster as an unprivileged user then.
as_owner=()
if [[ "$(id -u)" == 0 ]]; then
  owner="$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)"
  chown "$owner" "$work"
  as_owner=(runuser -u "$owner" --)
fi

cleanup() {
  "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

"${as_owner[@]}" "$pg_bin/initdb" -D "$work/data" -U feedbackd --auth=trust -E UTF8 --no-sync >"$work/initdb.log" 2>&1 \
  || { cat "$work/initdb.log" >&2; exit 1; }

# A free port: pick one at random and let the server's own bind decide; retry on a clash.
started=""
for _ in $(seq 1 20); do
  port=$((20000 + RANDOM % 40000))
  if "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w -t 30 \
       -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=64MB" \
       start >/dev/null 2>&1; then
    started=yes
    break
  fi
done
if [[ -z "$started" ]]; then
  echo "with-postgres: could not start PostgreSQL:" >&2
  cat "$work/postgres.log" >&2
  exit 1
fi

export FEEDBACKD_TEST_POSTGRES_URL="postgres://feedbackd@127.0.0.1:$port/postgres"
echo "with-postgres: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on port $port (data in $work)" >&2
set +e
"$@"
status=$?
set -e
exit "$status"
