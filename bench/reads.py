#!/usr/bin/env python3
"""Foundation benchmark: item and page reads of customer-service against the bare HTTP ceiling.

    python3 bench/reads.py [--seconds 8] [--rounds 3]

Builds the release binaries, starts `bare-http` (the same tokio/hyper/axum stack answering a
fixed body) and customer-service (SQLite) side by side, loads each with wrk (2 threads,
32 keep-alive connections) in interleaved rounds after a warm-up, and prints medians, p99 and
the ratio to the ceiling. Then it measures each service's idle resident memory.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as lib  # noqa: E402

SERVICES = ["customer-service", "inventory-service"]


def main():
    options = lib.options(__doc__)

    lib.ensure_wrk()
    lib.build("factura", "benchkit")
    data = tempfile.mkdtemp(prefix="factura-bench-")

    bare_port, customer_port = lib.free_port(), lib.free_port()
    bare = lib.Process([os.path.join(lib.RELEASE, "bare-http"), str(bare_port)], f"http://127.0.0.1:{bare_port}/")
    customer = lib.factura_service("customer-service", customer_port, data)
    try:
        result = lib.rounds({
            "bare ceiling (fixed body)": f"http://127.0.0.1:{bare_port}/customers/1",
            "GET /customers/1": f"http://127.0.0.1:{customer_port}/customers/1",
            "GET /customers?size=20": f"http://127.0.0.1:{customer_port}/customers?size=20",
        }, seconds=options.seconds, count=options.rounds)
    finally:
        customer.stop()
        bare.stop()
    print(f"\n## HTTP reads ({options.rounds} rounds x {options.seconds}s, wrk -t2 -c32, after warm-up)\n")
    print(lib.table(result, "bare ceiling (fixed body)"))

    print("\n## Idle resident memory (each service alone, 2 s after healthy)\n")
    print("| service | RSS MiB |\n|---|---:|")
    for name in SERVICES:
        process = lib.factura_service(name, lib.free_port(), data)
        time.sleep(2)
        print(f"| {name} | {process.rss_kib() / 1024:.1f} |")
        process.stop()


if __name__ == "__main__":
    main()
