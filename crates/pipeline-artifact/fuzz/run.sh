#!/usr/bin/env bash
# Fuzzes the unpacker for SECONDS_EACH seconds (default 600), seeded with
# small archives written by Python's zipfile (stored, deflate, a directory,
# data descriptors, zip64) and, when installed, Info-ZIP zip. Needs
# cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets the stable
# toolchain take the sanitizer flags. Each run writes to a temporary
# directory: TMPDIR defaults to /dev/shm, where syncs cost nothing. Exit 0
# when the target ran clean for its whole time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
SECONDS_EACH="${SECONDS_EACH:-600}"
if [[ -z "${TMPDIR:-}" && -d /dev/shm ]]; then
    export TMPDIR=/dev/shm
fi
corpus=corpus/unpack
mkdir -p "$corpus"
python3 - "$corpus" <<'PY'
import io, sys, zipfile
out = sys.argv[1]
text = b'print("hello")\n' * 20

class Unseekable(io.RawIOBase):
    def __init__(self, f):
        self.f = f
    def writable(self):
        return True
    def write(self, b):
        return self.f.write(b)

with zipfile.ZipFile(out + '/python-seekable.zip', 'w') as z:
    z.comment = b'seed'
    z.mkdir('app')
    z.writestr('app/main.py', text, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr('app/run.sh', b'#!/bin/sh\n')
with open(out + '/python-streamed.zip', 'wb') as f:
    with zipfile.ZipFile(Unseekable(f), 'w', compression=zipfile.ZIP_DEFLATED) as z:
        with z.open('a.txt', 'w') as w:
            w.write(text)
        with z.open('b.txt', 'w', force_zip64=True) as w:
            w.write(text)
PY
if command -v zip >/dev/null; then
    seed=$(mktemp -d)
    mkdir -p "$seed/app/empty"
    printf 'print("hi")\n' >"$seed/app/main.py"
    (cd "$seed" && zip -q -r - app) >"$corpus/info-zip-streamed.zip"
    rm -rf "$seed"
fi
echo "== fuzzing unpack for ${SECONDS_EACH}s"
RUSTC_BOOTSTRAP=1 cargo fuzz run -O unpack "$corpus" -- \
    -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1
