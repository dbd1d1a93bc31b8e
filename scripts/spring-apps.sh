#!/usr/bin/env bash
# Builds the Spring reference apps (conformance/spring/) and prints, as its last line, the folder
# holding their jars (eureka-server.jar, config-server.jar, ...).
#
# The build is cached outside the clone, keyed by a hash of the Maven project's files, so a
# second run (another test binary, the next CI run on the same machine) finds the jars and
# returns at once; Maven's own repository stays in ~/.m2. `SPRING_PROFILE=latest` builds against
# the newest GA Spring line instead of the seed's (cached separately).
# Needs Java 17 and Maven; fails, never skips, when they are missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
project="$root/conformance/spring"
profile="${SPRING_PROFILE:-seed}"

command -v java >/dev/null 2>&1 || { echo "spring-apps: java is missing (Java 17 is needed)" >&2; exit 1; }
command -v mvn >/dev/null 2>&1 || { echo "spring-apps: mvn is missing (Maven is needed)" >&2; exit 1; }

hash="$(cd "$project" && find . -type f -not -path '*/target/*' -print0 | sort -z |
    xargs -0 sha256sum | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/factura/spring"
out="$cache/$profile-$hash"
if [ ! -f "$out/.complete" ]; then
    build="$cache/build-$profile"
    mkdir -p "$cache"
    # One build at a time per machine: test binaries may ask for the jars at once.
    exec 9>"$cache/.lock"
    flock 9
    if [ ! -f "$out/.complete" ]; then
        rm -rf "$build"
        mkdir -p "$build"
        cp -r "$project/." "$build/"
        find "$build" -name target -type d -prune -exec rm -rf {} +
        maven_args=(-B -q -DskipTests package)
        [ "$profile" = seed ] || maven_args+=("-P$profile")
        echo "spring-apps: building the Spring reference apps ($profile line) ..." >&2
        (cd "$build" && mvn "${maven_args[@]}") >&2
        rm -rf "$out.tmp"
        mkdir -p "$out.tmp"
        for jar in "$build"/*/target/*.jar; do
            case "$jar" in *.original) continue ;; esac
            cp "$jar" "$out.tmp/"
        done
        touch "$out.tmp/.complete"
        rm -rf "$out"
        mv "$out.tmp" "$out"
        # Older builds of this line (earlier versions of the apps) only fill the disk; the two
        # most recent others stay for checkouts (worktrees, CI clones) that still use them.
        ls -dt "$cache/$profile"-* 2>/dev/null | grep -vxF "$out" | tail -n +3 | xargs -r rm -rf
    fi
fi
echo "$out"
