#!/usr/bin/env python3
"""factura side by side with the Spring system it replaces, on this machine, in one run.

    python3 bench/spring.py [--seconds 5] [--rounds 3] [--warmup 10] [--starts 3] [--instances 10000]

The Spring side is the reference apps of conformance/spring/ (built by scripts/spring-apps.sh on
the seed's Spring line), each a plain `java -jar` with the JVM's default settings; the factura
side is `factura up` from the release build. Both fleets serve the same configuration (a git
copy of config-repo/ behind each config server) and both gateways carry one static route,
`/bare/**`, to the same backend (benchkit's `bare-http`), so the gateway rows compare the
proxies and not the services behind them.

1. Start-up: each fleet is started `--starts` times; every service's time from launch to its
   `/actuator/health` answering, and the whole fleet's. The Spring fleet starts its Eureka and
   Config servers first and the four others once those are healthy (what a compose file with
   health checks does; its services import their configuration at start-up); `factura up`
   starts its own way.
2. Resident memory of every process, idle after the warm-up and at its peak under the load
   (which includes the Eureka phase: every Eureka client then caches `--instances` more).
3. Throughput and p99 (wrk, 2 threads, keep-alive): every target gets the same `--warmup`
   seconds first (what a fair user gives a JVM), then all targets run once per round,
   interleaved, `--rounds` times; medians are reported, and factura's req/s as a ratio of
   Spring's. `POST /customers` runs after the reads (it grows the table the page reads count).
4. Eureka: `--instances` instances registered with each discovery server, then renewals
   (`PUT /eureka/apps/{app}/{id}`) and full-registry fetches (`GET /eureka/apps/`, JSON).

Loopback only; every process started is stopped at the end. SKIP_BUILD=1 reuses the release
binaries (`cargo build --release -p factura -p benchkit`).
"""

import argparse
import base64
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as lib  # noqa: E402

FACTURA_OFFSET = 16000
SPRING_OFFSET = 20000  # both below the ephemeral range (32768+)
# Spring's app (jar name) for each factura service.
SPRING_APPS = {"discovery-service": "eureka-server", "config-service": "config-server",
               "customer-service": "customer-service", "inventory-service": "inventory-service",
               "billing-service": "billing-service", "gateway-service": "gateway"}
INFRASTRUCTURE = ("discovery-service", "config-service")
APPS_PER_INSTANCE_BLOCK = 100  # instances spread over this many applications

# Every e-mail is new: unique per thread (tid) and per wrk run (run), as both servers refuse a
# duplicate e-mail with 409.
POST_CUSTOMER = """
math.randomseed(os.time())
local run = os.time() .. "-" .. math.random(1000000000)
local threads = 0
function setup(thread) thread:set("tid", run .. "-" .. threads); threads = threads + 1 end
local n = 0
function request()
  n = n + 1
  local body = string.format('{"name":"Bench %d","email":"bench-%s-%d@mail.com"}', n, tid, n)
  return wrk.format("POST", "/customers", {["Content-Type"] = "application/json"}, body)
end
"""

RENEW = """
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
local n = 0
function request()
  n = n + 1
  local i = (n * 2 + tid) %% %(instances)d
  local app = "BENCH-" .. (i %% %(apps)d)
  return wrk.format("PUT", "/eureka/apps/" .. app .. "/bench-" .. i,
                    {["Content-Length"] = "0", ["Authorization"] = "%(auth)s"}, "")
end
"""

# `factura up` gives discovery a user; Spring's Eureka server here has none and ignores the
# header, so both sides get the same requests.
FETCH_JSON = """
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = "%(auth)s"
"""


def port(service, offset):
    return lib.PORTS[service] + offset


def spring_port(service):
    return port(service, SPRING_OFFSET)


def url(service, offset, path):
    return f"http://127.0.0.1:{port(service, offset)}{path}"


def spring_jars():
    out = subprocess.run(["bash", os.path.join(lib.ROOT, "scripts", "spring-apps.sh")],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def route_to(backend_port, gateway_prefix="spring.cloud.gateway"):
    return [f"--{gateway_prefix}.routes[0].id=bare",
            f"--{gateway_prefix}.routes[0].uri=http://127.0.0.1:{backend_port}",
            f"--{gateway_prefix}.routes[0].predicates[0]=Path=/bare/**"]


def spring_args(service, jars, repo, backend_port):
    """The command line of one Spring app of the fleet."""
    zone = f"http://127.0.0.1:{spring_port('discovery-service')}/eureka/"
    config = f"http://127.0.0.1:{spring_port('config-service')}"
    args = ["java", "-jar", os.path.join(jars, SPRING_APPS[service] + ".jar"),
            f"--server.port={spring_port(service)}", "--server.address=127.0.0.1"]
    if service == "config-service":
        return args + [f"--spring.cloud.config.server.git.uri=file://{repo}"]
    if service == "discovery-service":
        return args
    client = ["--eureka.client.enabled=true", f"--eureka.client.service-url.defaultZone={zone}",
              "--eureka.instance.prefer-ip-address=true", "--eureka.instance.ip-address=127.0.0.1"]
    if service == "gateway-service":
        return args + client + ["--eureka.client.register-with-eureka=false"] + route_to(backend_port)
    return args + client + ["--spring.cloud.config.enabled=true",
                            f"--spring.config.import=configserver:{config}"]


def healthy_times(urls, launched, timeout=300):
    """Polls every URL concurrently; returns each one's seconds from `launched` to answering."""
    times = {}

    def watch(name, health):
        deadline = launched + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(health, timeout=2) as response:
                    if response.status == 200:
                        times[name] = time.monotonic() - launched
                        return
            except Exception:
                pass
            time.sleep(0.02)

    threads = [threading.Thread(target=watch, args=item) for item in urls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    missing = set(urls) - set(times)
    if missing:
        raise RuntimeError(f"not healthy within {timeout}s: {sorted(missing)}")
    return times


class SpringFleet:
    """The six Spring apps; infrastructure first, then the rest."""

    def __init__(self, jars, repo, backend_port):
        self.log = tempfile.TemporaryFile()
        self.processes = {}
        self.times = {}
        launched = time.monotonic()
        health = {s: url(s, SPRING_OFFSET, "/actuator/health") for s in lib.PORTS}
        for wave in (INFRASTRUCTURE, [s for s in lib.PORTS if s not in INFRASTRUCTURE]):
            for service in wave:
                self.processes[service] = subprocess.Popen(
                    spring_args(service, jars, repo, backend_port), cwd=lib.ROOT,
                    stdout=self.log, stderr=subprocess.STDOUT)
            self.times.update(healthy_times({s: health[s] for s in wave}, launched))

    def pids(self):
        return {service: p.pid for service, p in self.processes.items()}

    def stop(self):
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


class FacturaFleet:
    """`factura up` with the same configuration repository and gateway route."""

    def __init__(self, repo, backend_port):
        self.data = tempfile.mkdtemp(prefix="factura-vs-spring-")
        launched = time.monotonic()
        health = {s: url(s, FACTURA_OFFSET, "/actuator/health") for s in lib.PORTS}
        watcher = {}
        thread = threading.Thread(target=lambda: watcher.update(healthy_times(health, launched)))
        thread.start()
        self.process, _ = lib.factura_up(
            FACTURA_OFFSET, self.data, f"--spring.cloud.config.server.git.uri=file://{repo}",
            *route_to(backend_port))
        thread.join()
        self.times = watcher
        # The user `factura up` generated for discovery-service.
        with open(os.path.join(self.data, "credentials")) as f:
            kept = dict(line.strip().split("=", 1) for line in f if "=" in line)
        token = f"{kept['discovery.user']}:{kept['discovery.password']}".encode()
        self.discovery_auth = "Basic " + base64.b64encode(token).decode()
        # …and for config-service (Spring's config server, without security, ignores it).
        token = f"{kept['config.user']}:{kept['config.password']}".encode()
        self.config_auth = "Basic " + base64.b64encode(token).decode()

    def pids(self):
        return lib.factura_pids(FACTURA_OFFSET)

    def stop(self):
        lib.stop_factura_up(self.process)


def median(values):
    return statistics.median(values) if values else float("nan")


def startup_table(spring_runs, factura_runs):
    lines = ["| service | Spring s (median) | factura s (median) | Spring / factura |",
             "|---|---:|---:|---:|"]
    for service in [*lib.PORTS, "whole system"]:
        def pick(runs):
            return median([max(r.values()) if service == "whole system" else r[service] for r in runs])
        s, f = pick(spring_runs), pick(factura_runs)
        lines.append(f"| {service} | {s:.2f} | {f:.3f} | {s / f:.0f}× |")
    return "\n".join(lines)


def memory_table(title, spring, factura):
    lines = [f"\n### {title}\n", "| service | Spring MiB | factura MiB | factura / Spring |",
             "|---|---:|---:|---:|"]
    for service in lib.PORTS:
        s, f = spring.get(service, 0.0), factura.get(service, 0.0)
        lines.append(f"| {service} | {s:.0f} | {f:.1f} | {f / s:.3f} |" if s else f"| {service} | - | {f:.1f} | - |")
    s, f = sum(spring.values()), sum(factura.values())
    lines.append(f"| **whole system** | **{s:.0f}** | **{f:.1f}** | **{f / s:.3f}** |")
    return "\n".join(lines)


class PeakMemory:
    """Samples the resident memory of some processes every half second until stopped."""

    def __init__(self, *pid_maps):
        self.pids = [dict(m) for m in pid_maps]
        self.peaks = [{} for _ in pid_maps]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.is_set():
            for pids, peaks in zip(self.pids, self.peaks):
                for name, pid in pids.items():
                    peaks[name] = max(peaks.get(name, 0.0), lib.rss_mib(pid))
            time.sleep(0.5)

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.peaks


def comparison_table(result, pairs):
    """One row per measured call: both systems' medians and factura's req/s over Spring's."""
    lines = ["| call | Spring req/s | Spring p99 ms | factura req/s | factura p99 ms | factura / Spring | errors (S/f) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for label in pairs:
        s, f = result[f"Spring {label}"], result[f"factura {label}"]
        lines.append(f"| {label} | {s['rps']:.0f} | {s['p99']:.2f} | {f['rps']:.0f} | {f['p99']:.2f} | "
                     f"**{f['rps'] / s['rps']:.2f}×** | {s['errors']}/{f['errors']} |")
    return "\n".join(lines)


def wait_for_full_bill(base, timeout=240):
    """Waits until `/fullBill/1` has its customer (billing found the others in discovery)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/fullBill/1", timeout=5) as response:
                body = json.load(response)
                if body.get("customer") and all(i.get("product") for i in body["productItems"]):
                    return
        except Exception:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{base}/fullBill/1 never complete")


def register_instances(discovery_port, count, auth):
    """Registers `count` instances over one keep-alive connection, sending `auth` as the
    `Authorization` header; returns seconds taken."""
    connection = http.client.HTTPConnection("127.0.0.1", discovery_port, timeout=30)
    started = time.monotonic()
    for i in range(count):
        app = f"BENCH-{i % APPS_PER_INSTANCE_BLOCK}"
        body = json.dumps({"instance": {
            "instanceId": f"bench-{i}", "hostName": "127.0.0.1", "app": app, "ipAddr": "127.0.0.1",
            "status": "UP", "port": {"$": 8080 + i % 1000, "@enabled": "true"},
            "securePort": {"$": 443, "@enabled": "false"},
            "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
            "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90},
            "vipAddress": app.lower(), "secureVipAddress": app.lower()}})
        connection.request("POST", f"/eureka/apps/{app}", body,
                           {"Content-Type": "application/json", "Authorization": auth})
        response = connection.getresponse()
        response.read()
        if response.status not in (200, 204):
            raise RuntimeError(f"registration {i} on :{discovery_port} answered {response.status}")
    connection.close()
    return time.monotonic() - started


def script(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up seconds per target")
    parser.add_argument("--starts", type=int, default=3, help="starts of each fleet")
    parser.add_argument("--instances", type=int, default=10000, help="instances registered for Eureka")
    options = parser.parse_args()

    lib.ensure_wrk()
    lib.build("factura", "benchkit")
    jars = spring_jars()
    repo = lib.config_repository()
    scripts = tempfile.mkdtemp(prefix="factura-vs-spring-wrk-")
    backend_port = lib.free_port()
    backend = lib.Process([os.path.join(lib.RELEASE, "bare-http"), str(backend_port)],
                          f"http://127.0.0.1:{backend_port}/")
    spring = factura = None
    try:
        spring_runs, factura_runs = [], []
        for _ in range(options.starts):
            fleet = SpringFleet(jars, repo, backend_port)
            spring_runs.append(fleet.times)
            fleet.stop()
            fleet = FacturaFleet(repo, backend_port)
            factura_runs.append(fleet.times)
            fleet.stop()
        print(f"\n## Start-up to healthy ({options.starts} starts of each fleet)\n")
        print(startup_table(spring_runs, factura_runs))

        spring = SpringFleet(jars, repo, backend_port)
        factura = FacturaFleet(repo, backend_port)
        for offset in (SPRING_OFFSET, FACTURA_OFFSET):
            wait_for_full_bill(url("billing-service", offset, ""))

        calls = {
            "GET /customers/1": ("customer-service", "/customers/1"),
            "GET /customers?size=20": ("customer-service", "/customers?size=20"),
            "GET /fullBill/1": ("billing-service", "/fullBill/1"),
            "gateway GET /bare/x → bare-http": ("gateway-service", "/bare/x"),
            "config GET /customer-service/default (git)": ("config-service", "/customer-service/default"),
        }
        # config-service wants the user `factura up` gave it; the same header goes to Spring's.
        config_user = script(scripts, "config.lua", f'wrk.headers["Authorization"] = "{factura.config_auth}"\n')
        targets = {"bare-http direct": f"http://127.0.0.1:{backend_port}/bare/x"}
        for label, (service, path) in calls.items():
            for system, offset in (("Spring", SPRING_OFFSET), ("factura", FACTURA_OFFSET)):
                target = url(service, offset, path)
                targets[f"{system} {label}"] = (target, config_user) if service == "config-service" else target
        # The idle figure is taken after one warm-up pass, as a running system would be.
        for target in targets.values():
            target_url, target_script = target if isinstance(target, tuple) else (target, None)
            lib.wrk(target_url, options.warmup, script=target_script)
        idle = ({s: lib.rss_mib(p) for s, p in spring.pids().items()},
                {s: lib.rss_mib(p) for s, p in factura.pids().items()})
        peak = PeakMemory(spring.pids(), factura.pids())
        reads = lib.rounds(targets, seconds=options.seconds, count=options.rounds, warmup=1)
        post = script(scripts, "post.lua", POST_CUSTOMER)
        writes = lib.rounds({
            "Spring POST /customers": (url("customer-service", SPRING_OFFSET, "/customers"), post),
            "factura POST /customers": (url("customer-service", FACTURA_OFFSET, "/customers"), post),
        }, seconds=options.seconds, count=options.rounds, warmup=options.warmup)

        registered = {
            "Spring": register_instances(spring_port("discovery-service"), options.instances,
                                         factura.discovery_auth),
            "factura": register_instances(port("discovery-service", FACTURA_OFFSET),
                                          options.instances, factura.discovery_auth),
        }
        renew = script(scripts, "renew.lua", RENEW % {"instances": options.instances,
                                                      "apps": APPS_PER_INSTANCE_BLOCK,
                                                      "auth": factura.discovery_auth})
        fetch = script(scripts, "fetch.lua", FETCH_JSON % {"auth": factura.discovery_auth})
        renewals = f"Eureka renewals ({options.instances} registered)"
        registry = f"Eureka full registry, JSON, 4 connections ({options.instances} instances)"
        eureka = lib.rounds({
            f"Spring {renewals}": (url("discovery-service", SPRING_OFFSET, "/"), renew),
            f"factura {renewals}": (url("discovery-service", FACTURA_OFFSET, "/"), renew),
        }, seconds=options.seconds, count=options.rounds, warmup=options.warmup)
        eureka.update(lib.rounds({
            f"Spring {registry}": (url("discovery-service", SPRING_OFFSET, "/eureka/apps/"), fetch),
            f"factura {registry}": (url("discovery-service", FACTURA_OFFSET, "/eureka/apps/"), fetch),
        }, seconds=options.seconds, count=options.rounds, warmup=options.warmup, connections=4))
        peaks = peak.stop()

        result = {**reads, **writes, **eureka}
        labels = [*calls, "POST /customers", renewals, registry]
        print(f"\n## Throughput ({options.rounds} interleaved rounds x {options.seconds} s after "
              f"{options.warmup} s of warm-up per target; wrk -t2 -c32, registry fetches -c4)\n")
        print(comparison_table(result, labels))
        bare = reads["bare-http direct"]
        print(f"\nbare-http direct (the backend both gateways proxy to): {bare['rps']:.0f} req/s, "
              f"p99 {bare['p99']:.2f} ms")
        print(f"registering {options.instances} instances over one connection: Spring "
              f"{registered['Spring']:.1f} s, factura {registered['factura']:.1f} s")
        print(memory_table("Resident memory, idle (after warm-up)", *idle))
        print(memory_table("Resident memory, peak under the load above (the Eureka phase included: "
                           "every Eureka client of both fleets then caches the registered instances)", *peaks))
    finally:
        for fleet in (spring, factura):
            if fleet:
                fleet.stop()
        backend.stop()


if __name__ == "__main__":
    main()
