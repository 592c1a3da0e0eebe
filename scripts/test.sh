#!/usr/bin/env bash
# Runs the whole test suite: unit tests, and integration tests on SQLite and on a throwaway
# PostgreSQL cluster that this script starts in a temporary directory and removes afterwards.
# Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" ]]; then
  echo "test.sh: PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql (Debian: postgresql-15) or set PG_BIN" >&2
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
  echo "test.sh: could not start PostgreSQL:" >&2
  cat "$work/postgres.log" >&2
  exit 1
fi

export FEEDBACKD_TEST_POSTGRES_URL="postgres://feedbackd@127.0.0.1:$port/postgres"
echo "test.sh: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on port $port (data in $work)"
# Tee the output and close with one summary line over every test binary.
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$work/cargo-test.log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "test.sh: %d passed, %d failed\n", p, f }' "$work/cargo-test.log"
exit "$status"
