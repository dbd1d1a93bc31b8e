"""Drives the real py_eureka_client (PyPI) against a factura discovery node.

Usage: py_client.py <eureka-url> <port>

Registers PY-SVC, checks its heartbeats, discovers JS-SVC and CUSTOMER-SERVICE in its own
registry view (py_eureka_client reads XML: it sends no Accept header) and calls
customer-service through it; prints DISCOVERED and waits for GO on stdin (so both third-party
clients are seen UP by each other before anyone changes status); then follows a status override
of its own instance and its removal (which makes the next heartbeat 404 and the client
re-register); stops (re-register DOWN, then cancel) and prints CANCELLED. Exits non-zero on any
failure.
"""

import asyncio
import sys
import time

import py_eureka_client.eureka_basic as basic
import py_eureka_client.eureka_client as eureka_client

URL, PORT = sys.argv[1], int(sys.argv[2])
APP, INSTANCE_ID = "PY-SVC", f"127.0.0.1:py-svc:{PORT}"


def say(line):
    print(line, flush=True)


def wait_for(what, check, timeout=40):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # the view may be mid-refresh
            last = error
        time.sleep(0.2)
    raise SystemExit(f"FAILED: {what} within {timeout}s")


def own_view_status(client, app):
    application = client.applications.get_application(app)
    if application is None:
        return None
    statuses = [i.status for i in application.instances]
    return statuses[0] if statuses else None


def remote_instance():
    return asyncio.run(basic.get_app_instance(URL, APP, INSTANCE_ID))


client = eureka_client.init(
    eureka_server=URL,
    app_name="py-svc",
    instance_host="127.0.0.1",
    instance_ip="127.0.0.1",
    instance_port=PORT,
    renewal_interval_in_secs=1,
    duration_in_secs=30,
)
say("REGISTERED")

first = wait_for("the registration to be readable", remote_instance)
say(f"lease registered at {first.leaseInfo.registrationTimestamp}")
wait_for(
    "a heartbeat to renew the lease",
    lambda: remote_instance().leaseInfo.lastRenewalTimestamp > first.leaseInfo.lastRenewalTimestamp,
)
say("HEARTBEAT")

wait_for("JS-SVC to be UP in py's view", lambda: own_view_status(client, "JS-SVC") == "UP")
wait_for("CUSTOMER-SERVICE to be UP in py's view", lambda: own_view_status(client, "CUSTOMER-SERVICE") == "UP")
health = wait_for(
    "a call to customer-service through discovery",
    lambda: eureka_client.do_service("CUSTOMER-SERVICE", "/actuator/health", return_type="json"),
)
if health.get("status") != "UP":
    raise SystemExit(f"FAILED: customer-service health through discovery: {health}")
say("DISCOVERED")

if sys.stdin.readline().strip() != "GO":
    raise SystemExit("FAILED: no GO from the test")

asyncio.run(client.status_update("OUT_OF_SERVICE"))
wait_for("py's view to follow the override", lambda: own_view_status(client, APP) == "OUT_OF_SERVICE")
asyncio.run(client.delete_status_override())
wait_for("a re-registration after the override was removed", lambda: own_view_status(client, APP) == "UP")
say("OVERRIDE FOLLOWED")

eureka_client.stop()
try:
    remote_instance()
    raise SystemExit("FAILED: still registered after stop")
except SystemExit:
    raise
except Exception:
    pass
say("CANCELLED")
