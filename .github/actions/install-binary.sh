#!/usr/bin/env bash
# Puts one of the toolkit's binaries on PATH for the composite actions beside
# this file, in two steps with actions/cache between them:
#
#   install-binary.sh resolve   which binary, from where, and the cache key
#   install-binary.sh install   the cached one, else a checked download, else a build
#
# resolve, in order:
#   1. PIPELINE_BIN_DIR holds the binary (a job that built them once): that;
#   2. the release of the version asked for: INPUT_VERSION, else the ref the
#      action is used at (ACTION_REF), in ACTION_REPOSITORY:
#        - a release tag (v1.4.2): its release;
#        - a moving tag (v1, v1.4): the newest published release whose tag
#          is that line's (v1.x.y, v1.4.y), pre-releases and drafts left out;
#        - a commit (40 hex digits): the release whose tag points at it;
#      and of it the asset for this runner: <binary>-<os>-<arch>[.exe]
#      (linux: the static -musl build first), listed in its SHA256SUMS;
#   3. otherwise (no release, INPUT_VERSION=source, a local action):
#      `cargo install --locked --path bins/<binary>` from the action's own
#      files, the last resort.
# It writes the step outputs `mode` (bin-dir, release, source), `tag`,
# `asset`, `asset-url`, `sums-url`, `dir` (where the binary goes) and
# `cache-key` (empty for bin-dir), pipeline-orchestrator-<binary>-<version
# or source hash>-<os>-<arch>, so that every job of a run (five promote
# jobs) gets the same binary from the cache instead of building it again.
#
# install reads those back (RESOLVED_* variables) and:
#   - a binary in `dir` already (the cache restored it): used; a release's is
#     checked against SHA256SUMS again first;
#   - release: SHA256SUMS and the asset downloaded, the asset checked against
#     its line in SHA256SUMS (a mismatch stops here: exit 2, nothing
#     installed); a download that fails falls back to the build;
#   - source: cargo install into `dir`.
#
# The REST API is PIPELINE_RELEASES_API, else GITHUB_API_URL, else
# https://api.github.com; GH_API_TOKEN (the job's github.token) is sent when
# set, through a curl config file, never on a command line or in the log.
# Needs bash, curl, jq and sha256sum (or shasum), as GitHub's runners have.
# Every value arrives through the environment, never through the script text.
set -euo pipefail

phase=${1:-}
bin=${BINARY:?BINARY is required}
action_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

out() { echo "$1=$2" >> "${GITHUB_OUTPUT:-/dev/null}"; }
add_path() { echo "$1" >> "${GITHUB_PATH:-/dev/null}"; export PATH="$1:$PATH"; }
die() { echo "::error::$bin: $*" >&2; exit 2; }

ext=""
case "${RUNNER_OS:-Linux}" in
    Linux) os=linux ;;
    macOS) os=macos ;;
    Windows) os=windows; ext=".exe" ;;
    *) die "unsupported runner OS ${RUNNER_OS}" ;;
esac
case "${RUNNER_ARCH:-X64}" in
    X64) arch=x64 ;;
    ARM64) arch=arm64 ;;
    *) die "unsupported runner architecture ${RUNNER_ARCH}" ;;
esac

sha256_of() {
    if command -v sha256sum >/dev/null; then
        sha256sum "$1" | awk '{print $1}'
    else
        shasum -a 256 "$1" | awk '{print $1}'
    fi
}

# The expected SHA-256 of asset $2 in the SHA256SUMS file $1 (`sha256sum`
# lines, text or binary mode).
expected_sha() {
    awk -v f="$2" '$2 == f || $2 == "*" f { print $1; exit }' "$1"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

api=${PIPELINE_RELEASES_API:-${GITHUB_API_URL:-https://api.github.com}}
api=${api%/}
curl_conf=$tmp/curl.conf
: > "$curl_conf"
chmod 600 "$curl_conf"
if [[ -n ${GH_API_TOKEN:-} ]]; then
    printf 'header = "Authorization: Bearer %s"\n' "$GH_API_TOKEN" > "$curl_conf"
fi

# GET $1 of the REST API into $2; fails (quietly) on an HTTP error.
api_get() {
    curl -fsS --retry 3 --retry-delay 1 --max-time 60 -K "$curl_conf" \
        -H "Accept: application/vnd.github+json" -H "X-GitHub-Api-Version: 2022-11-28" \
        -o "$2" "$api/$1"
}

# A release, as JSON in $1, made of the tag $2: its tag if it is published
# and has this runner's asset and SHA256SUMS, else nothing.
usable() {
    jq -e '.draft == false' "$1" >/dev/null 2>&1 || return 1
    local asset
    for asset in "$bin-$os-$arch-musl" "$bin-$os-$arch$ext"; do
        [[ $os == linux || $asset != *-musl ]] || continue
        if jq -e --arg a "$asset" '[.assets[].name] | (index($a) != null) and (index("SHA256SUMS") != null)' "$1" >/dev/null; then
            chosen_asset=$asset
            chosen_tag=$(jq -r .tag_name "$1")
            chosen_url=$(jq -r --arg a "$asset" '.assets[] | select(.name == $a) | .browser_download_url' "$1")
            sums_url=$(jq -r '.assets[] | select(.name == "SHA256SUMS") | .browser_download_url' "$1")
            return 0
        fi
    done
    return 1
}

# The release of tag $1, when usable.
release_of_tag() {
    api_get "repos/$repo/releases/tags/$1" "$tmp/release.json" 2>/dev/null && usable "$tmp/release.json"
}

# Semantic-version sort key of a tag vX.Y.Z: zero-padded numbers.
version_key() {
    local v=${1#v}
    v=${v%%[-+]*}
    local a b c
    IFS=. read -r a b c _ <<< "$v"
    [[ $a =~ ^[0-9]{1,9}$ ]] || a=0
    [[ $b =~ ^[0-9]{1,9}$ ]] || b=0
    [[ $c =~ ^[0-9]{1,9}$ ]] || c=0
    printf '%09d.%09d.%09d' "$((10#$a))" "$((10#$b))" "$((10#$c))"
}

# The newest published full release on the line $1 (v1 or v1.4) that has
# this runner's asset.
newest_on_line() {
    local line=$1 page=1 tag tags=()
    while (( page <= 10 )); do
        api_get "repos/$repo/releases?per_page=100&page=$page" "$tmp/releases.json" 2>/dev/null || return 1
        while IFS= read -r tag; do
            [[ $tag == "$line".* && $tag =~ ^v?[0-9]+\.[0-9]+\.[0-9]+$ ]] && tags+=("$tag")
        done < <(jq -r '.[] | select(.draft == false and .prerelease == false) | .tag_name' "$tmp/releases.json")
        [[ $(jq length "$tmp/releases.json") -ge 100 ]] || break
        page=$((page + 1))
    done
    first_usable "${tags[@]}"
}

# The first of the tags $@, newest version first, whose release is usable.
first_usable() {
    local tag
    (( $# )) || return 1
    while IFS= read -r tag; do
        [[ -n $tag ]] && release_of_tag "${tag#* }" && return 0
    done < <(for t in "$@"; do echo "$(version_key "$t") $t"; done | sort -r)
    return 1
}

# The release whose tag points at commit $1: the newest such tag with a
# usable release.
release_at_commit() {
    local sha=$1 page=1 tag tags=()
    while (( page <= 10 )); do
        api_get "repos/$repo/tags?per_page=100&page=$page" "$tmp/tags.json" 2>/dev/null || return 1
        while IFS= read -r tag; do
            tags+=("$tag")
        done < <(jq -r --arg s "$sha" '.[] | select(.commit.sha == $s) | .name' "$tmp/tags.json")
        [[ $(jq length "$tmp/tags.json") -ge 100 ]] || break
        page=$((page + 1))
    done
    (( ${#tags[@]} )) || return 1
    first_usable "${tags[@]}"
}

# Where the source build of this action's files goes: keyed by the commit
# the action is used at, else by a digest of its sources.
source_key() {
    if [[ ${ACTION_REF:-} =~ ^[0-9a-f]{40}$ ]]; then
        echo "src-${ACTION_REF:0:12}"
        return
    fi
    local digest
    digest=$(cd "$action_root" && find Cargo.toml Cargo.lock crates bins -type f \
        -not -path '*/target/*' 2>/dev/null | LC_ALL=C sort | xargs cat 2>/dev/null | sha256_stdin)
    echo "src-${digest:0:16}"
}
sha256_stdin() {
    if command -v sha256sum >/dev/null; then sha256sum | awk '{print $1}'; else shasum -a 256 | awk '{print $1}'; fi
}

resolve() {
    if [[ -n ${PIPELINE_BIN_DIR:-} && -x "$PIPELINE_BIN_DIR/$bin$ext" ]]; then
        echo "$bin: from PIPELINE_BIN_DIR ($PIPELINE_BIN_DIR)"
        out mode bin-dir; out dir "$PIPELINE_BIN_DIR"; out cache-key ""
        return
    fi
    repo=${ACTION_REPOSITORY:-}
    ref=${INPUT_VERSION:-}
    [[ -n $ref ]] || ref=${ACTION_REF:-}
    local base=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/pipeline-orchestrator
    chosen_tag="" chosen_asset="" chosen_url="" sums_url=""
    if [[ -n $repo && -n $ref && $ref != source ]]; then
        if [[ $ref =~ ^[0-9a-f]{40}$ ]]; then
            release_at_commit "$ref" || true
        elif release_of_tag "$ref"; then
            :
        elif [[ $ref =~ ^v?[0-9]+(\.[0-9]+)?$ ]]; then
            newest_on_line "$ref" || true
        fi
    fi
    if [[ -n $chosen_asset ]]; then
        echo "$bin: release $chosen_tag of $repo (asked for $ref), asset $chosen_asset"
        out mode release; out tag "$chosen_tag"; out asset "$chosen_asset"
        out asset-url "$chosen_url"; out sums-url "$sums_url"
        out dir "$base/$chosen_tag/$os-$arch"
        out cache-key "pipeline-orchestrator-$bin-$chosen_tag-$os-$arch"
        return
    fi
    if [[ -n $repo && -n $ref && $ref != source ]]; then
        echo "::notice::$bin: no release of $repo for $ref with $bin-$os-$arch; it is built from source (slow: cached for the next jobs)"
    fi
    local key; key=$(source_key)
    out mode source; out tag ""; out asset ""; out asset-url ""; out sums-url ""
    out dir "$base/$key/$os-$arch"
    out cache-key "pipeline-orchestrator-$bin-$key-$os-$arch"
}

# Downloads $1 to $2, following GitHub's redirect to the file's storage.
download() {
    curl -fsSL --retry 3 --retry-delay 1 --max-time 300 -o "$2" "$1"
}

install_release() {
    local dir=$1 sums=$tmp/SHA256SUMS expected actual
    download "$RESOLVED_SUMS_URL" "$sums" || return 1
    expected=$(expected_sha "$sums" "$RESOLVED_ASSET")
    [[ -n $expected ]] || die "$RESOLVED_ASSET is not listed in SHA256SUMS of $RESOLVED_TAG"
    if [[ -x "$dir/$bin$ext" ]]; then
        actual=$(sha256_of "$dir/$bin$ext")
        if [[ $actual == "$expected" ]]; then
            echo "$bin: $RESOLVED_TAG from the cache, sha256 $actual (as SHA256SUMS says)"
            add_path "$dir"
            return 0
        fi
        echo "::warning::$bin: the cached binary does not match SHA256SUMS of $RESOLVED_TAG; downloading it again"
    fi
    download "$RESOLVED_ASSET_URL" "$tmp/$RESOLVED_ASSET" || return 1
    actual=$(sha256_of "$tmp/$RESOLVED_ASSET")
    [[ $actual == "$expected" ]] || die "$RESOLVED_ASSET of $RESOLVED_TAG: SHA-256 $actual, SHA256SUMS says $expected; not installed"
    mkdir -p "$dir"
    install -m 0755 "$tmp/$RESOLVED_ASSET" "$dir/$bin$ext"
    echo "$bin: release $RESOLVED_TAG, $RESOLVED_ASSET, sha256 $actual"
    add_path "$dir"
}

install_source() {
    local dir=$1
    if [[ -x "$dir/$bin$ext" ]]; then
        echo "$bin: built from source earlier (cache), $dir"
        add_path "$dir"
        return
    fi
    command -v cargo >/dev/null || die "no release binary for this runner and no cargo to build one (install Rust, or use a released version)"
    echo "$bin: cargo install --path $action_root/bins/$bin"
    cargo install --locked --quiet --path "$action_root/bins/$bin" --root "$tmp/cargo"
    mkdir -p "$dir"
    install -m 0755 "$tmp/cargo/bin/$bin$ext" "$dir/$bin$ext"
    add_path "$dir"
}

install_phase() {
    local mode=${RESOLVED_MODE:?run resolve first} dir=${RESOLVED_DIR:?run resolve first}
    case $mode in
        bin-dir) add_path "$dir" ;;
        release)
            if ! install_release "$dir"; then
                echo "::warning::$bin: $RESOLVED_TAG could not be downloaded; building it from source"
                install_source "$dir"
            fi
            ;;
        source) install_source "$dir" ;;
        *) die "unknown mode $mode" ;;
    esac
}

case $phase in
    resolve) resolve ;;
    install) install_phase ;;
    *) die "usage: install-binary.sh resolve|install" ;;
esac
