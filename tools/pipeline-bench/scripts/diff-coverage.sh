#!/usr/bin/env bash
# Benchmark of the coverage of changed lines (`pipeline-report gate
# --diff-base`) on a repository with a long history and a large change,
# side by side with diff-cover (PyPI) on the same repository and report.
#
#   bash tools/pipeline-bench/scripts/diff-coverage.sh
#   COMMITS=20000 RUNS=1 bash tools/pipeline-bench/scripts/diff-coverage.sh   # a quick run
#
# The repository (made once with git fast-import, then reused): `main` with
# FILES Python files of 100 lines and COMMITS commits; `topic`, checked out,
# adds CHANGED_LINES lines over 50 of the files (100 each). The Cobertura
# report lists every file, about two lines in three run. Timed: the gate
# reading the report alone, the gate with --diff-base main (the difference
# is the diff step), and diff-cover; their figures are compared.
#
# Environment: COMMITS (100000), FILES (2000), CHANGED_LINES (5000), RUNS
# (5), DIFF_COVER_VERSION (11.0.4).
# Output: a Markdown table on stdout and in target/bench/diff-coverage.md.
# Exit: 0 measured and the figures agree; 1 a tool failed or the figures
# differ; 2 bad environment.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
COMMITS="${COMMITS:-100000}"
FILES="${FILES:-2000}"
CHANGED_LINES="${CHANGED_LINES:-5000}"
RUNS="${RUNS:-5}"
DIFF_COVER_VERSION="${DIFF_COVER_VERSION:-11.0.4}"

OUT="$ROOT/target/bench"
REPO="$OUT/diff-repo-$COMMITS-$FILES-$CHANGED_LINES"
VENV="$OUT/venv"
GATE="$ROOT/target/perf/pipeline-report"
REPORT="$OUT/diff-coverage.md"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'diff-coverage.sh: error: %s\n' "$*" >&2; exit 2; }
for v in COMMITS FILES CHANGED_LINES RUNS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
(( CHANGED_LINES % 50 == 0 )) || die "CHANGED_LINES must be a multiple of 50"
(( FILES >= 50 )) || die "FILES must be at least 50"
command -v git >/dev/null || die "git is missing"
command -v python3 >/dev/null || die "python3 is missing"
[[ -n "${EPOCHREALTIME:-}" ]] || die "bash 5 or later is needed (EPOCHREALTIME)"
mkdir -p "$OUT"

say "building pipeline-report (--profile perf)"
cargo build --quiet --profile perf -p pipeline-report || die "pipeline-report failed to build"

if ! "$VENV/bin/python" -c 'import diff_cover' 2>/dev/null; then
    say "installing diff-cover==$DIFF_COVER_VERSION into target/bench/venv"
    python3 -m venv "$VENV" || die "python3 -m venv failed"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "diff-cover==$DIFF_COVER_VERSION" \
        || die "pip install diff-cover failed"
fi
DC_VERSION="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("diff_cover"))')"

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
if [[ ! -s "$REPO/coverage.xml" ]]; then
    say "making $REPO: $FILES files, $COMMITS commits, a topic changing $CHANGED_LINES lines"
    rm -rf "$REPO" && mkdir -p "$REPO" && cd "$REPO"
    git init -q -b main
    python3 - "$COMMITS" "$FILES" <<'EOF' | git fast-import --quiet
import sys
commits, files = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
def data(b):
    out.write(b"data %d\n" % len(b)); out.write(b); out.write(b"\n")
t = 1700000000
out.write(b"commit refs/heads/main\nmark :1\ncommitter Bench <bench@example.com> %d +0000\n" % t)
data(b"base")
for i in range(files):
    body = b"".join(b"    value_%d = compute(%d, %d)\n" % (j, i, j) for j in range(100))
    out.write(b"M 100644 inline src/pkg%d/mod%d.py\n" % (i // 100, i))
    data(b"def f():\n" + body[: -1] + b"\n")
for c in range(2, commits + 1):
    out.write(b"commit refs/heads/main\nmark :%d\ncommitter Bench <bench@example.com> %d +0000\n" % (c, t + c))
    data(b"change %d" % c)
    out.write(b"from :%d\n" % (c - 1))
    out.write(b"M 100644 inline HISTORY\n")
    data(b"%d\n" % c)
EOF
    git checkout -q main
    git checkout -q -b topic
    python3 - "$FILES" "$CHANGED_LINES" <<'EOF'
import sys
files, changed = int(sys.argv[1]), int(sys.argv[2])
per = changed // 50
for k in range(50):
    i = k * (files // 50)
    path = "src/pkg%d/mod%d.py" % (i // 100, i)
    with open(path, "a") as f:
        for j in range(per):
            f.write("    added_%d = compute(%d, %d)\n" % (j, i, j))
EOF
    git commit -q -am "topic: $CHANGED_LINES lines"
    python3 - "$FILES" "$CHANGED_LINES" > coverage.xml <<'EOF'
import sys
files, changed = int(sys.argv[1]), int(sys.argv[2])
per = changed // 50
w = sys.stdout.write
w('<?xml version="1.0" ?>\n<coverage version="7.18.0" timestamp="0" complexity="0">\n')
w('<sources><source>.</source></sources><packages><package name="src" line-rate="0" branch-rate="0" complexity="0"><classes>\n')
changed_files = {k * (files // 50) for k in range(50)}
for i in range(files):
    n = 101 + (per if i in changed_files else 0)
    w('<class name="mod%d.py" filename="src/pkg%d/mod%d.py" complexity="0" line-rate="0" branch-rate="0"><methods/><lines>\n' % (i, i // 100, i))
    for line in range(2, n + 1):
        w('<line number="%d" hits="%d"/>\n' % (line, 0 if (line * 7 + i) % 3 == 0 else 1))
    w('</lines></class>\n')
w('</classes></package></packages></coverage>\n')
EOF
    cd "$ROOT"
else
    say "reusing $REPO (delete it to make it again)"
fi
COMMIT_COUNT="$(git -C "$REPO" rev-list --count main)"
DIFF_LINES="$(git -C "$REPO" diff --numstat main...HEAD | awk '{ s += $1 } END { print s }')"

declare -A CMD
CMD[read]="$GATE gate --workspace $REPO --cobertura $REPO/coverage.xml --json"
CMD[diff]="$GATE gate --workspace $REPO --cobertura $REPO/coverage.xml --diff-base main --json"
CMD[diffcover]="$VENV/bin/diff-cover $REPO/coverage.xml --compare-branch=main --format json:$OUT/diff-cover.json"
ROWS=(read diff diffcover)

# The figures first: both tools must agree, or the times mean nothing.
(cd "$REPO" && ${CMD[diff]} > "$OUT/diff-gate.json")
(cd "$REPO" && ${CMD[diffcover]} > /dev/null 2>&1)
AGREE="$(python3 - "$OUT/diff-gate.json" "$OUT/diff-cover.json" <<'EOF'
import json, sys
ours = json.load(open(sys.argv[1]))["coverage"]["diff"]
theirs = json.load(open(sys.argv[2]))
ok = ours["lines_valid"] == theirs["total_num_lines"] and \
    ours["lines_valid"] - ours["lines_covered"] == theirs["total_num_violations"]
for f, s in theirs["src_stats"].items():
    u = next((u for u in ours["uncovered"] if u["file"] == f), {"lines": []})
    mine = [n for a, b in u["lines"] for n in range(a, b + 1)]
    ok = ok and mine == s["violation_lines"]
print("yes" if ok else "NO")
print(ours["lines_valid"], ours["lines_covered"], theirs["total_num_lines"], theirs["total_num_violations"])
EOF
)"

for r in "${ROWS[@]}"; do : > "$OUT/diff-$r.times"; done
for run in $(seq 1 "$RUNS"); do
    for r in "${ROWS[@]}"; do
        t0=$EPOCHREALTIME
        # shellcheck disable=SC2086
        (cd "$REPO" && ${CMD[$r]} > /dev/null 2>&1) || { echo "!!! $r failed" >&2; FAILED=1; }
        t1=$EPOCHREALTIME
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >> "$OUT/diff-$r.times"
    done
done
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
R="$(median "$OUT/diff-read.times")"; D="$(median "$OUT/diff-diff.times")"; C="$(median "$OUT/diff-diffcover.times")"
STEP="$(awk -v a="$D" -v b="$R" 'BEGIN { printf "%.0f", (a - b) * 1000 }')"
{
    echo "# Coverage of changed lines: pipeline-report gate --diff-base and diff-cover"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; commit $(git rev-parse --short HEAD 2>/dev/null || echo none); median of $RUNS run(s)."
    echo "Repository: $COMMIT_COUNT commits on main, $FILES files; the topic branch adds $DIFF_LINES lines over 50 files."
    echo
    echo "| command | median ms |"
    echo "|---|---:|"
    echo "| pipeline-report gate, reading the report only | $(ms "$R") |"
    echo "| pipeline-report gate --diff-base main | $(ms "$D") |"
    echo "| the diff step (the difference) | $STEP |"
    echo "| diff-cover $DC_VERSION --compare-branch=main | $(ms "$C") |"
    echo
    echo "- target: the diff step under 100 ms: $(if (( STEP < 100 )); then echo met; else echo NOT met; fi)"
    echo "- same figures as diff-cover (changed code lines, missed lines, per file): $(echo "$AGREE" | head -n1) ($(echo "$AGREE" | tail -n1 | awk '{ print "gate " $1 " valid, " $2 " covered; diff-cover " $3 " lines, " $4 " violations" }'))"
} | tee "$REPORT"
[[ "$(echo "$AGREE" | head -n1)" == yes && -z "${FAILED:-}" ]] || exit 1
