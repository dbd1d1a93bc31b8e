"""Shared pieces of factura's load benchmarks: build, start processes, run wrk, summarise.

Every benchmark measures our server and a reference side by side in one run, over several
rounds, and reports medians and ratios: on a shared, noisy machine an absolute number means
little, a ratio measured in the same minute means something.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
RELEASE = os.path.join(TARGET, "release")


def build(*packages):
    """Release-builds the given packages (once; cargo makes repeats cheap); SKIP_BUILD=1 uses
    the release binaries already built, as crates/discovery-service/bench/discovery.sh does."""
    if os.environ.get("SKIP_BUILD"):
        return
    args = ["cargo", "build", "--release", "--quiet"]
    for package in packages:
        args += ["-p", package]
    subprocess.run(args, cwd=ROOT, check=True)


def ensure_wrk():
    """Installs wrk from Debian's packages when missing (root only)."""
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        sys.exit("wrk is missing: apt-get install wrk")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def rss_mib(pid):
    """Resident memory of process `pid` in MiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def config_repository():
    """A fresh git repository (a `file://` remote for the config servers) holding config-repo/."""
    repo = tempfile.mkdtemp(prefix="factura-config-bench-")
    for name in os.listdir(os.path.join(ROOT, "config-repo")):
        shutil.copy(os.path.join(ROOT, "config-repo", name), repo)
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "bench@factura.local"],
                 ["config", "user.name", "bench"], ["add", "-A"], ["commit", "-q", "-m", "config-repo"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    return repo


def gateway_config(directory, backend_port, extra_routes):
    """A gateway application.yml: `extra_routes` routes to the backend before the measured one,
    `Path=/customers/**`, and the discovery locator off."""
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A server process started for the benchmark and stopped at the end."""

    def __init__(self, args, health_url, cwd=ROOT):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(health_url)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def factura_service(name, port, data_dir, *extra):
    """`factura run <name>` on `port`, isolated from discovery and config unless told otherwise."""
    args = [os.path.join(RELEASE, "factura"), "run", name, f"--server.port={port}",
            f"--factura.data-dir={data_dir}", "--eureka.client.enabled=false",
            "--spring.cloud.config.enabled=false", *extra]
    return Process(args, f"http://127.0.0.1:{port}/actuator/health")


# Every service's default port; `factura up --port-offset N` adds N to each.
PORTS = {"config-service": 8888, "discovery-service": 8761, "customer-service": 8081,
         "inventory-service": 8082, "billing-service": 8083, "gateway-service": 9999}


def factura_up(offset, data, *properties):
    """Starts `factura up --port-offset offset` (extra `--key=value` properties go to every
    service) and returns (process, seconds until it printed that all six are healthy)."""
    launched = time.monotonic()
    args = [os.path.join(RELEASE, "factura"), "up", "--port-offset", str(offset), "--data-dir", data]
    if properties:
        args += ["--", *properties]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        if "factura is up" in line:
            elapsed = time.monotonic() - launched
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return process, elapsed
    raise RuntimeError("factura up exited before the system was healthy")


def stop_factura_up(process):
    process.terminate()
    process.wait(timeout=60)


def factura_pids(offset):
    """The pid of each service `factura up --port-offset offset` runs, by service name."""
    pids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        for name, port in PORTS.items():
            if b"run" in args and name.encode() in args and f"--server.port={port + offset}".encode() in args:
                pids[name] = int(entry)
    return pids


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url, seconds, connections=32, threads=2, script=None):
    """One wrk run; returns (requests per second, p50 ms, p99 ms, non-2xx/3xx count)."""
    threads = min(threads, connections)
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        args[1:1] = ["-s", script]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def percentile(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, percentile(50), percentile(99), int(errors.group(1)) if errors else 0


def rounds(targets, seconds=8, count=3, warmup=3, connections=32):
    """Runs every target once per round, interleaved, after a warm-up; returns medians.

    `targets` maps a label to a URL (or a (URL, wrk script) pair). Interleaving spreads the
    machine's noise evenly over the targets.
    """
    def unpack(target):
        return target if isinstance(target, tuple) else (target, None)

    for target in targets.values():
        url, script = unpack(target)
        wrk(url, warmup, connections, script=script)
    samples = {label: [] for label in targets}
    for _ in range(count):
        for label, target in targets.items():
            url, script = unpack(target)
            samples[label].append(wrk(url, seconds, connections, script=script))
    result = {}
    for label, runs in samples.items():
        result[label] = {
            "rps": statistics.median(r[0] for r in runs),
            "p50": statistics.median(r[1] for r in runs),
            "p99": statistics.median(r[2] for r in runs),
            "errors": sum(r[3] for r in runs),
            "rounds": [round(r[0]) for r in runs],
        }
    return result


def table(result, reference):
    """A markdown table of medians with each row's throughput as a ratio of `reference`."""
    lines = ["| target | req/s (median) | p50 ms | p99 ms | vs " + reference + " | errors | rounds req/s |",
             "|---|---:|---:|---:|---:|---:|---|"]
    base = result[reference]["rps"]
    for label, r in result.items():
        lines.append(f"| {label} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{r['rps'] / base:.2f} | {r['errors']} | {r['rounds']} |")
    return "\n".join(lines)


def options(description, **extra):
    """The common command line: `--seconds` per round and `--rounds`, plus `extra` int options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported")
    for name, default in extra.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    return parser.parse_args()
