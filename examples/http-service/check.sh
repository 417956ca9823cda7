#!/usr/bin/env bash
# Starts the service on a free port with a fresh store, sends it a command, a refused command
# (409), a read-your-writes read and a time-travel load, checks each answer, then sends SIGTERM
# and checks that it exits 0 after stopping its projection. Run by `.ci/run`; the binary is the
# first argument.
set -euo pipefail

service=$1
data=$(mktemp -d)
log=$(mktemp)
"$service" "$data" 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$data" "$log"' EXIT

for _ in $(seq 100); do
    grep -q '^listening on ' "$log" && break
    sleep 0.1
done
address=$(sed -n 's/^listening on //p' "$log")
[ -n "$address" ] || { echo "the service did not start:"; cat "$log"; exit 1; }
base="http://$address"

fail() { echo "FAIL: $*"; cat "$log"; exit 1; }
# request METHOD PATH [BODY]: prints the body, then the status on the last line.
request() {
    local args=(-s -w '\n%{http_code}' -X "$1" "$base$2")
    [ $# -ge 3 ] && args+=(-H 'content-type: application/json' -d "$3")
    curl "${args[@]}"
}
expect() { # expect NAME STATUS BODY-PATTERN RESPONSE
    local status body
    status=$(tail -n1 <<<"$4")
    body=$(sed '$d' <<<"$4")
    [ "$status" = "$2" ] || fail "$1: status $status, expected $2 ($body)"
    grep -q -- "$3" <<<"$body" || fail "$1: body $body does not match $3"
    echo "ok: $1 -> $status $body"
}

expect "receive 5" 200 '"on_hand":5' "$(request POST /items/tea '{"command":"receive","quantity":5}')"
expect "ship 9 of 5 is refused" 409 '"error":"5 on hand, 9 asked"' \
    "$(request POST /items/tea '{"command":"ship","quantity":9}')"
shipped=$(request POST /items/tea '{"command":"ship","quantity":2}')
expect "ship 2" 200 '"version":2' "$shipped"
position=$(sed -n 's/.*"position":\([0-9]*\).*/\1/p' <<<"$shipped")
expect "read your write" 200 '"on_hand":3,"version":2' "$(request GET "/stock/tea?after=$position")"
expect "time travel" 200 '"on_hand":5,"version":1' "$(request GET /items/tea/at/1)"
expect "a zero quantity" 422 'positive' "$(request POST /items/tea '{"command":"receive","quantity":0}')"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[ "$status" = 0 ] || fail "exit status $status after SIGTERM"
grep -q '^stopped cleanly' "$log" || fail "no clean stop in the log"
echo "ok: SIGTERM -> $(grep '^stopped cleanly' "$log")"
