#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: the repeatable measure behind each change.

    python3 bench/instructions.py [--requests 2000] [--factura PATH] [--top 25] TARGET...

TARGET is one of `item` (customer-service `GET /customers/1`), `page` (`GET /customers?size=20`),
`gateway` (gateway-service proxying `GET /customers/1` to `bare-http`, one route), `gateway-1000`
(the same with 1,000 routes declared before it), `bare` (`bare-http` itself, the ceiling).

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
import urllib.parse

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


def gateway_config(directory, backend_port, extra_routes):
    lines = ["spring:", "  cloud:", "    gateway:", "      discovery:", "        locator:",
             "          enabled: false", "      routes:"]
    for i in range(extra_routes):
        lines += [f"        - id: svc{i}", f"          uri: http://127.0.0.1:{backend_port}",
                  f"          predicates: [\"Path=/svc{i}/**\"]"]
    lines += ["        - id: customers", f"          uri: http://127.0.0.1:{backend_port}",
              "          predicates: [\"Path=/customers/**\"]"]
    path = os.path.join(directory, f"gateway-{extra_routes}.yml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def measure(target, options, directory):
    factura = options.factura
    bare = os.path.join(os.path.dirname(factura), "bare-http")
    port = lib.free_port()
    helpers = []
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
                   "--config", gateway_config(directory, backend_port, routes)]
        health = f"http://127.0.0.1:{port}/actuator/health"
        path = "/customers/1"
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
