#!/usr/bin/env bash
# A client walkthrough of the three flagship flows, as plain HTTP calls
# against a running host started by ./run.sh (demo people, password
# `superapp-demo`). Every call is printed with its answer.
#   1. Shop: ann buys tea; the money waits in escrow; mia ships; ann asks
#      for part of it back, mia refunds; ann confirms receipt, which
#      releases the rest to the shop; ann writes to the shop, mia answers.
#   2. Ride: ann asks for a ride, the estimate is held; dan accepts,
#      drives, completes; the actual fare is captured, the rest returns,
#      dan is paid; both rate each other.
#   3. Red packet: ann makes a group with ben and cai, sends a red packet
#      into it, confirms, and both open it.
# Usage: examples/walkthrough/walkthrough.sh [http://127.0.0.1:8080]
# Needs only bash and curl. Safe to run again (fresh keys each run).
set -euo pipefail
H=${1:-http://127.0.0.1:8080}
PASSWORD=${DEMO_PASSWORD:-superapp-demo}
run=$(date +%s)

# One call: prints it and its answer; the body is left in $OUT.
call() {
    local method=$1 path=$2 token=$3 body=${4:-}
    echo
    echo "» $method $path ${body:+$body}"
    local args=(-s -X "$method" "$H$path" -H "authorization: Bearer $token")
    [ -n "$body" ] && args+=(-H 'content-type: application/json' -d "$body")
    OUT=$(curl "${args[@]}")
    echo "  $OUT"
}
# The first string or number value of "name" in $OUT.
field() {
    grep -o "\"$1\":\(\"[^\"]*\"\|[0-9.]*\)" <<<"$OUT" | head -n1 | cut -d: -f2- | tr -d '"'
}
login() {
    curl -s "$H/auth/login" -H 'content-type: application/json' \
        -d "{\"handle\":\"$1\",\"password\":\"$PASSWORD\"}" | grep -o '"token":"[^"]*"' | cut -d'"' -f4
}
balance() {
    curl -s "$H/me/wallet" -H "authorization: Bearer $1" | grep -o '"balance":[0-9]*' | cut -d: -f2
}
# The host tells apps about payments in the background: wait until the
# app's view at $2 shows "status":"$3" (a few seconds at most).
await() {
    local token=$1 path=$2 want=$3
    for _ in $(seq 1 40); do
        if curl -s "$H$path" -H "authorization: Bearer $token" | grep -q "\"status\":\"$want\""; then
            return 0
        fi
        sleep 0.25
    done
    echo "  (still not $want after 10 s)"
}
say() { echo; echo "== $* =="; }

ANN=$(login ann); MIA=$(login mia); DAN=$(login dan); BEN=$(login ben); CAI=$(login cai)
[ -n "$ANN" ] || { echo "cannot log in as ann: is ./run.sh serving on $H?"; exit 1; }
echo "ann has $(balance "$ANN") (minor units: cents)"

say "1. Shop: buy, escrow, ship, partial refund, receipt"
call GET /apps/shop/call/products "$ANN"
call PUT /apps/shop/call/cart/p1 "$ANN" '{"qty":1}'
call PUT /apps/shop/call/cart/p2 "$ANN" '{"qty":2}'
call POST /apps/shop/call/checkout "$ANN" "{\"key\":\"walk-$run\"}"
order=$(field id); pay=$(field payment)
call POST "/me/payments/$pay/confirm" "$ANN"
echo "  ann now has $(balance "$ANN"); the shop has nothing yet: the money is in escrow"
await "$ANN" "/apps/shop/call/orders/$order" paid
call POST "/apps/shop/call/admin/orders/$order/ship" "$MIA" '{"tracking":"SF1234567890"}'
call POST "/apps/shop/call/orders/$order/refund" "$ANN" '{"amount":1000,"reason":"one cup arrived chipped"}'
call POST "/apps/shop/call/admin/orders/$order/refund" "$MIA" '{"note":"sorry about the cup"}'
call POST "/me/payments/$pay/confirm-receipt" "$ANN"
await "$ANN" "/apps/shop/call/orders/$order" received
call GET "/apps/shop/call/orders/$order" "$ANN"
call POST /apps/shop/messages "$ANN" '{"text":"Do you have Tieguanyin?"}'
sleep 1 # the shop hears about messages in the background
call GET /apps/shop/call/admin/inbox "$MIA"
call POST "/apps/shop/call/admin/inbox/$(field from)/reply" "$MIA" '{"text":"Next week!"}'

say "2. Ride: hold the estimate, capture the fare, pay the driver"
trip='{"pickup":{"lat":31.2304,"lng":121.4737},"dropoff":{"lat":31.2397,"lng":121.4998}}'
call POST /apps/ride-hailing/call/estimate "$ANN" "$trip"
call POST /apps/ride-hailing/call/rides "$ANN" "${trip%\}},\"key\":\"walk-$run\"}"
ride=$(field id); pay=$(field payment)
call POST "/me/payments/$pay/confirm" "$ANN"
echo "  ann now has $(balance "$ANN"): the estimate is held"
await "$ANN" "/apps/ride-hailing/call/rides/$ride" requested
call GET /apps/ride-hailing/call/rides/open "$DAN"
call POST "/apps/ride-hailing/call/rides/$ride/accept" "$DAN"
call POST "/apps/ride-hailing/call/rides/$ride/start" "$DAN"
call POST "/apps/ride-hailing/call/rides/$ride/complete" "$DAN" '{"distance_km":3.2}'
echo "  ann now has $(balance "$ANN") (the rest of the hold came back); dan has $(balance "$DAN")"
call POST "/apps/ride-hailing/call/rides/$ride/rate" "$ANN" '{"stars":5,"comment":"smooth ride"}'
call POST "/apps/ride-hailing/call/rides/$ride/rate" "$DAN" '{"stars":5}'

say "3. A red packet in a group"
# Ann and Ben let the app show their names (Cai does not: "a friend").
call PUT /me/apps/red-packet/grants/profile "$ANN" '{"decision":"grant"}'
call PUT /me/apps/red-packet/grants/profile "$BEN" '{"decision":"grant"}'
call POST /me/conversations "$ANN" '{"title":"Tea friends","members":["ben","cai"]}'
group=$(field id)
call POST /apps/red-packet/call/packets "$ANN" "{\"total\":888,\"count\":2,\"greeting\":\"恭喜发财\",\"key\":\"walk-$run\",\"conversation\":\"$group\"}"
packet=$(field packet); pay=$(field payment)
call POST "/me/payments/$pay/confirm" "$ANN"
call POST "/apps/red-packet/call/packets/$packet/claim" "$BEN"
call POST "/apps/red-packet/call/packets/$packet/claim" "$CAI"
call GET "/apps/red-packet/call/packets/$packet" "$ANN"
echo
echo "balances: ann $(balance "$ANN"), ben $(balance "$BEN"), cai $(balance "$CAI"), dan $(balance "$DAN")"
echo "ann's history: curl -H 'authorization: Bearer $ANN' $H/me/wallet/transactions"
