#!/usr/bin/env bash
# Benchmark of `pipeline-git version` on a generated repository with 100,000
# commits and 5,000 release tags, side by side with the git command line
# doing the same work:
#
#   git describe --tags --abbrev=0 develop      # the newest tag
#   git log <that tag>..develop --format=%B     # the messages since
#
# in both layouts a CI checkout may have, in one run:
#
#   loose   every tag a file under refs/tags/, no peeled ids recorded: what
#           `git fetch` into a fresh `git init` leaves (actions/checkout does
#           exactly that) and what `git fast-import` leaves;
#   packed  `git pack-refs --all`, peeled ids recorded: what `git clone`
#           leaves;
#
# and the start-up time of `pipeline-git --version`.
#
#   bash crates/pipeline-gitflow/scripts/bench-version.sh
#   COMMITS=20000 TAGS=1000 RUNS=20 bash crates/pipeline-gitflow/scripts/bench-version.sh   # quicker
#
# Environment: COMMITS (100000), TAGS (5000), SINCE (15: commits on develop
# after the newest tag), RUNS (50), WARMUP (5), REGEN (0; 1 rebuilds the
# repositories even if they exist).
#
# The repository: a develop line with a 3-commit feature branch merged every
# 40 commits, Conventional Commit messages, one file changed per commit;
# tags spread evenly along develop's first-parent line, 80% annotated and 20%
# lightweight, versions rising with history; objects in one pack; no
# commit-graph file (clones and fetches do not write one by default).
# Generated with `git fast-import` in about a minute, then copied for the
# packed layout.
#
# Timings: hyperfine -N (no shell), so the two git commands are timed one by
# one and their means added up, without a shell's start-up in git's figure.
# Before timing, the script checks that both sides agree in each layout: the
# same base tag and the same number of commits since it.
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
BASE="$OUT/git-${COMMITS}c-${TAGS}t-${SINCE}s"
LOOSE="$BASE-loose"
PACKED="$BASE-packed"
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

if [[ "$REGEN" == 1 || ! -f "$LOOSE/.complete" || ! -f "$PACKED/.complete" ]]; then
    rm -rf "$LOOSE" "$PACKED"
    say "generating $LOOSE with git fast-import"
    start=$EPOCHREALTIME
    git init -q -b develop "$LOOSE"
    generate | git -C "$LOOSE" fast-import --quiet || die "fast-import failed"
    git -C "$LOOSE" update-ref -d refs/heads/feature
    [[ ! -e "$LOOSE/.git/packed-refs" ]] || die "fast-import wrote packed-refs: the loose layout is not loose"
    cp -a "$LOOSE" "$PACKED"
    git -C "$PACKED" pack-refs --all
    touch "$LOOSE/.complete" "$PACKED/.complete"
    say "generated in $(python3 -c "print(f'{$EPOCHREALTIME - $start:.1f}')") s"
fi
count="$(git -C "$LOOSE" rev-list --count develop)"
ntags="$(git -C "$LOOSE" tag | wc -l | tr -d ' ')"
nloose="$(find "$LOOSE/.git/refs/tags" -type f | wc -l | tr -d ' ')"
npacked="$(grep -c ' refs/tags/' "$PACKED/.git/packed-refs" || true)"
say "repository: $count commits, $ntags tags ($nloose loose files; $npacked in packed-refs of the copy)"

# --- (c) both sides agree ------------------------------------------------------
agree() { # repository; prints "tag since version"
    local repo="$1" tag since json ours
    tag="$(git -C "$repo" describe --tags --abbrev=0 develop)"
    since="$(git -C "$repo" rev-list --count "$tag..develop")"
    json="$("$BIN" version --repo "$repo" --json 2>/dev/null)" || die "pipeline-git version failed in $repo"
    read -r ours_tag ours_since ours_version < <(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(d["previous_tag"], d["commits"]["total"], d["version"])' "$json")
    [[ "$ours_tag" == "$tag" ]] || die "$repo: base tag: git says $tag, pipeline-git says $ours_tag"
    [[ "$ours_since" == "$since" ]] || die "$repo: commits since $tag: git says $since, pipeline-git says $ours_since"
    echo "$tag $since $ours_version"
}
read -r TAG GIT_SINCE OUR_VERSION < <(agree "$LOOSE")
read -r TAG_P _ _ < <(agree "$PACKED")
[[ "$TAG_P" == "$TAG" ]] || die "the two layouts disagree: $TAG and $TAG_P"
say "both sides agree in both layouts: base $TAG, $GIT_SINCE commits since; next version $OUR_VERSION"

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
ratio() { python3 -c "print(f'{$1 / ($2 + $3):.2f}')"; }
verdict() { python3 -c "print('met' if $1 <= 0.5 * ($2 + $3) else 'MISSED')"; }

say "timing ($RUNS runs each, $WARMUP warm-up)"
read -r L_OURS L_OURS_SD L_OURS_MIN < <(bench loose-pipeline-git "$BIN version --repo $LOOSE")
read -r P_OURS P_OURS_SD P_OURS_MIN < <(bench packed-pipeline-git "$BIN version --repo $PACKED")
read -r L_DESC L_DESC_SD L_DESC_MIN < <(bench loose-git-describe "git -C $LOOSE describe --tags --abbrev=0 develop")
read -r P_DESC P_DESC_SD P_DESC_MIN < <(bench packed-git-describe "git -C $PACKED describe --tags --abbrev=0 develop")
read -r L_LOG L_LOG_SD L_LOG_MIN < <(bench loose-git-log "git -C $LOOSE log $TAG..develop --format=%B")
read -r P_LOG P_LOG_SD P_LOG_MIN < <(bench packed-git-log "git -C $PACKED log $TAG..develop --format=%B")
read -r START START_SD START_MIN < <(bench startup "$BIN --version")

L_SUM="$(python3 -c "print(f'{$L_DESC + $L_LOG:.2f}')")"
P_SUM="$(python3 -c "print(f'{$P_DESC + $P_LOG:.2f}')")"
L_RATIO="$(ratio "$L_OURS" "$L_DESC" "$L_LOG")"
P_RATIO="$(ratio "$P_OURS" "$P_DESC" "$P_LOG")"
L_VERDICT="$(verdict "$L_OURS" "$L_DESC" "$L_LOG")"
P_VERDICT="$(verdict "$P_OURS" "$P_DESC" "$P_LOG")"
VERDICT_S="$(python3 -c "print('met' if $START < 10 else 'MISSED')")"

{
    echo "## \`pipeline-git version\` vs the git command line"
    echo
    echo "Repository: $count commits, $ntags tags (80% annotated), one pack, no commit-graph; base $TAG, $GIT_SINCE commits since."
    echo "Layouts: loose (every tag a file under refs/tags/, as \`git fetch\` into a fresh \`git init\` and \`fast-import\` leave it) and packed (\`git pack-refs --all\`, peeled ids recorded, as \`git clone\` leaves it)."
    echo "$(uname -srm), $(nproc) CPU(s); $(git --version); hyperfine -N, $RUNS runs after $WARMUP warm-up."
    echo
    echo "| command | loose: mean ms | ± | min | packed: mean ms | ± | min |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    echo "| \`pipeline-git version\` | $L_OURS | $L_OURS_SD | $L_OURS_MIN | $P_OURS | $P_OURS_SD | $P_OURS_MIN |"
    echo "| \`git describe --tags --abbrev=0 develop\` | $L_DESC | $L_DESC_SD | $L_DESC_MIN | $P_DESC | $P_DESC_SD | $P_DESC_MIN |"
    echo "| \`git log $TAG..develop --format=%B\` | $L_LOG | $L_LOG_SD | $L_LOG_MIN | $P_LOG | $P_LOG_SD | $P_LOG_MIN |"
    echo "| git, both commands (sum of means) | $L_SUM | | | $P_SUM | | |"
    echo "| \`pipeline-git --version\` (start-up) | $START | $START_SD | $START_MIN | | | |"
    echo
    echo "- loose refs: ${L_RATIO}× git's time (target ≤ 0.5×): $L_VERDICT"
    echo "- packed refs: ${P_RATIO}× git's time (target ≤ 0.5×): $P_VERDICT"
    echo "- start-up: $START ms (target < 10 ms): $VERDICT_S"
} | tee "$REPORT"
