#!/usr/bin/env bash
# The toolkit's own overhead in `pipeline run`: the whole job (sync, test
# and gate, release, package, deploy, promotion through five environments
# with blue/green switches) on a sandbox whose test command only writes a
# JUnit report and whose app is pipeline-testapp (healthy in milliseconds),
# with no soak and no verification window. What remains is the toolkit:
# git, the gate, packaging, the agent's deploys and switches, the state
# store's pushes, and the step processes.
#
#   bash bins/pipeline/scripts/bench-run.sh            # RUNS=5
#
# Each run releases a new feat commit, so every step does its full work.
# Prints every run's wall time and the median.
set -euo pipefail
cd "$(dirname "$0")/../../.."

RUNS=${RUNS:-5}
cargo build --release --locked --bins >/dev/null
BIN=$PWD/target/release
WORK=$(mktemp -d /tmp/bench-run.XXXXXX)
AGENT_PID=
cleanup() {
    [[ -n $AGENT_PID ]] && kill -TERM "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

git_() { git -c user.name=bench -c user.email=bench@invalid "$@"; }
git_ init -q --bare -b master "$WORK/remote.git"
git_ init -q -b master "$WORK/repo"
cd "$WORK/repo"
mkdir -p app
echo "x" > app/file.txt
: > app/testapp.env
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
{
    cat <<TOML
[test]
command = "mkdir -p reports && printf '<testsuite name=\"s\" tests=\"1\"><testcase name=\"t\" classname=\"c\"/></testsuite>' > reports/junit.xml"
reports = { junit = ["reports/junit.xml"] }

[artifact]
source = "app"
TOML
    for env in ci dev qa staging production; do
        cat <<TOML

[[environment]]
name = "$env"
target = { kind = "local", front = "127.0.0.1:$(free_port)", command = "exec $BIN/pipeline-testapp", keep_warm_secs = 600 }
TOML
    done
} > pipeline.toml
printf '.pipeline/\nreports/\ndist/\n' > .gitignore
git_ add -A && git_ commit -q -m "chore: start" && git_ tag v0.1.0
git_ remote add origin "$WORK/remote.git"
git_ checkout -q -b develop
git_ push -q origin master develop v0.1.0

setsid "$BIN/pipeline-agent" serve --state-dir .pipeline/agent --listen 127.0.0.1:0 --stop-apps-on-exit >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 200); do [[ -e .pipeline/agent/agent.json ]] && break; sleep 0.05; done

times=()
for i in $(seq "$RUNS"); do
    echo "change $i" >> app/file.txt
    git_ commit -qam "feat: change $i" && git_ push -q origin develop
    start=$(date +%s.%N)
    "$BIN/pipeline" run >"$WORK/run-$i.log" 2>&1 || { cat "$WORK/run-$i.log"; exit 1; }
    end=$(date +%s.%N)
    t=$(python3 -c "print(f'{$end - $start:.3f}')")
    times+=("$t")
    echo "run $i: ${t}s ($(grep -c '^==> promote' "$WORK/run-$i.log") promotions)"
done
python3 -c "import statistics,sys; v=sorted(map(float,sys.argv[1:])); print(f'median {statistics.median(v):.3f}s, min {v[0]:.3f}s, max {v[-1]:.3f}s over {len(v)} runs')" "${times[@]}"
