#!/usr/bin/env bash
# Installs what the test suite needs besides the Rust toolchain, into .test-deps/ (git-ignored):
#   - a Python venv with the real PyPI clients used by interoperability tests
#     (py_eureka_client, config-client);
#   - the real npm clients (eureka-js-client, cloud-config-client);
#   - Debian's chromium, for the discovery dashboard's headless-browser test;
#   - PyYAML and kubernetes-validate (with its bundled schemas), for deploy/check.py;
#   - Keycloak (scripts/keycloak.sh), for the security tests.
# Idempotent: a second run finds everything in place and returns quickly.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPS="$PWD/.test-deps"
mkdir -p "$DEPS"

if [ ! -x "$DEPS/venv/bin/python" ]; then
    python3 -m venv "$DEPS/venv"
fi
"$DEPS/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "py_eureka_client==0.13.*" "config-client==1.5.*" "pyyaml==6.*" "kubernetes-validate==1.37.*"

if [ ! -d "$DEPS/node/node_modules/eureka-js-client" ] || [ ! -d "$DEPS/node/node_modules/cloud-config-client" ]; then
    mkdir -p "$DEPS/node"
    (cd "$DEPS/node" && npm init -y >/dev/null 2>&1 && \
        npm install --silent --no-audit --no-fund eureka-js-client@4 cloud-config-client@1)
fi

# --- console: playwright-core (Playwright's library alone, no browser download: it drives
# Debian's /usr/bin/chromium), for the console's browser tests (crates/factura/tests/console.rs).
if [ ! -d "$DEPS/node/node_modules/playwright-core" ]; then
    mkdir -p "$DEPS/node"
    (cd "$DEPS/node" && { [ -f package.json ] || npm init -y >/dev/null 2>&1; } && \
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund playwright-core@1)
fi
# --- end console

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "install-test-deps: chromium missing and not root; the dashboard browser test will fail" >&2
    fi
fi
# --- secjwt: Keycloak, the identity provider of the security tests (crates/factura/tests/security.rs).
# scripts/keycloak.sh installs it once (Maven Central via mvn, into ~/.cache/factura/keycloak;
# needs a Java 21+ JDK, e.g. the Temurin one under /usr/lib/jvm) and returns at once afterwards.
scripts/keycloak.sh >/dev/null
scripts/keycloak.sh java >/dev/null
# --- end secjwt
echo "test dependencies ready in $DEPS"
