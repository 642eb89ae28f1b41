#!/usr/bin/env bash
# The `postgres` baseline: what a user would otherwise build. A debit is
#   UPDATE wallets SET balance = balance - $1 WHERE id = $2 AND balance >= $1
# plus a ledger INSERT, in one transaction, synchronous_commit = on, driven by
# pgbench with the given concurrency on one client thread (like our load
# generator). Installs PostgreSQL from apt if needed, runs a throwaway cluster
# on 127.0.0.1, prints one JSON line: {"tps","transactions","p50_us","p99_us","p999_us"}.
# Usage: bench/postgres.sh CONCURRENCY SECONDS WALLETS
set -euo pipefail
concurrency=${1:-64}; seconds=${2:-10}; wallets=${3:-1000}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/pgbench" ]; then
  echo "postgres baseline: installing postgresql from apt" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

work=$(mktemp -d)
chmod 755 "$work"
[ "$(id -u)" -eq 0 ] && chown postgres "$work"
port=55432
cleanup() { as_postgres "$bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

as_postgres "$bin/initdb" -D "$work/pg" -U postgres --auth=trust >/dev/null
as_postgres "$bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w start \
  -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$work -c synchronous_commit=on -c fsync=on -c max_connections=$((concurrency + 20)) -c shared_buffers=256MB" >/dev/null
psql=("$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1)
"${psql[@]}" <<SQL
CREATE TABLE wallets (id int PRIMARY KEY, balance numeric(38, 9) NOT NULL);
CREATE TABLE ledger (id bigserial PRIMARY KEY, wallet_id int NOT NULL, amount numeric(38, 9) NOT NULL,
                     created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO wallets SELECT g, 1000000 FROM generate_series(1, $wallets) g;
SQL
cat >"$work/debit.sql" <<SQL
\set id random(1, $wallets)
BEGIN;
UPDATE wallets SET balance = balance - 0.000001 WHERE id = :id AND balance >= 0.000001;
INSERT INTO ledger (wallet_id, amount) VALUES (:id, 0.000001);
COMMIT;
SQL
chmod 644 "$work/debit.sql"
(cd "$work" && "$bin/pgbench" -n -h 127.0.0.1 -p "$port" -U postgres -c "$concurrency" -j 1 -T "$seconds" \
   -f "$work/debit.sql" -l --log-prefix="$work/log" postgres >"$work/pgbench.out" 2>&1) || { cat "$work/pgbench.out" >&2; exit 1; }
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | head -n 1)
cat "$work"/log* | awk '{print $3}' | sort -n >"$work/latencies"
n=$(wc -l <"$work/latencies")
pick() { sed -n "$(( ($1 * n + 999) / 1000 ))p" "$work/latencies"; }
printf '{"tps":%s,"transactions":%s,"p50_us":%s,"p99_us":%s,"p999_us":%s}\n' \
  "$tps" "$n" "$(pick 500)" "$(pick 990)" "$(pick 999)"
