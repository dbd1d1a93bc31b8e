#!/usr/bin/env bash
# Keycloak for factura: the identity provider of the security tests and of a secured system.
#
#   scripts/keycloak.sh            installs Keycloak (once) and prints, as its last line, the
#                                  folder it is in; a second run returns at once
#   scripts/keycloak.sh java       prints the java (21 or newer) Keycloak runs on
#   scripts/keycloak.sh start [PORT]
#                                  runs it in the foreground in dev mode on 127.0.0.1:PORT
#                                  (default 8180), in memory, with the realm `factura` of
#                                  scripts/keycloak/factura-realm.json imported
#
# The distribution (org.keycloak:keycloak-quarkus-dist, from Maven Central through Maven's own
# client, cached in ~/.m2) is unpacked under ~/.cache/factura/keycloak/. Needs Maven and a Java
# 21+ JDK (JAVA_HOME, or one under /usr/lib/jvm); fails, never skips, when they are missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="${KEYCLOAK_VERSION:-26.5.6}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/factura/keycloak"
home="$cache/keycloak-$version"

java_21() {
    local candidate major
    for candidate in "${JAVA_HOME:-}/bin/java" /usr/lib/jvm/*/bin/java "$(command -v java || true)"; do
        [ -x "$candidate" ] || continue
        major="$("$candidate" -XshowSettings:properties -version 2>&1 |
            sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')"
        if [ -n "$major" ] && [ "$major" -ge 21 ]; then
            echo "$candidate"
            return 0
        fi
    done
    echo "keycloak: no Java 21 or newer found (JAVA_HOME, /usr/lib/jvm); Keycloak needs one" >&2
    return 1
}

install() {
    if [ -f "$home/.complete" ]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || { echo "keycloak: mvn is missing (Maven is needed)" >&2; exit 1; }
    mkdir -p "$cache"
    # One install at a time per machine: test binaries may ask at once.
    exec 9>"$cache/.lock"
    flock 9
    if [ ! -f "$home/.complete" ]; then
        mvn -q dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$version:zip" \
            -DoutputDirectory="$cache" >&2
        rm -rf "$home"
        (cd "$cache" && unzip -q "keycloak-quarkus-dist-$version.zip")
        rm -f "$cache/keycloak-quarkus-dist-$version.zip"
        touch "$home/.complete"
    fi
    exec 9>&-
}

case "${1:-install}" in
    install)
        install
        echo "$home"
        ;;
    java)
        java_21
        ;;
    start)
        install
        java="$(java_21)"
        mkdir -p "$home/data/import"
        cp "$root/scripts/keycloak/factura-realm.json" "$home/data/import/"
        export JAVA_HOME="$(dirname "$(dirname "$java")")"
        exec "$home/bin/kc.sh" start-dev --db=dev-mem --http-host=127.0.0.1 \
            --http-port="${2:-8180}" --import-realm
        ;;
    *)
        echo "usage: $0 [install | java | start [PORT]]" >&2
        exit 2
        ;;
esac
