#!/usr/bin/env bash
# Runs schemathesis (from PyPI) against the real server using its own
# /openapi.json with an admin key: zero server errors (5xx) and zero
# responses that violate the document, or this fails.
# Usage: scripts/schemathesis.sh [path/to/tally] [max examples per operation]
set -euo pipefail
tally="${1:-${CARGO_TARGET_DIR:-target}/debug/tally}"
examples="${2:-25}"
# Called as a module: a fresh pip install may not have put `st` on PATH yet.
python3 -m schemathesis.cli --version >/dev/null 2>&1 || python3 -m pip install -q schemathesis
key="schemathesis-key-0123456789"
# shellcheck source=scripts/start-tally.sh
source "$(dirname "$0")/start-tally.sh"
start_tally "$tally" "$key"
python3 -m schemathesis.cli run "$base/openapi.json" -H "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" --seed 1 --no-color 2>&1 | tail -n 25
