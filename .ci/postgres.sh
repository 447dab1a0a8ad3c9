#!/usr/bin/env bash
# Start a local PostgreSQL 15 for the store tests and print the URL they read.
#
# Idempotent; run as root (CI machines, dev containers). On a machine without PostgreSQL 15
# it installs it from the distribution's packages. It ends by printing one line,
#
#     BRIDGE_TEST_PG_URL=postgresql+psycopg://bridge:...@127.0.0.1:5432/bridge_test
#
# which callers `eval "export $(.ci/postgres.sh | tail -n 1)"`. The role's password is a
# throw-away test credential for a loopback-only server; override it with
# BRIDGE_TEST_PG_PASSWORD.
set -euo pipefail

PG_VERSION=15
CLUSTER=main
PG_PORT="${BRIDGE_TEST_PG_PORT:-5432}"
ROLE=bridge
DATABASE=bridge_test
PASSWORD="${BRIDGE_TEST_PG_PASSWORD:-bridge-test-only}"

log() { echo "postgres.sh: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "run me as root (pg_ctlcluster switches to the postgres user itself)"
    exit 2
fi

# The password goes into SQL and a URL: keep it to characters that need no quoting in either.
case "$PASSWORD" in
    *[!A-Za-z0-9._-]*) log "BRIDGE_TEST_PG_PASSWORD may hold only A-Z a-z 0-9 . _ -"; exit 2 ;;
esac

if ! command -v pg_lsclusters >/dev/null 2>&1 || [ ! -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ]; then
    log "installing postgresql-$PG_VERSION"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q "postgresql-$PG_VERSION" >&2
fi

if ! pg_lsclusters --no-header | awk '{print $1"/"$2}' | grep -qx "$PG_VERSION/$CLUSTER"; then
    log "creating cluster $PG_VERSION/$CLUSTER"
    pg_createcluster --port "$PG_PORT" "$PG_VERSION" "$CLUSTER" >&2
fi

status="$(pg_lsclusters --no-header | awk -v v="$PG_VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}')"
if [ "$status" != "online" ]; then
    log "starting cluster $PG_VERSION/$CLUSTER"
    pg_ctlcluster "$PG_VERSION" "$CLUSTER" start >&2
fi

# pg_ctlcluster returns once the postmaster runs, not necessarily once it accepts connections.
for _ in $(seq 1 60); do
    if pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
        break
    fi
    sleep 0.5
done
if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    log "PostgreSQL did not become ready; see /var/log/postgresql/postgresql-$PG_VERSION-$CLUSTER.log"
    exit 1
fi

psql_admin() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q -p "$PG_PORT" "$@"; }

# CREATE ROLE has no IF NOT EXISTS; the DO block makes it idempotent, and re-setting the
# password keeps the printed URL right even if an earlier run used another one.
psql_admin -d postgres >&2 <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
        CREATE ROLE $ROLE LOGIN;
    END IF;
END
\$\$;
ALTER ROLE $ROLE WITH LOGIN PASSWORD '$PASSWORD';
SQL

# CREATE DATABASE cannot run inside a DO block (it refuses transactions), hence the check.
if [ -z "$(psql_admin -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" ]; then
    psql_admin -d postgres -c "CREATE DATABASE $DATABASE OWNER $ROLE" >&2
fi

echo "BRIDGE_TEST_PG_URL=postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PG_PORT/$DATABASE"
