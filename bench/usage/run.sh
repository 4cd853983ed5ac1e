#!/usr/bin/env bash
# Using a connection (issue 6, "Speed"): GET /api/v1/app-connections/auth0/{id}/users/{userId}
# through Keyhold against GET /api/v2/users/{id} on the Auth0 emulator directly with a cached
# Management API token — in the same run, under the same load. Targets: Keyhold adds at most 2 ms
# at the median, and sustains >= 2,000 requests/s on this machine.
#
# Builds the release binaries, makes a fresh database, starts the emulator (one tenant, one M2M
# client granted read:users, one user) and `keyhold serve` on loopback, bootstraps the instance,
# makes a project, a member identity (the role the route needs) and a connection, then measures:
#   1. the same-load comparison: wrk -t1 -c$CMP_CLIENTS, alternating emulator / Keyhold for
#      $ROUNDS rounds of $DURATION s; the median of each side's p50 is compared;
#   2. throughput: wrk -t$THREADS -c$CLIENTS for $DURATION s, Keyhold and then the emulator;
#   3. what the load cost Auth0 (tokens issued: the broker's cache), and that every call through
#      Keyhold was audited.
# Prints one table and writes it with the date and machine to REPORT.md beside this script.
#
# Knobs (environment): DURATION (10 s), WARMUP (3 s), ROUNDS (3), CMP_CLIENTS (4), CLIENTS (32),
# THREADS (2), SKIP_BUILD=1, KEEP_DB=1, KEEP_WORK=1, REPORT (path of the report).
# Only 127.0.0.1 is ever contacted; every step is bounded in time.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
ROUNDS=${ROUNDS:-3}
CMP_CLIENTS=${CMP_CLIENTS:-4}
CLIENTS=${CLIENTS:-32}
THREADS=${THREADS:-2}
REPORT=${REPORT:-$HERE/REPORT.md}

TARGET_DELTA_MS=2
TARGET_RPS=2000

DB=keyhold_bench_usage
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
DOMAIN=bench.auth0.test
CLIENT_ID=benchUsageM2MclientID000000001
USER_ID='auth0|bench-user-0001'
USER_SEGMENT='auth0%7Cbench-user-0001'

require_tools cargo psql curl jq timeout
ensure_wrk

make_work keyhold-bench-usage

# ---------------------------------------------------------------- build
build_release

# ---------------------------------------------------------------- database
fresh_database

# ---------------------------------------------------------------- emulator
# Secrets (the Auth0 client secret, root key, identity secrets, access tokens) live only in files
# under $WORK (mode 0600): never on a command line, in an environment, or in any output.
umask 077
head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' >"$WORK/auth0-secret"
jq -n --arg d "$DOMAIN" --arg c "$CLIENT_ID" --arg u "$USER_ID" --rawfile s "$WORK/auth0-secret" '{tenants: [{
  domain: $d,
  clients: [{client_id: $c, client_secret: $s, grant_types: ["client_credentials"]}],
  grants: [{client_id: $c, audience: ("https://" + $d + "/api/v2/"), scopes: ["read:users"]}],
  users: [{user_id: $u, email: "bench@example.com", password: "Bench-Passw0rd!", name: "Bench User",
           user_metadata: {plan: "pro"}}]
}]}' >"$WORK/seed.json"

start_emulator
log "emulator at $EMU_URL"

# ---------------------------------------------------------------- keyhold serve
pick_port 18280
bootstrap_keyhold bench

# Unpaced (the emulator tenant is unlimited): pacing would measure the tenant's limit, not Keyhold.
start_keyhold healthz KEYHOLD_WORKER_TENANT_RPS=0
log "keyhold serve (pid $KEYHOLD_PID) at $BASE"

# ---------------------------------------------------------------- seed
login admin "$WORK/admin.json"
AS=admin
create_project bench-usage

# Calls are made as a project member (the least role the route allows), not as the instance admin.
add_project_identity bench-member member "$WORK/member.json"

jq -n --arg p "$PROJECT" --arg d "$DOMAIN" --arg c "$CLIENT_ID" --rawfile s "$WORK/auth0-secret" \
  '{name: "bench-users", method: "client-credentials", projectId: $p,
    credentials: {domain: $d, clientId: $c, clientSecret: $s}}' >"$WORK/conn.json"
api POST /api/v1/app-connections/auth0 "$WORK/conn.json" 201
rm -f "$WORK/conn.json"
CONNECTION=$(jq -r '.appConnection.id' "$WORK/resp.json")
[[ $(jq -r '.diagnostics.capabilities[] | select(.capability == "readUsers") | .usable' "$WORK/resp.json") == true ]] ||
  die "the connection cannot read users: $(jq -c '.diagnostics' "$WORK/resp.json")"
login member "$WORK/member.json"
AS=member
KEYHOLD_PATH="/api/v1/app-connections/auth0/$CONNECTION/users/$USER_SEGMENT"

# The direct baseline's cached token: one client-credentials request, as an Auth0 SDK would make.
jq -n --arg c "$CLIENT_ID" --arg a "https://$DOMAIN/api/v2/" --rawfile s "$WORK/auth0-secret" \
  '{grant_type: "client_credentials", client_id: $c, client_secret: $s, audience: $a}' >"$WORK/token-request.json"
curl -fsS --max-time 10 -H "Host: $DOMAIN" -H 'content-type: application/json' \
  --data-binary "@$WORK/token-request.json" "$EMU_URL/oauth/token" | jq -r '.access_token' >"$WORK/direct.token" ||
  die "could not get a Management API token from the emulator"
rm -f "$WORK/token-request.json"
DIRECT_URL="$EMU_URL/api/v2/users/$USER_SEGMENT"

# Both answer, with the same user, before anything is timed.
api GET "$KEYHOLD_PATH" - 200
[[ $(jq -r '.user.user_id' "$WORK/resp.json") == "$USER_ID" ]] || die "Keyhold returned another user"
if grep -qFf "$WORK/auth0-secret" "$WORK/resp.json"; then die "the answer contains the client secret"; fi
KEYHOLD_BYTES=$(stat -c %s "$WORK/resp.json")
printf 'Authorization: Bearer %s\n' "$(cat "$WORK/direct.token")" >"$WORK/auth.header"
curl -fsS --max-time 10 -H "Host: $DOMAIN" -H "@$WORK/auth.header" -o "$WORK/direct.json" "$DIRECT_URL" ||
  die "direct GET failed"
rm -f "$WORK/auth.header"
[[ $(jq -r '.user_id' "$WORK/direct.json") == "$USER_ID" ]] || die "the emulator returned another user"
DIRECT_BYTES=$(stat -c %s "$WORK/direct.json")
AS="" api GET "$KEYHOLD_PATH" - 401
log "endpoints verified (Keyhold ${KEYHOLD_BYTES} B, emulator ${DIRECT_BYTES} B, 401 without a token)"

counter() {
  curl -fsS --max-time 5 "$EMU_URL/__emulator/tenants/$DOMAIN/counters" | jq -r "$1"
}
TOKENS_BEFORE=$(counter '.tokens_issued')

# ---------------------------------------------------------------- measuring helpers
to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

KEYHOLD_REQUESTS=0
# wrk_run NAME TARGET(keyhold|direct) THREADS CONNECTIONS SECONDS: sets RPS, P50, P99 (ms).
wrk_run() {
  local name=$1 target=$2 threads=$3 conns=$4 secs=$5 url host token bad requests
  case "$target" in
    keyhold) url="$BASE$KEYHOLD_PATH" host="" token="$WORK/member.token" ;;
    direct) url="$DIRECT_URL" host="$DOMAIN" token="$WORK/direct.token" ;;
  esac
  BENCH_TOKEN_FILE="$token" BENCH_HOST="$host" timeout $((secs + 30)) \
    wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 5s --latency -s "$HERE/auth.lua" "$url" \
    >"$WORK/$name.wrk" 2>&1 || die "wrk $name failed: $(tail -5 "$WORK/$name.wrk")"
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$WORK/$name.wrk")
  [[ -z "$bad" ]] || die "wrk $name: $bad non-2xx responses"
  if grep -q 'Socket errors' "$WORK/$name.wrk"; then die "wrk $name: $(grep 'Socket errors' "$WORK/$name.wrk")"; fi
  RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/$name.wrk")
  P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$WORK/$name.wrk")")
  P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/$name.wrk")")
  [[ -n "$RPS" && -n "$P50" && -n "$P99" ]] || die "cannot parse wrk output of $name"
  requests=$(awk '/ requests in / {print $1}' "$WORK/$name.wrk")
  if [[ "$target" == keyhold ]]; then KEYHOLD_REQUESTS=$((KEYHOLD_REQUESTS + requests)); fi
  log "$name: $RPS req/s, p50 $P50 ms, p99 $P99 ms"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ---------------------------------------------------------------- measure
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before measuring: $LOAD_BEFORE"

wrk_run warm-direct direct 1 "$CMP_CLIENTS" "$WARMUP"
wrk_run warm-keyhold keyhold 1 "$CMP_CLIENTS" "$WARMUP"

DIRECT_P50S=() KEYHOLD_P50S=() DIRECT_P99S=() KEYHOLD_P99S=() DIRECT_RPSS=() KEYHOLD_RPSS=()
for round in $(seq "$ROUNDS"); do
  wrk_run "cmp-direct-$round" direct 1 "$CMP_CLIENTS" "$DURATION"
  DIRECT_P50S+=("$P50") DIRECT_P99S+=("$P99") DIRECT_RPSS+=("$RPS")
  wrk_run "cmp-keyhold-$round" keyhold 1 "$CMP_CLIENTS" "$DURATION"
  KEYHOLD_P50S+=("$P50") KEYHOLD_P99S+=("$P99") KEYHOLD_RPSS+=("$RPS")
done
D_P50=$(median "${DIRECT_P50S[@]}") K_P50=$(median "${KEYHOLD_P50S[@]}")
D_P99=$(median "${DIRECT_P99S[@]}") K_P99=$(median "${KEYHOLD_P99S[@]}")
D_RPS=$(median "${DIRECT_RPSS[@]}") K_RPS=$(median "${KEYHOLD_RPSS[@]}")
DELTA=$(awk -v k="$K_P50" -v d="$D_P50" 'BEGIN { printf "%.3f", k - d }')

wrk_run load-keyhold keyhold "$THREADS" "$CLIENTS" "$DURATION"
L_RPS=$RPS L_P50=$P50 L_P99=$P99
wrk_run load-direct direct "$THREADS" "$CLIENTS" "$DURATION"
LD_RPS=$RPS LD_P50=$P50 LD_P99=$P99
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

TOKENS_DURING=$(($(counter '.tokens_issued') - TOKENS_BEFORE))
RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$KEYHOLD_PID/status")
AUDITED=$(psql -At -d "$DB" -c "select count(*) from audit_events where action = 'app_connection.user.get' and outcome = 'success'")
# Every measured request plus the one verification call.
[[ "$AUDITED" -ge "$KEYHOLD_REQUESTS" ]] || die "only $AUDITED of $KEYHOLD_REQUESTS calls were audited"
curl -fsS --max-time 5 "$BASE/metrics" >"$WORK/metrics.txt"
HITS=$(awk '$1 == "keyhold_auth0_token_cache_hits_total" {print $2}' "$WORK/metrics.txt")
MISSES=$(awk '$1 == "keyhold_auth0_token_cache_misses_total" {print $2}' "$WORK/metrics.txt")

verdict() { awk -v ok="$1" 'BEGIN { print (ok ? "met" : "MISSED") }'; }
DELTA_OK=$(awk -v x="$DELTA" -v t="$TARGET_DELTA_MS" 'BEGIN { print (x <= t) }')
RPS_OK=$(awk -v x="$L_RPS" -v t="$TARGET_RPS" 'BEGIN { print (x >= t) }')
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')

{
  echo "# Using a connection: GET .../users/{userId} through Keyhold vs the emulator directly"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($CPU), release build, loopback, keep-alive;"
  echo "wrk, Keyhold, the emulator and PostgreSQL share the machine (load average $LOAD_BEFORE before,"
  echo "$LOAD_AFTER after; other engineers' builds may be running). Keyhold is called as a project"
  echo "member; the emulator directly with one cached Management API token, as an Auth0 SDK would."
  echo
  echo "## Same load: wrk -t1 -c$CMP_CLIENTS, $ROUNDS alternating rounds of ${DURATION} s (medians)"
  echo
  echo "| target | req/s | p50 | p99 |"
  echo "| --- | ---: | ---: | ---: |"
  echo "| emulator directly | $D_RPS | $D_P50 ms | $D_P99 ms |"
  echo "| through Keyhold | $K_RPS | $K_P50 ms | $K_P99 ms |"
  echo
  echo "p50 per round, emulator: ${DIRECT_P50S[*]} ms; Keyhold: ${KEYHOLD_P50S[*]} ms."
  echo
  echo "## Throughput: wrk -t$THREADS -c$CLIENTS, ${DURATION} s"
  echo
  echo "| target | req/s | p50 | p99 |"
  echo "| --- | ---: | ---: | ---: |"
  echo "| through Keyhold | $L_RPS | $L_P50 ms | $L_P99 ms |"
  echo "| emulator directly | $LD_RPS | $LD_P50 ms | $LD_P99 ms |"
  echo
  echo "## Targets"
  echo
  echo "| target | measured | |"
  echo "| --- | ---: | --- |"
  echo "| Keyhold adds <= $TARGET_DELTA_MS ms at p50 (same load) | +$DELTA ms | $(verdict "$DELTA_OK") |"
  echo "| >= $TARGET_RPS req/s through Keyhold | $L_RPS | $(verdict "$RPS_OK") |"
  echo
  echo "Every one of the $KEYHOLD_REQUESTS measured calls through Keyhold was audited ($AUDITED"
  echo "\`app_connection.user.get\` rows, reads committed without waiting for the WAL flush); the"
  echo "load cost Auth0 $TOKENS_DURING token requests (the broker's cache: ${HITS:-?} hits, ${MISSES:-?}"
  echo "misses since start); Keyhold's RSS after the load: $((RSS_KB / 1024)) MB."
} >"$WORK/report.md"
cat "$WORK/report.md"
cp "$WORK/report.md" "$REPORT"
log "report written to $REPORT"
[[ "$DELTA_OK" == 1 && "$RPS_OK" == 1 ]] || die "a target was missed"
