#!/usr/bin/env bash
# discovery-service load benchmark, side by side with the bare HTTP ceiling of this machine.
#
#   crates/discovery-service/bench/discovery.sh [instances] [connections] [seconds] [rounds]
#
# Builds release binaries, starts the discovery service (`factura run discovery-service`'s
# standalone twin, `target/release/discovery-service`) on 127.0.0.1:18761 and
# benchkit's `bare-http` on 127.0.0.1:18080, registers N instances (default 10000), then runs
# `discovery-bench` (renewals/s against both servers, full-registry and delta fetch latency under
# a concurrent renewal load, the server's resident memory). Both servers are stopped on exit.
# Loopback only; every phase is time-bounded. SKIP_BUILD=1 reuses the release binaries.
set -euo pipefail
cd "$(dirname "$0")/../../.."
INSTANCES="${1:-10000}"
CONNECTIONS="${2:-32}"
SECONDS_PER_RUN="${3:-5}"
ROUNDS="${4:-3}"
DISCOVERY_PORT=18761
BARE_PORT=18080

if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p benchkit -p discovery-service --bins
fi
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

${DISCOVERY_ENV:-} ./target/release/discovery-service \
    --server.address=127.0.0.1 --server.port=$DISCOVERY_PORT \
    --spring.cloud.config.enabled=false --spring.config.import= \
    --eureka.server.retention-time-in-ms-in-delta-queue=5000 \
    > "$WORK/discovery.log" 2>&1 &
DISCOVERY_PID=$!
PIDS+=("$DISCOVERY_PID")
./target/release/bare-http $BARE_PORT > "$WORK/bare.log" 2>&1 &
PIDS+=("$!")

for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$DISCOVERY_PORT/actuator/health" >/dev/null 2>&1 \
        && curl -fs "http://127.0.0.1:$BARE_PORT/" >/dev/null 2>&1; then
        break
    fi
    sleep 0.1
done

echo "machine: $(nproc) CPUs, $(uname -sr)"
./target/release/discovery-bench \
    --target 127.0.0.1:$DISCOVERY_PORT --bare 127.0.0.1:$BARE_PORT --server-pid "$DISCOVERY_PID" \
    --instances "$INSTANCES" --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" --rounds "$ROUNDS" \
    --delta-wait-seconds 6
