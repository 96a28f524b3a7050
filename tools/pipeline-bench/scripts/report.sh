#!/usr/bin/env bash
# Benchmark of `pipeline-report gate` on a large JUnit and a large Cobertura
# report, side by side with the bare quick-xml event loop (the floor of any
# parser built on quick-xml) and with junitparser (Python).
#
#   bash bench/report.sh                      # 500 MB JUnit, 200 MB Cobertura, 3 runs
#   JUNIT_MB=20 COBERTURA_MB=20 RUNS=1 bash bench/report.sh   # a quick run
#
# Environment: JUNIT_MB (500), COBERTURA_MB (200), RUNS (3), SEED (1),
# JUNITPARSER (1; 0 skips it), JUNITPARSER_VERSION (5.0.3).
# Output: a Markdown table on stdout and in target/bench/report-bench.md; raw
# timings and the tools' output in target/bench/logs/.
# Exit: 0 every tool measured; 1 a tool was missing or failed (the table says
# which); 2 bad environment or a step before the measurements failed.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"

JUNIT_MB="${JUNIT_MB:-500}"
COBERTURA_MB="${COBERTURA_MB:-200}"
RUNS="${RUNS:-3}"
SEED="${SEED:-1}"
JUNITPARSER="${JUNITPARSER:-1}"
JUNITPARSER_VERSION="${JUNITPARSER_VERSION:-5.0.3}"

OUT="$ROOT/target/bench"
LOGS="$OUT/logs"
VENV="$OUT/venv"
BIN="$ROOT/target/perf"
JUNIT="$OUT/junit-${JUNIT_MB}mb.xml"
COBERTURA="$OUT/cobertura-${COBERTURA_MB}mb.xml"
REPORT="$OUT/report-bench.md"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'report.sh: error: %s\n' "$*" >&2; exit 2; }

for v in JUNIT_MB COBERTURA_MB RUNS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ "$SEED" =~ ^[0-9]+$ ]] || die "SEED must be a non-negative integer, got '$SEED'"
case "$ROOT" in *' '*) die "the workspace path must not contain spaces: $ROOT";; esac
[[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) is missing: apt-get install time"
command -v python3 >/dev/null || die "python3 is missing"
command -v cargo >/dev/null || die "cargo is missing"
[[ -n "${EPOCHREALTIME:-}" ]] || die "bash 5 or later is needed (EPOCHREALTIME)"

mkdir -p "$OUT" "$LOGS"

# --- (a) build -------------------------------------------------------------
say "building pipeline-bench (--profile perf)"
cargo build --quiet --profile perf -p pipeline-bench || die "pipeline-bench failed to build"

GATE="$BIN/pipeline-report"
GATE_MISSING=""
say "building pipeline-report (--profile perf)"
if ! cargo build --quiet --profile perf -p pipeline-report 2>"$LOGS/build-pipeline-report.log"; then
    GATE_MISSING="pipeline-report failed to build (see target/bench/logs/build-pipeline-report.log); not timing a stale binary"
elif [[ ! -x "$GATE" ]]; then
    GATE_MISSING="$GATE is missing after the build"
fi
if [[ -n "$GATE_MISSING" ]]; then
    printf '\n!!! GATE NOT BENCHMARKED: %s\n!!! Its rows will read "missing"; the rest runs as usual.\n\n' "$GATE_MISSING" >&2
fi

# --- (b) junitparser --------------------------------------------------------
JP_VERSION="(skipped)"
JP_BACKEND="-"
if [[ "$JUNITPARSER" != 0 ]]; then
    if ! "$VENV/bin/python" -c 'import junitparser' 2>/dev/null; then
        say "installing junitparser==$JUNITPARSER_VERSION into target/bench/venv"
        python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "junitparser==$JUNITPARSER_VERSION" \
            || die "pip install junitparser failed"
    fi
    JP_VERSION="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("junitparser"))')"
    JP_BACKEND="$("$VENV/bin/python" -c 'from junitparser.junitparser import etree; print(etree.__name__)')"
fi

# --- (c) reports --------------------------------------------------------------
generate() { # KIND FILE MB
    if [[ "$1" == junit && -s "$2" && ! -s "$2.stats" ]]; then
        rm -f "$2" # made by an older generator, without its counts
    fi
    if [[ -s "$2" ]]; then
        say "reusing $(realpath --relative-to="$ROOT" "$2") (delete it to regenerate)"
    else
        say "generating $(realpath --relative-to="$ROOT" "$2") ($3 MB, seed $SEED)"
        "$BIN/gen-reports" "$1" --out "$2" --size-mb "$3" --seed "$SEED" \
            || die "gen-reports $1 failed"
    fi
}
generate junit "$JUNIT" "$JUNIT_MB"
generate cobertura "$COBERTURA" "$COBERTURA_MB"

# --- (d) measurements -------------------------------------------------------
# One row per tool and file. Per row: its command, the exit codes it may end
# with, and its results in $LOGS/ROW.times ("seconds peak-KB exit" per run).
declare -A CMD OKRC STATUS FILE_OF
ROWS_JUNIT=(floor-junit gate-junit junitparser-junit)
ROWS_COBERTURA=(floor-cobertura gate-cobertura)

CMD[floor-junit]="$BIN/xml-floor $JUNIT"
CMD[gate-junit]="$GATE gate --junit $JUNIT --max-failures 100000000 --allow-empty --json"
CMD[junitparser-junit]="$VENV/bin/python $ROOT/tools/pipeline-bench/scripts/junitparser_bench.py $JUNIT"
CMD[floor-cobertura]="$BIN/xml-floor $COBERTURA"
CMD[gate-cobertura]="$GATE gate --cobertura $COBERTURA --json"
OKRC=([floor-junit]=0 [gate-junit]="0 1" [junitparser-junit]=0 [floor-cobertura]=0 [gate-cobertura]="0 1")
for r in "${ROWS_JUNIT[@]}"; do FILE_OF[$r]="$JUNIT"; done
for r in "${ROWS_COBERTURA[@]}"; do FILE_OF[$r]="$COBERTURA"; done

for r in "${ROWS_JUNIT[@]}" "${ROWS_COBERTURA[@]}"; do
    : >"$LOGS/$r.times"
    : >"$LOGS/$r.err"
    rm -f "$LOGS/$r.out" "$LOGS/$r.json" "$LOGS/$r.time"
    STATUS[$r]=ok
done
if [[ -n "$GATE_MISSING" ]]; then STATUS[gate-junit]=missing; STATUS[gate-cobertura]=missing; fi
if [[ "$JUNITPARSER" == 0 ]]; then STATUS[junitparser-junit]=skipped; fi

# Runs ROW once; its stdout goes to $LOGS/ROW.out, except the gate's (/dev/null).
run_once() {
    local row="$1" out="$LOGS/$1.out" tf="$LOGS/$1.time" rc t0 t1 kb
    if [[ "$row" == gate-* ]]; then out=/dev/null; fi
    t0=$EPOCHREALTIME
    set +e
    # shellcheck disable=SC2086 # the commands are word lists without spaces in paths
    /usr/bin/time -f '%e %M' -o "$tf" ${CMD[$row]} >"$out" 2>>"$LOGS/$row.err"
    rc=$?
    set -e
    t1=$EPOCHREALTIME
    kb="$(tail -n 1 "$tf" | awk '{print $2}')"
    local secs
    secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
    if [[ " ${OKRC[$row]} " != *" $rc "* ]]; then
        STATUS[$row]="error (exit $rc)"
        printf '\n!!! %s failed with exit %s: %s\n' "$row" "$rc" "${CMD[$row]}" >&2
        tail -n 20 "$LOGS/$row.err" >&2 || true
        return
    fi
    echo "$secs ${kb:-0} $rc" >>"$LOGS/$row.times"
    say "$(printf '%-18s run %d/%d: %7.3f s, %6d MB peak RSS, exit %d' "$row" "$run" "$RUNS" "$secs" "$(( ${kb:-0} / 1024 ))" "$rc")"
}

# Before timing the gate: it must end as allowed and print one JSON document,
# or its times mean nothing (a stub that exits at once would look fast).
check_gate() {
    local r="$1" rc
    set +e
    # shellcheck disable=SC2086
    ${CMD[$r]} >"$LOGS/$r.json" 2>>"$LOGS/$r.err"
    rc=$?
    set -e
    if [[ " ${OKRC[$r]} " != *" $rc "* ]]; then
        STATUS[$r]="error (exit $rc)"
    elif ! python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$LOGS/$r.json" 2>/dev/null; then
        STATUS[$r]="error (no JSON document on stdout)"
    else
        say "$r: exit $rc, JSON kept in target/bench/logs/$r.json"
        return
    fi
    printf '\n!!! %s is not timed: %s: %s\n' "$r" "${STATUS[$r]}" "${CMD[$r]}" >&2
    tail -n 20 "$LOGS/$r.err" >&2 || true
}

for group in JUNIT COBERTURA; do
    declare -n rows="ROWS_$group"
    file="${FILE_OF[${rows[0]}]}"
    say "timing on $(basename "$file") ($(( $(stat -c %s "$file") >> 20 )) MB): ${rows[*]}, $RUNS run(s) each, interleaved"
    cat "$file" >/dev/null # every tool reads from the page cache
    for r in "${rows[@]}"; do
        if [[ "$r" == gate-* && "${STATUS[$r]}" == ok ]]; then check_gate "$r"; fi
    done
    for run in $(seq 1 "$RUNS"); do
        for r in "${rows[@]}"; do
            if [[ "${STATUS[$r]}" == ok ]]; then run_once "$r"; fi
        done
    done
    unset -n rows
done

# --- (e) table ----------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A MED RSS SIZE
for r in "${ROWS_JUNIT[@]}" "${ROWS_COBERTURA[@]}"; do
    SIZE[$r]="$(awk -v b="$(stat -c %s "${FILE_OF[$r]}")" 'BEGIN { printf "%.1f", b / 1048576 }')"
    if [[ "${STATUS[$r]}" == ok && -s "$LOGS/$r.times" ]]; then
        MED[$r]="$(awk '{ print $1 }' "$LOGS/$r.times" | median)"
        RSS[$r]="$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { printf "%.1f", m / 1024 }' "$LOGS/$r.times")"
    fi
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
tool_of() { case "$1" in floor-*) echo "xml-floor (bare quick-xml loop)";; gate-*) echo "pipeline-report gate";; junitparser-*) echo "junitparser $JP_VERSION";; esac; }
floor_of() { echo "floor-${1#*-}"; }

count_of() { # the number of testcase/line elements the floor saw
    local f="$LOGS/floor-$1.out"
    if [[ -s "$f" ]]; then sed -n "s/.* \([0-9]*\) $2.*/\1/p" "$f"; else echo "?"; fi
}

{
    echo "# pipeline-report gate benchmark"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo) RAM;" \
        "commit $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty)'); median of $RUNS run(s), files in the page cache."
    echo
    echo "- JUnit: \`$(realpath --relative-to="$ROOT" "$JUNIT")\`, $(count_of junit testcase) testcases, $(sed -n 's/^reruns=//p' "$JUNIT.stats" 2>/dev/null || echo '?') of them pytest-rerunfailures attempts (seed $SEED)"
    echo "- Cobertura: \`$(realpath --relative-to="$ROOT" "$COBERTURA")\`, $(count_of cobertura line) \`<line>\` elements including those repeated under \`<method>\` (seed $SEED)"
    if [[ "$JUNITPARSER" != 0 ]]; then echo "- junitparser $JP_VERSION on $(python3 --version 2>&1 | cut -d' ' -f2) with $JP_BACKEND"; fi
    echo
    echo "| tool | file | size MB | median s | MB/s | peak RSS MB | × floor |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for r in "${ROWS_JUNIT[@]}" "${ROWS_COBERTURA[@]}"; do
        kind="${r#*-}"
        if [[ -n "${MED[$r]:-}" ]]; then
            mbs="$(awk -v s="${SIZE[$r]}" -v t="${MED[$r]}" 'BEGIN { if (t > 0) printf "%.0f", s / t; else print "inf" }')"
            f="$(floor_of "$r")"
            x="—"; [[ -n "${MED[$f]:-}" ]] && x="$(ratio "${MED[$r]}" "${MED[$f]}")"
            echo "| $(tool_of "$r") | $kind | ${SIZE[$r]} | ${MED[$r]} | $mbs | ${RSS[$r]} | $x |"
        else
            echo "| $(tool_of "$r") | $kind | ${SIZE[$r]} | ${STATUS[$r]} | | | |"
        fi
    done
    echo
    echo "## Targets"
    echo
    check() { # LABEL VALUE OP LIMIT
        if [[ -z "$2" ]]; then echo "- $1: not measured"; return; fi
        if awk -v v="$2" -v l="$4" "BEGIN { exit !(v $3 l) }"; then verdict=met; else verdict="NOT met"; fi
        echo "- $1: $2 (target $3 $4): $verdict"
    }
    gj=""; gc=""; vs=""
    [[ -n "${MED[gate-junit]:-}" && -n "${MED[floor-junit]:-}" ]] && gj="$(ratio "${MED[gate-junit]}" "${MED[floor-junit]}")"
    [[ -n "${MED[gate-cobertura]:-}" && -n "${MED[floor-cobertura]:-}" ]] && gc="$(ratio "${MED[gate-cobertura]}" "${MED[floor-cobertura]}")"
    [[ -n "${MED[gate-junit]:-}" && -n "${MED[junitparser-junit]:-}" ]] && vs="$(ratio "${MED[junitparser-junit]}" "${MED[gate-junit]}")"
    check "gate time ÷ floor time, JUnit" "$gj" "<=" 1.5
    check "gate time ÷ floor time, Cobertura" "$gc" "<=" 3
    check "gate speed ÷ junitparser speed, JUnit" "$vs" ">=" 25
    check "gate peak RSS MB, JUnit" "${RSS[gate-junit]:-}" "<" 64
    check "gate peak RSS MB, Cobertura" "${RSS[gate-cobertura]:-}" "<" 64
    echo
    echo "## Same counts"
    echo
    # Loose checks that every tool read the whole file: the expected number must
    # appear in its output.
    same() { # LABEL FILE EXPECTED
        if [[ ! -s "$2" || -z "$3" || "$3" == "?" ]]; then echo "- $1: not checked"
        elif grep -qw -- "$3" "$2"; then echo "- $1: yes ($3)"
        else echo "- $1: NO, $3 not found in $(realpath --relative-to="$ROOT" "$2")"; fi
    }
    testcases="$(count_of junit testcase)"
    # The generator's own counts: pytest-rerunfailures' attempts are
    # testcases that are not tests of their own.
    reruns="$(sed -n 's/^reruns=//p' "$JUNIT.stats" 2>/dev/null || true)"
    tests="?"
    if [[ "$testcases" =~ ^[0-9]+$ && "$reruns" =~ ^[0-9]+$ ]]; then tests=$((testcases - reruns)); fi
    lines_valid="$(head -c 4096 "$COBERTURA" | grep -o 'lines-valid="[0-9]*"' | grep -o '[0-9]*' || true)"
    same "junitparser saw the testcases the floor saw" "$LOGS/junitparser-junit.out" "$testcases"
    same "the gate's JSON counts the tests: the floor's testcases less the ${reruns:-?} rerun attempts" "$LOGS/gate-junit.json" "$tests"
    same "the gate's JSON has the Cobertura root's lines-valid" "$LOGS/gate-cobertura.json" "$lines_valid"
} | tee "$REPORT"

say "report written to $(realpath --relative-to="$ROOT" "$REPORT"); raw timings in $(realpath --relative-to="$ROOT" "$LOGS")/"
for r in "${ROWS_JUNIT[@]}" "${ROWS_COBERTURA[@]}"; do
    if [[ "${STATUS[$r]}" != ok && "${STATUS[$r]}" != skipped ]]; then
        printf 'report.sh: incomplete: %s: %s\n' "$r" "${STATUS[$r]}" >&2
        INCOMPLETE=1
    fi
done
if [[ -n "$GATE_MISSING" ]]; then printf 'report.sh: %s\n' "$GATE_MISSING" >&2; fi
exit "${INCOMPLETE:-0}"
