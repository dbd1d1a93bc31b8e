#!/usr/bin/env python3
"""Headline numbers of the whole system, on the release build, in one run.

    python3 bench/headline.py [--seconds 8] [--rounds 3]

1. `factura up` from launch to all six services healthy (median of several starts);
2. resident memory of each service and of the whole system, idle and under load;
3. requests/s and p99 through the gateway for GET /customers/1 and GET /fullBill/1, next to the
   same reads made directly on the services (the gateway's own cost) and the bare ceiling.
"""

import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as lib  # noqa: E402

OFFSET = 16000  # keeps every port below the ephemeral range (32768+)
PORTS = lib.PORTS


def start_system(data):
    return lib.factura_up(OFFSET, data)


def stop_system(process):
    lib.stop_factura_up(process)


def service_pids():
    return lib.factura_pids(OFFSET)


def memory_table(title, pids):
    rows = [f"| {name} | {lib.rss_mib(pid):.1f} |" for name, pid in sorted(pids.items())]
    total = sum(lib.rss_mib(pid) for pid in pids.values())
    return "\n".join([f"\n### {title}\n", "| service | RSS MiB |", "|---|---:|", *rows, f"| **whole system** | **{total:.1f}** |"])


def main():
    options = lib.options(__doc__, starts=5)
    lib.ensure_wrk()
    lib.build("factura", "benchkit")

    startups = []
    for _ in range(options.starts):
        data = tempfile.mkdtemp(prefix="factura-headline-")
        process, elapsed = start_system(data)
        startups.append(elapsed)
        stop_system(process)
    startups.sort()
    print(f"\n## Start-up: `factura up` to all six healthy\n\nmedian {startups[len(startups) // 2]:.2f} s "
          f"over {len(startups)} starts (min {startups[0]:.2f} s, max {startups[-1]:.2f} s)")

    data = tempfile.mkdtemp(prefix="factura-headline-")
    process, _ = start_system(data)
    bare_port = lib.free_port()
    bare = lib.Process([os.path.join(lib.RELEASE, "bare-http"), str(bare_port)], f"http://127.0.0.1:{bare_port}/")
    try:
        gateway = f"http://127.0.0.1:{PORTS['gateway-service'] + OFFSET}"
        lib.wait_http(f"{gateway}/fullBill/1")
        time.sleep(2)
        pids = service_pids()
        idle = memory_table("Resident memory, idle", pids)
        peak = {}

        def sample():
            while not done.is_set():
                for name, pid in pids.items():
                    peak[name] = max(peak.get(name, 0.0), lib.rss_mib(pid))
                time.sleep(0.5)

        done = threading.Event()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result = lib.rounds({
            "bare ceiling": f"http://127.0.0.1:{bare_port}/",
            "gateway GET /customers/1": f"{gateway}/customers/1",
            "direct GET /customers/1": f"http://127.0.0.1:{PORTS['customer-service'] + OFFSET}/customers/1",
            "gateway GET /fullBill/1": f"{gateway}/fullBill/1",
            "direct GET /fullBill/1": f"http://127.0.0.1:{PORTS['billing-service'] + OFFSET}/fullBill/1",
        }, seconds=options.seconds, count=options.rounds)
        done.set()
        sampler.join()
        print(f"\n## Through the gateway ({options.rounds} rounds x {options.seconds}s, wrk -t2 -c32)\n")
        print(lib.table(result, "bare ceiling"))
        print(idle)
        rows = [f"| {name} | {value:.1f} |" for name, value in sorted(peak.items())]
        print("\n### Resident memory, peak under the load above\n\n| service | RSS MiB |\n|---|---:|")
        print("\n".join(rows))
        print(f"| **whole system** | **{sum(peak.values()):.1f}** |")
    finally:
        bare.stop()
        stop_system(process)


if __name__ == "__main__":
    main()
