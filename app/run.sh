#!/bin/sh
# Starts the inventory service from the directory this script is in: an
# unpacked release (the artifact is app/ without tests/ and ci/) or the source
# tree. It is the command a deploy target runs on every start:
#
#   PORT=8080 sh run.sh            # HOST=127.0.0.1 by default; HOST=0.0.0.0 in a container
#
# On the first start it builds .venv next to this script from requirements.txt:
# from the wheels in ./wheelhouse when that directory holds any (no network:
# pip install --no-index --find-links wheelhouse), else from PyPI. Later starts
# find .venv ready (its copy of requirements.txt matches) and exec the server
# at once; a changed requirements.txt rebuilds it. A start interrupted while building leaves no copy, so the next one
# finishes the job; concurrent starts wait for each other (.venv.lock).
#
# Environment: PORT, HOST, THREADS, PIPELINE_VERSION, PIPELINE_SLOT,
# PIPELINE_ENV, APP_FAIL_HEALTH, APP_BREAK_ITEMS, APP_BREAK_WRITES (see
# README.md); and for this script: PYTHON (default python3), APP_VENV (default
# .venv), WHEELHOUSE (default wheelhouse).
set -eu

cd "$(dirname "$0")"
here=$(pwd)
python=${PYTHON:-python3}
venv=${APP_VENV:-$here/.venv}
wheelhouse=${WHEELHOUSE:-$here/wheelhouse}
stamp=$venv/.requirements.txt
lock=$venv.lock

say() { printf 'run.sh: %s\n' "$*" >&2; }

ready() { [ -x "$venv/bin/python" ] && cmp -s requirements.txt "$stamp"; }

take_lock() {
    waited=0
    until mkdir "$lock" 2>/dev/null; do
        owner=$(cat "$lock/pid" 2>/dev/null || true)
        if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
            say "removing the stale lock of process $owner"
            rm -rf "$lock"
            continue
        fi
        if [ "$waited" -ge 600 ]; then
            say "waited 600 s for $lock (held by ${owner:-?}); remove it if no start is running"
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo $$ >"$lock/pid"
    trap 'rm -rf "$lock"' EXIT
    trap 'rm -rf "$lock"; exit 143' TERM
    trap 'rm -rf "$lock"; exit 130' INT
}

drop_lock() {
    rm -rf "$lock"
    trap - EXIT TERM INT
}

build_venv() {
    if ! command -v "$python" >/dev/null 2>&1; then
        say "$python not found: install Python 3.11 or newer, or set PYTHON"
        exit 127
    fi
    if [ -f "$stamp" ]; then
        say "requirements.txt changed: rebuilding $venv"
        rm -rf "$venv"
    fi
    # .created marks a venv whose creation (pip included) finished.
    if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.created" ]; then
        say "creating $venv with $("$python" --version 2>&1)"
        rm -rf "$venv"
        if ! "$python" -m venv "$venv"; then
            say "cannot create a virtual environment (on Debian/Ubuntu: apt-get install python3-venv)"
            rm -rf "$venv"
            exit 1
        fi
        : >"$venv/.created"
    fi
    set -- install --disable-pip-version-check --no-input --quiet -r requirements.txt
    if [ -d "$wheelhouse" ] && [ -n "$(ls -A "$wheelhouse" 2>/dev/null)" ]; then
        say "installing requirements.txt from $wheelhouse (no network)"
        set -- "$@" --no-index --find-links "$wheelhouse"
    else
        say "installing requirements.txt from PyPI"
    fi
    "$venv/bin/python" -m pip "$@"
    cp requirements.txt "$stamp.partial"
    mv "$stamp.partial" "$stamp"
    say "$venv is ready"
}

if ! ready; then
    take_lock
    # Another start may have built it while this one waited for the lock.
    ready || build_venv
    drop_lock
fi

PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}"
PYTHONUNBUFFERED=1
export PYTHONPATH PYTHONUNBUFFERED
exec "$venv/bin/python" -m inventory "$@"
