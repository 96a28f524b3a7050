#!/usr/bin/env bash
# The sample app's test command, the one the pipeline runs:
#
#   bash app/ci/test.sh [OUT_DIR]          # OUT_DIR defaults to app/reports
#
# It builds app/.venv from the pinned requirements when needed (reused while
# they do not change), then writes to OUT_DIR:
#   junit-unit.xml         the unit tests (JUnit XML)
#   coverage.xml           their coverage, lines and branches (Cobertura XML)
#   junit-integration.xml  the integration tests, against an app it starts itself
#   pylint.json            pylint's findings and score (json2); its text on stdout
#
# Exit: 0 when every test passed; 1 when a test failed (every step still runs
# and writes its report); 2 when Python is missing or too old; 3 when pip
# cannot install the requirements. pylint's findings never fail this script:
# the pipeline's report gate judges the score.
set -euo pipefail

app_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out_dir=${1:-$app_dir/reports}
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

# shellcheck source=ci/venv.sh
source "$app_dir/ci/venv.sh"
ensure_venv "$app_dir" || exit $?

cd "$app_dir"
rm -f "$out_dir"/junit-unit.xml "$out_dir"/junit-integration.xml "$out_dir"/coverage.xml \
    "$out_dir"/pylint.json
# These tests are of this checkout: the integration tests start the app
# themselves. (To validate a running slot, see ci/validate.sh.)
unset APP_BASE_URL
export PYTHONDONTWRITEBYTECODE=1
# An app.env in the tree is deploy-time configuration carried by the
# artifact: the tests run the app with their own settings, not with it.
export APP_ENV_FILE=/dev/null

step() { printf '\n==> %s\n' "$*"; }

# The steps run one after the other whatever the outcome of the previous one,
# so every report is written; the outcomes are summed up at the end.
unit=0
step "unit tests, with coverage"
"$py" -m pytest tests/unit -p no:cacheprovider \
    --junitxml "$out_dir/junit-unit.xml" -o junit_suite_name=unit \
    --cov --cov-report term --cov-report "xml:$out_dir/coverage.xml" || unit=$?

integration=0
step "integration tests"
"$py" -m pytest tests/integration -p no:cacheprovider \
    --junitxml "$out_dir/junit-integration.xml" -o junit_suite_name=integration || integration=$?

lint=0
step "pylint"
"$py" -m pylint src tests --output-format="json2:$out_dir/pylint.json,text" || lint=$?

step "summary"
verdict() { if [[ $1 -eq 0 ]]; then echo "passed"; else echo "FAILED (pytest exit $1)"; fi; }
echo "unit tests:        $(verdict "$unit")"
echo "integration tests: $(verdict "$integration")"
if [[ -s $out_dir/pylint.json ]]; then
    echo "pylint:            exit $lint (not a verdict; the gate judges the score)"
else
    echo "pylint:            no report written (exit $lint)" >&2
fi
echo "reports:           $out_dir"
if [[ $unit -ne 0 || $integration -ne 0 ]]; then
    exit 1
fi
