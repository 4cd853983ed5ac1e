#!/usr/bin/env bash
# Scale-out benchmark (issue 20, "bench/scale"): what one, two and three `keyhold serve`
# processes behind HAProxy serve, and how many rotations one, two and four `keyhold worker`
# processes finish, on this machine. It has two cores, which every process, PostgreSQL, HAProxy
# and the load generator share: the report says what extra processes cost here, not what they
# would gain on a machine with a core each.
#
# Steps, all in one run:
#   1. build the release binaries; a fresh database; the emulator (unused by secrets reads, but
#      `serve` points at it as in production); the first `keyhold serve`;
#   2. as the bootstrap admin: a project, a viewer machine identity, one secret in `dev` at /bench
#      (the read an app's SDK makes most often: `GET /api/v3/secrets/raw/{name}`);
#   3. wrk at CLIENTS connections straight to the first server (no proxy: baseline D), then
#      through HAProxy (round robin, keep-alive to the servers) in front of 1, 2 and 3 servers;
#      each run records req/s, p50/p99 and the CPU of the servers, HAProxy and PostgreSQL;
#   4. bench/rotations/run.sh with 1, 2 and 4 workers (DUE due rotations each, its own fresh
#      database and baseline A), taking the rate and A from each report.
# Prints one table and writes it, with the date and machine, to REPORT.md beside this script.
#
# Knobs (environment): CLIENTS (32), THREADS (2), DURATION (10 s per run), WARMUP (3 s), DUE
# (5000), IDLE (20000; idle rotations beside the due ones), SKIP_BUILD=1, KEEP_WORK=1, REPORT.
# Only 127.0.0.1 is contacted; every wait is bounded.
# shellcheck source=../lib.sh
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

CLIENTS=${CLIENTS:-32}
THREADS=${THREADS:-2}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
DUE=${DUE:-5000}
IDLE=${IDLE:-20000}
REPORT=${REPORT:-$HERE/REPORT.md}
DB=keyhold_bench_scale
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
LOG_TAG=scale

require_tools cargo psql curl jq python3 timeout
ensure_wrk
if ! command -v haproxy >/dev/null 2>&1 && [[ ! -x /usr/sbin/haproxy ]]; then
  log "installing haproxy"
  apt-get update -qq >/dev/null && apt-get install -y -qq haproxy >/dev/null || die "cannot install haproxy"
fi
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

SERVER_PIDS=()
HAPROXY_PID=""
on_cleanup() { stop_pids 20 "$HAPROXY_PID" "${SERVER_PIDS[@]}"; }
make_work keyhold-bench-scale
umask 077

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "building release binaries"
  (cd "$ROOT" && timeout 3600 cargo build --release -q -p keyhold -p auth0-emulator &&
    timeout 3600 cargo build --release -q -p keyhold-worker --bin keyhold-worker-test --example bench_rotations) ||
    die "release build failed"
fi
[[ -x "$BIN/keyhold" && -x "$BIN/auth0-emulator" ]] || die "binaries missing in $BIN"

fresh_database
echo '{"tenants": []}' >"$WORK/seed.json"
start_emulator
pick_port 18480
FIRST_PORT=$PORT
bootstrap_keyhold bench
start_keyhold healthz
SERVER_PIDS+=("$KEYHOLD_PID")

login admin "$WORK/admin.json"
AS=admin
create_project bench
add_project_identity bench-reader viewer "$WORK/reader.json"
jq -n --arg p "$PROJECT" '{projectId: $p, environment: "dev", path: "/", name: "bench"}' >"$WORK/folder.json"
api POST /api/v2/folders "$WORK/folder.json" 200
jq -n --arg p "$PROJECT" --arg v "value-$(head -c 30 /dev/urandom | base64 -w0)" \
  '{workspaceId: $p, environment: "dev", secretPath: "/bench", secretValue: $v, type: "shared"}' >"$WORK/secret.json"
api POST /api/v3/secrets/raw/BENCH_SECRET "$WORK/secret.json" 200
rm -f "$WORK/secret.json"
login reader "$WORK/reader.json"
GET_PATH="/api/v3/secrets/raw/BENCH_SECRET?workspaceId=$PROJECT&environment=dev&secretPath=%2Fbench"
export BENCH_TOKEN_FILE="$WORK/reader.token"
AUTH_LUA="$ROOT/bench/connections/auth.lua"

# start_server N: another `keyhold serve` on FIRST_PORT+N-1, sharing the database and root key.
start_server() {
  local port=$((FIRST_PORT + $1 - 1))
  port_free "$port" || die "port $port is taken"
  DATABASE_URL="$DATABASE_URL" KEYHOLD_ROOT_KEY_FILE="$WORK/root.key" KEYHOLD_LISTEN="127.0.0.1:$port" \
    KEYHOLD_AUTH0_ENDPOINT_OVERRIDE="$EMU_URL" KEYHOLD_LOG_FORMAT=json RUST_LOG=warn \
    "$BIN/keyhold" serve >"$WORK/keyhold-$1.log" 2>&1 &
  SERVER_PIDS+=($!)
  for _ in $(seq 300); do
    curl -fsS --max-time 2 "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "server $1 not ready within 60 s"
}

# start_haproxy N: HAProxy on PROXY_PORT in front of the first N servers.
pick_port 18580
PROXY_PORT=$PORT
start_haproxy() {
  {
    printf 'global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\n'
    printf 'frontend api\n  bind 127.0.0.1:%s\n  default_backend keyhold\n' "$PROXY_PORT"
    printf 'backend keyhold\n  balance roundrobin\n  http-reuse always\n'
    for n in $(seq "$1"); do printf '  server k%s 127.0.0.1:%s\n' "$n" $((FIRST_PORT + n - 1)); done
  } >"$WORK/haproxy.cfg"
  "$HAPROXY" -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  for _ in $(seq 50); do
    curl -fsS --max-time 2 "http://127.0.0.1:$PROXY_PORT/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "haproxy did not start: $(tail -3 "$WORK/haproxy.log")"
}
stop_haproxy() { stop_pids 20 "$HAPROXY_PID"; HAPROXY_PID=""; }

# ticks PID...: CPU ticks (user + system) used so far by these processes.
ticks() {
  local sum=0 t
  for p in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || t=0
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}
pg_ticks() {
  local pm
  pm=$(pgrep -o -x postgres)
  echo $(($(ticks $(pgrep -x postgres)) + $(awk '{print $16 + $17}' "/proc/$pm/stat")))
}
HZ=$(getconf CLK_TCK)

# measure NAME URL: one wrk run (after a warm-up); a table row of rate, latency and CPU per request.
ROWS=()
measure() {
  local name=$1 url=$2 s0 h0 p0 s1 h1 p1 rps p50 p99
  wrk -t"$THREADS" -c"$CLIENTS" -d"${WARMUP}s" -s "$AUTH_LUA" "$url" >/dev/null 2>&1 || die "wrk warm-up of $name failed"
  s0=$(ticks "${SERVER_PIDS[@]}"); h0=$(ticks ${HAPROXY_PID:+"$HAPROXY_PID"}); p0=$(pg_ticks)
  timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CLIENTS" -d"${DURATION}s" --timeout 5s --latency -s "$AUTH_LUA" "$url" \
    >"$WORK/$name.wrk" 2>&1 || die "wrk $name failed: $(tail -3 "$WORK/$name.wrk")"
  s1=$(ticks "${SERVER_PIDS[@]}"); h1=$(ticks ${HAPROXY_PID:+"$HAPROXY_PID"}); p1=$(pg_ticks)
  if grep -q 'Non-2xx\|Socket errors' "$WORK/$name.wrk"; then die "wrk $name: $(grep 'Non-2xx\|Socket errors' "$WORK/$name.wrk")"; fi
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/$name.wrk")
  p50=$(awk '$1 == "50%" {print $2}' "$WORK/$name.wrk")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/$name.wrk")
  [[ -n "$rps" && -n "$p99" ]] || die "cannot parse wrk output of $name"
  RATE[$name]=$rps
  ROWS+=("$(awk -v n="$name" -v r="$rps" -v a="$p50" -v b="$p99" -v s=$((s1 - s0)) -v h=$((h1 - h0)) -v p=$((p1 - p0)) \
    -v hz="$HZ" -v d="$DURATION" -v base="${RATE[direct-1]:-$rps}" 'BEGIN {
      q = r * d; printf "| %s | %d | %.2f | %s / %s | %.0f | %.0f | %.0f |", n, r, r / base, a, b, s / hz / q * 1e6, h / hz / q * 1e6, p / hz / q * 1e6 }')")
  log "$name: $rps req/s, p99 $p99"
}
declare -A RATE

log "API: direct to one server (baseline D), then HAProxy before 1, 2 and 3 servers"
measure direct-1 "http://127.0.0.1:$FIRST_PORT$GET_PATH"
for n in 1 2 3; do
  ((${#SERVER_PIDS[@]} >= n)) || start_server "$n"
  start_haproxy "$n"
  measure "haproxy-$n" "http://127.0.0.1:$PROXY_PORT$GET_PATH"
  stop_haproxy
done
RSS=()
for pid in "${SERVER_PIDS[@]}"; do RSS+=("$(awk '/^VmRSS:/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")"); done
stop_pids 20 "${SERVER_PIDS[@]}"
SERVER_PIDS=()

log "rotations: bench/rotations with 1, 2 and 4 workers ($DUE due each)"
ROT_ROWS=()
declare -A ROT_RATE
for w in 1 2 4; do
  # A run under its target exits non-zero after writing its report; the report is what is read.
  WORKERS=$w DUE=$DUE IDLE=$IDLE SKIP_BUILD=1 REPORT="$WORK/rotations-$w.md" \
    timeout 900 bash "$ROOT/bench/rotations/run.sh" >"$WORK/rotations-$w.out" 2>"$WORK/rotations-$w.log" || true
  [[ -s "$WORK/rotations-$w.md" ]] || die "bench/rotations with $w workers wrote no report: $(tail -3 "$WORK/rotations-$w.log")"
  rate=$(sed -n 's/^| rotations\/s ([0-9]* due, [0-9]* workers) | \([0-9]*\) .*/\1/p' "$WORK/rotations-$w.md")
  base=$(sed -n 's/^| baseline A: [^|]* | \([0-9]*\) .*/\1/p' "$WORK/rotations-$w.md")
  checks=$(grep -c '| PASS |' "$WORK/rotations-$w.md" || true)
  [[ -n "$rate" && -n "$base" ]] || die "cannot read the rotations report for $w workers"
  ROT_RATE[$w]=$rate
  ROT_ROWS+=("| $w | $rate | $(python3 -c "print(f'{$rate / ${ROT_RATE[1]}:.2f}')") | $base | $(python3 -c "print(f'{$rate * 1000 / $base:.0f}')") | $checks of $(grep -c '| PASS |\|| FAIL |' "$WORK/rotations-$w.md") |")
  log "rotations with $w workers: $rate/s (baseline A $base tps)"
done

TABLE=$(
  echo "| run | req/s | ratio to D | p50 / p99 | server µs/req | HAProxy µs/req | PostgreSQL µs/req |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "| workers | rotations/s | ratio to 1 worker | baseline A (tps) | rotations per 1,000 tps of A | checks passed (the 1,000/s target counts) |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${ROT_ROWS[@]}"
)

{
  echo "# Scale-out benchmark"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "PostgreSQL $(psql -Atq -d postgres -c 'show server_version'), release build, HAProxy $("$HAPROXY" -v | head -1 | awk '{print $3}'). Produced by \`bench/scale/run.sh\`."
  echo "Every process (servers, HAProxy, PostgreSQL, wrk, workers, the emulator) shares the same cores."
  echo
  echo "API: \`GET /api/v3/secrets/raw/{name}\` as a project viewer, $CLIENTS connections, ${DURATION} s per run after"
  echo "a ${WARMUP} s warm-up. D is the same load sent straight to one server. CPU per request is each"
  echo "party's CPU time over the run divided by its requests. Server RSS at the end (MB): ${RSS[*]}."
  echo "Rotations: \`bench/rotations/run.sh\` with $DUE due and $IDLE idle rotations, its own database and baseline A per run."
  echo
  echo "$TABLE"
} >"$REPORT"
echo "$TABLE"
log "report written to $REPORT"
