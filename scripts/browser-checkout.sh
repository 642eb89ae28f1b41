#!/usr/bin/env bash
# Real-browser end-to-end test of the seed-004 checkout: starts the server
# and runs tests/browser/checkout.py (Playwright for Python driving Debian's
# headless Chromium) against it; see that file for what it checks.
# Installs what is missing: the `chromium` command (apt) and the Python
# module `playwright` (PyPI). Playwright's own browser download is not used.
# Usage: scripts/browser-checkout.sh [path/to/tally] [--screenshot path.png]
set -euo pipefail
tally="${CARGO_TARGET_DIR:-target}/debug/tally"
if [ $# -gt 0 ] && [ "$1" != "--screenshot" ]; then tally=$1; shift; fi
extra=("$@")

if ! command -v chromium >/dev/null; then
  echo "browser-checkout: installing chromium with apt-get" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
chromium=$(command -v chromium)
python3 -c "import playwright" 2>/dev/null || python3 -m pip install -q playwright

key="browser-checkout-key-0123456789"
# shellcheck source=scripts/start-tally.sh
source "$(dirname "$0")/start-tally.sh"
start_tally "$tally" "$key"
python3 "$(dirname "$0")/../tests/browser/checkout.py" "$base" "$key" --chromium "$chromium" "${extra[@]}"
