#!/usr/bin/env bash
# The browser tests of the web shell, and the node tests of the bridge
# client. Installs what they need when it is missing (Debian's Chromium,
# playwright-core from package-lock.json), builds the host as `cargo test`
# does (unless SUPERAPP_BIN names a binary), then runs every *.test.mjs
# here against real `superapp serve` processes on 127.0.0.1. Screenshots
# of the main screens, and of any failing test's pages, land in out/.
#   bash tests/browser/run.sh            # all of them
#   bash tests/browser/run.sh shop.test.mjs   # some of them
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "run.sh: $chromium is missing; installing Debian's chromium" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
fi

cd "$here"
if ! node -e "require.resolve('playwright-core')" 2>/dev/null; then
  npm ci --no-audit --no-fund
fi

if [ -z "${SUPERAPP_BIN:-}" ]; then
  # The same build as the README's test command: it makes
  # target/debug/superapp-under-test and the guest components.
  (cd "$root" && cargo test --no-run --quiet)
fi

rm -rf out
mkdir -p out
node check-strings.mjs
node --test "$root/tests/bridge/"
if [ "$#" -gt 0 ]; then
  node --test --test-concurrency=1 "$@"
else
  node --test --test-concurrency=1 ./*.test.mjs
fi
