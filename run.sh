#!/usr/bin/env bash
# Runs the Superapp host with the bundled mini-apps on the embedded default
# store (sled in ./superapp-data). Builds what it needs first; installs the
# wasm32-wasip2 target if it is missing. Re-running keeps all data.
#   SUPERAPP_DATA   data folder        (default ./superapp-data)
#   SUPERAPP_LISTEN address to listen  (default 127.0.0.1:8080)
set -euo pipefail
cd "$(dirname "$0")"

if command -v rustup >/dev/null 2>&1; then
    rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
fi

manifests=(examples/hello/superapp.toml)
for m in manifests/*.toml; do
    [ -f "$m" ] && manifests+=("$m")
done

echo "building the mini-apps (wasm32-wasip2)…"
cargo build --quiet --profile guest --target wasm32-wasip2 --target-dir target/guests \
    -p hello $(ls -d mini-apps/*/ 2>/dev/null | xargs -r -n1 basename | sed 's/^/-p /')
echo "building the host…"
cargo build --quiet --release -p superapp-host

bin=target/release/superapp
data=${SUPERAPP_DATA:-./superapp-data}
for m in "${manifests[@]}"; do
    # --replace picks up rebuilt code and keeps each app's data.
    "$bin" --data "$data" install --dev --replace "$m"
done
# A person to try the API with, made once; the password is printed once.
users=$("$bin" --data "$data" users list)
if ! grep -q '^demo ' <<<"$users"; then
    "$bin" --data "$data" users add demo --name "Demo User"
fi
exec "$bin" --data "$data" serve --listen "${SUPERAPP_LISTEN:-127.0.0.1:8080}"
