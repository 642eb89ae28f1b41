#!/usr/bin/env bash
# Starts the built `tally` on a free port with a temp data folder, drives a
# little traffic, scrapes /metrics and runs `promtool check metrics` on it.
# Usage: scripts/check-metrics.sh [path/to/tally]
set -euo pipefail

tally="${1:-${CARGO_TARGET_DIR:-target}/debug/tally}"
command -v promtool >/dev/null || { echo "promtool not found (apt-get install prometheus)" >&2; exit 1; }
key="check-metrics-key-0123456789"
# shellcheck source=scripts/start-tally.sh
source "$(dirname "$0")/start-tally.sh"
start_tally "$tally" "$key"

auth=(-H "Authorization: Bearer $key")
wallet=$(curl -sf "${auth[@]}" -X POST "$base/v1/wallets" \
  -d '{"external_customer_id":"m","currency":"USD","rate_amount":"1","paid_credits":"5"}' \
  | sed -n 's/.*"id":"\(wal_[0-9A-Z]*\)".*/\1/p')
curl -sf "${auth[@]}" -X POST "$base/v1/wallets/$wallet/debits" -d '{"credits":"1"}' >/dev/null
curl -s "${auth[@]}" -X POST "$base/v1/wallets/$wallet/debits" -d '{"credits":"100"}' >/dev/null
curl -sf "${auth[@]}" -X POST "$base/v1/wallets/$wallet/wallet-transactions" -d '{"type":"TOPUP","granted_credits":"2"}' >/dev/null
curl -sf "$base/metrics" >"$work/scrape.txt"
promtool check metrics <"$work/scrape.txt"
echo "promtool check metrics: OK ($(grep -c '^tally_' "$work/scrape.txt") tally_ samples)"
