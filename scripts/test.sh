#!/usr/bin/env bash
# Runs the whole test suite: unit tests, and integration tests on SQLite and on a throwaway
# PostgreSQL cluster (scripts/with-postgres.sh starts it and removes it afterwards).
# Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-postgres.sh scripts/cargo-test-summary.sh "$@"
