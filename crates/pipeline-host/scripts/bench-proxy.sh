#!/usr/bin/env bash
# What the agent's reverse proxy costs, and how fast a swap moves traffic,
# in front of one of two apps, chosen by APP:
#
#   APP=testapp  (the default) pipeline-testapp, the agent's own test app (Rust)
#   APP=sample   the sample service in app/ (Flask on waitress, Python), as the
#                pipeline ships it: app/ packaged with `pipeline-deploy package
#                --source app` (which honours app/.deployignore: no tests/, ci/,
#                .venv/), started with `sh run.sh`
#
#   1. the app on its own port: latency and throughput, direct; then the same
#      app behind a bare TCP relay (`http-bench relay`, one thread): the
#      floor of any userspace proxy on this machine. APP=sample:
#      the artifact unpacked into a work directory, `sh run.sh` there (it
#      builds the release's venv on its first start, about 7 s)
#   2. the same app as release 1.0.0 of an environment of
#      `pipeline-agent serve`, behind its front: latency and throughput, proxied.
#      APP=sample: the same artifact, command `exec sh run.sh`,
#      health_timeout_secs 120 (the venv is built again, in the release)
#   3. release 2.0.0 deployed to the idle slot, then swapped: the time from
#      the swap request to the front's first 2.0.0 answer (and back and forth
#      for SWITCHES switches in all). APP=sample: the same artifact again,
#      as version 2.0.0 (the agent keys a release by its version: the same
#      digest under another version is a release of its own)
#
# Every run GETs the app's / (both apps answer it with X-Pipeline-Version).
# Latency: `http-bench load --latency-run` (one keep-alive connection, the
# median of every request); throughput: `http-bench load --concurrency 32`
# (one keep-alive connection per worker); switch: `http-bench switch-latency`
# (polls the front's /version every millisecond). Each run is one second of
# warm-up, then DURATION seconds measured.
#
#   bash crates/pipeline-host/scripts/bench-proxy.sh
#   APP=sample bash crates/pipeline-host/scripts/bench-proxy.sh
#   DURATION=30 CONCURRENCY=64 SWITCHES=11 bash crates/pipeline-host/scripts/bench-proxy.sh
#   SWITCH_ARGS=--fresh-connections bash crates/pipeline-host/scripts/bench-proxy.sh
#
# SWITCH_ARGS are added to `http-bench switch-latency`: by default it polls
# on one kept-alive connection; --fresh-connections opens one per poll.
# DURATION defaults to 10 s and CONCURRENCY to 32, for both apps.
# Results: target/bench/proxy/bench-proxy.md (APP=sample:
# target/bench/proxy-sample/bench-proxy.md) and the JSON of every run.
#
# Targets: less than 0.5 ms added to the median latency, at least 70 % of
# the direct throughput, less than 50 ms from swap to the new version.
# The load generator, the app and the agent share this machine's cores:
# numbers are only comparable on the same machine.
#
# Exit codes: 0 measured (whether the targets are met is in the table);
# 1 a step failed (a build, the agent, a request); 2 a tool is missing or a
# setting (APP, DURATION, CONCURRENCY, SWITCHES) is invalid.
#
# Needs: curl, jq, python3 (to find free ports; APP=sample: to unpack the
# artifact, and Python 3.11+ with its venv module and PyPI, or pip's cache,
# for run.sh).
set -euo pipefail
cd "$(dirname "$0")/../../.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-32}
SWITCHES=${SWITCHES:-5}
read -ra SWITCH_ARGS <<<"${SWITCH_ARGS:-}"
APP=${APP:-testapp}
ROOT=$PWD

die() { printf 'bench-proxy: error: %s\n' "$*" >&2; exit 1; }
for var in DURATION CONCURRENCY SWITCHES; do
    [[ ${!var} =~ ^[1-9][0-9]*$ ]] || { echo "bench-proxy: $var=${!var} is not a positive integer" >&2; exit 2; }
done
for tool in curl jq python3; do
    command -v "$tool" >/dev/null || { echo "bench-proxy: $tool is missing" >&2; exit 2; }
done
# APP_NAME names the app in messages, APP_TITLE in the table's title;
# START_SECS is how long its first start may take.
case $APP in
    testapp)
        WORK=target/bench/proxy
        APP_NAME=pipeline-testapp
        APP_TITLE=pipeline-testapp
        START_SECS=30
        ;;
    sample)
        WORK=target/bench/proxy-sample
        APP_NAME="the sample app"
        APP_TITLE="the sample app (app/: Flask on waitress)"
        START_SECS=120
        # The failure switches of the caller's environment would reach the app.
        unset APP_FAIL_HEALTH APP_BREAK_ITEMS APP_BREAK_WRITES APP_ENV_FILE
        if [[ -e app/app.env ]]; then
            echo "bench-proxy: warning: app/app.env goes into the artifact: $(tr '\n' ' ' <app/app.env)" >&2
        fi
        ;;
    *)
        echo "bench-proxy: APP=$APP: expected testapp or sample" >&2
        exit 2
        ;;
esac

cargo build --release --locked -p pipeline-agent -p pipeline-bench -p pipeline-deploy
BIN=$ROOT/target/release
TESTAPP=$BIN/pipeline-testapp
AGENT_BIN=$BIN/pipeline-agent
DEPLOY=$BIN/pipeline-deploy
HTTP_BENCH=$BIN/http-bench

rm -rf "$WORK"
mkdir -p "$WORK/logs" "$WORK/direct" "$WORK/state"
STATE=$WORK/state
AUTH=$WORK/auth.header

# stop PID: SIGTERM, then SIGKILL if it is still there after 15 s.
stop() {
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    echo "bench-proxy: pid $pid ignored SIGTERM for 15 s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

PIDS=()
AGENT=
cleanup() {
    local apps=() pid
    # The apps the agent runs, in case it leaves them behind.
    if [[ -n $AGENT ]]; then
        mapfile -t apps < <(curl -sf --max-time 2 -H @"$AUTH" "http://$AGENT/v1/envs/bench" 2>/dev/null \
            | jq -r '.slots[]?.pid // empty' 2>/dev/null || true)
    fi
    for pid in "${PIDS[@]}"; do stop "$pid"; done
    wait 2>/dev/null || true
    for pid in "${apps[@]}"; do
        is_app "$pid" || continue
        echo "bench-proxy: the agent left $APP_NAME $pid running, stopping it" >&2
        stop "$pid"
    done
}
trap cleanup EXIT

# is_app PID: whether PID is an app this run's agent started (the agent runs
# every release in its directory under the state directory).
is_app() {
    if [[ $APP == testapp ]]; then
        [[ $(readlink "/proc/$1/exe" 2>/dev/null) == "$TESTAPP" ]]
    else
        [[ $(readlink "/proc/$1/cwd" 2>/dev/null) == "$ROOT/$STATE/releases/"* ]]
    fi
}

# Milliseconds since some fixed point, to time the slow steps.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_ok URL [SECS [PID]]: waits until URL answers 2xx, at most SECS
# seconds (default 30); gives up at once when process PID has exited.
wait_ok() {
    local url=$1 secs=${2:-30} pid=${3:-}
    local deadline=$((SECONDS + secs))
    while ((SECONDS < deadline)); do
        curl -sf -o /dev/null --max-time 1 "$url" && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            die "$APP_NAME (pid $pid) exited before $url answered: see $WORK/logs/direct.log"
        fi
        sleep 0.05
    done
    die "$url did not answer within $secs s"
}

# package SRC ZIP: packages the directory SRC into ZIP with pipeline-deploy;
# prints the artifact's sha256.
package() {
    local src=$1 zip=$2 name sha
    name=$(basename "$zip" .zip)
    sha=$("$DEPLOY" package --source "$src" --out "$zip" 2>"$WORK/logs/package-$name.stderr") \
        || die "pipeline-deploy package failed: $(cat "$WORK/logs/package-$name.stderr")"
    sha=${sha%% *}
    [[ $sha =~ ^[0-9a-f]{64}$ ]] || die "pipeline-deploy package printed no digest for $src"
    echo "$sha"
}

# measure NAME URL [flags]: http-bench load with the common flags; NAME.json
# holds the report.
measure() {
    local name=$1 url=$2; shift 2
    echo "bench-proxy: $name: $url $*" >&2
    "$HTTP_BENCH" load --url "$url" --duration "$DURATION" --warmup 1 --expect-version-header "$@" \
        >"$WORK/$name.json" 2>"$WORK/logs/$name.stderr" \
        || die "http-bench load failed: $(cat "$WORK/logs/$name.stderr")"
    cat "$WORK/logs/$name.stderr" >&2
}

# ---------------------------------------------------------------- direct
DIRECT_PORT=$(free_port)
if [[ $APP == testapp ]]; then
    (cd "$WORK/direct" && PORT=$DIRECT_PORT PIPELINE_VERSION=1.0.0 PIPELINE_SLOT=direct PIPELINE_ENV=bench \
        exec "$TESTAPP" >"$ROOT/$WORK/logs/direct.log" 2>&1) &
else
    # The artifact every release of this run deploys, unpacked as the agent
    # would (without tests/ and ci/); run.sh execs the server, so $! is it.
    SAMPLE_ZIP=$WORK/sample.zip
    SAMPLE_SHA=$(package app "$SAMPLE_ZIP") || exit 1
    python3 -m zipfile -e "$SAMPLE_ZIP" "$WORK/direct" || die "cannot unpack $SAMPLE_ZIP"
    (cd "$WORK/direct" && PORT=$DIRECT_PORT PIPELINE_VERSION=1.0.0 PIPELINE_SLOT=direct PIPELINE_ENV=bench \
        exec sh run.sh >"$ROOT/$WORK/logs/direct.log" 2>&1) &
fi
DIRECT_PID=$!
PIDS+=("$DIRECT_PID")
started=$(now_ms)
wait_ok "http://127.0.0.1:$DIRECT_PORT/health" "$START_SECS" "$DIRECT_PID"
echo "bench-proxy: $APP_NAME answered /health $(($(now_ms) - started)) ms after its start" >&2
measure direct-latency "http://127.0.0.1:$DIRECT_PORT/" --latency-run
measure direct-throughput "http://127.0.0.1:$DIRECT_PORT/" --concurrency "$CONCURRENCY"
# The floor of any userspace proxy: a bare TCP relay (no HTTP, no routing),
# one thread, in front of the same app.
RELAY_PORT=$(free_port)
"$HTTP_BENCH" relay --listen "127.0.0.1:$RELAY_PORT" --to "$DIRECT_PORT" >"$WORK/logs/relay.log" 2>&1 &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
wait_ok "http://127.0.0.1:$RELAY_PORT/health" 10
measure relay-throughput "http://127.0.0.1:$RELAY_PORT/" --concurrency "$CONCURRENCY"
kill "$RELAY_PID"
wait "$RELAY_PID" 2>/dev/null || true
# Not competing for the cores with what comes next.
kill "$DIRECT_PID"
wait "$DIRECT_PID" || die "$APP_NAME did not stop cleanly: $(cat "$WORK/logs/direct.log")"
PIDS=()

# ---------------------------------------------------------------- the agent
"$AGENT_BIN" serve --state-dir "$STATE" --listen 127.0.0.1:0 >"$WORK/logs/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
for ((i = 0; i < 600; i++)); do
    [[ -s $STATE/agent.json && -s $STATE/token ]] && break
    kill -0 "$AGENT_PID" 2>/dev/null || die "pipeline-agent exited: $(cat "$WORK/logs/agent.log")"
    sleep 0.05
done
[[ -s $STATE/agent.json ]] || die "pipeline-agent wrote no $STATE/agent.json within 30 s"
AGENT=$(jq -r .address "$STATE/agent.json")
# The token goes to curl in a header file, not on a command line.
(umask 077 && printf 'Authorization: Bearer %s\n' "$(tr -d '[:space:]' <"$STATE/token")" >"$AUTH")
echo "bench-proxy: agent on $AGENT (pid $AGENT_PID)" >&2

# api METHOD PATH [curl arguments]: the answer's body on stdout; a status
# outside 2xx stops the script with the agent's error.
api() {
    local method=$1 path=$2 status
    shift 2
    status=$(curl -sS -o "$WORK/api.out" -w '%{http_code}' -X "$method" -H @"$AUTH" "$@" \
        "http://$AGENT$path") || die "$method $path: curl failed"
    [[ $status == 2?? ]] || die "$method $path answered $status: $(cat "$WORK/api.out")"
    cat "$WORK/api.out"
}

FRONT_PORT=$(free_port)
FRONT=127.0.0.1:$FRONT_PORT
if [[ $APP == testapp ]]; then
    COMMAND="exec $TESTAPP"
    HEALTH_TIMEOUT=60
else
    # The first start of each release builds its venv.
    COMMAND="exec sh run.sh"
    HEALTH_TIMEOUT=120
fi
api PUT /v1/envs/bench -H 'Content-Type: application/json' --data-binary "$(
    jq -cn --arg front "$FRONT" --arg command "$COMMAND" --argjson timeout "$HEALTH_TIMEOUT" \
        '{front: $front, command: $command, health_path: "/health", health_timeout_secs: $timeout}'
)" >/dev/null

# deploy VERSION: deploys release VERSION to the idle slot. APP=testapp:
# a one-file release (its testapp.env, comments only); APP=sample: the
# artifact of app/ the direct run used, whatever the version.
deploy() {
    local version=$1 src zip sha started
    if [[ $APP == testapp ]]; then
        src=$WORK/release-$version
        zip=$WORK/release-$version.zip
        mkdir -p "$src"
        printf '# pipeline-testapp release %s, for bench-proxy.sh\n' "$version" >"$src/testapp.env"
        sha=$(package "$src" "$zip") || exit 1
    else
        zip=$SAMPLE_ZIP
        sha=$SAMPLE_SHA
    fi
    started=$(now_ms)
    api POST "/v1/envs/bench/deploy?version=$version&sha256=$sha" \
        -H 'Content-Type: application/zip' --data-binary @"$zip" >"$WORK/deploy-$version.json"
    echo "bench-proxy: deployed $version in $(($(now_ms) - started)) ms: $(cat "$WORK/deploy-$version.json")" >&2
}

deploy 1.0.0
api POST /v1/envs/bench/swap >/dev/null
wait_ok "http://$FRONT/health"
[[ $(curl -sf "http://$FRONT/version") == 1.0.0 ]] || die "the front does not serve 1.0.0"

# ---------------------------------------------------------------- proxied
measure proxied-latency "http://$FRONT/" --latency-run
measure proxied-throughput "http://$FRONT/" --concurrency "$CONCURRENCY"

# ---------------------------------------------------------------- switches
deploy 2.0.0
SWITCH_MS=()
to=2.0.0
for ((i = 1; i <= SWITCHES; i++)); do
    if ! "$HTTP_BENCH" switch-latency --swap-url "http://$AGENT/v1/envs/bench/swap" \
        --token-file "$STATE/token" --front-url "http://$FRONT/version" --expect-version "$to" \
        "${SWITCH_ARGS[@]}" >"$WORK/switch-$i.json" 2>"$WORK/logs/switch-$i.stderr"; then
        echo "bench-proxy: switch $i to $to failed: $(cat "$WORK/logs/switch-$i.stderr")" >&2
        # The first switch (to a freshly deployed slot) is the one that must
        # work; switching back to the warm slot is a bonus.
        ((i > 1)) || exit 1
        break
    fi
    cat "$WORK/logs/switch-$i.stderr" >&2
    SWITCH_MS+=("$(jq .switch_ms "$WORK/switch-$i.json")")
    [[ $to == 2.0.0 ]] && to=1.0.0 || to=2.0.0
done

# ---------------------------------------------------------------- report
field() { jq -r ".$2" "$WORK/$1.json"; }
row() {
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" \
        "$(field "$1" requests)" "$(field "$1" errors)" "$(field "$1" non_2xx)" \
        "$(field "$1" p50_ms)" "$(field "$1" p99_ms)" "$(field "$1" rps)"
}
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo "NOT met"; fi; }

lat_direct=$(field direct-latency p50_ms)
lat_proxied=$(field proxied-latency p50_ms)
added=$(awk -v a="$lat_proxied" -v b="$lat_direct" 'BEGIN { printf "%+.3f", a - b }')
rps_direct=$(field direct-throughput rps)
rps_proxied=$(field proxied-throughput rps)
ratio=$(awk -v a="$rps_proxied" -v b="$rps_direct" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')
rps_relay=$(field relay-throughput rps)
relay_ratio=$(awk -v a="$rps_relay" -v b="$rps_direct" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')
switch_median=$(printf '%s\n' "${SWITCH_MS[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
switch_max=$(printf '%s\n' "${SWITCH_MS[@]}" | sort -g | tail -1)
failed=$(jq -s 'map(.errors + .non_2xx + .missing_version_header) | add' \
    "$WORK"/direct-*.json "$WORK"/relay-*.json "$WORK"/proxied-*.json)

{
    echo "## pipeline-agent proxy vs $APP_TITLE direct"
    echo
    echo "$(nproc) cores; ${DURATION} s per run after 1 s of warm-up; throughput with $CONCURRENCY connections."
    echo
    echo "| run | requests | errors | non-2xx | p50 ms | p99 ms | req/s |"
    echo "|---|---|---|---|---|---|---|"
    row direct-latency
    row proxied-latency
    row direct-throughput
    row relay-throughput
    row proxied-throughput
    echo
    echo "| measure | direct | proxied | difference | target | |"
    echo "|---|---|---|---|---|---|"
    echo "| median latency, ms | $lat_direct | $lat_proxied | $added ms | < +0.5 ms | $(verdict "$added < 0.5") |"
    echo "| throughput, req/s | $rps_direct | $rps_proxied | $ratio % | ≥ 70 % | $(verdict "$ratio >= 70") |"
    echo "| swap to new version, ms | | median $switch_median, max $switch_max over ${#SWITCH_MS[@]} | | < 50 ms | $(verdict "$switch_median < 50") |"
    echo
    echo "The floor: a bare TCP relay (\`http-bench relay\`: no HTTP parsing, no routing) in front of the same app keeps $relay_ratio % of the direct throughput; the front keeps $ratio %."
    echo
    if ((failed > 0)); then
        echo "**$failed requests failed** (errors, non-2xx or no X-Pipeline-Version): see $WORK/*.json."
    else
        echo "Every request answered 2xx with X-Pipeline-Version."
    fi
} | tee "$WORK/bench-proxy.md"
