#!/usr/bin/env bash
# A read-only smoke check of a running instance of the app, with curl alone:
#
#   [EXPECT_VERSION=1.4.0] bash app/ci/smoke.sh http://127.0.0.1:PORT
#
# It sends two GETs and changes nothing (unlike validate.sh, whose tests
# create an item):
#   GET /health     must answer 200 with JSON; its "version" must equal
#                   EXPECT_VERSION when that is set
#   GET /api/items  must answer 200
# Each request may take SMOKE_TIMEOUT seconds (default 10). Needs curl and
# python3 (which parses the JSON); not the app's venv.
#
# Exit: 0 when both checks passed (one line on stdout); 1 when one failed
# (one line on stderr saying why); 2 for a bad call or a missing tool.
set -euo pipefail

usage() {
    echo "usage: [EXPECT_VERSION=X.Y.Z] bash app/ci/smoke.sh BASE_URL" >&2
    exit 2
}
[[ $# -eq 1 && -n $1 ]] || usage
base=${1%/}
timeout=${SMOKE_TIMEOUT:-10}
[[ $timeout =~ ^[1-9][0-9]*$ ]] || { echo "smoke: SMOKE_TIMEOUT=$timeout is not a positive integer" >&2; exit 2; }
for tool in curl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "smoke: $tool is missing" >&2; exit 2; }
done

fail() {
    echo "smoke: FAILED $base: $*" >&2
    exit 1
}

body=$(mktemp)
errors=$(mktemp)
trap 'rm -f "$body" "$errors"' EXIT

# get PATH: sets $status to the status code and leaves the body in $body;
# fails the check when there is no HTTP answer at all.
status=
get() {
    local path=$1
    if ! status=$(curl -sS -o "$body" -w '%{http_code}' --max-time "$timeout" \
        -H 'Accept: application/json' "$base$path" 2>"$errors"); then
        fail "GET $path: no answer ($(tail -n 1 "$errors" || true))"
    fi
}
# ": " and the start of the body on one line, for a failure's reason; nothing
# when the body is empty.
excerpt() {
    local text
    text=$(head -c 200 "$body" | tr -s '\r\n\t' ' ')
    text=${text%" "}
    [[ -z $text ]] || printf ': %s' "$text"
}

get /health
[[ $status == 200 ]] || fail "GET /health answered $status, expected 200$(excerpt)"
# The version as a string, or nothing (exit 1) when the body is not a JSON
# object with a string "version".
version=$(python3 -c '
import json, sys
try:
    body = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
version = body.get("version") if isinstance(body, dict) else None
if not isinstance(version, str):
    sys.exit(1)
print(version)
' <"$body") || fail "GET /health: the body is not JSON with a string \"version\"$(excerpt)"
if [[ -n ${EXPECT_VERSION:-} && $version != "$EXPECT_VERSION" ]]; then
    fail "GET /health: version is '$version', expected '$EXPECT_VERSION'"
fi

get /api/items
[[ $status == 200 ]] || fail "GET /api/items answered $status, expected 200$(excerpt)"

echo "smoke: ok $base (version $version)"
