#!/usr/bin/env bash
# Validates a running instance of the app with the integration tests, before
# traffic is switched to it:
#
#   EXPECT_VERSION=1.4.0 bash app/ci/validate.sh http://127.0.0.1:PORT [OUT_DIR]
#
# The same tests as in test.sh, sent to that address instead of an app they
# start (the tests that need their own app are skipped). EXPECT_VERSION, when
# set, is the version /health and /version must report. Writes
# OUT_DIR/junit-validation.xml (OUT_DIR defaults to app/reports).
#
# Exit: 0 when the instance passed; 1 when a test failed; 2 for a bad call,
# a missing or too old Python; 3 when pip cannot install the requirements.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || -z $1 ]]; then
    echo "usage: [EXPECT_VERSION=X.Y.Z] bash app/ci/validate.sh BASE_URL [OUT_DIR]" >&2
    exit 2
fi
app_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out_dir=${2:-$app_dir/reports}
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

# shellcheck source=ci/venv.sh
source "$app_dir/ci/venv.sh"
ensure_venv "$app_dir" || exit $?

cd "$app_dir"
export APP_BASE_URL=$1 PYTHONDONTWRITEBYTECODE=1
status=0
"$py" -m pytest tests/integration -p no:cacheprovider \
    --junitxml "$out_dir/junit-validation.xml" -o junit_suite_name=validation || status=$?
if [[ $status -ne 0 ]]; then
    exit 1
fi
