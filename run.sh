#!/usr/bin/env bash
# Runs the Superapp host with the bundled mini-apps on the embedded default
# store (sled in ./superapp-data), as a demo an operator can try at once:
#   - builds the mini-apps (wasm32-wasip2, installing the target if missing)
#     and the host;
#   - on the first run makes a developer key (./superapp-dev/, never
#     committed), trusts it, packs and signs shop, ride-hailing and
#     red-packet with it and installs the signed packages (the example app
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
SUPERAPP_BIN=$bin SUPERAPP_DATA=$data SUPERAPP_DEV=./superapp-dev scripts/demo-setup.sh
password=superapp-demo

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
