#!/usr/bin/env bash
# Upload memory: `pipeline-deploy azure deploy` of a large artifact against
# a local stand-in for Entra ID, Resource Manager and Kudu (fake_azure.py,
# which discards what it receives), side by side with `curl -T` of the same
# file to the same endpoint. Peak RSS from GNU time, wall time from
# hyperfine.
#
#   bash crates/pipeline-targets/scripts/bench-upload.sh
#   SIZE_MB=500 RUNS=3 bash crates/pipeline-targets/scripts/bench-upload.sh
#
# Needs: python3, curl, hyperfine, GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/../../.."

SIZE_MB=${SIZE_MB:-500}
RUNS=${RUNS:-3}
PORT=${PORT:-18555}
BENCH=target/bench
ART=$BENCH/upload-$SIZE_MB.zip

for tool in python3 curl hyperfine /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench-upload: $tool is missing" >&2; exit 2; }
done

cargo build --release --locked -p pipeline-deploy
BIN=target/release/pipeline-deploy
mkdir -p "$BENCH"
# Random bytes: the upload is not helped by compression anywhere.
[[ -e $ART ]] || head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom > "$ART"
SHA=$(sha256sum "$ART" | cut -d' ' -f1)

python3 crates/pipeline-targets/scripts/fake_azure.py "$PORT" &
FAKE=$!
trap 'kill $FAKE 2>/dev/null' EXIT
for _ in $(seq 50); do curl -s "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done

URL=http://127.0.0.1:$PORT
export AZURE_TENANT_ID=t AZURE_CLIENT_ID=c AZURE_CLIENT_SECRET=bench-secret AZURE_SUBSCRIPTION_ID=s
export AZURE_AUTHORITY_HOST=$URL PIPELINE_AZURE_ARM_ENDPOINT=$URL PIPELINE_AZURE_SCM_ENDPOINT=$URL
DEPLOY="$BIN azure deploy --resource-group rg --app app --slot staging --artifact $ART --sha256 $SHA --version 1.0.0 --slot-url $URL/ --health-interval 0.1"
CURL="curl -s -o /dev/null -H 'Authorization: Bearer bench-token' -H 'Content-Type: application/zip' -T $ART '$URL/api/publish?type=zip&async=true'"

echo "== $SIZE_MB MiB artifact: wall time (hyperfine, $RUNS runs)"
hyperfine --warmup 1 --runs "$RUNS" -N -n "pipeline-deploy azure deploy" "$DEPLOY" -n "curl -T (upload only)" "$CURL" 2>&1 | sed 's/^/  /'

rss() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }
echo "== peak RSS"
echo "  pipeline-deploy azure deploy: $(( $(rss $DEPLOY) / 1024 )) MiB"
echo "  curl -T (upload only):        $(( $(rss bash -c "$CURL") / 1024 )) MiB"
