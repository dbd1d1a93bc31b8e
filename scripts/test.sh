#!/usr/bin/env bash
# The whole test suite, as the README and CI run it.
#
#   1. installs and starts PostgreSQL and Redis from Debian's packages (scripts/services.sh),
#      and what the interoperability and browser tests need (scripts/install-test-deps.sh);
#   2. builds the Spring reference apps once per machine (scripts/spring-apps.sh), on the seed's
#      Spring line and on the newest GA line;
#   3. runs every crate's tests on SQLite, the conformance suite against Spring among them;
#   4. runs the data services' tests again on PostgreSQL (TEST_DATABASE_URL, by default the
#      local server that step 1 started).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
bash scripts/install-test-deps.sh
FACTURA_SPRING_APPS="$(bash scripts/spring-apps.sh | tail -n 1)"
export FACTURA_SPRING_APPS
# The reference apps must also build on the newest GA Spring line (the suite runs the seed's).
SPRING_PROFILE=latest bash scripts/spring-apps.sh >/dev/null

LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
status=0
# Runs `cargo test` with the given arguments, keeping its output for the summary.
run_cargo_test() {
    cargo test --no-fail-fast "$@" 2>&1 | tee -a "$LOG" || status=1
}
# The same over every library, binary and integration test (no empty doc-test runs).
run_tests() {
    run_cargo_test --lib --bins --tests "$@"
}

echo "== tests on SQLite"
TEST_DATABASE_URL="" run_tests --workspace -- --skip on_postgres

TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
echo "== tests on PostgreSQL ($TEST_DATABASE_URL)"
# Databases left behind by an interrupted earlier run.
if command -v psql >/dev/null 2>&1; then
    psql "$TEST_DATABASE_URL" -Atc "select datname from pg_database where datname like 'factura_test_%'" 2>/dev/null |
        while read -r db; do psql "$TEST_DATABASE_URL" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true; done
fi
TEST_DATABASE_URL="$TEST_DATABASE_URL" run_tests -p platform -p customer-service -p inventory-service -p billing-service
TEST_DATABASE_URL="$TEST_DATABASE_URL" run_cargo_test -p factura --test e2e -- on_postgres

# One closing line for the whole suite: the sum over every test binary of both legs.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "\nsuite: %d passed, %d failed\n", p, f }' "$LOG"
exit "$status"
