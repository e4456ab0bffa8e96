#!/usr/bin/env bash
# Runs the Superapp host with the bundled mini-apps on the embedded default
# store (sled in ./superapp-data), as a demo an operator can try at once:
#   - builds the mini-apps (wasm32-wasip2, installing the target if missing)
#     and the host;
#   - on the first run makes a developer key (./superapp-dev/, never
#     committed), trusts it, packs and signs shop, ride-hailing and
#     red-packet with it and installs the signed packages (the tutorial app
#     `hello` is installed as a developer install);
#   - on the first run creates demo people with a known password, funds
#     their wallets, opens the shop and registers a driver;
#   - prints what to try, then serves.
# Re-running keeps all data.
#   SUPERAPP_DATA   data folder        (default ./superapp-data)
#   SUPERAPP_LISTEN address to listen  (default 127.0.0.1:8080)
set -euo pipefail
cd "$(dirname "$0")"

if command -v rustup >/dev/null 2>&1; then
    rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
fi

echo "building the mini-apps (wasm32-wasip2)…"
cargo build --quiet --profile guest --target wasm32-wasip2 --target-dir target/guests \
    -p hello $(ls -d mini-apps/*/ | xargs -n1 basename | sed 's/^/-p /')
echo "building the host…"
cargo build --quiet --release -p superapp-host

bin=target/release/superapp
data=${SUPERAPP_DATA:-./superapp-data}
listen=${SUPERAPP_LISTEN:-127.0.0.1:8080}
sa() { "$bin" --data "$data" "$@"; }

# The developer key that signs the bundled apps: made once, kept out of git.
dev=./superapp-dev
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

cat <<EOF

Superapp is starting on http://$listen with three signed mini-apps:
  shop (Tea House), ride-hailing (Rides), red-packet (Red Packets), and hello.
Open http://$listen/ in a browser and sign in as one of the people below:
each app opens with its own UI inside the Superapp.

Demo people, all with the password '$password' (a demo: do not expose it):
  ann  ¥500.00   shops, rides, sends red packets
  ben  ¥100.00   and cai ¥100.00: ann's friends, they open her red packets
  mia            owns the Tea House (its merchant: /admin routes)
  dan            a registered driver

Try the three flows end to end (shop with escrow, a ride with a hold, a
group red packet), with every call printed:
  examples/walkthrough/walkthrough.sh http://$listen

Or by hand:
  H=http://$listen
  T=\$(curl -s \$H/auth/login -H 'content-type: application/json' \\
      -d '{"handle":"ann","password":"$password"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -H "authorization: Bearer \$T" \$H/apps/shop/call/products
  curl -X PUT -H "authorization: Bearer \$T" -H 'content-type: application/json' \\
      -d '{"qty":1}' \$H/apps/shop/call/cart/p1
  curl -X POST -H "authorization: Bearer \$T" \$H/apps/shop/call/checkout   # → payment to confirm
  curl -X POST -H "authorization: Bearer \$T" \$H/me/payments/<payment>/confirm
  curl -H "authorization: Bearer \$T" \$H/me/wallet
The whole API: \$H/openapi.json

EOF
exec "$bin" --data "$data" serve --listen "$listen"
