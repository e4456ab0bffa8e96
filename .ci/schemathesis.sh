#!/usr/bin/env bash
# Fuzzes a live `superapp serve` against its own OpenAPI document with
# schemathesis: every answer must be documented (status, content type,
# body schema, headers) and none may be a server error.
#   - installs schemathesis (pinned) into target/schemathesis-venv if missing;
#   - builds the host and the `hello` mini-app, serves on a free port on
#     127.0.0.1 with a temporary data folder and a fresh admin token;
#   - gives the routes data: people, a session, `hello` (a dev install) with
#     a granted scope and a call, money, a transfer, a red packet, a group
#     and a direct conversation with messages;
#   - runs schemathesis on the person's routes (session token), on
#     `/auth/logout` (its own token, which it revokes) and on the operator
#     routes (admin token), each with a bounded number of examples;
#   - exits non-zero on any failure; the server is stopped in every case.
#   SCHEMATHESIS_MAX_EXAMPLES  examples per operation and phase (default 100:
#                              about 6000 requests, 2 minutes on 2 cores)
#   SCHEMATHESIS_SEED          the random seed (default fixed, so runs repeat)
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-100}
seed=${SCHEMATHESIS_SEED:-20240611}
venv=target/schemathesis-venv
st=$venv/bin/schemathesis

if ! "$st" --version 2>/dev/null | grep -qF "version $version"; then
    echo "installing schemathesis $version into $venv…"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

echo "building the host and the hello mini-app…"
# Exactly the build `cargo test` makes (a no-op right after it; `cargo build
# -p superapp-host` would build wasmtime again with other features). Its
# `superapp-under-test` is the `superapp` command line, and the test crate's
# build script builds `hello`.
cargo test --quiet --no-run
bin=target/debug/superapp-under-test

work=$(mktemp -d)
data=$work/data
pid=
stop() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
admin=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
"$bin" --data "$data" serve --listen "127.0.0.1:$port" --admin-token "$admin" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
    curl -sf "$base/healthz" >/dev/null 2>&1 && break
    if ! kill -0 "$pid" 2>/dev/null; then
        cat "$work/server.log" >&2
        echo "the server did not start" >&2
        exit 1
    fi
    sleep 0.1
done
curl -sf "$base/healthz" >/dev/null || {
    echo "the server did not answer within 60 s" >&2
    exit 1
}

# ---- data for the routes (the CLI goes to the server's /admin routes) ----
sa() { "$bin" --data "$data" "$@" >/dev/null; }
password=schemathesis-pw
sa install --dev examples/hello/superapp.toml --component target/guests/wasm32-wasip2/guest/hello.wasm
for who in ann ben cai; do
    sa users add "$who" --name "${who^}" --password-stdin <<<"$password"
done
sa wallet topup ann 500.00 --idempotency-key st-fund-ann
sa wallet topup ben 100.00 --idempotency-key st-fund-ben

# One request with the JSON answer on stdout; fails on a status >= 400.
api() {
    local method=$1 path=$2 token=$3 body=${4:-}
    shift 4 || shift $#
    curl -sS --fail-with-body -X "$method" "$base$path" \
        -H "authorization: Bearer $token" -H 'content-type: application/json' \
        ${body:+--data "$body"} "$@"
}
login() {
    curl -sS --fail-with-body "$base/auth/login" -H 'content-type: application/json' \
        --data "{\"handle\":\"$1\",\"password\":\"$password\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }
ann=$(login ann)
ben=$(login ben)
api PUT /me/apps/hello/grants/profile "$ann" '{"decision":"grant"}' >/dev/null
api GET /apps/hello/call/ "$ann" '' >/dev/null
api POST /me/transfers "$ann" '{"to":"ben","amount":1234,"memo":"tea"}' -H 'idempotency-key: st-transfer-1' >/dev/null
group=$(api POST /me/conversations "$ann" '{"title":"Tea friends","members":["ben","cai"]}' | field id)
direct=$(api POST /me/conversations "$ann" '{"members":["ben"]}' | field id)
# Leaving gets a group of its own, so the others stay readable.
leavable=$(api POST /me/conversations "$ann" '{"title":"To leave","members":["ben"]}' | field id)
for i in 1 2 3; do
    api POST "/me/conversations/$group/messages" "$ann" "{\"kind\":\"text\",\"text\":\"hello $i\"}" >/dev/null
done
api POST "/me/conversations/$direct/messages" "$ben" '{"kind":"text","text":"hi Ann"}' >/dev/null
packet=$(api POST /me/red-packets "$ann" '{"total":888,"count":2,"greeting":"luck"}' -H 'idempotency-key: st-packet-1' | field id)
api POST "/me/red-packets/$packet/claim" "$ben" '' >/dev/null
echo "serving on $base with hello, ann, ben, cai, money, a red packet and conversations"

# Real ids for the routes that name one, so they reach past 404. One worker:
# Python 3.11's parser is not thread-safe, and hypothesis parses lambdas
# while it generates.
config=$work/schemathesis.toml
cat >"$config" <<EOF
# Nothing carried over between runs, so each run is the same.
[cache]
enabled = false

[[operations]]
include-path = "/me/conversations/{id}/leave"
parameters = { "path.id" = "$leavable" }

[[operations]]
include-path-regex = '^/me/conversations/\{id\}'
parameters = { "path.id" = "$group" }

[[operations]]
include-path-regex = '^/me/red-packets/\{id\}'
parameters = { "path.id" = "$packet" }

[[operations]]
include-path-regex = '^/(me/)?apps/\{id\}'
parameters = { "path.id" = "hello" }

[[operations]]
include-path-regex = '^/admin/(wallet/)?users/\{handle\}'
parameters = { "path.handle" = "ben" }

# The live stream never ends: read what it sends for 2 s, then hang up.
[[operations]]
include-path = "/me/events"
request-timeout = 2
max-stream-events = 5
EOF

# ---- the runs ---------------------------------------------------------
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
reports=target/schemathesis-report
total=0
failed=0
started=$SECONDS
run() {
    local name=$1 token=$2
    shift 2
    echo
    echo "== schemathesis: $name =="
    local code=0
    "$st" --config-file "$config" run "$base/openapi.json" \
        --checks "$checks" \
        --max-examples "$max_examples" \
        --seed "$seed" \
        --workers 1 \
        --request-timeout 20 \
        --generation-database none \
        --generation-with-security-parameters false \
        --no-color \
        --header "Authorization: Bearer $token" \
        --report ndjson --report-ndjson-path "$reports/$name.ndjson" \
        "$@" || code=$?
    local n
    n=$(python3 - "$reports/$name.ndjson" <<'EOF'
import json, sys
count = 0
try:
    with open(sys.argv[1]) as f:
        for line in f:
            event = json.loads(line)
            # Every recorded interaction is one request to the server.
            for body in event.values():
                if isinstance(body, dict):
                    for rec in (body.get("recorder") or {}).get("interactions", {}).values():
                        count += 1
except FileNotFoundError:
    pass
print(count)
EOF
)
    echo "$name: $n requests, exit $code"
    total=$((total + n))
    [ "$code" -eq 0 ] || failed=1
}
rm -rf "$reports"
mkdir -p "$reports"
run person "$ann" --exclude-path-regex '^/admin/' --exclude-path /auth/logout
run logout "$(login cai)" --include-path /auth/logout
run admin "$admin" --include-path-regex '^/admin/'

echo
echo "schemathesis: $total requests in $((SECONDS - started)) s"
if [ "$failed" -ne 0 ]; then
    echo "schemathesis found failures (see above); the server's log:" >&2
    tail -n 50 "$work/server.log" >&2
    exit 1
fi
echo "schemathesis: no failures"
