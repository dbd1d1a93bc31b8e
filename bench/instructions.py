#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: the repeatable measure behind each change.

    python3 bench/instructions.py [--requests 2000] [--factura PATH] [--top 25] TARGET...

TARGET is one of `item` (customer-service `GET /customers/1`), `page` (`GET /customers?size=20`),
`gateway` (gateway-service proxying `GET /customers/1` to `bare-http`, one route), `gateway-1000`
(the same with 1,000 routes declared before it), `bare` (`bare-http` itself, the ceiling),
`fullbill` (billing-service `GET /fullBill/{id}` of a ten-line bill, with discovery, customer- and
inventory-service running beside it, uncounted: billing's own share of a full bill) and `byidin`
(inventory-service `GET /products/search/byIdIn?ids=1..10`, the batch lookup the full bill makes).

Wall-clock figures on a shared two-core machine move by tens of percent from one minute to the
next; the number of instructions a server executes per request does not. Each target runs under
`valgrind --tool=callgrind`, is warmed up, has its counters zeroed, serves exactly `--requests`
keep-alive requests (4 connections), and is dumped: the total instructions of the
server process divided by the requests served. `--top` prints the functions with the most
inclusive instructions (callgrind_annotate), which is where the time goes.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import http.client
import json
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as lib  # noqa: E402

def load_exactly(url, requests, connections=4):
    """Sends `requests` GETs over `connections` keep-alive connections; returns how many were
    answered 2xx. (The client's speed does not matter: only the server's instructions count.)"""
    parsed = urllib.parse.urlsplit(url)
    target = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    answered = []

    def worker(count):
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
        ok = 0
        for _ in range(count):
            connection.request("GET", target)
            response = connection.getresponse()
            response.read()
            ok += 200 <= response.status < 300
        connection.close()
        answered.append(ok)

    share = [requests // connections + (i < requests % connections) for i in range(connections)]
    threads = [threading.Thread(target=worker, args=(n,)) for n in share]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if sum(answered) != requests:
        sys.exit(f"{url}: only {sum(answered)} of {requests} requests answered 2xx")
    return requests


def post_json(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def billing_fleet(target, factura, port, common, directory, helpers):
    """Starts discovery and the services beside the measured one (billing for `fullbill`,
    inventory for `byidin`, on `port`), appending them to `helpers`. Returns the measured
    server's command, its health URL, and a function that, once it answers, adds seven
    products (ten in all) and a ten-line bill, and returns the path to load."""
    discovery = lib.free_port()
    ports = {"customer-service": lib.free_port(), "inventory-service": lib.free_port(),
             "billing-service": lib.free_port()}
    measured = "billing-service" if target == "fullbill" else "inventory-service"
    ports[measured] = port
    registered = ["--eureka.client.enabled=true",
                  f"--eureka.client.service-url.defaultZone=http://127.0.0.1:{discovery}/eureka/",
                  "--eureka.instance.prefer-ip-address=true", "--eureka.instance.ip-address=127.0.0.1",
                  "--eureka.client.registry-fetch-interval-seconds=1"]

    def run(name, service_port):
        args = [factura, "run", name, f"--server.port={service_port}",
                f"--factura.data-dir={directory}", "--spring.cloud.config.enabled=false"]
        return args + (["--eureka.client.enabled=false"] if name == "discovery-service" else registered)

    helpers.append(lib.Process(run("discovery-service", discovery),
                               f"http://127.0.0.1:{discovery}/actuator/health"))
    for name, service_port in ports.items():
        if name != measured:
            helpers.append(lib.Process(run(name, service_port),
                                       f"http://127.0.0.1:{service_port}/actuator/health"))

    def prepare():
        inventory = f"http://127.0.0.1:{ports['inventory-service']}"
        for i in range(7):
            post_json(f"{inventory}/products", {"name": f"Bench item {i}", "price": 10 + i, "quantity": 1000})
        if target == "byidin":
            return "/products/search/byIdIn?ids=" + ",".join(str(i) for i in range(1, 11))
        lines = [{"productId": p, "quantity": 1, "discount": 0.05} for p in range(1, 11)]
        deadline = time.time() + 120
        while True:  # billing may not see the other services in its registry yet
            try:
                bill = post_json(f"http://127.0.0.1:{port}/bills", {"customerId": 1, "productItems": lines})
                return f"/fullBill/{bill['id']}"
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

    return run(measured, port), f"http://127.0.0.1:{port}/actuator/health", prepare


def measure(target, options, directory):
    factura = options.factura
    bare = os.path.join(os.path.dirname(factura), "bare-http")
    port = lib.free_port()
    helpers = []
    prepare = None
    common = [f"--server.port={port}", f"--factura.data-dir={directory}",
              "--eureka.client.enabled=false", "--spring.cloud.config.enabled=false"]
    if target in ("item", "page"):
        command = [factura, "run", "customer-service", *common]
        health = f"http://127.0.0.1:{port}/actuator/health"
        path = "/customers/1" if target == "item" else "/customers?size=20"
    elif target.startswith("gateway"):
        routes = 1000 if target == "gateway-1000" else 0
        backend_port = lib.free_port()
        helpers.append(lib.Process([bare, str(backend_port)], f"http://127.0.0.1:{backend_port}/"))
        command = [factura, "run", "gateway-service", *common,
                   "--config", lib.gateway_config(directory, backend_port, routes)]
        health = f"http://127.0.0.1:{port}/actuator/health"
        path = "/customers/1"
    elif target in ("fullbill", "byidin"):
        command, health, prepare = billing_fleet(target, factura, port, common, directory, helpers)
    elif target == "bare":
        command = [bare, str(port)]
        health = f"http://127.0.0.1:{port}/"
        path = "/customers/1"
    else:
        sys.exit(f"unknown target {target}")
    out = os.path.join(directory, f"callgrind.{target}")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", *command],
        stdout=open(f"{out}.log", "w"), stderr=subprocess.STDOUT)
    try:
        lib.wait_http(health, timeout=300)
        if prepare:
            path = prepare()
        url = f"http://127.0.0.1:{port}{path}"
        load_exactly(url, 300)
        subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True,
                       capture_output=True)
        served = load_exactly(url, options.requests)
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True,
                       capture_output=True)
        time.sleep(1)
    finally:
        server.terminate()
        server.wait(timeout=120)
        for helper in helpers:
            helper.stop()
    dumps = sorted(glob.glob(f"{out}.{server.pid}.*"), key=os.path.getmtime)
    dump = next(d for d in dumps if not d.endswith(f".{server.pid}"))  # the one after zeroing
    with open(dump) as f:
        total = int(re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M).group(1))
    print(f"{target}: {total / served:,.0f} instructions/request ({served} requests)")
    if options.top:
        annotate = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", f"--threshold=100", dump],
            capture_output=True, text=True).stdout
        rows = [line for line in annotate.splitlines() if re.match(r"^\s*[\d,]+ \(", line)]
        for line in rows[:options.top]:
            print("   ", line[:200])
    return total / served


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="+")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--factura", default=os.path.join(lib.RELEASE, "factura"))
    parser.add_argument("--top", type=int, default=0)
    options = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="factura-instructions-")
    for target in options.targets:
        measure(target, options, directory)


if __name__ == "__main__":
    main()
