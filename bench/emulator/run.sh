#!/usr/bin/env bash
# Throughput of the Auth0 emulator over loopback with keep-alive (wrk), against its own health
# endpoint as the baseline. Builds --release, starts the binary with seed.json, runs ~10 s per
# endpoint, prints one table and saves it to REPORT.md beside this script.
# Knobs: DURATION (s, default 10), CONNECTIONS (default 32), THREADS (wrk threads, default 2).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
duration="${DURATION:-10}"
connections="${CONNECTIONS:-32}"
threads="${THREADS:-2}"
host="bench.auth0.test"

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 1; }

(cd "$root" && cargo build --release -q -p auth0-emulator --bin auth0-emulator)

out="$(mktemp)"
# Per-request logs go to stderr at info; at benchmark rates they would measure the terminal.
RUST_LOG="${RUST_LOG:-warn}" "$root/target/release/auth0-emulator" \
  --listen 127.0.0.1:0 --seed "$here/seed.json" >"$out" 2>/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$out" && break
  sleep 0.1
done
base="$(sed -n 's/^listening on //p' "$out")"
[ -n "$base" ] || { echo "emulator did not start" >&2; exit 1; }

token="$(curl -sf -H "Host: $host" -H 'Content-Type: application/json' \
  -d '{"grant_type":"client_credentials","client_id":"bench-m2m","client_secret":"bench-secret","audience":"https://bench.auth0.test/api/v2/"}' \
  "$base/oauth/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
[ -n "$token" ] || { echo "could not get a token" >&2; exit 1; }
curl -sf -o /dev/null -H "Host: $host" -H "Authorization: Bearer $token" "$base/api/v2/clients/bench-m2m" \
  || { echo "GET /api/v2/clients/{id} failed" >&2; exit 1; }

tick="$(getconf CLK_TCK)"
# CPU seconds the emulator has used so far (user + system), from /proc.
cpu_secs() { awk -v t="$tick" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$pid/stat"; }

# run NAME wrk-args... -> "name rps p50 p99 non2xx requests-per-emulator-CPU-second"
run() {
  local name="$1"; shift
  local result before after
  before="$(cpu_secs)"
  result="$(wrk --latency -t"$threads" -c"$connections" -d"${duration}s" "$@")"
  after="$(cpu_secs)"
  local rps p50 p99 bad
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$result")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$result")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$result")"
  bad="$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$result")"
  total="$(awk '/requests in/ {print $1}' <<<"$result")"
  per_cpu="$(awk -v n="$total" -v a="$before" -v b="$after" 'BEGIN { printf "%.0f", (b > a ? n / (b - a) : 0) }')"
  echo "$name|$rps|$p50|$p99|${bad:-0}|$per_cpu"
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
rows+=("$(run 'GET /__emulator/health (baseline)' -H "Host: $host" "$base/__emulator/health")")
rows+=("$(run 'POST /oauth/token (RS256 signing)' -H "Host: $host" -s "$here/token.lua" "$base/oauth/token")")
rows+=("$(run 'GET /api/v2/clients/{id}' -H "Host: $host" -H "Authorization: Bearer $token" "$base/api/v2/clients/bench-m2m")")

baseline="$(cut -d'|' -f2 <<<"${rows[0]}")"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
{
  echo "# Auth0 emulator throughput"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($cpu), release build, loopback, keep-alive,"
  echo "wrk -t$threads -c$connections -d${duration}s on the same machine (wrk competes for the same cores)."
  echo "Load average before the run: $load_before (the machine is shared with other builds)."
  echo "\"per CPU-s\" = requests served per second of emulator CPU time: the figure that does not depend"
  echo "on what else the machine is doing; two idle cores give roughly twice that, less wrk's share."
  echo
  echo "| endpoint | req/s | p50 | p99 | non-2xx | vs baseline | per CPU-s |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  for row in "${rows[@]}"; do
    IFS='|' read -r name rps p50 p99 bad per_cpu <<<"$row"
    ratio="$(awk -v a="$rps" -v b="$baseline" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
    echo "| $name | $rps | $p50 | $p99 | $bad | ${ratio}x | $per_cpu |"
  done
  echo
  echo "Targets: >= 2,000 token requests/s and >= 20,000 GET /api/v2/clients/{id}/s."
} | tee "$here/REPORT.md"

for row in "${rows[@]}"; do
  IFS='|' read -r name _ _ _ bad _ <<<"$row"
  if [ "$bad" != "0" ]; then echo "$name had $bad non-2xx answers" >&2; exit 1; fi
done
