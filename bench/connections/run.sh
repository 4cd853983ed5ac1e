#!/usr/bin/env bash
# Connections API benchmark (issue 19: GET by id >= 0.6x pgbench's select with p99 < 10 ms and
# <= 40 us of server CPU; a page of 100 from 100,000 connections >= 0.5x pgbench's list statement
# with p99 <= 1.5x pgbench's, page 1 and the last page within 10% of each other; server RSS < 60 MB).
#
# Builds the release binaries, makes a fresh database, bootstraps an instance admin, starts the Auth0
# emulator and `keyhold serve` on loopback, seeds ROWS connections in one project (a few through the
# API, the rest cloned in SQL: see clone.sql) and a viewer identity to read them, then measures, all
# in one run so the baselines share the machine's state:
#   1. pgbench: the single-row primary-key select the server runs for a GET (baseline A);
#   2. wrk GET /api/v1/app-connections/auth0/{id} on that same row, and cycling over many ids;
#   3. pgbench: the statement a list page runs, page 1 and the last page (baselines B1, B2);
#   4. wrk on the list, page 1 and the last page (limit=100);
#   5. the same three URLs from one connection (cost without queueing);
#   6. the server's VmRSS and VmHWM after the load.
# Prints one table and writes it, with the date and machine, to REPORT.md beside this script.
#
# Knobs (environment): CLIENTS (32), THREADS (2), DURATION (20 s per run), WARMUP (5 s), DIAG (10 s),
# ROWS (100000), KEYHOLD_DB_MAX_CONNECTIONS (server default when unset), SKIP_BUILD=1, KEEP_DB=1,
# PROFILE=1 (perf profiles of the server under GET and list load, in the log), KEEP_WORK=1 (keep
# the temporary directory with every raw output), REPORT (path of the report).
# Only 127.0.0.1 is ever contacted; every step is bounded in time.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

CLIENTS=${CLIENTS:-32}
THREADS=${THREADS:-2}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
DIAG=${DIAG:-10}     # seconds of each single-connection diagnostic run
ROWS=${ROWS:-100000}
API_ROWS=3           # created through the API (each one validated by the emulator)
PAGE=100
MANY_IDS=10000       # ids the "many rows" GET run cycles over
REPORT=${REPORT:-$HERE/REPORT.md}

DB=keyhold_bench
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"

# Targets from the issue.
TARGET_GET_RATIO=0.60
TARGET_P99_MS=10
TARGET_GET_CPU_US=40
TARGET_LIST_RATIO=0.50
TARGET_LIST_P99_RATIO=1.5
TARGET_ENDS_PCT=10
TARGET_RSS_MB=60

require_tools cargo psql pgbench curl jq /usr/bin/time timeout
ensure_wrk

make_work keyhold-bench

# ---------------------------------------------------------------- build
build_release

# ---------------------------------------------------------------- database
fresh_database

# ---------------------------------------------------------------- emulator
# Secrets (the Auth0 client secret, root key, identity secrets, access tokens) live only in files
# under $WORK (mode 0600): never on a command line, in the environment of the load generators, or
# in any output.
umask 077
head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' >"$WORK/auth0-secret"
CLIENT_ID=benchM2MclientID000000000000001
DOMAIN=bench.auth0.test
jq -n --arg d "$DOMAIN" --arg c "$CLIENT_ID" --rawfile s "$WORK/auth0-secret" '{tenants: [{
  domain: $d,
  clients: [{client_id: $c, client_secret: $s, grant_types: ["client_credentials"]}],
  grants: [{client_id: $c, audience: ("https://" + $d + "/api/v2/"), scopes: ["read:clients"]}]
}]}' >"$WORK/seed.json"

start_emulator
log "emulator at $EMU_URL"

# ---------------------------------------------------------------- keyhold serve
pick_port 18080
bootstrap_keyhold bench
start_keyhold healthz
RSS_IDLE_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$KEYHOLD_PID/status")
log "keyhold serve (pid $KEYHOLD_PID) at $BASE"

# ---------------------------------------------------------------- seed
login admin "$WORK/admin.json"
AS="admin"
create_project bench

# The reads are measured as a project viewer (a dashboard's least privilege), not as the instance
# admin: an admin's project access costs a database check that a member's does not.
add_project_identity bench-reader viewer "$WORK/reader.json"

API_IDS=()
for i in $(seq "$API_ROWS"); do
  jq -n --arg n "bench-api-$i" --arg p "$PROJECT" --arg d "$DOMAIN" --arg c "$CLIENT_ID" --rawfile s "$WORK/auth0-secret" \
    '{name: $n, method: "client-credentials", projectId: $p,
      credentials: {domain: $d, clientId: $c, clientSecret: $s}}' >"$WORK/conn.json"
  api POST /api/v1/app-connections/auth0 "$WORK/conn.json" 201
  API_IDS+=("$(jq -r '.appConnection.id' "$WORK/resp.json")")
done
rm -f "$WORK/conn.json"
TARGET_ID=${API_IDS[0]}
login reader "$WORK/reader.json"
AS="reader"
log "created project $PROJECT, a viewer identity and $API_ROWS connections through the API"

CLONES=$((ROWS - API_ROWS))
seed_start=$(date +%s)
timeout 600 psql -q -d "$DB" -v n="$CLONES" -v src_id="$TARGET_ID" -f "$HERE/clone.sql" >/dev/null ||
  die "cloning rows failed"
COUNT=$(psql -At -d "$DB" -c "select count(*) from app_connections where project_id = '$PROJECT'")
[[ "$COUNT" == "$ROWS" ]] || die "expected $ROWS connections, found $COUNT"
log "cloned $CLONES rows in SQL in $(($(date +%s) - seed_start)) s ($COUNT in the project)"

psql -At -d "$DB" -c "select id from app_connections where project_id = '$PROJECT' order by random() limit $MANY_IDS" \
  >"$WORK/ids.txt"

# The last page starts at 0-based row LAST_START; its cursor is the row before it, in (name, id)
# order, encoded as crates/store/src/page.rs does: base64url-no-pad of "<uuid>\n<name>".
LAST_START=$(((ROWS - 1) / PAGE * PAGE))
((LAST_START > 0)) || die "ROWS must exceed one page ($PAGE)"
IFS='|' read -r CUR_ID CUR_NAME < <(psql -At -d "$DB" -c \
  "select id, name from app_connections where project_id = '$PROJECT' order by name, id offset $((LAST_START - 1)) limit 1")
CURSOR=$(printf '%s\n%s' "$CUR_ID" "$CUR_NAME" | base64 -w0 | tr '+/' '-_' | tr -d '=')

GET_PATH="/api/v1/app-connections/auth0/$TARGET_ID"
LIST_PATH="/api/v1/app-connections/auth0?projectId=$PROJECT&limit=$PAGE"
LAST_PATH="$LIST_PATH&cursor=$CURSOR"

# Check that each measured URL answers what we think it does, as the viewer, before timing it.
api GET "$GET_PATH" - 200
[[ $(jq -r '.appConnection.id' "$WORK/resp.json") == "$TARGET_ID" ]] || die "GET returned another row"
if grep -qFf "$WORK/auth0-secret" "$WORK/resp.json"; then die "GET response contains the client secret"; fi
GET_BYTES=$(stat -c %s "$WORK/resp.json")
api GET "$LIST_PATH" - 200
[[ $(jq '.appConnections | length' "$WORK/resp.json") == "$PAGE" ]] || die "page 1 is not $PAGE rows"
[[ $(jq -r '.nextCursor' "$WORK/resp.json") != null ]] || die "page 1 has no next cursor"
LIST_BYTES=$(stat -c %s "$WORK/resp.json")
api GET "$LAST_PATH" - 200
[[ $(jq '.appConnections | length' "$WORK/resp.json") == $((ROWS - LAST_START)) ]] || die "last page has the wrong size"
[[ $(jq -r '.nextCursor' "$WORK/resp.json") == null ]] || die "last page still has a next cursor"
LAST_NAME=$(psql -At -d "$DB" -c "select max(name) from app_connections where project_id = '$PROJECT'")
[[ $(jq -r '.appConnections[-1].name' "$WORK/resp.json") == "$LAST_NAME" ]] || die "last page does not end at $LAST_NAME"
AS="" api GET "$GET_PATH" - 401
log "endpoints verified (GET ${GET_BYTES} B, page ${LIST_BYTES} B, 401 without a token); last page cursor after row $LAST_START"

# Before any load, but after three argon2id hashes (bootstrap is another process; the identity's
# creation and two logins ran here): the baseline the load's RSS is compared with.
RSS_SETUP_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$KEYHOLD_PID/status")

# wrk reads the viewer's token from this file (auth.lua, get_many.lua), not from its command line.
export BENCH_TOKEN_FILE="$WORK/reader.token"

# The baselines run, literally, the statements the server runs for each request (from
# crates/store/src/connections.rs), with the values inlined. The viewer's token is checked from an
# in-memory cache after its first use, and a viewer's project access from the memberships the token
# carries, so a GET is one statement and a list page one statement.
# Column lists: the `columns!` (GET) and `listed_columns!` (list) macros of that file.
COLUMNS_SQL="id, org_id, project_id, app, method, name, description, domain, client_id, audience, \
client_secret_sealed, version, created_at, updated_at, scope_check, scope_checked_at, \
key_kid, key_alg, public_key_pem, public_key_jwk, key_registered_at"
LISTED_SQL="id, org_id, project_id, app, method, name, description, domain, client_id, audience, \
version, created_at, updated_at, scope_check, scope_checked_at, key_kid, key_alg, key_registered_at"
echo "select $COLUMNS_SQL from app_connections where id = '$TARGET_ID' and org_id = '$ORG';" >"$WORK/select.sql"
# limit + 1: the extra row only tells whether a next page exists. The list's total rides in the
# same statement as a scalar subquery over the counts kept per project (`push_total` in that file).
# B1/B2 run that statement; list-page.sql, the page alone, is measured for reference.
TOTAL_SQL="(select coalesce(sum(c.connections), 0)::bigint from app_connection_counts c \
join projects p on p.id = c.project_id where p.org_id = '$ORG' and c.project_id = '$PROJECT')"
echo "select $LISTED_SQL, $TOTAL_SQL from app_connections where project_id = '$PROJECT' and org_id = '$ORG' \
order by name, id limit $((PAGE + 1));" >"$WORK/list-first.sql"
echo "select $LISTED_SQL, $TOTAL_SQL from app_connections where project_id = '$PROJECT' and org_id = '$ORG' \
and name > '$CUR_NAME' order by name, id limit $((PAGE + 1));" >"$WORK/list-last.sql"
echo "select $LISTED_SQL from app_connections where project_id = '$PROJECT' and org_id = '$ORG' \
order by name, id limit $((PAGE + 1));" >"$WORK/list-page.sql"

# ---------------------------------------------------------------- measuring helpers
# shellcheck source=../measure.sh
source "$ROOT/bench/measure.sh"

# ---------------------------------------------------------------- measure
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before measuring: $LOAD_BEFORE"

log "pgbench warm-up (${WARMUP} s), then the GET baseline (${DURATION} s, simple protocol as the issue states)"
pgbench_run pg-warm "$WARMUP" "$WORK/select.sql"
pgbench_run pg-get "$DURATION" "$WORK/select.sql"
PG_TPS=$RPS PG_AVG=$AVG
log "pgbench -M prepared (${DURATION} s, for reference: the server prepares its statements too)"
pgbench_run pg-get-prepared "$DURATION" "$WORK/select.sql" -M prepared
PGP_TPS=$RPS PGP_AVG=$AVG

log "GET one row: warm-up, then ${DURATION} s"
wrk_run get-warm "$WARMUP" "$BASE$GET_PATH" "$HERE/auth.lua"
wrk_run get-one "$DURATION" "$BASE$GET_PATH" "$HERE/auth.lua"
GET_RPS=$RPS GET_P50=$P50 GET_P99=$P99
POOL_SEEN=$(psql -At -d postgres -c \
  "select count(*) from pg_stat_activity where datname = '$DB' and pid <> pg_backend_pid() and backend_type = 'client backend'")

log "GET cycling over $MANY_IDS ids: warm-up, then ${DURATION} s"
wrk_run many-warm "$WARMUP" "$BASE/" "$HERE/get_many.lua" "$WORK/ids.txt"
COUNT_STATEMENTS=1 wrk_run get-many "$DURATION" "$BASE/" "$HERE/get_many.lua" "$WORK/ids.txt"
MANY_RPS=$RPS MANY_P50=$P50 MANY_P99=$P99

log "pgbench list statement, page 1 and last page (${DURATION} s each, -M prepared as the server)"
PGB_LOG=1 pgbench_run pg-list-first "$DURATION" "$WORK/list-first.sql" -M prepared
PL1_TPS=$RPS PL1_P50=$P50 PL1_P99=$P99
PGB_LOG=1 pgbench_run pg-list-last "$DURATION" "$WORK/list-last.sql" -M prepared
PLN_TPS=$RPS PLN_P50=$P50 PLN_P99=$P99
PGB_LOG=1 pgbench_run pg-list-page "$DURATION" "$WORK/list-page.sql" -M prepared
PLP_TPS=$RPS PLP_P50=$P50 PLP_P99=$P99

log "list page 1: warm-up, then ${DURATION} s"
wrk_run list1-warm "$WARMUP" "$BASE$LIST_PATH" "$HERE/auth.lua"
wrk_run list-first "$DURATION" "$BASE$LIST_PATH" "$HERE/auth.lua"
L1_RPS=$RPS L1_P50=$P50 L1_P99=$P99

log "list last page: warm-up, then ${DURATION} s"
wrk_run listn-warm "$WARMUP" "$BASE$LAST_PATH" "$HERE/auth.lua"
wrk_run list-last "$DURATION" "$BASE$LAST_PATH" "$HERE/auth.lua"
LN_RPS=$RPS LN_P50=$P50 LN_P99=$P99

# The same URLs from a single connection: the cost of one request without queueing behind 31 others.
log "GET, list page 1 and last page from 1 connection: ${DIAG} s each (with ${STATS_WAIT} s pauses to count statements)"
COUNT_STATEMENTS=1 CLIENTS=1 THREADS=1 wrk_run get-c1 "$DIAG" "$BASE$GET_PATH" "$HERE/auth.lua"
G1_RPS=$RPS G1_P50=$P50 G1_P99=$P99
COUNT_STATEMENTS=1 CLIENTS=1 THREADS=1 wrk_run list-first-c1 "$DIAG" "$BASE$LIST_PATH" "$HERE/auth.lua"
L1C_RPS=$RPS L1C_P50=$P50 L1C_P99=$P99
COUNT_STATEMENTS=1 CLIENTS=1 THREADS=1 wrk_run list-last-c1 "$DIAG" "$BASE$LAST_PATH" "$HERE/auth.lua"
LNC_RPS=$RPS LNC_P50=$P50 LNC_P99=$P99
# And from 4 connections: several dashboards paging at once, busy but short of saturating two cores.
log "list page 1 and last page from 4 connections: ${DIAG} s each"
CLIENTS=4 wrk_run list-first-c4 "$DIAG" "$BASE$LIST_PATH" "$HERE/auth.lua"
L1Q_RPS=$RPS L1Q_P50=$P50 L1Q_P99=$P99
CLIENTS=4 wrk_run list-last-c4 "$DIAG" "$BASE$LAST_PATH" "$HERE/auth.lua"
LNQ_RPS=$RPS LNQ_P50=$P50 LNQ_P99=$P99

# PROFILE=1: where the server's CPU goes under the GET and list loads (findings.md reads these).
profile_run get-profile "$DIAG" "$BASE$GET_PATH" "$HERE/auth.lua"
profile_run list-profile "$DIAG" "$BASE$LIST_PATH" "$HERE/auth.lua"

RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$KEYHOLD_PID/status")
HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$KEYHOLD_PID/status")
RSS_PARTS=$(rss_parts "$KEYHOLD_PID")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Last, because it changes the process for good: a burst of concurrent logins. Each verifies an
# argon2id hash (19 MiB of working memory) on the server's argon2 threads, so this is what a fleet of
# clients logging in at once costs in memory.
LOGINS=8
log "$LOGINS concurrent logins"
jq '{clientId, clientSecret}' "$WORK/reader.json" >"$WORK/login.json"
login_pids=()
for i in $(seq "$LOGINS"); do
  curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X POST -H 'content-type: application/json' \
    --data-binary "@$WORK/login.json" "$BASE/api/v1/auth/universal-auth/login" >"$WORK/login-$i.status" &
  login_pids+=($!)
done
for pid in "${login_pids[@]}"; do wait "$pid" || true; done
rm -f "$WORK/login.json"
LOGIN_OK=$(cat "$WORK"/login-*.status | grep -o 200 | wc -l)
sleep 1
LOGIN_HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$KEYHOLD_PID/status")
LOGIN_RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$KEYHOLD_PID/status")

# ---------------------------------------------------------------- report

GET_RATIO=$(ratio "$GET_RPS" "$PG_TPS")
L1_RATIO=$(ratio "$L1_RPS" "$PL1_TPS")
LN_RATIO=$(ratio "$LN_RPS" "$PLN_TPS")
L1_P99_RATIO=$(ratio "$L1_P99" "$PL1_P99")
LN_P99_RATIO=$(ratio "$LN_P99" "$PLN_P99")
# "Page 1 and the last page equal within 10%": how far the slower one's throughput is below the
# faster one's.
ENDS_PCT=$(awk -v a="$L1_RPS" -v b="$LN_RPS" 'BEGIN { hi = a > b ? a : b; lo = a > b ? b : a; printf "%.1f", (hi > 0 ? (hi - lo) / hi * 100 : 100) }')
server_us() { awk -F' [|] ' '{ print $6 }' <<<"${CPU_SPLIT[$1]}"; }
GET_CPU_US=$(server_us get-one)
MANY_CPU_US=$(server_us get-many)
ROWS_FMT=$(printf "%'d" "$ROWS" 2>/dev/null || echo "$ROWS")
TABLE=$(
  cat <<EOF
| metric | value | target | ratio to baseline | result |
| --- | --- | --- | --- | --- |
| **A** pgbench PK select of one row (simple protocol) | $PG_TPS tps, avg $PG_AVG ms | - | A = 1.00 | baseline |
| pgbench same select, \`-M prepared\` | $PGP_TPS tps, avg $PGP_AVG ms | - | $(ratio "$PGP_TPS" "$PG_TPS") A | info |
| GET /app-connections/auth0/{id}, same row: throughput | $GET_RPS req/s | >= $TARGET_GET_RATIO A | $GET_RATIO A ($(ratio "$GET_RPS" "$PGP_TPS") of prepared) | $(verdict "$GET_RATIO" ">=" "$TARGET_GET_RATIO") |
| GET, same row: p99 (p50) | $GET_P99 ms ($GET_P50 ms) | < $TARGET_P99_MS ms | - | $(verdict "$GET_P99" "<" "$TARGET_P99_MS") |
| GET, same row: server CPU per request | $GET_CPU_US µs | <= $TARGET_GET_CPU_US µs | - | $(verdict "$GET_CPU_US" "<" "$((TARGET_GET_CPU_US + 1))") |
| GET cycling over $MANY_IDS ids: throughput; p99 (p50); server CPU per request | $MANY_RPS req/s; $MANY_P99 ms ($MANY_P50 ms); $MANY_CPU_US µs | - | $(ratio "$MANY_RPS" "$PG_TPS") A | info |
| **B1** pgbench list statement, page 1 (\`-M prepared\`): p99 (p50) | $PL1_TPS tps; $PL1_P99 ms ($PL1_P50 ms) | - | B1 = 1.00 | baseline |
| **B2** pgbench list statement, last page (\`-M prepared\`): p99 (p50) | $PLN_TPS tps; $PLN_P99 ms ($PLN_P50 ms) | - | B2 = 1.00 | baseline |
| pgbench page 1 without the total (\`list-page.sql\`): p99 (p50) | $PLP_TPS tps; $PLP_P99 ms ($PLP_P50 ms) | - | $(ratio "$PLP_TPS" "$PL1_TPS") B1 | info |
| list limit=$PAGE of $ROWS_FMT, page 1: throughput | $L1_RPS req/s | >= $TARGET_LIST_RATIO B1 | $L1_RATIO B1 ($(ratio "$L1_RPS" "$PLP_TPS") of the page alone) | $(verdict "$L1_RATIO" ">=" "$TARGET_LIST_RATIO") |
| list page 1: p99 (p50) | $L1_P99 ms ($L1_P50 ms) | <= $TARGET_LIST_P99_RATIO x B1's p99 | $L1_P99_RATIO x | $(verdict "$L1_P99_RATIO" "<" "$TARGET_LIST_P99_RATIO") |
| list limit=$PAGE of $ROWS_FMT, last page: throughput | $LN_RPS req/s | >= $TARGET_LIST_RATIO B2 | $LN_RATIO B2 | $(verdict "$LN_RATIO" ">=" "$TARGET_LIST_RATIO") |
| list last page: p99 (p50) | $LN_P99 ms ($LN_P50 ms) | <= $TARGET_LIST_P99_RATIO x B2's p99 | $LN_P99_RATIO x | $(verdict "$LN_P99_RATIO" "<" "$TARGET_LIST_P99_RATIO") |
| page 1 and last page: throughput apart | $ENDS_PCT% | <= $TARGET_ENDS_PCT% | - | $(verdict "$ENDS_PCT" "<" "$TARGET_ENDS_PCT") |
| 1 connection: GET p99 (p50) | $G1_P99 ms ($G1_P50 ms); $G1_RPS req/s | - | - | info |
| 1 connection: list page 1 p99 (p50) | $L1C_P99 ms ($L1C_P50 ms); $L1C_RPS req/s | < $TARGET_P99_MS ms | - | $(verdict "$L1C_P99" "<" "$TARGET_P99_MS") |
| 1 connection: list last page p99 (p50) | $LNC_P99 ms ($LNC_P50 ms); $LNC_RPS req/s | < $TARGET_P99_MS ms | - | $(verdict "$LNC_P99" "<" "$TARGET_P99_MS") |
| 4 connections: list page 1 p99 (p50) | $L1Q_P99 ms ($L1Q_P50 ms); $L1Q_RPS req/s | < $TARGET_P99_MS ms | - | $(verdict "$L1Q_P99" "<" "$TARGET_P99_MS") |
| 4 connections: list last page p99 (p50) | $LNQ_P99 ms ($LNQ_P50 ms); $LNQ_RPS req/s | < $TARGET_P99_MS ms | - | $(verdict "$LNQ_P99" "<" "$TARGET_P99_MS") |
| server VmHWM (peak RSS) after the load | $(mb "$HWM_KB") | < $TARGET_RSS_MB MB | - | $(verdict "$HWM_KB" "<" $((TARGET_RSS_MB * 1024))) |
| server VmRSS after the load (after start-up; after set-up, before load) | $(mb "$RSS_KB") ($(mb "$RSS_IDLE_KB"); $(mb "$RSS_SETUP_KB")); after the load: $RSS_PARTS | < $TARGET_RSS_MB MB | - | $(verdict "$RSS_KB" "<" $((TARGET_RSS_MB * 1024))) |
| server VmHWM after $LOGINS concurrent logins ($LOGIN_OK answered 200); VmRSS 1 s later | $(mb "$LOGIN_HWM_KB"); $(mb "$LOGIN_RSS_KB") | - (logins are not a target) | - | info |
EOF
)

CPU_TABLE=$(
  echo "| run | req/s | server | postgres (all databases) | load generator | other processes | server µs/req | postgres µs/req | statements/req |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for name in pg-get pg-get-prepared get-one get-many pg-list-first pg-list-last pg-list-page list-first list-last \
    get-c1 list-first-c1 list-last-c1 list-first-c4 list-last-c4; do
    echo "| $name | ${CPU_SPLIT[$name]} |"
  done
)

BUSY=$(machine_state)

{
  echo "# Connections API benchmark"
  echo
  echo "Written by \`bench/connections/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); every number below comes from that one run."
  echo
  echo "- Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM; PostgreSQL $(psql -At -d postgres -c 'show server_version' | cut -d' ' -f1) on 127.0.0.1 (shared_buffers $(psql -At -d postgres -c 'show shared_buffers')); the load generators run on the same cores."
  echo "- Machine state: $BUSY Load average before $LOAD_BEFORE, after $LOAD_AFTER."
  echo "- Load: $CLIENTS connections, $THREADS threads, keep-alive, ${DURATION} s per measured run (after a ${WARMUP} s warm-up per endpoint), for pgbench and wrk alike; \"1 connection\" runs last ${DIAG} s."
  echo "- Data: $ROWS_FMT connections in one project: $API_ROWS created through the API (validated against the Auth0 emulator), the rest cloned in SQL from the first (\`clone.sql\`). A clone's sealed secret is bound to the source row's id and would not open; GET and list never open it."
  echo "- A: \`pgbench -n -c $CLIENTS -j $THREADS -T $DURATION -f select.sql\` running the server's own GET statement (\`select <14 columns> from app_connections where id = ... and org_id = ...\`) on the row the GET run asks for."
  echo "- GET \"same row\" asks for that row every time; \"cycling\" walks $MANY_IDS random ids of the project (\`get_many.lua\`). Server pool: $POOL_SEEN PostgreSQL connections open under load."
  echo "- Every request is authenticated as a machine identity with the viewer role in the project (bearer token from \`/api/v1/auth/universal-auth/login\`; the instance admin from \`keyhold bootstrap\` only sets up). The server checks a token in the database on first use and then from a short-lived in-memory cache, so a measured request runs at most one statement; GETs that arrive while earlier ones are with the database share one (\`crates/api/src/grouped.rs\`), so under load a GET costs less than one statement (statements/req of get-many), while A runs one select per transaction."
  echo "- Lists: \`limit=$PAGE\`, page 1 without a cursor, the last page with the cursor of row $LAST_START in name order. B1/B2: pgbench running the statement a list request runs (the page with limit $((PAGE + 1)) and the list's total as a scalar subquery), \`-M prepared\` like the server, p50/p99 from pgbench's per-transaction log. Response sizes: GET $GET_BYTES B, a page $LIST_BYTES B."
  echo
  echo "$TABLE"
  echo
  echo "CPU during each measured run, as % of one core (200% = both cores busy; \"other processes\" is whatever else ran on the machine), and CPU time per request (pgbench: per transaction):"
  echo
  echo "$CPU_TABLE"
} >"$WORK/report.md"

# Findings from investigating a run by hand (profiles, plans) are kept beside the script, dated, and
# appended so REPORT.md stays one document.
if [[ -f "$HERE/findings.md" ]]; then
  { echo; cat "$HERE/findings.md"; } >>"$WORK/report.md"
fi
# umask 077 above is for the secrets; the report is for everyone.
install -m 0644 "$WORK/report.md" "$REPORT"
echo
cat "$WORK/report.md"
echo
log "report written to $REPORT"
