#!/usr/bin/env python3
"""config-service benchmark: Environment reads on the git backend against the bare HTTP ceiling,
commit-to-every-instance propagation time, and resident memory.

    python3 crates/config-service/bench/config_server.py [--seconds 8] [--rounds 3] [--instances 3]

1. Copies the repository's config-repo/ into a fresh git repository (a `file://` remote) and
   starts config-service on it (`git.uri`, `refresh-rate=1`) next to `bare-http` (the same
   tokio/hyper/axum stack answering a fixed body: the machine's HTTP ceiling).
2. Loads both with wrk (2 threads, 32 keep-alive connections) in interleaved rounds after a
   warm-up and prints medians, p99 and the ratio to the ceiling; `/actuator/info` on the same
   process shows what the shared middleware stack alone costs.
3. Starts N customer-service instances importing their configuration from it, commits a new
   `global.params.p1` several times, and reports how long each commit took to be served by
   every instance's `GET /configtest1` (no restart, no per-instance call).
4. Prints config-service's resident memory, idle and after the load.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import benchlib as lib  # noqa: E402


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def commit_p1(repo, value):
    path = os.path.join(repo, "application.yml")
    with open(path) as f:
        lines = f.readlines()
    with open(path, "w") as f:
        for line in lines:
            f.write(f"    p1: {value}\n" if line.startswith("    p1:") else line)
    git(repo, "commit", "-q", "-am", f"p1 = {value}")


def p1(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/configtest1", timeout=2) as response:
        return json.load(response)["p1"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--commits", type=int, default=5)
    options = parser.parse_args()

    lib.ensure_wrk()
    lib.build("factura", "benchkit")
    repo = lib.config_repository()
    data = tempfile.mkdtemp(prefix="factura-bench-")

    bare_port, config_port = lib.free_port(), lib.free_port()
    bare = lib.Process([os.path.join(lib.RELEASE, "bare-http"), str(bare_port)],
                       f"http://127.0.0.1:{bare_port}/")
    config = lib.factura_service(
        "config-service", config_port, data,
        f"--spring.cloud.config.server.git.uri=file://{repo}",
        "--spring.cloud.config.server.git.refresh-rate=1")
    instances = []
    try:
        time.sleep(1)
        idle_rss = config.rss_kib()
        base = f"http://127.0.0.1:{config_port}"
        result = lib.rounds({
            "bare ceiling (fixed body)": f"http://127.0.0.1:{bare_port}/customer-service/dev",
            "GET /customer-service/dev (git)": f"{base}/customer-service/dev",
            "GET /customer-service/dev,prod/main (git, label)": f"{base}/customer-service/dev,prod/main",
            # The same service stack around a trivial handler: how much is the shared middleware.
            "GET /actuator/info (same stack)": f"{base}/actuator/info",
        }, seconds=options.seconds, count=options.rounds)
        loaded_rss = config.rss_kib()

        for i in range(options.instances):
            instance_dir = os.path.join(data, f"customer-{i}")
            os.makedirs(instance_dir)
            instances.append((lib.free_port(), None))
            port = instances[-1][0]
            instances[-1] = (port, lib.factura_service(
                "customer-service", port, instance_dir,
                "--spring.cloud.config.enabled=true",
                f"--spring.config.import=configserver:{base}"))
        delays = []
        for n in range(options.commits):
            value = 1000 + n
            commit_p1(repo, value)
            start = time.monotonic()
            pending = {port for port, _ in instances}
            while pending and time.monotonic() - start < 30:
                pending = {port for port in pending if p1(port) != value}
                if pending:
                    time.sleep(0.02)
            delays.append(time.monotonic() - start if not pending else float("inf"))
    finally:
        for _, process in instances:
            if process:
                process.stop()
        config.stop()
        bare.stop()
        shutil.rmtree(repo, ignore_errors=True)

    print(f"\n## Environment reads, git backend ({options.rounds} rounds x {options.seconds}s, "
          "wrk -t2 -c32, after warm-up)\n")
    print(lib.table(result, "bare ceiling (fixed body)"))
    print(f"\n## Commit to every instance applying it ({options.instances} customer-service "
          f"instances, {options.commits} commits; git refresh-rate 1 s, client watch delay 2 s)\n")
    print("| commits | median s | max s | each s |\n|---:|---:|---:|---|")
    print(f"| {len(delays)} | {statistics.median(delays):.2f} | {max(delays):.2f} | "
          f"{[round(d, 2) for d in delays]} |")
    print("\n## config-service resident memory\n")
    print(f"| idle MiB | after load MiB |\n|---:|---:|\n| {idle_rss / 1024:.1f} | {loaded_rss / 1024:.1f} |")


if __name__ == "__main__":
    main()
