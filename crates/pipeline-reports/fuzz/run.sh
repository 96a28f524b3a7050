#!/usr/bin/env bash
# Fuzzes each report reader for SECONDS seconds (default 600), seeded with
# the real reports in fixtures/reports/. Needs cargo-fuzz (`cargo install
# cargo-fuzz`); RUSTC_BOOTSTRAP lets the stable toolchain take the sanitizer
# flags. Exit 0 when every target ran clean for its whole time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
SECONDS_EACH="${SECONDS_EACH:-600}"
TARGETS=("${@:-junit cobertura pylint}")
read -r -a TARGETS <<<"${TARGETS[*]}"
fixtures=../../../fixtures/reports
mkdir -p corpus/junit corpus/cobertura corpus/pylint
find "$fixtures/junit" -name '*.xml' -exec cp {} corpus/junit/ \;
find "$fixtures/cobertura" -name '*.xml' -exec cp {} corpus/cobertura/ \;
find "$fixtures/pylint" -type f -exec cp {} corpus/pylint/ \;
for target in "${TARGETS[@]}"; do
    echo "== fuzzing $target for ${SECONDS_EACH}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$target" "corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1
done
