#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for CI: `source .ci/postgres.sh` starts one
# (initdb + pg_ctl in a temporary folder, on a free port, as the postgres
# user when run as root), exports SUPERAPP_TEST_POSTGRES for the tests, and
# stops and removes it when the calling shell exits. Installs the server
# with apt when this machine has none.
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing PostgreSQL (apt-get install postgresql)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_TMP=$(mktemp -d /tmp/superapp-ci-postgres.XXXXXX)
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$PG_TMP"
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi
as_pg "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
# Test settings: a crash of the machine is not what these tests are about.
as_pg "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -s \
    -o "-p $PG_PORT -k '' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500 -c shared_buffers=128MB" start
pg_stop() {
    as_pg "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -s stop || true
    rm -rf "$PG_TMP"
}
trap pg_stop EXIT
export SUPERAPP_TEST_POSTGRES="postgres://postgres@127.0.0.1:$PG_PORT"
echo "PostgreSQL for the tests at $SUPERAPP_TEST_POSTGRES" >&2
