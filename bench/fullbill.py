#!/usr/bin/env python3
"""Billing benchmark: GET /fullBill/{id} for a 10-item bill against the calls it makes.

    python3 bench/fullbill.py [--seconds 8] [--rounds 3]

Starts discovery, customer, inventory and billing services (release build, SQLite), creates
seven more products and a bill with ten lines, then measures side by side in one run:

* latency at concurrency 1 (wrk -c1): the full bill, one customer read, the batch lookup of the
  bill's ten products, one product read — the full bill makes two calls, the customer and the
  batch lookup, concurrently, however many lines the bill has;
* throughput at wrk -c32 for the same four, as ratios of the direct customer read (the aim:
  the full bill at 0.3x or more).
"""

import json
import os
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as lib  # noqa: E402


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def main():
    options = lib.options(__doc__)

    lib.ensure_wrk()
    lib.build("factura")
    data = tempfile.mkdtemp(prefix="factura-bench-")
    discovery_port = lib.free_port()
    zone = f"--eureka.client.service-url.defaultZone=http://127.0.0.1:{discovery_port}/eureka/"
    fast = ["--eureka.client.enabled=true", zone, "--eureka.instance.prefer-ip-address=true",
            "--eureka.instance.ip-address=127.0.0.1", "--eureka.client.registry-fetch-interval-seconds=1"]
    ports = {name: lib.free_port() for name in ["customer-service", "inventory-service", "billing-service"]}
    processes = [lib.factura_service("discovery-service", discovery_port, data)]
    for name, port in ports.items():
        processes.append(lib.factura_service(name, port, data, *fast))
    try:
        billing = f"http://127.0.0.1:{ports['billing-service']}"
        inventory = f"http://127.0.0.1:{ports['inventory-service']}"
        for i in range(7):
            post(f"{inventory}/products", {"name": f"Bench item {i}", "price": 10 + i, "quantity": 100})
        lines = [{"productId": p, "quantity": p, "discount": 0.05} for p in range(1, 11)]
        bill = None
        for _ in range(100):  # billing may not see the services in its registry yet
            try:
                bill = post(f"{billing}/bills", {"customerId": 1, "productItems": lines})
                break
            except Exception:
                import time
                time.sleep(0.3)
        if bill is None:
            sys.exit("could not create the benchmark bill")
        targets = {
            "GET /fullBill/{id} (10 items)": f"{billing}/fullBill/{bill['id']}",
            "GET /customers/1 (direct)": f"http://127.0.0.1:{ports['customer-service']}/customers/1",
            "GET /products/search/byIdIn?ids=1..10 (direct)":
                f"{inventory}/products/search/byIdIn?ids={','.join(str(p) for p in range(1, 11))}",
            "GET /products/1 (direct)": f"{inventory}/products/1",
        }
        sequential = lib.rounds(targets, seconds=options.seconds, count=options.rounds, connections=1)
        loaded = lib.rounds(targets, seconds=options.seconds, count=options.rounds, connections=32)
    finally:
        for process in reversed(processes):
            process.stop()
    print(f"\n## Full bill vs the calls it makes, concurrency 1 ({options.rounds} rounds x {options.seconds}s)\n")
    print(lib.table(sequential, "GET /customers/1 (direct)"))
    print(f"\n## Same, 32 connections\n")
    print(lib.table(loaded, "GET /customers/1 (direct)"))


if __name__ == "__main__":
    main()
