#!/usr/bin/env bash
# Peak memory of `pipeline-report gate` on a JUnit file whose failing test
# carries one CDATA section of captured output of CDATA_MB megabytes
# (default 1024): the memory must stay bounded whatever the section's size.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
MB="${CDATA_MB:-1024}"
OUT="$ROOT/target/bench"
FILE="$OUT/cdata-${MB}mb.xml"
mkdir -p "$OUT"
cargo build -q --profile perf -p pipeline-report
if [ ! -f "$FILE" ]; then
    {
        printf '<testsuite name="big"><testcase classname="c" name="t"><failure message="m">short</failure><system-out><![CDATA['
        # MB megabytes of printable log lines, streamed (yes ends on SIGPIPE).
        set +o pipefail
        yes 'captured output line 0123456789 abcdefghijklmnopqrstuvwxyz ]] > < & still inside' | head -c "$((MB * 1024 * 1024))"
        set -o pipefail
        printf ']]></system-out></testcase></testsuite>\n'
    } > "$FILE.partial"
    mv "$FILE.partial" "$FILE"
fi
size=$(stat -c %s "$FILE")
set +e
/usr/bin/time -f '%e %M' -o "$OUT/cdata.time" "$ROOT/target/perf/pipeline-report" gate --junit "$FILE" --json > "$OUT/cdata.json"
rc=$?
set -e
read -r secs kb < <(tail -n 1 "$OUT/cdata.time")
echo "| file | size MB | exit | seconds | peak RSS MB |"
echo "|---|---:|---:|---:|---:|"
echo "| one CDATA section in a failing test | $((size / 1024 / 1024)) | $rc | $secs | $((kb / 1024)) |"
