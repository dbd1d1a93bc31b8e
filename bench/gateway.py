#!/usr/bin/env python3
"""Gateway benchmark: the same backend reached directly, through nginx, and through our gateway.

    python3 bench/gateway.py [--seconds 8] [--rounds 3] [--connections 32] [--routes 1000]

Builds the release binaries and starts `bare-http` (a fixed small body on every path) as the
backend, nginx (Debian's package, installed when missing) as a keep-alive reverse proxy to it,
and gateway-service with an equivalent static route (`Path=/customers/**` → the backend). wrk
(2 threads, keep-alive) loads each target in interleaved rounds after a warm-up and the medians,
p50/p99 and the gateway/nginx ratios are printed, with each proxy's resident memory idle and
after the load. Then the same with `--routes` more routes configured in both proxies (the
measured route is declared last), to show that route lookup does not scan.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as lib  # noqa: E402

PATH = "/customers/1"


def ensure_nginx():
    """Installs nginx from Debian's packages when missing (root only)."""
    if shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"):
        return
    if os.geteuid() != 0:
        sys.exit("nginx is missing: apt-get install nginx")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], check=False,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def nginx_binary():
    return shutil.which("nginx") or "/usr/sbin/nginx"


def tree_rss_kib(pid):
    """Resident memory of a process and its children (nginx's master and workers)."""
    total = 0
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def nginx_config(directory, port, backend_port, extra_routes):
    locations = "".join(
        f"    location /svc{i}/ {{ proxy_pass http://backend; }}\n" for i in range(extra_routes))
    conf = f"""
worker_processes auto;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {directory}/body;
  proxy_temp_path {directory}/proxy;
  fastcgi_temp_path {directory}/fastcgi;
  uwsgi_temp_path {directory}/uwsgi;
  scgi_temp_path {directory}/scgi;
  upstream backend {{ server 127.0.0.1:{backend_port}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
{locations}    location /customers/ {{ proxy_pass http://backend; }}
  }}
}}
"""
    path = os.path.join(directory, f"nginx-{extra_routes}.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


def measure(label, directory, backend_port, extra_routes, options):
    nginx_port, gateway_port = lib.free_port(), lib.free_port()
    conf = nginx_config(directory, nginx_port, backend_port, extra_routes)
    nginx = lib.Process([nginx_binary(), "-c", conf, "-p", directory, "-e", f"{directory}/error.log"],
                        f"http://127.0.0.1:{nginx_port}{PATH}")
    gateway = lib.factura_service("gateway-service", gateway_port, directory,
                                  "--config", lib.gateway_config(directory, backend_port, extra_routes))
    idle = {"nginx": tree_rss_kib(nginx.proc.pid), "gateway": gateway.rss_kib()}
    try:
        result = lib.rounds({
            "direct (bare-http)": f"http://127.0.0.1:{backend_port}{PATH}",
            "nginx": f"http://127.0.0.1:{nginx_port}{PATH}",
            "gateway-service": f"http://127.0.0.1:{gateway_port}{PATH}",
        }, seconds=options.seconds, count=options.rounds, connections=options.connections)
        loaded = {"nginx": tree_rss_kib(nginx.proc.pid), "gateway": gateway.rss_kib()}
    finally:
        gateway.stop()
        nginx.stop()
    print(f"\n### {label}\n")
    print(lib.table(result, "nginx"))
    g, n = result["gateway-service"], result["nginx"]
    print(f"\ngateway/nginx: throughput {g['rps'] / n['rps']:.2f}x, "
          f"p50 {g['p50'] / n['p50']:.2f}x, p99 {g['p99'] / n['p99']:.2f}x; "
          f"RSS idle nginx {idle['nginx'] / 1024:.1f} MiB (master+workers), "
          f"gateway {idle['gateway'] / 1024:.1f} MiB; after load nginx "
          f"{loaded['nginx'] / 1024:.1f} MiB, gateway {loaded['gateway'] / 1024:.1f} MiB")
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--routes", type=int, default=1000)
    options = parser.parse_args()

    lib.ensure_wrk()
    ensure_nginx()
    lib.build("factura", "benchkit")
    directory = tempfile.mkdtemp(prefix="factura-gateway-bench-")
    backend_port = lib.free_port()
    backend = lib.Process([os.path.join(lib.RELEASE, "bare-http"), str(backend_port)],
                          f"http://127.0.0.1:{backend_port}/")
    print(f"## Gateway ({options.rounds} rounds x {options.seconds}s, "
          f"wrk -t2 -c{options.connections}, keep-alive, after warm-up; all on one machine)")
    try:
        one = measure("one route", directory, backend_port, 0, options)
        many = measure(f"{options.routes + 1} routes (measured route declared last)", directory,
                       backend_port, options.routes, options)
    finally:
        backend.stop()
        shutil.rmtree(directory, ignore_errors=True)
    loss = 1 - many["gateway-service"]["rps"] / one["gateway-service"]["rps"]
    print(f"\ngateway throughput with {options.routes + 1} routes vs 1: {-loss * 100:+.1f}%")


if __name__ == "__main__":
    main()
