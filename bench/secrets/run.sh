#!/usr/bin/env bash
# Project secrets benchmark (issue 16, "Speed and memory"): reading one secret by name through
# Infisical's API (`GET /api/v3/secrets/raw/{name}`) at 32 clients runs at >= 0.5x pgbench running
# the same statements in the same run, p99 < 10 ms; a list of the 100 secrets of a folder has
# p99 < 10 ms at 4 clients.
#
# The baseline is not SQL copied from the source: a second server session runs with
# log_statement=all, answers the request once, and `bench/capture.py` turns the statements it
# ran (the caller's project check, environment and folder lookups, the secret, the audit row of
# the read) into a pgbench script. So the ratio is the server's own cost over the database's.
#
# Steps, all in one run: build the release binaries; fresh database; the emulator (unused by
# secrets, but `serve` points at it as in production); `keyhold serve`; a project, a viewer
# machine identity (viewers may read values, as in Infisical), a folder /bench in `dev` and
# SECRETS secrets in it, made through the API as an admin; then pgbench and wrk for the single
# read (32 clients) and the folder list (4 clients); the server's RSS at the end.
#
# Knobs (environment): CLIENTS (32), LIST_CLIENTS (4), THREADS (2), DURATION (20 s per run),
# WARMUP (5 s), SECRETS (100), SKIP_BUILD=1, KEEP_DB=1, KEEP_WORK=1, REPORT (path of the report),
# PROFILE=1 (a perf profile of the server under the list load, in the log).
# Only 127.0.0.1 is ever contacted; every step is bounded in time.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
LOG_TAG=secrets

CLIENTS=${CLIENTS:-32}
LIST_CLIENTS=${LIST_CLIENTS:-4}
THREADS=${THREADS:-2}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
SECRETS=${SECRETS:-100}
REPORT=${REPORT:-$HERE/REPORT.md}

DB=keyhold_bench_secrets
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
PG_LOG=$(ls -t /var/log/postgresql/postgresql-*-main.log 2>/dev/null | head -1 || true)

# Targets from the issue.
TARGET_GET_RATIO=0.50
TARGET_P99_MS=10

require_tools cargo psql pgbench curl jq python3 /usr/bin/time timeout
ensure_wrk
[[ -r "$PG_LOG" ]] || die "PostgreSQL's log is not readable here; the baseline is captured from it"

CAPTURE_PID=""
on_cleanup() { stop_pids 20 "$CAPTURE_PID"; }
make_work keyhold-bench-secrets
umask 077

build_release
fresh_database
echo '{"tenants": []}' >"$WORK/seed.json"
start_emulator
pick_port 18380
bootstrap_keyhold bench
start_keyhold healthz
RSS_IDLE_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$KEYHOLD_PID/status")

# ---------------------------------------------------------------- seed
login admin "$WORK/admin.json"
AS=admin
create_project bench
add_project_identity bench-reader viewer "$WORK/reader.json"
jq -n --arg p "$PROJECT" '{projectId: $p, environment: "dev", path: "/", name: "bench"}' >"$WORK/folder.json"
api POST /api/v2/folders "$WORK/folder.json" 200
for i in $(seq -f '%03g' "$SECRETS"); do
  # Values of a realistic size (a 48-character client secret), each one different.
  jq -n --arg p "$PROJECT" --arg v "value-$i-$(head -c 30 /dev/urandom | base64 -w0)" \
    '{workspaceId: $p, environment: "dev", secretPath: "/bench", secretValue: $v, type: "shared"}' >"$WORK/secret.json"
  api POST "/api/v3/secrets/raw/BENCH_SECRET_$i" "$WORK/secret.json" 200
done
rm -f "$WORK/secret.json"
login reader "$WORK/reader.json"
AS=reader
log "project $PROJECT: a viewer identity, folder /bench in dev with $SECRETS secrets"

QUERY="workspaceId=$PROJECT&environment=dev&secretPath=%2Fbench"
GET_PATH="/api/v3/secrets/raw/BENCH_SECRET_001?$QUERY"
LIST_PATH="/api/v3/secrets/raw?$QUERY"

api GET "$GET_PATH" - 200
[[ $(jq -r '.secret.secretKey' "$WORK/resp.json") == BENCH_SECRET_001 ]] || die "GET returned another secret"
[[ $(jq -r '.secret.secretValue' "$WORK/resp.json") == value-001-* ]] || die "GET did not return the value"
GET_BYTES=$(stat -c %s "$WORK/resp.json")
api GET "$LIST_PATH" - 200
[[ $(jq '.secrets | length' "$WORK/resp.json") == "$SECRETS" ]] || die "the list is not $SECRETS secrets"
LIST_BYTES=$(stat -c %s "$WORK/resp.json")
AS="" api GET "$GET_PATH" - 401
log "endpoints verified (GET ${GET_BYTES} B, list ${LIST_BYTES} B, 401 without a token)"

# ---------------------------------------------------------------- baseline: the server's statements
# A second server on the same database whose sessions log every statement; each URL is asked twice
# and the second answer's statements are kept (the first also fills the token cache).
capture() {
  local name=$1 path=$2 from
  curl -fsS --max-time 10 -H "@$WORK/capture.header" "$CAPTURE_BASE$path" >/dev/null || die "capture: $path failed"
  sleep 0.3
  from=$(wc -l <"$PG_LOG")
  curl -fsS --max-time 10 -H "@$WORK/capture.header" "$CAPTURE_BASE$path" >/dev/null || die "capture: $path failed"
  sleep 0.3
  python3 "$ROOT/bench/capture.py" "$PG_LOG" "$DB" --after "$from" >"$WORK/$name.sql" ||
    die "capture: no statement logged for $path"
  log "captured $(grep -c ';$' "$WORK/$name.sql") statements for $name"
}
CAPTURE_PORT=$((PORT + 1))
while ! port_free "$CAPTURE_PORT"; do CAPTURE_PORT=$((CAPTURE_PORT + 1)); done
CAPTURE_BASE="http://127.0.0.1:$CAPTURE_PORT"
DATABASE_URL="$DATABASE_URL?options=-c%20log_statement%3Dall" KEYHOLD_ROOT_KEY_FILE="$WORK/root.key" \
  KEYHOLD_LISTEN="127.0.0.1:$CAPTURE_PORT" KEYHOLD_AUTH0_ENDPOINT_OVERRIDE="$EMU_URL" RUST_LOG=warn \
  KEYHOLD_EMBEDDED_WORKER=false "$BIN/keyhold" serve >"$WORK/capture.log" 2>&1 &
CAPTURE_PID=$!
for _ in $(seq 150); do curl -fsS --max-time 2 "$CAPTURE_BASE/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
printf 'Authorization: Bearer %s\n' "$(cat "$WORK/reader.token")" >"$WORK/capture.header"
capture get "$GET_PATH"
capture list "$LIST_PATH"
rm -f "$WORK/capture.header"
stop_pids 20 "$CAPTURE_PID"
CAPTURE_PID=""

# shellcheck source=../measure.sh
source "$ROOT/bench/measure.sh"
export BENCH_TOKEN_FILE="$WORK/reader.token"
AUTH_LUA="$ROOT/bench/connections/auth.lua"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- measure
# The server commits a read's audit row without waiting for the WAL flush (its `audit_reads`
# sessions run with synchronous_commit off); the baseline runs the captured statements the same way.
export PGOPTIONS="-c synchronous_commit=off"
log "one secret by name, $CLIENTS clients: pgbench (simple and prepared), then the API (${DURATION} s each after ${WARMUP} s warm-up)"
pgbench_run pg-warm "$WARMUP" "$WORK/get.sql"
PGB_LOG=1 pgbench_run pg-get "$DURATION" "$WORK/get.sql"
PG_TPS=$RPS PG_P50=$P50 PG_P99=$P99
pgbench_run pg-get-prepared "$DURATION" "$WORK/get.sql" -M prepared
PGP_TPS=$RPS
wrk_run get-warm "$WARMUP" "$BASE$GET_PATH" "$AUTH_LUA"
wrk_run get "$DURATION" "$BASE$GET_PATH" "$AUTH_LUA"
GET_RPS=$RPS GET_P50=$P50 GET_P99=$P99

log "the folder's $SECRETS secrets, $LIST_CLIENTS clients: pgbench, then the API"
CLIENTS=$LIST_CLIENTS PGB_LOG=1 pgbench_run pg-list "$DURATION" "$WORK/list.sql"
PL_TPS=$RPS PL_P50=$P50 PL_P99=$P99
CLIENTS=$LIST_CLIENTS wrk_run list-warm "$WARMUP" "$BASE$LIST_PATH" "$AUTH_LUA"
CLIENTS=$LIST_CLIENTS wrk_run list "$DURATION" "$BASE$LIST_PATH" "$AUTH_LUA"
# PROFILE=1: where the server's CPU goes under the list load (not a measured run).
CLIENTS=$LIST_CLIENTS profile_run list-profile 10 "$BASE$LIST_PATH" "$AUTH_LUA"
L_RPS=$RPS L_P50=$P50 L_P99=$P99

RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$KEYHOLD_PID/status")
HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$KEYHOLD_PID/status")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
GET_STATEMENTS=$(grep -c ';$' "$WORK/get.sql")
LIST_STATEMENTS=$(grep -c ';$' "$WORK/list.sql")

# ---------------------------------------------------------------- report
GET_RATIO=$(ratio "$GET_RPS" "$PG_TPS")
TABLE=$(
  cat <<EOF
| metric | value | target | ratio to baseline | result |
| --- | --- | --- | --- | --- |
| **A** pgbench, the $GET_STATEMENTS statements of one read (simple protocol), $CLIENTS clients | $PG_TPS tps; p99 $PG_P99 ms (p50 $PG_P50 ms) | - | A = 1.00 | baseline |
| pgbench, the same, \`-M prepared\` | $PGP_TPS tps | - | $(ratio "$PGP_TPS" "$PG_TPS") A | info |
| GET /api/v3/secrets/raw/{name}: throughput | $GET_RPS req/s | >= $TARGET_GET_RATIO A | $GET_RATIO A | $(verdict "$GET_RATIO" ">=" "$TARGET_GET_RATIO") |
| GET /api/v3/secrets/raw/{name}: p99 (p50) | $GET_P99 ms ($GET_P50 ms) | < $TARGET_P99_MS ms | - | $(verdict "$GET_P99" "<" "$TARGET_P99_MS") |
| **B** pgbench, the $LIST_STATEMENTS statements of one list, $LIST_CLIENTS clients | $PL_TPS tps; p99 $PL_P99 ms (p50 $PL_P50 ms) | - | B = 1.00 | baseline |
| GET /api/v3/secrets/raw ($SECRETS secrets with values), $LIST_CLIENTS clients: p99 (p50) | $L_P99 ms ($L_P50 ms); $L_RPS req/s | < $TARGET_P99_MS ms | $(ratio "$L_RPS" "$PL_TPS") B | $(verdict "$L_P99" "<" "$TARGET_P99_MS") |
| server VmHWM (peak RSS); VmRSS after the load (after start-up) | $(mb "$HWM_KB"); $(mb "$RSS_KB") ($(mb "$RSS_IDLE_KB")) | - | - | info |
EOF
)
CPU_TABLE=$(
  echo "| run | req/s | server | postgres (all databases) | load generator | other processes | server µs/req | postgres µs/req | statements/req |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for name in pg-get pg-get-prepared get pg-list list; do echo "| $name | ${CPU_SPLIT[$name]} |"; done
)

{
  echo "# Project secrets benchmark"
  echo
  echo "Written by \`bench/secrets/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); every number below comes from that one run."
  echo
  echo "- Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)); PostgreSQL $(psql -At -d postgres -c 'show server_version' | cut -d' ' -f1) on 127.0.0.1; the load generators run on the same cores."
  echo "- Machine state: $(machine_state) Load average before $LOAD_BEFORE, after $LOAD_AFTER."
  echo "- Reads as a machine identity with the viewer role, values shown (\`viewSecretValue\` defaults to true), so every read opens the sealed value and writes its audit row (one row per request, the list's naming all $SECRETS secrets). Answers: one secret $GET_BYTES B, the list $LIST_BYTES B."
  echo "- Baselines: pgbench running the statements the server ran for the same request, captured from PostgreSQL's log (\`bench/capture.py\`), each in its own transaction as the server runs them: A for the single read ($GET_STATEMENTS statements), B for the list ($LIST_STATEMENTS)."
  echo "- Not measured here yet: an SDK read right after a rotation that writes mapped secrets (rotations do not write secrets yet)."
  echo
  echo "$TABLE"
  echo
  echo "CPU during each run, as % of one core, and per request:"
  echo
  echo "$CPU_TABLE"
  echo
  echo "The statements of one read (A), as captured:"
  echo
  echo '```sql'
  cut -c1-400 "$WORK/get.sql"
  echo '```'
} >"$WORK/report.md"
install -m 0644 "$WORK/report.md" "$REPORT"
echo
cat "$WORK/report.md"
log "report written to $REPORT"
grep -q '| FAIL |' <<<"$TABLE" && die "a target was missed"
exit 0
