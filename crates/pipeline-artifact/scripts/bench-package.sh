#!/usr/bin/env bash
# Packaging speed and memory, side by side with Info-ZIP:
#   pipeline-deploy package --source TREE --out A.zip
#   zip -X -r -q -6 B.zip TREE
# on a generated tree of many small files (Python-like text with some
# binary), both at deflate level 6, with hyperfine; then peak RSS of each
# with /usr/bin/time.
#
#   bash crates/pipeline-artifact/scripts/bench-package.sh
#   TREE_MB=200 FILES=20000 RUNS=5 bash crates/pipeline-artifact/scripts/bench-package.sh
#
# Needs: python3, zip, hyperfine, GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/../../.."

TREE_MB=${TREE_MB:-200}
FILES=${FILES:-20000}
RUNS=${RUNS:-5}
BENCH=target/bench
TREE=$BENCH/tree
OUT=$BENCH/out

for tool in python3 zip hyperfine /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench-package: $tool is missing" >&2; exit 2; }
done

cargo build --release --locked -p pipeline-deploy
BIN=target/release/pipeline-deploy

# The tree is generated once per size and count (a seeded generator: the
# same tree every time).
STAMP="$TREE/.bench-$TREE_MB-$FILES"
if [[ ! -e $STAMP ]]; then
    rm -rf "$TREE"
    python3 - "$TREE" "$TREE_MB" "$FILES" <<'PY'
import os, random, sys

root, mb, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
avg = mb * 1024 * 1024 // files
words = ("def class return import from self if else elif for while in not and or "
         "None True False yield with as try except finally raise lambda pass "
         "request response session user order item price total value result "
         "config logger handler client server payload status error message").split()

def python_text(size):
    lines, n = [], 0
    while n < size:
        indent = "    " * rng.randint(0, 3)
        line = indent + " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        line += rng.choice(["", ":", "()", " = 0", "  # " + rng.choice(words)])
        lines.append(line)
        n += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:size]

for i in range(files):
    d = os.path.join(root, f"pkg{i % 40:02d}", f"mod{(i // 40) % 25:02d}")
    os.makedirs(d, exist_ok=True)
    size = max(1, int(rng.expovariate(1 / avg)))
    if i % 10 == 9:   # one file in ten is binary (images, wheels, .so)
        data, name = rng.randbytes(size), f"asset{i}.bin"
    else:
        data, name = python_text(size), f"module{i}.py"
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
PY
    touch "$STAMP"
fi
mkdir -p "$OUT"
echo "tree: $(find "$TREE" -type f | wc -l) files, $(du -sm --apparent-size "$TREE" | cut -f1) MB (apparent), $(nproc) cores"

hyperfine -N --warmup 1 --runs "$RUNS" \
    --prepare "rm -f $OUT/pd.zip $OUT/zip.zip" \
    --export-markdown "$OUT/bench.md" \
    -n "pipeline-deploy package" "$BIN package --source $TREE --out $OUT/pd.zip --no-default-excludes" \
    -n "zip -X -r -q -6" "zip -X -r -q -6 $OUT/zip.zip $TREE"

rm -f "$OUT/pd.zip" "$OUT/zip.zip"
pd_rss=$(/usr/bin/time -f %M "$BIN" package --source "$TREE" --out "$OUT/pd.zip" --no-default-excludes 2>&1 >/dev/null | tail -1)
zip_rss=$(/usr/bin/time -f %M zip -X -r -q -6 "$OUT/zip.zip" "$TREE" 2>&1 >/dev/null | tail -1)
echo
echo "peak RSS: pipeline-deploy package ${pd_rss} KiB, zip ${zip_rss} KiB"
echo "archive size: pipeline-deploy $(stat -c %s "$OUT/pd.zip") bytes, zip $(stat -c %s "$OUT/zip.zip") bytes"
