# Sourced by the CI scripts: start_tally TALLY_BINARY KEY starts the server on
# a free 127.0.0.1 port with a temporary data folder, sets $base (its URL),
# $work (the temp folder) and $pid, and stops it on exit.
start_tally() {
  local tally=$1 key=$2
  work=$(mktemp -d)
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
}
