# Sourced by test.sh and validate.sh: ensure_venv makes sure $venv (default
# app/.venv) holds the pinned requirements.txt and requirements-dev.txt,
# building it when it is missing or they changed, and sets $py to its python.
# A fresh machine needs only Python 3.11+ (with its venv module) and PyPI.
# shellcheck shell=bash

ensure_venv() {
    local app_dir=$1
    local python=${PYTHON:-python3}
    venv=${APP_VENV:-$app_dir/.venv}
    py=$venv/bin/python
    local stamp=$venv/.requirements-dev.txt
    if [[ -x $py && -f $stamp ]] \
        && cat "$app_dir/requirements.txt" "$app_dir/requirements-dev.txt" | cmp -s - "$stamp"; then
        return 0
    fi
    if ! command -v "$python" >/dev/null 2>&1; then
        echo "ci: $python not found: install Python 3.11 or newer, or set PYTHON" >&2
        return 2
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "ci: $("$python" --version 2>&1) is too old: the pinned tools need Python 3.11+ (set PYTHON)" >&2
        return 2
    fi
    local started=$SECONDS
    echo "ci: building $venv with $("$python" --version 2>&1)" >&2
    rm -rf "$venv"
    if ! "$python" -m venv "$venv"; then
        echo "ci: cannot create a virtual environment (on Debian/Ubuntu: apt-get install python3-venv)" >&2
        rm -rf "$venv"
        return 2
    fi
    if ! "$py" -m pip install --disable-pip-version-check --no-input --quiet \
        -r "$app_dir/requirements-dev.txt"; then
        echo "ci: pip could not install requirements-dev.txt (is PyPI reachable?)" >&2
        rm -rf "$venv"
        return 3
    fi
    cat "$app_dir/requirements.txt" "$app_dir/requirements-dev.txt" >"$stamp"
    echo "ci: $venv ready in $((SECONDS - started)) s" >&2
}
