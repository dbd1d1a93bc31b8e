#!/usr/bin/env python3
"""Writes the Kubernetes manifests in deploy/k8s/ from one table of services.

    .test-deps/venv/bin/python deploy/render.py

The manifests are generated so that each fact (a port, a database name, the discovery peers)
is stated once here; `deploy/check.py` fails when the committed files differ from what this
script renders, or when the ConfigMap differs from config-repo/.
"""

import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "deploy", "k8s")
NAMESPACE = "factura"
IMAGE = "factura:latest"
DISCOVERY_REPLICAS = 2

# name, port, replicas, has its own database
SERVICES = [
    ("config-service", 8888, 1, False),
    ("customer-service", 8081, 2, True),
    ("inventory-service", 8082, 2, True),
    ("billing-service", 8083, 2, True),
    ("gateway-service", 9999, 2, False),
]
DISCOVERY_PORT = 8761

PEERS = ",".join(
    f"http://discovery-service-{i}.discovery-service.{NAMESPACE}.svc.cluster.local:{DISCOVERY_PORT}/eureka/"
    for i in range(DISCOVERY_REPLICAS)
)


def labels(name):
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "factura"}


def probes(port):
    check = {"httpGet": {"path": "/actuator/health", "port": port}}
    return {
        "readinessProbe": {**check, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**check, "initialDelaySeconds": 10, "periodSeconds": 10, "failureThreshold": 6},
    }


def container(name, port, env, extra=None):
    spec = {
        "name": name,
        "image": IMAGE,
        "args": [name],
        "ports": [{"name": "http", "containerPort": port}],
        "env": env,
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        **probes(port),
    }
    spec.update(extra or {})
    return spec


def common_env():
    return [
        {"name": "EUREKA_CLIENT_SERVICEURL_DEFAULTZONE", "value": PEERS},
        {"name": "SPRING_CONFIG_IMPORT", "value": "optional:configserver:http://config-service:8888"},
        {"name": "EUREKA_INSTANCE_PREFERIPADDRESS", "value": "true"},
        {"name": "EUREKA_INSTANCE_IPADDRESS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]


def service(name, port, headless=False):
    spec = {"selector": labels(name), "ports": [{"name": "http", "port": port, "targetPort": "http"}]}
    if headless:
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = True
    if name == "gateway-service":
        spec["type"] = "LoadBalancer"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(name)}, "spec": spec}


def deployment(name, port, replicas, database):
    env = common_env()
    volumes, mounts = [], []
    if database:
        env.append({"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "postgres", "key": "password"}}})
        env.append({"name": "SPRING_DATASOURCE_URL",
                    "value": f"postgres://factura:$(POSTGRES_PASSWORD)@postgres:5432/factura_{name.replace('-', '_')}"})
    if name == "config-service":
        env.append({"name": "SPRING_CLOUD_CONFIG_SERVER_NATIVE_SEARCHLOCATIONS", "value": "/config-repo"})
        volumes.append({"name": "config-repo", "configMap": {"name": "config-repo"}})
        mounts.append({"name": "config-repo", "mountPath": "/config-repo", "readOnly": True})
    extra = {"volumeMounts": mounts} if mounts else {}
    pod = {"containers": [container(name, port, env, extra)]}
    if volumes:
        pod["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(name)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels(name)},
            "template": {"metadata": {"labels": labels(name)}, "spec": pod},
        },
    }


def discovery():
    name = "discovery-service"
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "EUREKA_CLIENT_SERVICEURL_DEFAULTZONE", "value": PEERS},
        {"name": "EUREKA_INSTANCE_HOSTNAME", "value": f"$(POD_NAME).{name}.{NAMESPACE}.svc.cluster.local"},
        {"name": "EUREKA_SERVER_MYURL",
         "value": f"http://$(POD_NAME).{name}.{NAMESPACE}.svc.cluster.local:{DISCOVERY_PORT}/eureka/"},
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(name)},
        "spec": {
            "serviceName": name,
            "replicas": DISCOVERY_REPLICAS,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels(name)},
            "template": {"metadata": {"labels": labels(name)},
                         "spec": {"containers": [container(name, DISCOVERY_PORT, env)]}},
        },
    }


def postgres():
    name = "postgres"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE},
              "type": "Opaque", "stringData": {"password": "change-me"}}
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(name)},
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": labels(name)},
            "template": {"metadata": {"labels": labels(name)}, "spec": {"containers": [{
                "name": name,
                "image": "postgres:15",
                "ports": [{"name": "postgres", "containerPort": 5432}],
                "env": [{"name": "POSTGRES_USER", "value": "factura"},
                        {"name": "POSTGRES_DB", "value": "factura"},
                        {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": name, "key": "password"}}},
                        {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
                "readinessProbe": {"exec": {"command": ["pg_isready", "-U", "factura"]}, "periodSeconds": 5},
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
            }]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
        },
    }
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(name)},
           "spec": {"selector": labels(name), "ports": [{"name": "postgres", "port": 5432, "targetPort": "postgres"}]}}
    return [secret, statefulset, svc]


def config_map():
    folder = os.path.join(ROOT, "config-repo")
    data = {}
    for file in sorted(os.listdir(folder)):
        with open(os.path.join(folder, file)) as f:
            data[file] = f.read()
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config-repo", "namespace": NAMESPACE}, "data": data}


def manifests():
    """File name → list of documents."""
    files = {
        "00-namespace.yaml": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}],
        "10-postgres.yaml": postgres(),
        "20-config-repo.yaml": [config_map()],
        "30-discovery-service.yaml": [service("discovery-service", DISCOVERY_PORT, headless=True), discovery()],
    }
    for i, (name, port, replicas, database) in enumerate(SERVICES):
        files[f"{40 + i}-{name}.yaml"] = [service(name, port), deployment(name, port, replicas, database)]
    return files


class Literal(str):
    pass


def literal_presenter(dumper, data):
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


def render(name, documents):
    header = "# Generated by deploy/render.py from one table of services; do not edit by hand.\n"
    body = []
    for document in documents:
        if document.get("kind") == "ConfigMap":
            document = {**document, "data": {k: Literal(v) for k, v in document["data"].items()}}
        body.append(yaml.dump(document, sort_keys=False, default_flow_style=False, width=120))
    return header + "---\n".join(body)


yaml.add_representer(Literal, literal_presenter)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, documents in manifests().items():
        with open(os.path.join(OUT, name), "w") as f:
            f.write(render(name, documents))
    print(f"wrote {len(manifests())} files to {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
