#!/usr/bin/env bash
# Logins per second and login latency for a machine identity (argon2id m=19 MiB, t=2, p=1), with
# the server's memory before and after, against GET /healthz on the same server as the baseline.
# Release build, fresh database, loopback only; prints a report and writes REPORT.md beside it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
port=${PORT:-18095}
clients=${CLIENTS:-8}
duration=${DURATION:-15}
db=keyhold_bench_logins
base=${DATABASE_URL_BASE:-postgres://postgres@127.0.0.1:5432}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null

cargo build --release --quiet -p keyhold --manifest-path "$root/Cargo.toml"
bin="$root/target/release/keyhold"
work=$(mktemp -d)
psql "$base/postgres" -qc "drop database if exists $db" -qc "create database $db" >/dev/null
export DATABASE_URL="$base/$db" KEYHOLD_LISTEN="127.0.0.1:$port" RUST_LOG=warn KEYHOLD_EMBEDDED_WORKER=false
KEYHOLD_ROOT_KEYS=$("$bin" keys generate --id bench 2>/dev/null)
export KEYHOLD_ROOT_KEYS
"$bin" bootstrap --json > "$work/admin.json" 2>/dev/null
"$bin" serve 2>"$work/serve.log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; psql "$base/postgres" -qc "drop database if exists $db" >/dev/null; rm -rf "$work"; }
trap cleanup EXIT
api="http://127.0.0.1:$port"
until curl -sf "$api/readyz" >/dev/null; do sleep 0.05; done

admin=$(jq -c '{clientId, clientSecret}' "$work/admin.json")
token=$(curl -sf -X POST "$api/api/v1/auth/universal-auth/login" -H 'content-type: application/json' -d "$admin" | jq -r .accessToken)
# One identity per connection, as a fleet of services would log in; wrk's requests take them in turn.
# (Logins of one identity take turns in the server, so one identity alone would measure that queue.)
LOGIN_BODIES=$(for n in $(seq "$clients"); do
  curl -sf -X POST "$api/api/v1/identities" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"type\":\"machine\",\"name\":\"bench-login-$n\"}" | jq -c '{clientId: .identity.clientId, clientSecret: .clientSecret}'
done)
export LOGIN_BODIES

rss() { awk -v k="$1:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
rss_before=$(rss VmRSS); hwm_before=$(rss VmHWM)
wrk -t2 -c"$clients" -d5s "$api/healthz" >/dev/null
wrk -t2 -c"$clients" -d"${duration}s" --latency "$api/healthz" > "$work/health.txt"
wrk -t2 -c"$clients" -d"${duration}s" --latency -s "$here/login.lua" "$api/api/v1/auth/universal-auth/login" > "$work/login.txt"
rss_after=$(rss VmRSS); hwm=$(rss VmHWM)
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/login.txt"); non2xx=${non2xx:-0}

rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$1"; }
h_rate=$(rate "$work/health.txt"); l_rate=$(rate "$work/login.txt")
report=$(cat <<REPORT
# Logins

Written by bench/logins/run.sh on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), load average $(cut -d' ' -f1-3 /proc/loadavg).
wrk, $clients connections, 2 threads, ${duration} s each, keep-alive, against one release \`keyhold serve\` (worker off).
Every login verifies an argon2id hash (m=19 MiB, t=2, p=1) on one of the server's argon2 threads (one per core), each
with its working memory allocated once. $clients machine identities, one per connection; a failed or throttled login counts as non-2xx.

| metric | value | ratio to baseline |
| --- | --- | --- |
| **baseline** GET /healthz | $h_rate req/s, p50 $(pct "$work/health.txt" 50%), p99 $(pct "$work/health.txt" 99%) | 1.00 |
| POST /api/v1/auth/universal-auth/login (successful) | $l_rate logins/s, p50 $(pct "$work/login.txt" 50%), p99 $(pct "$work/login.txt" 99%); non-2xx: $non2xx | $(awk "BEGIN {printf \"%.4f\", $l_rate/$h_rate}") |
| server VmRSS before the runs (after set-up: $clients identities hashed, 2 logins) / after | $rss_before / $rss_after MB | target < 100 MB |
| server VmHWM (peak RSS) before / after | $hwm_before / $hwm MB | target < 100 MB |
REPORT
)
echo "$report"
echo "$report" > "$here/REPORT.md"
