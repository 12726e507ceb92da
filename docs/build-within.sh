#!/usr/bin/env bash
# The full site when it builds within LIMIT seconds, else the quick site: for a host that stops
# builds at a fixed time (Read the Docs: 15 minutes, installs included) and keeps no cache.
#
#   bash docs/build-within.sh LIMIT OUTPUT [DOCS]
#
# The full build gets LIMIT seconds; then `timeout` sends SIGTERM, which ends the build and its
# workers within seconds (docs/_ext/buildstop.py). A full build that fails for any other reason
# fails this script: only running out of time falls back. The quick site's results table and
# stamps say its numbers come from tiny budgets.
set -uo pipefail
if [ $# -lt 2 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: bash docs/build-within.sh LIMIT_SECONDS OUTPUT_DIR [DOCS_DIR]" >&2
  exit 2
fi
limit=$1 out=$2 docs=${3:-docs}
sphinx=("${PYTHON:-python}" -m sphinx -b html -W --keep-going -n -j 1 "$docs" "$out")

MLCHEATSHEET_MODE=full timeout --signal=TERM --kill-after=30 "$limit" "${sphinx[@]}"
status=$?
[ "$status" -eq 124 ] || exit "$status"
echo "build-within: the full build did not finish within $limit s; building the quick site instead" >&2
rm -rf "$out"
MLCHEATSHEET_MODE=quick exec "${sphinx[@]}"
