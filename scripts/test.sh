#!/usr/bin/env bash
# Runs the whole test suite: that the generated client builds on its own, then unit tests and
# integration tests on SQLite and on a throwaway PostgreSQL cluster (scripts/with-postgres.sh
# starts it and removes it afterwards). Extra arguments go to `cargo test` (e.g. a test name
# filter) and skip the client check.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -eq 0 ]]; then
  # A Rust caller depends on the crate without its `server` feature: the message types and
  # clients must build alone, and bring none of the database stack with them.
  cargo build --locked --no-default-features --lib --examples
  if cargo tree --locked --no-default-features -e normal | grep -E '^.* (sea-orm|sqlx) ' >/dev/null; then
    echo "client-only build: the database stack came along" >&2
    cargo tree --locked --no-default-features -e normal -i sea-orm >&2 || true
    exit 1
  fi
  echo "client-only build: ok"
fi

exec scripts/with-postgres.sh scripts/cargo-test-summary.sh "$@"
