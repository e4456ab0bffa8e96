#!/usr/bin/env bash
# Sets up the demo on a data folder with the `superapp` command line, the
# same for ./run.sh and the browser tests: a developer key (made once, kept
# out of git) that the host trusts; shop, ride-hailing and red-packet packed
# with their UIs, signed with it and installed as signed packages; hello as
# a developer install; demo people with the password `superapp-demo`, their
# money, the Tea House's catalog and a registered driver. Every step is safe
# to repeat, so an interrupted run completes on the next.
#   SUPERAPP_BIN   the `superapp` binary (required)
#   SUPERAPP_DATA  the data folder      (default ./superapp-data)
#   SUPERAPP_DEV   the developer folder (default ./superapp-dev)
# Run from the repository root, after building the guest components into
# target/guests (./run.sh and `cargo test` both do).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${SUPERAPP_BIN:?set SUPERAPP_BIN to the superapp binary}
data=${SUPERAPP_DATA:-./superapp-data}
dev=${SUPERAPP_DEV:-./superapp-dev}
sa() { "$bin" --data "$data" "$@"; }

# The folder this fills (the listings below only read, and do not make it).
mkdir -p "$data"

# The developer key that signs the bundled apps: made once, kept out of git.
mkdir -p "$dev"
if [ ! -f "$dev/developer.key" ]; then
    sa keys new --out "$dev/developer.key" | tail -n1 >"$dev/developer.pub"
fi
pub=$(cat "$dev/developer.pub")
# Captured first: `grep -q` may stop reading early, failing the pipe.
trusted=$(sa trust list)
if ! grep -qF "$pub" <<<"$trusted"; then
    sa trust add "$pub" --name "Superapp demo developer" >/dev/null
fi

installed=$(sa apps list)
for m in manifests/*.toml; do
    id=$(basename "$m" .toml)
    # The manifests name components in the build folder and UIs in
    # mini-apps/, outside their own folder, so both are named here (the CLI
    # reads no other).
    sa pack "$m" --key "$dev/developer.key" --out "$dev/$id.sapp" \
        --component "target/guests/wasm32-wasip2/guest/${id//-/_}.wasm" \
        --ui "mini-apps/$id/ui" >/dev/null
    if grep -q "^$id " <<<"$installed"; then
        # A signed app moves on only to a higher version: bump `version` in
        # its manifest to ship changed code; otherwise the installed one stays.
        sa apps upgrade "$dev/$id.sapp" >/dev/null 2>&1 || true
    else
        sa install "$dev/$id.sapp"
    fi
done
# --replace picks up rebuilt code and keeps the app's data. (hello's UI,
# examples/hello/ui, is inside its manifest's folder: no --ui needed.)
sa install --dev --replace examples/hello/superapp.toml \
    --component target/guests/wasm32-wasip2/guest/hello.wasm >/dev/null

password=superapp-demo
# Each step is safe to repeat, so an interrupted first run completes later.
people=$(sa users list)
add() {
    if ! grep -q "^$1 " <<<"$people"; then
        sa users add "$1" --name "$2" --password-stdin <<<"$password" >/dev/null
        echo "created $1 (password: $password)"
    fi
}
add ann "Ann"
add ben "Ben"
add cai "Cai"
add mia "Mia (Tea House)"
add dan "Dan (driver)"
# Fixed keys: each wallet is funded once, however often this runs.
sa wallet topup ann 500.00 --idempotency-key demo-fund-ann >/dev/null
sa wallet topup ben 100.00 --idempotency-key demo-fund-ben >/dev/null
sa wallet topup cai 100.00 --idempotency-key demo-fund-cai >/dev/null
call() { sa call "$@" >/dev/null; }
call shop /admin/setup -X POST --user mia
catalog=$(sa call shop /products)
if grep -q '^\[\]$' <<<"$catalog"; then
    call shop /admin/products -X POST --user mia \
        --body '{"name":"Longjing tea, 250 g","description":"Spring harvest, West Lake","price":12800,"stock":50}'
    call shop /admin/products -X POST --user mia \
        --body '{"name":"Celadon tea cup","price":3000,"stock":20}'
    call shop /admin/products -X POST --user mia \
        --body '{"name":"Jasmine pearls, 100 g","price":6800,"stock":30}'
fi
call ride-hailing /drivers -X POST --user dan \
    --body '{"name":"Dan","car":"white BYD Qin","plate":"沪A·D1234"}'

