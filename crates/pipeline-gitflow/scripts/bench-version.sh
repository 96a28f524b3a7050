#!/usr/bin/env bash
# Benchmark of `pipeline-git version` on a generated repository with 100,000
# commits and 5,000 release tags, side by side with the git command line
# doing the same work:
#
#   git describe --tags --abbrev=0 develop      # the newest tag
#   git log <that tag>..develop --format=%B     # the messages since
#
# and the start-up time of `pipeline-git --version`.
#
#   bash crates/pipeline-gitflow/scripts/bench-version.sh
#   COMMITS=20000 TAGS=1000 RUNS=20 bash crates/pipeline-gitflow/scripts/bench-version.sh   # quicker
#
# Environment: COMMITS (100000), TAGS (5000), SINCE (15: commits on develop
# after the newest tag), RUNS (50), WARMUP (5), REGEN (0; 1 rebuilds the
# repository even if it exists).
#
# The repository: a develop line with a 3-commit feature branch merged every
# 40 commits, Conventional Commit messages, one file changed per commit;
# tags spread evenly along develop's first-parent line, 80% annotated and 20%
# lightweight, versions rising with history; `git pack-refs --all` as a clone
# leaves it (peeled tags recorded); no commit-graph file (clones and fetches
# do not write one by default). Generated with `git fast-import` in seconds.
#
# Timings: hyperfine -N (no shell), so the two git commands are timed one by
# one and their means added up, without a shell's start-up in git's figure.
# Before timing, the script checks that both sides agree: the same base tag
# and the same number of commits since it.
#
# Output: a Markdown table on stdout and in target/bench/git-version-bench.md;
# hyperfine's JSON in target/bench/logs/.
# Exit: 0 measured (the table says whether the targets were met); 2 a missing
# tool, a failed build or step, or the two sides disagreeing.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"

COMMITS="${COMMITS:-100000}"
TAGS="${TAGS:-5000}"
SINCE="${SINCE:-15}"
RUNS="${RUNS:-50}"
WARMUP="${WARMUP:-5}"
REGEN="${REGEN:-0}"

OUT="$ROOT/target/bench"
LOGS="$OUT/logs"
REPO="$OUT/git-${COMMITS}c-${TAGS}t-${SINCE}s"
REPORT="$OUT/git-version-bench.md"
BIN="$ROOT/target/release/pipeline-git"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench-version.sh: error: %s\n' "$*" >&2; exit 2; }

for v in COMMITS TAGS SINCE RUNS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
command -v git >/dev/null || die "git is missing"
command -v hyperfine >/dev/null || die "hyperfine is missing (apt-get install hyperfine)"
command -v python3 >/dev/null || die "python3 is missing"
command -v cargo >/dev/null || die "cargo is missing"
mkdir -p "$OUT" "$LOGS"

# A fixed git environment: no user or system configuration.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
unset GIT_DIR GIT_WORK_TREE

# --- (a) build -----------------------------------------------------------------
say "building pipeline-git (--release)"
cargo build --quiet --release -p pipeline-git || die "pipeline-git failed to build"
[[ -x "$BIN" ]] || die "$BIN is missing after the build"

# --- (b) the repository --------------------------------------------------------
generate() {
    python3 - "$COMMITS" "$TAGS" "$SINCE" <<'PY'
import sys

commits, tags, since = (int(a) for a in sys.argv[1:4])
out = sys.stdout
epoch = 1_600_000_000
scopes = ["api", "cli", "core", "db", "ui", "git", "ci", "docs"]
kinds = ["feat", "fix", "chore", "docs", "refactor", "perf", "test", "fix"]
mark = 0
mainline = []  # marks on develop's first-parent line


def commit(ref, parent, merge, message, minute):
    global mark
    mark += 1
    data = message.encode()
    w = out.write
    w(f"commit {ref}\nmark :{mark}\n")
    w(f"author Ada <ada@example.com> {epoch + minute * 60} +0000\n")
    w(f"committer Ada <ada@example.com> {epoch + minute * 60} +0000\n")
    w(f"data {len(data)}\n{message}\n")
    if parent:
        w(f"from :{parent}\n")
    if merge:
        w(f"merge :{merge}\n")
    body = f"{mark}\n"
    w(f"M 644 inline src/f{mark % 997}.txt\ndata {len(body)}\n{body}\n")
    return mark


head = 0
minute = 0
while mark < commits:
    n = len(mainline)
    if n % 40 == 39 and n > 10 and mark + 4 <= commits:
        fork = mainline[-5]
        tip = fork
        for j in range(3):
            minute += 1
            k = kinds[(mark + j) % len(kinds)]
            tip = commit("refs/heads/feature", tip, 0, f"{k}({scopes[mark % 8]}): branch work {mark}", minute)
        minute += 1
        head = commit("refs/heads/develop", head, tip, f"Merge branch 'feature/{mark}' into develop", minute)
    else:
        minute += 1
        k = kinds[mark % len(kinds)]
        message = f"{k}({scopes[mark % 8]}): change number {mark}"
        if mark % 7 == 0:
            message += f"\n\nA longer explanation of change {mark},\nover two lines.\n\nRefs: #{mark}"
        head = commit("refs/heads/develop", head, 0, message, minute)
    mainline.append(head)

if len(mainline) <= since:
    sys.exit("too few commits for SINCE")
spacing = max(1, (len(mainline) - 1 - since) // tags)
positions = [len(mainline) - 1 - since - spacing * j for j in range(tags)]
positions = [p for p in positions if p >= 0]
for j, p in enumerate(reversed(positions)):
    version = f"{j // 1000}.{(j // 100) % 10}.{j % 100}"
    target = mainline[p]
    if j % 5 == 4:
        out.write(f"reset refs/tags/v{version}\nfrom :{target}\n\n")
    else:
        msg = f"release v{version}\n"
        out.write(f"tag v{version}\nfrom :{target}\ntagger Ada <ada@example.com> {epoch + p * 60} +0000\ndata {len(msg)}\n{msg}\n")
sys.stderr.write(f"{mark} commits, {len(mainline)} on develop's first-parent line, {len(positions)} tags every {spacing} commits\n")
PY
}

if [[ "$REGEN" == 1 || ! -f "$REPO/.complete" ]]; then
    rm -rf "$REPO"
    say "generating $REPO with git fast-import"
    start=$EPOCHREALTIME
    git init -q -b develop "$REPO"
    generate | git -C "$REPO" fast-import --quiet || die "fast-import failed"
    git -C "$REPO" update-ref -d refs/heads/feature
    git -C "$REPO" pack-refs --all
    touch "$REPO/.complete"
    say "generated in $(python3 -c "print(f'{$EPOCHREALTIME - $start:.1f}')") s"
fi
count="$(git -C "$REPO" rev-list --count develop)"
ntags="$(git -C "$REPO" tag | wc -l | tr -d ' ')"
say "repository: $count commits, $ntags tags"

# --- (c) both sides agree ------------------------------------------------------
TAG="$(git -C "$REPO" describe --tags --abbrev=0 develop)"
GIT_SINCE="$(git -C "$REPO" rev-list --count "$TAG..develop")"
JSON="$("$BIN" version --repo "$REPO" --json 2>/dev/null)" || die "pipeline-git version failed"
read -r OUR_TAG OUR_SINCE OUR_VERSION < <(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(d["previous_tag"], d["commits"]["total"], d["version"])' "$JSON")
[[ "$OUR_TAG" == "$TAG" ]] || die "base tag: git says $TAG, pipeline-git says $OUR_TAG"
[[ "$OUR_SINCE" == "$GIT_SINCE" ]] || die "commits since $TAG: git says $GIT_SINCE, pipeline-git says $OUR_SINCE"
say "both sides agree: base $TAG, $GIT_SINCE commits since; next version $OUR_VERSION"

# --- (d) timings ---------------------------------------------------------------
bench() { # name, command...
    local name="$1"; shift
    hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" \
        --export-json "$LOGS/$name.json" "$@" >/dev/null 2>"$LOGS/$name.err" \
        || die "hyperfine failed on $name (see $LOGS/$name.err)"
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(" ".join("%.2f" % (r[k] * 1000) for k in ("mean", "stddev", "min")))' "$LOGS/$name.json"
}

say "timing ($RUNS runs each, $WARMUP warm-up)"
read -r OURS OURS_SD OURS_MIN < <(bench pipeline-git "$BIN version --repo $REPO")
read -r DESC DESC_SD DESC_MIN < <(bench git-describe "git -C $REPO describe --tags --abbrev=0 develop")
read -r LOG LOG_SD LOG_MIN < <(bench git-log "git -C $REPO log $TAG..develop --format=%B")
read -r START START_SD START_MIN < <(bench startup "$BIN --version")
# Both git commands in one shell, for reference (includes bash's start-up).
read -r SHELL_BOTH SHELL_SD SHELL_MIN < <(bench git-shell \
    "bash -c 'git -C $REPO log \"\$(git -C $REPO describe --tags --abbrev=0 develop)..develop\" --format=%B >/dev/null'")

GIT_SUM="$(python3 -c "print(f'{$DESC + $LOG:.2f}')")"
RATIO="$(python3 -c "print(f'{$OURS / ($DESC + $LOG):.2f}')")"
VERDICT_V="$(python3 -c "print('met' if $OURS <= 1.5 * ($DESC + $LOG) else 'MISSED')")"
VERDICT_S="$(python3 -c "print('met' if $START < 10 else 'MISSED')")"

{
    echo "## \`pipeline-git version\` vs the git command line"
    echo
    echo "Repository: $count commits, $ntags tags (80% annotated), packed refs, no commit-graph; base $TAG, $GIT_SINCE commits since."
    echo "$(uname -srm), $(nproc) CPU(s); $(git --version); hyperfine -N, $RUNS runs after $WARMUP warm-up."
    echo
    echo "| command | mean ms | ± ms | min ms |"
    echo "|---|---:|---:|---:|"
    echo "| \`pipeline-git version\` | $OURS | $OURS_SD | $OURS_MIN |"
    echo "| \`git describe --tags --abbrev=0 develop\` | $DESC | $DESC_SD | $DESC_MIN |"
    echo "| \`git log $TAG..develop --format=%B\` | $LOG | $LOG_SD | $LOG_MIN |"
    echo "| git, both commands (sum of means) | $GIT_SUM | | |"
    echo "| git, both in one \`bash -c\` (reference) | $SHELL_BOTH | $SHELL_SD | $SHELL_MIN |"
    echo "| \`pipeline-git --version\` (start-up) | $START | $START_SD | $START_MIN |"
    echo
    echo "- version: ${RATIO}× git's time (target ≤ 1.5×): $VERDICT_V"
    echo "- start-up: $START ms (target < 10 ms): $VERDICT_S"
} | tee "$REPORT"
