#!/usr/bin/env bash
# Puts one of the toolkit's binaries on PATH for the composite actions beside
# this file. Order:
#   1. PIPELINE_BIN_DIR, when it holds the binary (a job that built them once);
#   2. the release asset <binary>-<os>-<arch>[.exe] of the action's tag
#      (INPUT_VERSION, else the ref the action was used at when it is a tag),
#      checked against the release's SHA256SUMS;
#   3. `cargo install --locked --path bins/<binary>` from the action's own
#      checkout (when there is no release for the ref, or INPUT_VERSION=source).
# Every value arrives through the environment, never through the script text.
set -euo pipefail

bin=${BINARY:?BINARY is required}
repo=${ACTION_REPOSITORY:-}
ref=${INPUT_VERSION:-}
[[ -n $ref ]] || ref=${ACTION_REF:-}
action_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest="${RUNNER_TEMP:-/tmp}/pipeline-bin"
mkdir -p "$dest"

ext=""
case "${RUNNER_OS:-Linux}" in
    Linux) os=linux ;;
    macOS) os=macos ;;
    Windows) os=windows; ext=".exe" ;;
    *) echo "::error::unsupported runner OS ${RUNNER_OS}"; exit 2 ;;
esac
case "${RUNNER_ARCH:-X64}" in
    X64) arch=x64 ;;
    ARM64) arch=arm64 ;;
    *) echo "::error::unsupported runner architecture ${RUNNER_ARCH}"; exit 2 ;;
esac

add_path() { echo "$1" >> "${GITHUB_PATH:-/dev/null}"; export PATH="$1:$PATH"; }

if [[ -n ${PIPELINE_BIN_DIR:-} && -x "$PIPELINE_BIN_DIR/$bin$ext" ]]; then
    echo "$bin: from PIPELINE_BIN_DIR ($PIPELINE_BIN_DIR)"
    add_path "$PIPELINE_BIN_DIR"
    exit 0
fi

if [[ $ref =~ ^v[0-9]+ && -n $repo && $ref != source ]]; then
    asset="$bin-$os-$arch$ext"
    base="https://github.com/$repo/releases/download/$ref"
    tmp=$(mktemp -d)
    if curl -fsSL --retry 3 -o "$tmp/SHA256SUMS" "$base/SHA256SUMS" \
        && curl -fsSL --retry 3 -o "$tmp/$asset" "$base/$asset"; then
        expected=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS")
        if [[ -z $expected ]]; then
            echo "::error::$asset is not listed in SHA256SUMS of $ref"; exit 2
        fi
        if command -v sha256sum >/dev/null; then
            actual=$(sha256sum "$tmp/$asset" | awk '{print $1}')
        else
            actual=$(shasum -a 256 "$tmp/$asset" | awk '{print $1}')
        fi
        if [[ $actual != "$expected" ]]; then
            echo "::error::$asset: SHA-256 $actual, SHA256SUMS says $expected"; exit 2
        fi
        install -m 0755 "$tmp/$asset" "$dest/$bin$ext"
        rm -rf "$tmp"
        echo "$bin: release $ref, $asset, sha256 $actual"
        add_path "$dest"
        exit 0
    fi
    rm -rf "$tmp"
    echo "::warning::no release asset $asset for $ref; building $bin from source"
fi

echo "$bin: cargo install --path $action_root/bins/$bin"
cargo install --locked --quiet --path "$action_root/bins/$bin" --root "$dest/cargo"
add_path "$dest/cargo/bin"
