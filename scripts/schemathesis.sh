#!/usr/bin/env bash
# Runs schemathesis (from PyPI) against the real server using its own
# /openapi.json with an admin key: zero server errors (5xx) and zero
# responses that violate the document, or this fails.
# Usage: scripts/schemathesis.sh [path/to/tally] [max examples per operation]
set -euo pipefail
tally="${1:-${CARGO_TARGET_DIR:-target}/debug/tally}"
examples="${2:-25}"
command -v st >/dev/null || python3 -m pip install -q schemathesis
work=$(mktemp -d)
key="schemathesis-key-0123456789"
TALLY_LISTEN=127.0.0.1:0 TALLY_DATA_DIR="$work/data" TALLY_API_KEY="$key" RUST_LOG=error \
  "$tally" >"$work/stdout" 2>"$work/stderr" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$work/stdout" 2>/dev/null && break
  sleep 0.1
done
base=$(sed -n 's/^tally listening on //p' "$work/stdout")
[ -n "$base" ] || { echo "tally did not start:" >&2; cat "$work/stderr" >&2; exit 1; }
st run "$base/openapi.json" -H "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" --seed 1 --no-color 2>&1 | tail -n 25
