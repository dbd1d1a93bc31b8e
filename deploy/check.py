#!/usr/bin/env python3
"""Checks the deployment files without a container engine or a cluster (neither exists here).

    .test-deps/venv/bin/python deploy/check.py

* Kubernetes manifests: every document validated against the Kubernetes 1.33 OpenAPI schemas
  bundled in the `kubernetes-validate` package (strict: unknown fields are errors), and the
  committed files must equal what deploy/render.py renders (so the ConfigMap matches config-repo/);
* cross-references: each Service selects a workload and targets a named container port, each
  StatefulSet's serviceName is a headless Service, secret/config map references exist, probes
  hit /actuator/health, every factura service has a workload;
* compose.yaml: parses, depends_on targets exist, each health check probes the service's own
  port, each data service has its own database;
* Dockerfile: stages referenced by COPY --from exist, base images are pinned, the entrypoint is
  `factura run`, every service port is exposed.

It does not build the image or start containers: that needs a Docker engine or a cluster.
"""

import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "deploy"))
import render  # noqa: E402

KUBERNETES_VERSION = "1.33.0"
problems = []


def problem(message):
    problems.append(message)


def factura_services():
    """Service names as the factura command knows them."""
    with open(os.path.join(ROOT, "crates/factura/src/services.rs")) as f:
        text = f.read()
    block = text[text.index("pub(crate) const ALL"):]
    block = block[: block.index("];")]
    return [m.replace("_", "-") for m in re.findall(r"(\w+_service)::SERVICE", block)]


def check_kubernetes():
    import kubernetes_validate

    folder = os.path.join(ROOT, "deploy", "k8s")
    rendered = render.manifests()
    documents = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as f:
            text = f.read()
        if name not in rendered:
            problem(f"k8s/{name}: not produced by render.py")
        elif text != render.render(name, rendered[name]):
            problem(f"k8s/{name}: differs from what deploy/render.py renders (run it)")
        for document in yaml.safe_load_all(text):
            try:
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                problem(f"k8s/{name} {document.get('kind')}/{document['metadata']['name']}: {error.message}")
            documents.append(document)
    for name in rendered:
        if not os.path.exists(os.path.join(folder, name)):
            problem(f"k8s/{name}: missing (run deploy/render.py)")

    by_kind = {}
    for d in documents:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}

    def pod_labels(workload):
        return workload["spec"]["template"]["metadata"]["labels"]

    def port_names(workload):
        return {p.get("name") for c in workload["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}

    for name, svc in by_kind.get("Service", {}).items():
        selector = svc["spec"]["selector"]
        matches = [w for w in workloads.values() if selector.items() <= pod_labels(w).items()]
        if not matches:
            problem(f"Service/{name} selects no workload")
        for port in svc["spec"]["ports"]:
            if not any(port["targetPort"] in port_names(w) for w in matches):
                problem(f"Service/{name} targets port {port['targetPort']!r}, which no selected container names")
    for name, workload in workloads.items():
        spec = workload["spec"]
        if spec["selector"]["matchLabels"].items() > pod_labels(workload).items():
            problem(f"{workload['kind']}/{name}: selector does not match its pod labels")
        if workload["kind"] == "StatefulSet":
            headless = by_kind.get("Service", {}).get(spec["serviceName"])
            if headless is None:
                problem(f"StatefulSet/{name}: serviceName {spec['serviceName']} has no Service")
        pod = spec["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {})
                if "secretKeyRef" in ref and ref["secretKeyRef"]["name"] not in by_kind.get("Secret", {}):
                    problem(f"{name}: env {env['name']} refers to a missing Secret")
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volumes and not any(
                        t["metadata"]["name"] == mount["name"] for t in spec.get("volumeClaimTemplates", [])):
                    problem(f"{name}: volume mount {mount['name']} has no volume")
            if container["image"].startswith("factura"):
                for probe in ("readinessProbe", "livenessProbe"):
                    path = container.get(probe, {}).get("httpGet", {}).get("path")
                    if path != "/actuator/health":
                        problem(f"{name}: {probe} must GET /actuator/health, not {path}")
        for volume in volumes.values():
            if "configMap" in volume and volume["configMap"]["name"] not in by_kind.get("ConfigMap", {}):
                problem(f"{name}: volume {volume['name']} refers to a missing ConfigMap")
    for service in factura_services():
        if service not in workloads:
            problem(f"factura service {service} has no Kubernetes workload")
    return len(documents)


def check_compose():
    with open(os.path.join(ROOT, "deploy", "compose.yaml")) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    databases = set()
    for name, service in services.items():
        for dependency in (service.get("depends_on") or {}):
            if dependency not in services:
                problem(f"compose {name}: depends_on unknown service {dependency}")
        if name == "postgres":
            continue
        if service.get("command") != [name]:
            problem(f"compose {name}: command must be [{name!r}], got {service.get('command')}")
        published = {int(p.split(":")[1]) for p in service.get("ports", [])}
        test = " ".join(service.get("healthcheck", {}).get("test", []))
        port = re.search(r"localhost:(\d+)/actuator/health", test)
        if not port or int(port.group(1)) not in published:
            problem(f"compose {name}: health check does not probe its own port ({test})")
        url = service.get("environment", {}).get("SPRING_DATASOURCE_URL")
        if url:
            database = url.rsplit("/", 1)[1]
            if database in databases:
                problem(f"compose {name}: database {database} shared with another service")
            databases.add(database)
    for service in factura_services():
        if service not in services:
            problem(f"factura service {service} missing from compose.yaml")
    return len(services)


def check_dockerfile():
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        lines = [l.strip() for l in f.read().replace("\\\n", " ").splitlines() if l.strip() and not l.startswith("#")]
    stages = []
    exposed = set()
    entrypoint = None
    for line in lines:
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            image, _, alias = rest.partition(" AS ")
            if ":" not in image or image.endswith(":latest"):
                problem(f"Dockerfile: base image {image} is not pinned to a tag")
            stages.append(alias.strip())
        elif instruction == "COPY" and "--from=" in rest:
            source = re.search(r"--from=(\S+)", rest).group(1)
            if source not in stages[:-1]:
                problem(f"Dockerfile: COPY --from={source} names no earlier stage")
        elif instruction == "EXPOSE":
            exposed.update(int(p) for p in rest.split())
        elif instruction == "ENTRYPOINT":
            entrypoint = yaml.safe_load(rest)
        elif instruction not in {"RUN", "COPY", "WORKDIR", "USER", "ENV", "CMD", "ARG", "LABEL"}:
            problem(f"Dockerfile: unknown instruction {instruction}")
    if entrypoint != ["factura", "run"]:
        problem(f"Dockerfile: ENTRYPOINT must be [\"factura\", \"run\"], got {entrypoint}")
    ports = {port for _, port, _, _ in render.SERVICES} | {render.DISCOVERY_PORT}
    if not ports <= exposed:
        problem(f"Dockerfile: ports {sorted(ports - exposed)} not exposed")
    return len(stages)


def main():
    documents = check_kubernetes()
    services = check_compose()
    stages = check_dockerfile()
    for message in problems:
        print(f"FAIL {message}")
    print(f"deploy check: {documents} Kubernetes documents, {services} compose services, "
          f"{stages} Dockerfile stages; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
