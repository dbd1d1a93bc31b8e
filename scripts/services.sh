#!/usr/bin/env bash
# Installs (from Debian's packages) and starts the servers the test suite talks to, and waits
# until they answer:
#   - PostgreSQL on 127.0.0.1:5432, trust auth for local connections, a `test` database;
#   - Redis on 127.0.0.1:6379 (the gateway's shared rate limiter).
# Idempotent: servers already running are left as they are. Needs root on a machine that lacks
# them; a developer who runs their own servers on those ports needs nothing from it.
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_updated=""
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "services: $* missing and not root; install them or start your own servers" >&2
        exit 1
    fi
    if [ -z "$apt_updated" ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # port name
    for _ in $(seq 1 100); do
        answers "$1" && return 0
        sleep 0.1
    done
    echo "services: $2 did not answer on 127.0.0.1:$1" >&2
    exit 1
}

if ! answers 5432; then
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        apt_install postgresql
    fi
    version="$(ls /usr/lib/postgresql | sort -n | tail -n 1)"
    if [ ! -d "/etc/postgresql/$version/main" ]; then
        pg_createcluster "$version" main >/dev/null
    fi
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -q '^# factura: trust local' "$hba"; then
        # Trust for local test connections goes first, so it wins over the packaged rules.
        { echo '# factura: trust local'
          echo 'local all all trust'
          echo 'host all all 127.0.0.1/32 trust'
          echo 'host all all ::1/128 trust'
          cat "$hba"; } > "$hba.new"
        mv "$hba.new" "$hba"
        chown postgres:postgres "$hba"
    fi
    # A server killed outright (as when a session ends) leaves its lock files behind, naming a
    # PID the system may since have handed to another process: a lock whose PID is not a
    # running postgres is stale. A server still dying holds its lock a moment: try again.
    start_postgres() {
        for lock in /var/run/postgresql/.s.PGSQL.5432.lock "/var/lib/postgresql/$version/main/postmaster.pid"; do
            [ -f "$lock" ] || continue
            pid="$(head -n 1 "$lock")"
            if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != postgres ] ||
                grep -q '^State:.*zombie' "/proc/$pid/status" 2>/dev/null; then
                rm -f "$lock"
            fi
        done
        pg_ctlcluster "$version" main start
    }
    start_postgres || { sleep 2; start_postgres; }
    wait_for 5432 PostgreSQL
fi
for _ in $(seq 1 50); do
    psql -h 127.0.0.1 -U postgres -Atqc 'select 1' postgres >/dev/null 2>&1 && break
    sleep 0.2
done
if ! psql -h 127.0.0.1 -U postgres -Atqc "select 1 from pg_database where datname = 'test'" postgres | grep -q 1; then
    psql -h 127.0.0.1 -U postgres -qc 'create database test' postgres
fi

if ! answers 6379; then
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
        --logfile /tmp/factura-redis.log
    wait_for 6379 Redis
fi
echo "services: PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379"
