#!/usr/bin/env bash
# What the agent's front costs beside the proxies a user would otherwise put
# in front of two app ports, and how fast a swap moves traffic, for one of
# two apps, chosen by APP:
#
#   APP=testapp  (the default) pipeline-testapp, the agent's own test app (Rust)
#   APP=sample   the sample service in app/ (Flask on waitress, Python), as the
#                pipeline ships it: app/ packaged with `pipeline-deploy package
#                --source app` (which honours app/.deployignore: no tests/, ci/,
#                .venv/), started with `exec sh run.sh` (it builds the
#                release's venv on its first start)
#
#   1. the app deployed as release 1.0.0 of an environment of
#      `pipeline-agent serve` and switched to: one app process, on its slot's
#      port. In front of that same process, side by side:
#        direct   the slot's port itself;
#        relay    a bare TCP relay (`http-bench relay`, one thread): the floor
#                 of any userspace proxy on this machine;
#        nginx    one worker, a pool of upstream connections kept alive;
#        haproxy  one thread, keep-alive on both sides, idle server
#                 connections reused;
#        front    the agent's front (its runtime: one worker thread per core).
#      ROUNDS rounds, each measuring every setup in turn (latency, then
#      throughput; each round starting one further in the list), so that
#      whatever else the machine does weighs on all of them alike; the
#      tables give the median of the rounds, and the median over the rounds
#      of the front's throughput over nginx's in the same round. During each
#      throughput run the proxy's own CPU time (user + system, from
#      /proc/PID/stat; nginx: its worker) is divided by the requests it
#      answered: microseconds of CPU per request.
#   2. release 2.0.0 deployed to the idle slot, then swapped: the time from
#      the swap request to the front's first 2.0.0 answer (and back and forth
#      for SWITCHES switches in all).
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
#   DURATION=10 ROUNDS=5 CONCURRENCY=64 SWITCHES=11 bash crates/pipeline-host/scripts/bench-proxy.sh
#   SWITCH_ARGS=--fresh-connections bash crates/pipeline-host/scripts/bench-proxy.sh
#
# SWITCH_ARGS are added to `http-bench switch-latency`: by default it polls
# on one kept-alive connection; --fresh-connections opens one per poll.
# DURATION defaults to 5 s, ROUNDS to 3, CONCURRENCY to 32, for both apps.
# NGINX=0 or HAPROXY=0 leaves that peer out. AGENT_ARGS are added to
# `pipeline-agent serve` (AGENT_ARGS="--threads 1": one runtime thread).
# Results: target/bench/proxy/bench-proxy.md (APP=sample:
# target/bench/proxy-sample/bench-proxy.md) and the JSON of every run.
#
# Targets: the front's throughput at least nginx's, its added median
# latency at most nginx's; less than 50 ms from swap to the new version.
# The load generator, the app and the proxies share this machine's cores:
# numbers are only comparable within one run.
#
# Exit codes: 0 measured (whether the targets are met is in the table);
# 1 a step failed (a build, the agent, a request); 2 a tool is missing or a
# setting (APP, DURATION, ROUNDS, CONCURRENCY, SWITCHES) is invalid.
#
# Needs: curl, jq, python3 (to find free ports), nginx and haproxy (Debian:
# apt-get install nginx haproxy); APP=sample: Python 3.11+ with its venv
# module and PyPI, or pip's cache, for run.sh.
set -euo pipefail
cd "$(dirname "$0")/../../.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-32}
SWITCHES=${SWITCHES:-5}
read -ra SWITCH_ARGS <<<"${SWITCH_ARGS:-}"
read -ra AGENT_ARGS <<<"${AGENT_ARGS:-}"
APP=${APP:-testapp}
NGINX=${NGINX:-1}
HAPROXY=${HAPROXY:-1}
ROOT=$PWD

die() { printf 'bench-proxy: error: %s\n' "$*" >&2; exit 1; }
for var in DURATION ROUNDS CONCURRENCY SWITCHES; do
    [[ ${!var} =~ ^[1-9][0-9]*$ ]] || { echo "bench-proxy: $var=${!var} is not a positive integer" >&2; exit 2; }
done
PEERS=()
[[ $NGINX == 1 ]] && PEERS+=(nginx)
[[ $HAPROXY == 1 ]] && PEERS+=(haproxy)
for tool in curl jq python3 "${PEERS[@]}"; do
    command -v "$tool" >/dev/null || { echo "bench-proxy: $tool is missing (NGINX=0 or HAPROXY=0 leaves a peer out)" >&2; exit 2; }
done
case $APP in
    testapp)
        WORK=target/bench/proxy
        APP_NAME=pipeline-testapp
        APP_TITLE=pipeline-testapp
        ;;
    sample)
        WORK=target/bench/proxy-sample
        APP_NAME="the sample app"
        APP_TITLE="the sample app (app/: Flask on waitress)"
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
mkdir -p "$WORK/logs" "$WORK/runs"
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

# wait_ok URL [SECS]: waits until URL answers 2xx, at most SECS seconds
# (default 30).
wait_ok() {
    local url=$1 secs=${2:-30}
    local deadline=$((SECONDS + secs))
    while ((SECONDS < deadline)); do
        curl -sf -o /dev/null --max-time 1 "$url" && return 0
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

# cpu_ticks PID: the user and system time PID has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure NAME URL PID [flags]: http-bench load with the common flags;
# runs/NAME.json holds the report, with cpu_us_per_request added when PID
# (the proxy's, or "") is given.
measure() {
    local name=$1 url=$2 pid=${3:-} before after
    shift 3
    echo "bench-proxy: $name: $url $*" >&2
    [[ -n $pid ]] && before=$(cpu_ticks "$pid")
    "$HTTP_BENCH" load --url "$url" --duration "$DURATION" --warmup 1 --expect-version-header "$@" \
        >"$WORK/runs/$name.json" 2>"$WORK/logs/$name.stderr" \
        || die "http-bench load failed: $(cat "$WORK/logs/$name.stderr")"
    cat "$WORK/logs/$name.stderr" >&2
    if [[ -n $pid ]]; then
        after=$(cpu_ticks "$pid")
        # The warm-up second is in the ticks too: spread over its requests
        # at the measured rate.
        jq --argjson ticks "$((after - before))" --argjson hz "$(getconf CLK_TCK)" --argjson warm 1 \
            '. + { cpu_us_per_request: (if .requests > 0 then (($ticks / $hz) * 1e6 / (.requests + .rps * $warm) * 10 | round / 10) else null end) }' \
            "$WORK/runs/$name.json" >"$WORK/runs/$name.tmp" && mv "$WORK/runs/$name.tmp" "$WORK/runs/$name.json"
    fi
}

# ---------------------------------------------------------------- the agent
"$AGENT_BIN" serve --state-dir "$STATE" --listen 127.0.0.1:0 "${AGENT_ARGS[@]}" >"$WORK/logs/agent.log" 2>&1 &
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
    COMMAND="exec sh run.sh"
    HEALTH_TIMEOUT=180
    SAMPLE_ZIP=$WORK/sample.zip
    SAMPLE_SHA=$(package app "$SAMPLE_ZIP") || exit 1
fi
api PUT /v1/envs/bench -H 'Content-Type: application/json' --data-binary "$(
    jq -cn --arg front "$FRONT" --arg command "$COMMAND" --argjson timeout "$HEALTH_TIMEOUT" \
        '{front: $front, command: $command, health_path: "/health", health_timeout_secs: $timeout}'
)" >/dev/null

# deploy VERSION: deploys release VERSION to the idle slot. APP=testapp:
# a one-file release (its testapp.env, comments only); APP=sample: the
# artifact of app/, whatever the version.
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
APP_PORT=$(jq -r '.url | sub(".*:"; "")' "$WORK/deploy-1.0.0.json")
APP_PID=$(api GET /v1/envs/bench | jq -r .slots.blue.pid)
echo "bench-proxy: $APP_NAME 1.0.0 on port $APP_PORT (pid $APP_PID)" >&2

# ---------------------------------------------------------------- the peers
RELAY_PORT=$(free_port)
"$HTTP_BENCH" relay --listen "127.0.0.1:$RELAY_PORT" --to "$APP_PORT" >"$WORK/logs/relay.log" 2>&1 &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
wait_ok "http://127.0.0.1:$RELAY_PORT/health" 10
PEER_VERSIONS=()
if [[ $NGINX == 1 ]]; then
    NGINX_PORT=$(free_port)
    mkdir -p "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $ROOT/$WORK/nginx/nginx.pid;
error_log $ROOT/$WORK/logs/nginx.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $ROOT/$WORK/nginx/body;
    proxy_temp_path $ROOT/$WORK/nginx/proxy;
    upstream app {
        server 127.0.0.1:$APP_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
    nginx -p "$ROOT/$WORK/nginx" -c "$ROOT/$WORK/nginx/nginx.conf" -e "$ROOT/$WORK/logs/nginx.log" \
        >"$WORK/logs/nginx.stdout" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_ok "http://127.0.0.1:$NGINX_PORT/health" 10
    # (awk, not head: head's early exit would be a SIGPIPE under pipefail)
    NGINX_WORKER=$(pgrep -P "$NGINX_PID" | awk 'NR == 1')
    [[ -n $NGINX_WORKER ]] || die "no nginx worker under $NGINX_PID"
    PEER_VERSIONS+=("$(nginx -v 2>&1 | sed 's/.*version: //')")
fi
if [[ $HAPROXY == 1 ]]; then
    HAPROXY_PORT=$(free_port)
    cat >"$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend bench
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend app
backend app
    server app 127.0.0.1:$APP_PORT
CONF
    haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/logs/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    PIDS+=("$HAPROXY_PID")
    wait_ok "http://127.0.0.1:$HAPROXY_PORT/health" 10
    PEER_VERSIONS+=("HAProxy $(haproxy -v | awk 'NR == 1 { print $3 }')")
fi

# setup NAME: its URL and the pid whose CPU it costs ("" for none).
url_of() {
    case $1 in
        direct) echo "http://127.0.0.1:$APP_PORT/" ;;
        relay) echo "http://127.0.0.1:$RELAY_PORT/" ;;
        nginx) echo "http://127.0.0.1:$NGINX_PORT/" ;;
        haproxy) echo "http://127.0.0.1:$HAPROXY_PORT/" ;;
        front) echo "http://$FRONT/" ;;
    esac
}
pid_of() {
    case $1 in
        direct) echo "" ;;
        relay) echo "$RELAY_PID" ;;
        nginx) echo "$NGINX_WORKER" ;;
        haproxy) echo "$HAPROXY_PID" ;;
        front) echo "$AGENT_PID" ;;
    esac
}

SETUPS=(direct relay "${PEERS[@]}" front)
for ((round = 1; round <= ROUNDS; round++)); do
    # Each round starts one further in the list: no setup always comes
    # last, when the machine is busiest with something else.
    n=${#SETUPS[@]}
    order=()
    for ((k = 0; k < n; k++)); do order+=("${SETUPS[$(((k + round - 1) % n))]}"); done
    for s in "${order[@]}"; do
        measure "$s-latency-$round" "$(url_of "$s")" "" --latency-run
        measure "$s-throughput-$round" "$(url_of "$s")" "$(pid_of "$s")" --concurrency "$CONCURRENCY"
    done
done
for pid in "$RELAY_PID" ${NGINX_PID:+"$NGINX_PID"} ${HAPROXY_PID:+"$HAPROXY_PID"}; do
    stop "$pid"
    wait "$pid" 2>/dev/null || true
done

# ---------------------------------------------------------------- switches
deploy 2.0.0
SWITCH_MS=()
to=2.0.0
for ((i = 1; i <= SWITCHES; i++)); do
    if ! "$HTTP_BENCH" switch-latency --swap-url "http://$AGENT/v1/envs/bench/swap" \
        --token-file "$STATE/token" --front-url "http://$FRONT/version" --expect-version "$to" \
        "${SWITCH_ARGS[@]}" >"$WORK/runs/switch-$i.json" 2>"$WORK/logs/switch-$i.stderr"; then
        echo "bench-proxy: switch $i to $to failed: $(cat "$WORK/logs/switch-$i.stderr")" >&2
        # The first switch (to a freshly deployed slot) is the one that must
        # work; switching back to the warm slot is a bonus.
        ((i > 1)) || exit 1
        break
    fi
    cat "$WORK/logs/switch-$i.stderr" >&2
    SWITCH_MS+=("$(jq .switch_ms "$WORK/runs/switch-$i.json")")
    [[ $to == 2.0.0 ]] && to=1.0.0 || to=2.0.0
done

# ---------------------------------------------------------------- report
# median SETUP KIND FIELD: the median over the rounds.
median() {
    jq -s "map(.$3) | sort | .[(length - 1) / 2 | floor]" "$WORK"/runs/"$1-$2"-*.json
}
all() { jq -s "map(.$3 | tostring) | join(\", \")" -r "$WORK"/runs/"$1-$2"-*.json; }
added() { awk -v a="$(median "$1" latency p50_ms)" -v b="$(median direct latency p50_ms)" 'BEGIN { printf "%+.3f", a - b }'; }
share() { awk -v a="$(median "$1" throughput rps)" -v b="$(median direct throughput rps)" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }'; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo "NOT met"; fi; }
name_of() {
    case $1 in
        direct) echo "direct (the app's port)" ;;
        relay) echo "bare TCP relay, 1 thread (the floor)" ;;
        nginx) echo "nginx ${PEER_VERSIONS[0]}, 1 worker" ;;
        haproxy) echo "haproxy ${PEER_VERSIONS[-1]#HAProxy }, 1 thread" ;;
        front) echo "**pipeline-agent front**${AGENT_ARGS[*]:+ (${AGENT_ARGS[*]})}" ;;
    esac
}
switch_median=$(printf '%s\n' "${SWITCH_MS[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
switch_max=$(printf '%s\n' "${SWITCH_MS[@]}" | sort -g | tail -1)
failed=$(jq -s 'map(.errors + .non_2xx + .missing_version_header) | add' "$WORK"/runs/*-latency-*.json "$WORK"/runs/*-throughput-*.json)

{
    echo "## pipeline-agent front beside nginx and haproxy, in front of $APP_TITLE"
    echo
    echo "$(nproc) cores; every setup in front of the same app process; $ROUNDS rounds of ${DURATION} s runs (after 1 s of warm-up each), medians; latency on one keep-alive connection, throughput with $CONCURRENCY; load generator \`http-bench load\`."
    echo
    echo "| in front of the app | median latency ms | added ms | throughput req/s | of direct | proxy CPU µs/request |"
    echo "|---|---:|---:|---:|---:|---:|"
    for s in "${SETUPS[@]}"; do
        cpu=$([[ $s == direct ]] && echo "" || median "$s" throughput cpu_us_per_request)
        if [[ $s == direct ]]; then
            echo "| $(name_of "$s") | $(median direct latency p50_ms) | | $(median direct throughput rps) | 100 % | |"
        else
            echo "| $(name_of "$s") | $(median "$s" latency p50_ms) | $(added "$s") | $(median "$s" throughput rps) | $(share "$s") % | $cpu |"
        fi
    done
    echo
    echo "Every round (throughput req/s; median latency ms):"
    echo
    for s in "${SETUPS[@]}"; do
        echo "- $s: $(all "$s" throughput rps); $(all "$s" latency p50_ms)"
    done
    if [[ $NGINX == 1 ]]; then
        ratio=$(paste <(for ((r = 1; r <= ROUNDS; r++)); do jq .rps "$WORK/runs/front-throughput-$r.json"; done) \
            <(for ((r = 1; r <= ROUNDS; r++)); do jq .rps "$WORK/runs/nginx-throughput-$r.json"; done) \
            | awk '{ printf "%.2f\n", ($2 > 0 ? $1 / $2 : 0) }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
        echo
        echo "The front's throughput over nginx's in the same round: median $ratio."
    fi
    echo
    echo "| target | front | nginx | |"
    echo "|---|---:|---:|---|"
    if [[ $NGINX == 1 ]]; then
        echo "| throughput at least nginx's, req/s | $(median front throughput rps) | $(median nginx throughput rps) | $(verdict "$(median front throughput rps) >= $(median nginx throughput rps)") |"
        echo "| added median latency at most nginx's, ms | $(added front) | $(added nginx) | $(verdict "$(added front) <= $(added nginx)") |"
    fi
    echo "| swap to the new version under 50 ms | median $switch_median, max $switch_max over ${#SWITCH_MS[@]} | | $(verdict "$switch_median < 50") |"
    echo
    if ((failed > 0)); then
        echo "**$failed requests failed** (errors, non-2xx or no X-Pipeline-Version): see $WORK/runs/*.json."
    else
        echo "Every request answered 2xx with X-Pipeline-Version."
    fi
} | tee "$WORK/bench-proxy.md"
