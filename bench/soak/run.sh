#!/usr/bin/env bash
# Load and soak (issue: "a mixed workload (90% reads, 8% creates/updates, 2% rotations) at steady
# state for 10 minutes on loopback: throughput, p50/p99, error count (must be 0), RSS growth (must
# be flat), DB connections (bounded). Print one report table with the figures and the ratios to the
# pgbench baseline.")
#
# One run, everything on 127.0.0.1 and sharing this machine's cores:
#   1. release build of `keyhold` and `auth0-emulator`; a fresh database;
#   2. the emulator with one tenant: the connection's M2M client (granted read:clients,
#      read:client_summary, update:client_keys) and ROTATIONS target clients to rotate;
#   3. `keyhold bootstrap`, then `keyhold serve` with its embedded rotation worker (the default);
#   4. seeding through the API as a project `member` machine identity: API_CONNECTIONS connections
#      (each checked with the emulator), the rest up to CONNECTIONS cloned in SQL (clone.sql), and
#      ROTATIONS rotations on the first connection, one per target client, created through the API;
#      their first rotation (queued at creation) must have succeeded before anything is measured;
#   5. pgbench baselines on the same table with the same client count: a single-row primary-key
#      select (simple protocol, as bench/connections' A, and prepared), M: the soak's mix of the
#      same statements (each kind's statement in the kind's share: pk selects, pages of 50 with
#      their totals, writes), and M0, the earlier reports' mix with no page (for comparison);
#   6. the soak: one wrk warm-up run (WARMUP s), a pause until no rotation is queued, then the
#      measured wrk run (DURATION s), both with mixed.lua; a background sampler records every
#      SAMPLE_EVERY s the server's VmRSS, the test database's PostgreSQL sessions, the load average
#      and a few of the server's /metrics;
#   7. checks afterwards through the API: no rotation ended `failed`, how many rotated during the
#      window (lastRotatedAt, and keyhold_rotations_total from /metrics, and the emulator's count).
# Prints one table and writes it, with the date, machine and the sampled series, to REPORT.md.
#
# Knobs (environment): DURATION (600 s), WARMUP (30 s), CLIENTS (16), THREADS (2), CONNECTIONS
# (2000), API_CONNECTIONS (4), ROTATIONS (500), SAMPLE_EVERY (10 s), PG_SECS (30 s per pgbench run),
# TENANT_RPS (1000) and TENANT_BURST (100): the per-tenant Management API budget given to the server
# (see below), RSS_FLAT_PCT (10), MIX_TARGET (0.25: throughput over M), SKIP_BUILD=1, KEEP_DB=1, KEEP_WORK=1, REPORT (path of the report),
# SOAK_MIX (diagnostics only: other per-mille weights for mixed.lua's seven kinds, in its order;
# the report's description of the mix assumes the default).
#
# Why TENANT_RPS: the default budget is Auth0's free plan (2 requests/s per tenant), under which one
# tenant completes about one rotation a second; 2% of the soak's requests is tens of rotations a
# second against one tenant. The emulator has no rate limit, so the budget is raised (not turned
# off: the shared pacing in PostgreSQL stays in the path, as in production).
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

DURATION=${DURATION:-600}
WARMUP=${WARMUP:-30}
CLIENTS=${CLIENTS:-16}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-2000}
API_CONNECTIONS=${API_CONNECTIONS:-4}
ROTATIONS=${ROTATIONS:-500}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
PG_SECS=${PG_SECS:-30}
TENANT_RPS=${TENANT_RPS:-1000}
TENANT_BURST=${TENANT_BURST:-100}
RSS_FLAT_PCT=${RSS_FLAT_PCT:-10}
REPORT=${REPORT:-$HERE/REPORT.md}
POOL_MAX=16 # KEYHOLD_DB_MAX_CONNECTIONS' default (README's configuration table); not overridden here
NOISY_PCT=${NOISY_PCT:-15}

DB=keyhold_soak
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
DOMAIN=soak.auth0.test
CONN_CLIENT=soakConnectionM2M000000000000001

LOG_TAG=soak
# `keyhold serve` drains its worker on SIGTERM; give it a while, then insist.
STOP_GRACE=100

require_tools cargo psql pgbench curl jq awk /usr/bin/time timeout
ensure_wrk
((CONNECTIONS > API_CONNECTIONS && API_CONNECTIONS >= 1)) || die "need CONNECTIONS > API_CONNECTIONS >= 1"
((ROTATIONS >= THREADS && ROTATIONS <= 9999)) || die "ROTATIONS must be between THREADS and 9999"

RUN_START=$(date +%s)
make_work keyhold-soak
SAMPLER_PID=""
# The sampler reads the server's /proc entry: it stops before the server does.
on_cleanup() { stop_pids "$STOP_GRACE" "$SAMPLER_PID"; }

# ---------------------------------------------------------------- build
build_release
BUILD_NOTE="$(cd "$ROOT" && git --no-optional-locks rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY=$(cd "$ROOT" && git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null | wc -l || echo 0)
((DIRTY > 0)) && BUILD_NOTE="$BUILD_NOTE plus $DIRTY uncommitted changed files (others were working in the tree)"
BIN_AGE=$(date -u -d "@$(stat -c %Y "$BIN/keyhold")" '+%H:%M UTC')

# ---------------------------------------------------------------- database
fresh_database

# ---------------------------------------------------------------- emulator
# Secrets (the Auth0 client secret, root key, identity secrets, access tokens) live only in files
# under $WORK (mode 0600), never on a command line or in any output.
umask 077
head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' >"$WORK/auth0-secret"
jq -n --arg d "$DOMAIN" --arg c "$CONN_CLIENT" --rawfile s "$WORK/auth0-secret" --argjson n "$ROTATIONS" '{tenants: [{
  domain: $d,
  clients: ([{client_id: $c, client_secret: $s, grant_types: ["client_credentials"]}] +
    [range(1; $n + 1) | {client_id: ("soakTarget" + (tostring | ("0000" + .)[-4:])),
                         client_secret: ("initial-target-secret-0123456789abcdef-" + tostring),
                         grant_types: ["client_credentials"]}]),
  grants: [{client_id: $c, audience: ("https://" + $d + "/api/v2/"),
            scopes: ["read:clients", "read:client_summary", "update:client_keys"]}]
}]}' >"$WORK/seed.json"

start_emulator
log "emulator at $EMU_URL ($ROTATIONS target clients)"
emu_counters() { curl -fsS --max-time 5 "$EMU_URL/__emulator/tenants/$DOMAIN/counters"; }

# ---------------------------------------------------------------- keyhold serve
pick_port 18280
bootstrap_keyhold soak

# Tokens must outlive the run (default 3600 s): the member's token is taken before the baselines.
TOKEN_TTL=$((2 * (WARMUP + DURATION) + 3600))
start_keyhold readyz KEYHOLD_ACCESS_TOKEN_TTL_SECS="$TOKEN_TTL" \
  KEYHOLD_WORKER_TENANT_RPS="$TENANT_RPS" KEYHOLD_WORKER_TENANT_BURST="$TENANT_BURST"
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
RSS_IDLE_KB=$(rss_kb "$KEYHOLD_PID")
log "keyhold serve (pid $KEYHOLD_PID, embedded worker) at $BASE"

# ---------------------------------------------------------------- seed
login admin "$WORK/admin.json"
AS=admin
create_project soak
add_project_identity soak-member member "$WORK/member.json"
login member "$WORK/member.json"
AS=member # everything below, and the whole load, as the project member

mkdir -p "$WORK/data"
echo "$PROJECT" >"$WORK/data/project"
jq -n --arg d "$DOMAIN" --arg c "$CONN_CLIENT" --rawfile s "$WORK/auth0-secret" \
  '{domain: $d, clientId: $c, clientSecret: $s}' -c >"$WORK/data/create_credentials.json"
API_IDS=()
for i in $(seq "$API_CONNECTIONS"); do
  jq -n --arg n "api-$i" --arg p "$PROJECT" --slurpfile c "$WORK/data/create_credentials.json" \
    '{name: $n, method: "client-credentials", projectId: $p, credentials: $c[0]}' >"$WORK/conn.json"
  api POST /api/v1/app-connections/auth0 "$WORK/conn.json" 201
  API_IDS+=("$(jq -r '.appConnection.id' "$WORK/resp.json")")
done
ROT_CONN=${API_IDS[0]}
jq -e '.diagnostics.capabilities[] | select(.capability == "rotateClientSecrets") | .usable' "$WORK/resp.json" >/dev/null ||
  die "the connection cannot rotate client secrets: $(jq -c .diagnostics "$WORK/resp.json")"
CLONES=$((CONNECTIONS - API_CONNECTIONS))
timeout 600 psql -q -d "$DB" -v n="$CLONES" -v src_id="${API_IDS[1]:-$ROT_CONN}" -f "$HERE/clone.sql" >/dev/null ||
  die "cloning connections failed"
log "project $PROJECT: $API_CONNECTIONS connections through the API, $CLONES cloned in SQL"

log "creating $ROTATIONS rotations through the API (each checked with the emulator)"
t0=$(date +%s)
: >"$WORK/data/rot_ids"
for i in $(seq "$ROTATIONS"); do
  n=$(printf '%04d' "$i")
  jq -n --arg n "rot-$n" --arg p "$PROJECT" --arg c "$ROT_CONN" --arg t "soakTarget$n" \
    '{name: $n, projectId: $p, connectionId: $c, isAutoRotationEnabled: true, rotationInterval: 30,
      rotateAtUtc: {hours: 3, minutes: 0}, parameters: {clientId: $t}}' >"$WORK/rot.json"
  api POST /api/v2/secret-rotations/auth0-client-secret "$WORK/rot.json" 201
  jq -r '.secretRotation.id' "$WORK/resp.json" >>"$WORK/data/rot_ids"
done
log "created $ROTATIONS rotations in $(($(date +%s) - t0)) s; waiting for their first rotation"

# rotation_states: "<success> <failed> <pending> <rotating>" from one API page of every rotation.
rotation_states() {
  api GET "/api/v2/secret-rotations/auth0-client-secret?projectId=$PROJECT&limit=500" - 200
  local more
  more=$(jq -r '.nextCursor' "$WORK/resp.json")
  cp "$WORK/resp.json" "$WORK/rotations.json"
  if [[ "$more" != null ]]; then
    api GET "/api/v2/secret-rotations/auth0-client-secret?projectId=$PROJECT&limit=500&cursor=$more" - 200
    jq -s '{secretRotations: (.[0].secretRotations + .[1].secretRotations)}' "$WORK/rotations.json" "$WORK/resp.json" >"$WORK/r2.json"
    mv "$WORK/r2.json" "$WORK/rotations.json"
  fi
  jq -r '[.secretRotations[] | .rotationStatus] as $s | [.secretRotations[] | select(.isRotating)] as $r |
    "\([$s[] | select(. == "success")] | length) \([$s[] | select(. == "failed")] | length) \([$s[] | select(. == "pending")] | length) \($r | length)"' \
    "$WORK/rotations.json"
}
for _ in $(seq 300); do
  read -r R_OK R_FAILED R_PENDING R_BUSY < <(rotation_states)
  ((R_OK == ROTATIONS && R_BUSY == 0)) && break
  ((R_FAILED == 0)) || die "$R_FAILED rotations failed their first rotation"
  sleep 1
done
((R_OK == ROTATIONS && R_BUSY == 0)) || die "first rotations unfinished: $R_OK succeeded, $R_PENDING pending, $R_BUSY busy"
log "all $ROTATIONS first rotations succeeded"

# Inputs of mixed.lua: every seeded connection to read, the clones to PATCH (never the API-made
# ones: the first is the rotations' connection), the rotations, and page cursors taken from the API.
psql -At -d "$DB" -c "select id from app_connections where project_id = '$PROJECT' order by random()" >"$WORK/data/conn_ids"
psql -At -d "$DB" -c "select id from app_connections where project_id = '$PROJECT' and name like 'c-%' order by random()" >"$WORK/data/patch_ids"
collect_cursors() { # PATH OUT
  local cursor="" url
  : >"$2"
  while :; do
    url="$1&limit=50${cursor:+&cursor=$cursor}"
    api GET "$url" - 200
    cursor=$(jq -r '.nextCursor' "$WORK/resp.json")
    [[ "$cursor" == null ]] && break
    echo "$cursor" >>"$2"
  done
}
collect_cursors "/api/v1/app-connections/auth0?projectId=$PROJECT" "$WORK/data/conn_cursors"
collect_cursors "/api/v2/secret-rotations/auth0-client-secret?projectId=$PROJECT" "$WORK/data/rot_cursors"
[[ -s "$WORK/data/rot_cursors" ]] || echo "" >"$WORK/data/rot_cursors" # one page only: page 1 always

# Each kind answers what mixed.lua expects, once, before the load (and the secret never comes back).
SOME_CONN=$(head -1 "$WORK/data/conn_ids")
SOME_CLONE=$(head -1 "$WORK/data/patch_ids")
SOME_ROT=$(head -1 "$WORK/data/rot_ids")
api GET "/api/v1/app-connections/auth0/$SOME_CONN" - 200
if grep -qFf "$WORK/auth0-secret" "$WORK/resp.json"; then die "a GET answer contains the client secret"; fi
api GET "/api/v1/app-connections/auth0?projectId=$PROJECT&limit=50&cursor=$(head -1 "$WORK/data/conn_cursors")" - 200
api GET "/api/v2/secret-rotations/auth0-client-secret/$SOME_ROT" - 200
api GET "/api/v2/secret-rotations/auth0-client-secret?projectId=$PROJECT&limit=50" - 200
echo '{"description":"checked before the soak"}' >"$WORK/patch.json"
api PATCH "/api/v1/app-connections/auth0/$SOME_CLONE" "$WORK/patch.json" 200
api POST "/api/v2/secret-rotations/auth0-client-secret/$SOME_ROT/rotate-secrets" - 200
log "endpoints verified as the member; $(wc -l <"$WORK/data/conn_cursors") connection and $(grep -c . "$WORK/data/rot_cursors" || true) rotation page cursors"

# rotations_busy: rotations queued or running (read-only query on the test database).
rotations_busy() {
  psql -At -d "$DB" -c "select count(*) from secret_rotations where rotate_requested_at is not null \
    or current_attempt_id is not null or (lease_expires_at is not null and lease_expires_at > now())"
}
wait_rotations_idle() { # SECONDS
  local busy=1
  for _ in $(seq $(($1 * 5))); do busy=$(rotations_busy); ((busy == 0)) && return 0; sleep 0.2; done
  log "still $busy rotations busy after $1 s"
  return 1
}
wait_rotations_idle 60 || die "the check rotation did not finish"

# ---------------------------------------------------------------- measuring helpers
HZ=$(getconf CLK_TCK)
# CPU ticks: "server emulator postgres machine_busy" (postgres: all its processes plus exited children).
cpu_snap() {
  local server emu pg=0 t pm
  server=$(awk '{print $14 + $15}' "/proc/$KEYHOLD_PID/stat")
  emu=$(awk '{print $14 + $15}' "/proc/$EMU_PID/stat")
  for p in $(pgrep -x postgres); do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || t=0
    pg=$((pg + ${t:-0}))
  done
  pm=$(pgrep -o -x postgres)
  pg=$((pg + $(awk '{print $16 + $17}' "/proc/$pm/stat")))
  awk -v s="$server" -v e="$emu" -v p="$pg" '/^cpu / {print s, e, p, $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}
# cpu_line BEFORE AFTER WALL LOADGEN_TIMEFILE: "server% emulator% postgres% loadgen% other%" of one core.
cpu_line() {
  local lg=0
  [[ -n "$4" && -f "$4" ]] && lg=$(awk '{print $1 + $2}' "$4")
  awk -v b="$1" -v a="$2" -v w="$3" -v lg="$lg" -v hz="$HZ" 'BEGIN {
    split(b, u, " "); split(a, v, " ")
    s = (v[1] - u[1]) / hz; e = (v[2] - u[2]) / hz; p = (v[3] - u[3]) / hz; m = (v[4] - u[4]) / hz
    o = m - s - e - p - lg; if (o < 0) o = 0
    printf "%.0f %.0f %.0f %.0f %.0f", s / w * 100, e / w * 100, p / w * 100, lg / w * 100, o / w * 100 }'
}
BUSY_NOTES=()
note_busy() {
  local n pg
  # shellcheck disable=SC2009 # pgrep refuses patterns longer than 15 characters
  n=$(ps -eo comm= | grep -cxE 'rustc|cc1|cc1plus|ld|cargo|rust-lld|clippy-driver' || true)
  pg=$(psql -At -d postgres -c "select count(*) from pg_stat_activity where state = 'active' \
    and datname is distinct from '$DB' and pid <> pg_backend_pid()" 2>/dev/null || echo 0)
  if [[ "${n:-0}" -gt 0 || "${pg:-0}" -gt 0 ]]; then BUSY_NOTES+=("$1 (${n} compiler processes, ${pg} active queries on other databases)"); fi
}
elapsed_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { print b - a }'; }

# metric NAME_REGEX FILE: sum of the matching samples of a /metrics text.
metric() { awk -v re="$1" '$0 !~ /^#/ && $1 ~ re { s += $NF } END { printf "%.0f", s + 0 }' "$2"; }

# ---------------------------------------------------------------- baselines (pgbench)
# The statements the server runs for each kind (crates/store/src/connections.rs and rotations.rs:
# the `columns!` and `listed_columns!` macros, `push_total`), with the values inlined, as in
# bench/connections. A page's total rides in the page's statement as a scalar subquery.
COLUMNS_SQL="id, org_id, project_id, app, method, name, description, domain, client_id, audience, \
client_secret_sealed, version, created_at, updated_at, scope_check, scope_checked_at, \
key_kid, key_alg, public_key_pem, public_key_jwk, key_registered_at"
LISTED_SQL="id, org_id, project_id, app, method, name, description, domain, client_id, audience, \
version, created_at, updated_at, scope_check, scope_checked_at, key_kid, key_alg, key_registered_at"
CONN_TOTAL_SQL="(select coalesce(sum(c.connections), 0)::bigint from app_connection_counts c \
join projects p on p.id = c.project_id where p.org_id = '$ORG' and c.project_id = '$PROJECT')"
ROT_COLUMNS_SQL="id, org_id, project_id, connection_id, type, name, description, client_id, \
rotation_interval_days, rotate_at_hours, rotate_at_minutes, is_auto_rotation_enabled, \
next_rotation_at, status, last_rotation_message, last_rotated_at, \
last_rotation_attempted_at, is_last_rotation_manual, active_index, overlap_seconds, due_at, \
rotate_requested_at, current_attempt_id, lease_owner, lease_expires_at, lease_epoch, \
version, created_at, updated_at"
COUNT_CAP=10000 # crates/api/src/routes.rs
ROT_TOTAL_SQL="(select case when count(*) <= $COUNT_CAP then count(*) end from (select 1 from secret_rotations \
where project_id = '$PROJECT' and org_id = '$ORG' limit $((COUNT_CAP + 1))) capped)"
PK_ID=$(psql -At -d "$DB" -c "select id from app_connections where name = 'c-000001' and project_id = '$PROJECT'")
CLONE_ID_SQL="('50a50000-0000-4000-8000-' || lpad(:r::text, 12, '0'))::uuid"
echo "select $COLUMNS_SQL from app_connections where id = '$PK_ID' and org_id = '$ORG';" >"$WORK/pk.sql"
cat >"$WORK/mix-read.sql" <<EOF
\\set r random(1, $CLONES)
select $COLUMNS_SQL from app_connections where id = $CLONE_ID_SQL and org_id = '$ORG';
EOF
cat >"$WORK/mix-update.sql" <<EOF
\\set r random(1, $CLONES)
update app_connections set description = 'pgbench ' || :r, version = version + 1, updated_at = now() where id = $CLONE_ID_SQL and org_id = '$ORG' and version >= 1;
EOF
cat >"$WORK/mix-insert.sql" <<EOF
insert into app_connections (id, org_id, project_id, app, method, name, description, domain, client_id, audience, client_secret_sealed) select gen_random_uuid(), org_id, project_id, app, method, 'pg-' || replace(gen_random_uuid()::text, '-', ''), 'pgbench', domain, client_id, audience, client_secret_sealed from app_connections where id = '$PK_ID';
EOF
cat >"$WORK/mix-rotate.sql" <<EOF
\\set r random(1, $ROTATIONS)
update secret_rotations set updated_at = now() where project_id = '$PROJECT' and name = 'rot-' || lpad(:r::text, 4, '0');
EOF
# The reads M adds to M0: a rotation by its (unique) name, as random as the soak's pick by id, and
# pages of 50 (limit + 1) after a random name, as the soak's random cursors.
cat >"$WORK/mix-getrot.sql" <<EOF
\\set r random(1, $ROTATIONS)
select $ROT_COLUMNS_SQL from secret_rotations where project_id = '$PROJECT' and name = 'rot-' || lpad(:r::text, 4, '0');
EOF
cat >"$WORK/mix-listconn.sql" <<EOF
\\set r random(0, $CLONES)
select $LISTED_SQL, $CONN_TOTAL_SQL from app_connections where project_id = '$PROJECT' and org_id = '$ORG' and name > 'c-' || lpad(:r::text, 6, '0') order by name, id limit 51;
EOF
cat >"$WORK/mix-listrot.sql" <<EOF
\\set r random(0, $ROTATIONS)
select $ROT_COLUMNS_SQL, $ROT_TOTAL_SQL from secret_rotations where project_id = '$PROJECT' and org_id = '$ORG' and name > 'rot-' || lpad(:r::text, 4, '0') order by name, id limit 51;
EOF

# pgbench_run NAME ARGS...: sets TPS, AVG (ms) and CPU. No percentiles: pgbench's per-transaction
# log (-l) cannot time transactions this short (most entries read 0 us), so only its average
# (clients / tps) is reported, and compared with wrk's average.
pgbench_run() {
  local name=$1; shift
  local before after t0 wall
  note_busy "$name"
  before=$(cpu_snap); t0=$(date +%s.%N)
  (cd "$WORK" && timeout $((PG_SECS + 60)) /usr/bin/time -f '%U %S' -o "$WORK/$name.time" \
    pgbench -n -c "$CLIENTS" -j "$THREADS" -T "$PG_SECS" "$@" "$DB" \
    >"$WORK/$name.pgbench" 2>&1) || die "pgbench $name failed: $(tail -5 "$WORK/$name.pgbench")"
  sleep 0.5
  after=$(cpu_snap); wall=$(elapsed_since "$t0")
  note_busy "$name"
  TPS=$(awk '/^tps = / {printf "%.0f", $3}' "$WORK/$name.pgbench")
  AVG=$(awk '/^latency average/ {print $4}' "$WORK/$name.pgbench")
  [[ -n "$TPS" && -n "$AVG" ]] || die "cannot parse pgbench output of $name"
  grep -q '^number of failed transactions: 0 ' "$WORK/$name.pgbench" ||
    die "pgbench $name had failed transactions: $(grep failed "$WORK/$name.pgbench")"
  CPU=$(cpu_line "$before" "$after" "$wall" "$WORK/$name.time")
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "pgbench baselines, $PG_SECS s each, $CLIENTS clients: PK select (simple, prepared), then the mix"
pgbench_run pg-warm -T 5 -f "$WORK/pk.sql" # (-T repeated: the later one wins) a short warm-up
pgbench_run pg-pk -f "$WORK/pk.sql"
PK_TPS=$TPS PK_AVG=$AVG PK_CPU=$CPU
pgbench_run pg-pk-prepared -M prepared -f "$WORK/pk.sql"
PKP_TPS=$TPS PKP_AVG=$AVG PKP_CPU=$CPU
pgbench_run pg-mix-pk -M prepared -f "$WORK/mix-read.sql@90" -f "$WORK/mix-update.sql@4" \
  -f "$WORK/mix-insert.sql@4" -f "$WORK/mix-rotate.sql@2"
MIX0_TPS=$TPS MIX0_AVG=$AVG
# M: the soak's own kinds in its own shares, each the server's statement for it.
pgbench_run pg-mix -M prepared -f "$WORK/mix-read.sql@45" -f "$WORK/mix-listconn.sql@15" \
  -f "$WORK/mix-getrot.sql@25" -f "$WORK/mix-listrot.sql@5" -f "$WORK/mix-insert.sql@4" \
  -f "$WORK/mix-update.sql@4" -f "$WORK/mix-rotate.sql@2"
MIX_TPS=$TPS MIX_AVG=$AVG MIX_CPU=$CPU
# Leave the table as seeded: the rows the mix inserted go, and the statistics are refreshed.
PG_INSERTED=$(psql -At -d "$DB" -c "with d as (delete from app_connections where name like 'pg-%' returning 1) select count(*) from d")
psql -q -d "$DB" -c "vacuum (analyze) app_connections" -c "vacuum (analyze) secret_rotations" >/dev/null
log "pgbench: PK $PK_TPS tps (prepared $PKP_TPS), mix $MIX_TPS tps (pk-only mix $MIX0_TPS) ($PG_INSERTED rows inserted and removed)"

# ---------------------------------------------------------------- soak
SAMPLES="$WORK/samples.tsv"
echo -e "t_s\tphase\trss_kb\tpg_sessions\tpg_active\tload1\tpool_size\tpool_idle\trotated_total\ttoken_cache\trotation_lag_s\temu_rss_kb" >"$SAMPLES"
PHASE_FILE="$WORK/phase"
echo warmup >"$PHASE_FILE"
# sample T: one line of $SAMPLES (and $WORK/metrics.last).
sample() {
  local sess act m="$WORK/metrics.${2:-sampler}"
  read -r sess act < <(psql -At -F ' ' -d postgres -c "select count(*), count(*) filter (where state = 'active') \
    from pg_stat_activity where datname = '$DB'" 2>/dev/null || echo "- -")
  curl -fsS --max-time 5 "$BASE/metrics" >"$m" 2>/dev/null || : >"$m"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$(cat "$PHASE_FILE")" "$(rss_kb "$KEYHOLD_PID")" \
    "$sess" "$act" "$(cut -d' ' -f1 /proc/loadavg)" \
    "$(metric '^keyhold_db_pool_connections$' "$m")" "$(metric '^keyhold_db_pool_idle_connections$' "$m")" \
    "$(metric '^keyhold_rotations_total[{].*outcome="rotated"' "$m")" "$(metric '^keyhold_auth0_token_cache_entries$' "$m")" \
    "$(metric '^keyhold_rotation_lag_seconds$' "$m")" "$(rss_kb "$EMU_PID")" >>"$SAMPLES"
}
SOAK_T0=$(date +%s.%N)
(
  i=0
  while :; do
    sample "$((i * SAMPLE_EVERY))"
    i=$((i + 1))
    # Sleep to the next tick of the grid that started at SOAK_T0 (no drift).
    sleep "$(awk -v t0="$SOAK_T0" -v n="$i" -v e="$SAMPLE_EVERY" -v now="$(date +%s.%N)" 'BEGIN { d = t0 + n * e - now; print (d > 0 ? d : 0) }')" &
    wait $! || true
  done
) &
SAMPLER_PID=$!

export SOAK_TOKEN_FILE="$WORK/member.token" SOAK_DATA="$WORK/data" SOAK_THREADS="$THREADS"
# wrk_soak NAME SECONDS TAG
wrk_soak() {
  SOAK_TAG=$3 SOAK_OUT="$WORK/$1.counts" timeout $(($2 + 60)) /usr/bin/time -f '%U %S' -o "$WORK/$1.time" \
    wrk -t"$THREADS" -c"$CLIENTS" -d"${2}s" --timeout 10s --latency -s "$HERE/mixed.lua" "$BASE" \
    >"$WORK/$1.wrk" 2>&1 || die "wrk $1 failed: $(tail -5 "$WORK/$1.wrk")"
  [[ -s "$WORK/$1.counts" ]] || die "wrk $1 printed no counts: $(tail -5 "$WORK/$1.wrk")"
}

note_busy warm-up
log "warm-up: ${WARMUP} s of the mix ($CLIENTS connections, $THREADS threads)"
wrk_soak warm "$WARMUP" w
wait_rotations_idle 60 || log "starting the window with rotations still busy"

# The measured window.
echo window >"$PHASE_FILE"
WIN_T=$(elapsed_since "$SOAK_T0")
sample "$(printf '%.0f' "$WIN_T")" start
EMU_START=$(emu_counters)
WIN_START_ISO=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
RSS_START_KB=$(rss_kb "$KEYHOLD_PID")
note_busy window-start
log "measured window: ${DURATION} s (RSS now $((RSS_START_KB / 1024)) MB)"
CPU_BEFORE=$(cpu_snap); W0=$(date +%s.%N)
wrk_soak soak "$DURATION" m
CPU_AFTER=$(cpu_snap); WALL=$(elapsed_since "$W0")
RSS_END_KB=$(rss_kb "$KEYHOLD_PID")
HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$KEYHOLD_PID/status")
WIN_END_ISO=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
note_busy window-end
sample "$(printf '%.0f' "$(elapsed_since "$SOAK_T0")")" end
echo after >"$PHASE_FILE"
WIN_END_T=$(elapsed_since "$SOAK_T0")
SOAK_CPU=$(cpu_line "$CPU_BEFORE" "$CPU_AFTER" "$WALL" "$WORK/soak.time")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Rotations queued at the end of the window finish; then the final state, through the API.
wait_rotations_idle 120 || true
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
EMU_END=$(emu_counters)
read -r F_OK F_FAILED F_PENDING F_BUSY < <(rotation_states)
ROTATED_IN_WINDOW=$(jq --arg a "$WIN_START_ISO" --arg b "$WIN_END_ISO" \
  '[.secretRotations[] | select(.lastRotatedAt != null and .lastRotatedAt >= ($a | sub("\\.[0-9]+Z$"; "Z")) and .lastRotatedAt <= ($b | sub("\\.[0-9]+Z$"; "Z")))] | length' \
  "$WORK/rotations.json")
rotated_metric() { metric '^keyhold_rotations_total[{].*outcome="rotated"' "$1"; }
outcome_metric() { metric "^keyhold_rotations_total[{].*outcome=\"$1\"" "$2"; }
curl -fsS --max-time 5 "$BASE/metrics" >"$WORK/metrics.final"
ROT_METRIC=$(($(rotated_metric "$WORK/metrics.end") - $(rotated_metric "$WORK/metrics.start")))
ROT_RETRYING=$(($(outcome_metric retrying "$WORK/metrics.final") - $(outcome_metric retrying "$WORK/metrics.start")))
ROT_FAILED_M=$(($(outcome_metric failed "$WORK/metrics.final") - $(outcome_metric failed "$WORK/metrics.start")))
ROT_LOST=$(($(outcome_metric lease_lost "$WORK/metrics.final") - $(outcome_metric lease_lost "$WORK/metrics.start")))
EMU_ROT=$(($(jq -r '.rotations' <<<"$EMU_END") - $(jq -r '.rotations' <<<"$EMU_START")))
ATTEMPTS=$(psql -At -F ' ' -d "$DB" -c "select count(*), count(*) filter (where outcome = 'succeeded'), \
  count(*) filter (where outcome = 'failed'), coalesce(sum(tries - 1), 0) from rotation_attempts")
LOG_WARN=$(grep -c '"level":"WARN"' "$WORK/keyhold.log" || true)
LOG_ERROR=$(grep -c '"level":"ERROR"' "$WORK/keyhold.log" || true)
CONN_COUNT=$(psql -At -d "$DB" -c "select count(*) from app_connections where project_id = '$PROJECT'")

# ---------------------------------------------------------------- figures
# counts FILE: per kind "kind expected ok bad total", from mixed.lua's KIND lines.
expected_of() {
  case $1 in create) echo 201 ;; getconn | listconn | getrot | listrot | patch | rotate) echo 200 ;; *) echo none ;; esac
}
kind_table() { # FILE -> lines "kind ok bad total badlist"
  local kind
  for kind in getconn listconn getrot listrot create patch rotate unknown; do
    awk -v k="$kind" -v want="$(expected_of "$kind")" '$1 == "KIND" && $2 == k {
        t += $4; if ($3 == want) ok += $4; else { bad += $4; list = list (list ? ", " : "") $4 " x HTTP " $3 } }
      END { if (t > 0 || k != "unknown") printf "%s %d %d %d %s\n", k, ok, bad, t, (list ? list : "-") }' "$1"
  done
}
socket_errors() { awk '$1 == "WRKERR" && $2 != "status" { s += $3; if ($3 > 0) l = l (l ? ", " : "") $3 " " $2 } END { printf "%d %s\n", s, (l ? l : "-") }' "$1"; }
kind_table "$WORK/soak.counts" >"$WORK/soak.kinds"
kind_table "$WORK/warm.counts" >"$WORK/warm.kinds"
read -r SOCK_ERR SOCK_LIST < <(socket_errors "$WORK/soak.counts")
read -r WSOCK_ERR WSOCK_LIST < <(socket_errors "$WORK/warm.counts")
BAD=$(awk '{ s += $3 } END { print s + 0 }' "$WORK/soak.kinds")
WBAD=$(awk '{ s += $3 } END { print s + 0 }' "$WORK/warm.kinds")
ERRORS=$((BAD + SOCK_ERR))
WERRORS=$((WBAD + WSOCK_ERR))
REQS=$(awk '$1 == "TOTAL" {print $3}' "$WORK/soak.counts")
DUR_US=$(awk '$1 == "TOTAL" {print $5}' "$WORK/soak.counts")
RPS=$(awk -v r="$REQS" -v d="$DUR_US" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
lat() { awk -v p="$1" '$1 == "LATENCY" && $2 == p { printf "%.2f", $3 / 1000 }' "$WORK/soak.counts"; }
P50=$(lat p50) P90=$(lat p90) P99=$(lat p99) P999=$(lat p99.9) PMAX=$(lat max) PMEAN=$(lat mean)
kind_rate() { awk -v k="$1" -v d="$DUR_US" '$1 == k { printf "%.1f", $4 / (d / 1e6) }' "$WORK/soak.kinds"; }
kind_share() { awk -v k="$1" -v r="$REQS" '$1 == k { printf "%.1f%%", $4 * 100 / r }' "$WORK/soak.kinds"; }

# Series over the window (samples whose phase is "window", plus the end sample).
read -r RSS_MAX_KB RSS_MIN_KB SESS_MAX SESS_MIN ACT_MAX POOL_MAX_SEEN LOAD_MAX SLOPE_KB_MIN NS < <(
  awk -F'\t' 'NR > 1 && $2 == "window" && $3 != "" {
      n++; x = $1 / 60; y = $3; sx += x; sy += y; sxx += x * x; sxy += x * y
      if (n == 1 || $3 > rmax) rmax = $3; if (n == 1 || $3 < rmin) rmin = $3
      if ($4 != "-" && (n == 1 || $4 > smax)) smax = $4; if ($4 != "-" && (smin == "" || $4 < smin)) smin = $4
      if ($5 != "-" && $5 > amax) amax = $5; if ($7 > pmax) pmax = $7; if ($6 > lmax) lmax = $6 }
    END { slope = (n > 1 && n * sxx - sx * sx != 0) ? (n * sxy - sx * sy) / (n * sxx - sx * sx) : 0
      printf "%d %d %d %d %d %d %s %.1f %d\n", rmax, rmin, smax, smin, amax, pmax, lmax, slope, n }' "$SAMPLES")
SESS_ALL_MAX=$(awk -F'\t' 'NR > 1 && $4 != "-" && $4 > m { m = $4 } END { print m + 0 }' "$SAMPLES")
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
RSS_GROWTH=$(awk -v a="$RSS_START_KB" -v b="$RSS_END_KB" 'BEGIN { printf "%+.1f", (b - a) * 100 / a }')
RSS_MAX_GROWTH=$(awk -v a="$RSS_START_KB" -v b="$RSS_MAX_KB" 'BEGIN { printf "%+.1f", (b - a) * 100 / a }')
RSS_FLAT=$(awk -v g="$RSS_GROWTH" -v t="$RSS_FLAT_PCT" 'BEGIN { print (g < t) ? "flat" : "GROWING" }')
# Beside the pool: two LISTEN sessions, the API's cache invalidation (its own one-connection pool)
# and the worker's (sqlx detaches it from the pool, which may then open a replacement).
SESS_LIMIT=$((POOL_MAX + 2))
SESS_OK=$(awk -v m="$SESS_ALL_MAX" -v l="$SESS_LIMIT" 'BEGIN { print (m <= l) ? "bounded" : "OVER" }')
MIX_TARGET=${MIX_TARGET:-0.25} # issue 19: the soak at >= 0.25x pgbench's mix of the same statements
MIX_VERDICT=$(awk -v r="$RPS" -v m="$MIX_TPS" -v t="$MIX_TARGET" 'BEGIN { print (r / m >= t) ? "PASS" : "FAIL" }')
ERR_VERDICT=$([[ $ERRORS == 0 ]] && echo PASS || echo FAIL)
ROT_VERDICT=$([[ $F_FAILED == 0 && $F_OK == "$ROTATIONS" ]] && echo PASS || echo FAIL)
read -r CPU_S CPU_E CPU_P CPU_L CPU_O <<<"$SOAK_CPU"
read -r ATT_ALL ATT_OK ATT_FAILED ATT_RETRIES <<<"$ATTEMPTS"

ERR_BREAKDOWN=$(awk '$3 > 0 { l = $5; for (i = 6; i <= NF; i++) l = l " " $i; printf "%s%s: %s", (n++ ? "; " : ""), $1, l }' "$WORK/soak.kinds")
[[ "$SOCK_ERR" -gt 0 ]] && ERR_BREAKDOWN="${ERR_BREAKDOWN:+$ERR_BREAKDOWN; }socket: $SOCK_LIST"
[[ -z "$ERR_BREAKDOWN" ]] && ERR_BREAKDOWN="none"
WERR_BREAKDOWN=$(awk '$3 > 0 { l = $5; for (i = 6; i <= NF; i++) l = l " " $i; printf "%s%s: %s", (n++ ? "; " : ""), $1, l }' "$WORK/warm.kinds")
[[ "$WSOCK_ERR" -gt 0 ]] && WERR_BREAKDOWN="${WERR_BREAKDOWN:+$WERR_BREAKDOWN; }socket: $WSOCK_LIST"
[[ -z "$WERR_BREAKDOWN" ]] && WERR_BREAKDOWN="none"

# Server-side latency per route over the last minute of the window (the exporter's summaries are
# rolling), from /metrics at the end of the window.
route_q() { # METHOD ROUTE QUANTILE -> ms (count-weighted over statuses)
  awk -v m="$1" -v r="$2" -v q="$3" '$1 ~ /^keyhold_http_request_duration_seconds[{]/ && index($1, "method=\"" m "\"") && index($1, "route=\"" r "\"") && index($1, "quantile=\"" q "\"") && index($1, "status=\"2") {
      v = $2; if (v > best) best = v } END { printf "%.2f", best * 1000 }' "$WORK/metrics.end"
}

TABLE=$(
  cat <<EOF
| metric | value | target | ratio to baseline | result |
| --- | --- | --- | --- | --- |
| **A** pgbench single-row PK select (\`app_connections\`, simple protocol) | $PK_TPS tps; avg $PK_AVG ms | - | A = 1.00 | baseline |
| **A′** same select, \`-M prepared\` | $PKP_TPS tps; avg $PKP_AVG ms | - | A′ = 1.00 | baseline |
| **M** pgbench mix of the soak's statements (45% connection by id, 15% page of 50 connections, 25% rotation, 5% page of 50 rotations, 4% insert, 4% update, 2% rotation-row update), \`-M prepared\` | $MIX_TPS tps; avg $MIX_AVG ms | - | M = 1.00 | baseline |
| M₀ earlier reports' mix (90% connection by id, 4% update, 4% insert, 2% rotation-row update: no page), \`-M prepared\` | $MIX0_TPS tps; avg $MIX0_AVG ms | - | $(ratio "$MIX0_TPS" "$MIX_TPS") M | info |
| API mixed throughput over ${DURATION} s | $RPS req/s ($REQS requests) | - | $(ratio "$RPS" "$PK_TPS") A, $(ratio "$RPS" "$PKP_TPS") A′, **$(ratio "$RPS" "$MIX_TPS") M** (target ≥ $MIX_TARGET), $(ratio "$RPS" "$MIX0_TPS") M₀ | $MIX_VERDICT |
| API latency p50 / p90 / **p99** / p99.9 / max; mean (wrk, all kinds) | $P50 / $P90 / **$P99** / $P999 / $PMAX ms; $PMEAN ms | - | mean $(ratio "$PMEAN" "$MIX_AVG")× M's avg | info |
| errors in the window (any status but the kind's documented success, or a socket error) | $ERRORS ($ERR_BREAKDOWN) | 0 | - | $ERR_VERDICT |
| errors in the warm-up (not counted above) | $WERRORS ($WERR_BREAKDOWN) | 0 | - | info |
| server VmRSS, start → end of window (max; growth end vs start, max vs start) | $(mb "$RSS_START_KB") → $(mb "$RSS_END_KB") ($(mb "$RSS_MAX_KB"); ${RSS_GROWTH}%, ${RSS_MAX_GROWTH}%) | flat: end < start + ${RSS_FLAT_PCT}% | - | $RSS_FLAT |
| server VmRSS trend over the window (least squares, $NS samples); VmHWM; RSS at start-up | ${SLOPE_KB_MIN} kB/min; $(mb "$HWM_KB"); $(mb "$RSS_IDLE_KB") | - | - | info |
| PostgreSQL sessions of the test database (max over all samples, warm-up included; min–max in the window) | $SESS_ALL_MAX ($SESS_MIN–$SESS_MAX; at most $ACT_MAX active) | ≤ pool limit $POOL_MAX + 2 LISTEN | - | $SESS_OK |
| rotations: none failed (API: success / failed / pending after the run) | $F_OK / $F_FAILED / $F_PENDING of $ROTATIONS | $ROTATIONS / 0 / 0 | - | $ROT_VERDICT |
| rotations completed in the window (keyhold_rotations_total rotated; emulator secret changes; lastRotatedAt inside the window) | $ROT_METRIC; $EMU_ROT; $ROTATED_IN_WINDOW rotations | - | - | info |
| rotation outcomes beyond "rotated" (retrying / failed / lease lost; attempts failed / retried tries, whole run) | $ROT_RETRYING / $ROT_FAILED_M / $ROT_LOST; $ATT_FAILED / $ATT_RETRIES of $ATT_ALL attempts | 0 | - | $([[ $((ROT_FAILED_M + ROT_LOST + ATT_FAILED)) == 0 ]] && echo PASS || echo FAIL) |
| server log lines at WARN / ERROR (whole run) | $LOG_WARN / $LOG_ERROR | - | - | info |
EOF
)

KIND_TABLE=$(
  echo "| kind | request | share | req/s | expected | ok | unexpected | server p50 / p99 (last minute) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  while read -r kind ok bad total rest; do
    case $kind in
      getconn) req='GET /api/v1/app-connections/auth0/{id}'; m=GET; r='/api/v1/app-connections/auth0/{connectionId}' ;;
      listconn) req='GET /api/v1/app-connections/auth0?projectId&limit=50[&cursor]'; m=GET; r='/api/v1/app-connections/auth0' ;;
      getrot) req='GET /api/v2/secret-rotations/auth0-client-secret/{id}'; m=GET; r='/api/v2/secret-rotations/auth0-client-secret/{rotationId}' ;;
      listrot) req='GET /api/v2/secret-rotations/auth0-client-secret?projectId&limit=50[&cursor]'; m=GET; r='/api/v2/secret-rotations/auth0-client-secret' ;;
      create) req='POST /api/v1/app-connections/auth0'; m=POST; r='/api/v1/app-connections/auth0' ;;
      patch) req='PATCH /api/v1/app-connections/auth0/{id} (description)'; m=PATCH; r='/api/v1/app-connections/auth0/{connectionId}' ;;
      rotate) req='POST .../{id}/rotate-secrets'; m=POST; r='/api/v2/secret-rotations/auth0-client-secret/{rotationId}/rotate-secrets' ;;
      *) req='(no x-request-id in the answer)'; m=""; r="" ;;
    esac
    srv="-"
    [[ -n "$m" ]] && srv="$(route_q "$m" "$r" 0.5) / $(route_q "$m" "$r" 0.99) ms"
    echo "| $kind | \`$req\` | $(kind_share "$kind") | $(kind_rate "$kind") | $(expected_of "$kind") | $ok | $bad${rest:+ ($rest)} | $srv |"
  done <"$WORK/soak.kinds"
)

STRIDE=$(((30 + SAMPLE_EVERY - 1) / SAMPLE_EVERY))
SERIES=$(
  echo "| t (s) | phase | server RSS (MB) | PG sessions (active) | load 1 min | pool size (idle) | rotated (cumulative) | token cache entries | rotation lag (s) | emulator RSS (MB) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  awk -F'\t' -v s="$STRIDE" 'NR > 1 { n++; keep = (n == 1 || $2 != prev || (n - 1) % s == 0); prev = $2
      line[n] = sprintf("| %s | %s | %.1f | %s (%s) | %s | %s (%s) | %s | %s | %s | %.1f |", $1, $2, $3 / 1024, $4, $5, $6, $7, $8, $9, $10, $11, $12 / 1024)
      k[n] = keep }
    END { for (i = 1; i <= n; i++) if (k[i] || i == n) print line[i] }' "$SAMPLES"
)
FULL_SERIES=$(awk -F'\t' 'NR > 1 { printf "%s %s rss=%.1fMB pg=%s/%s load=%s pool=%s/%s rotated=%s\n", $1, $2, $3 / 1024, $4, $5, $6, $7, $8, $9 }' "$SAMPLES")

if ((CPU_O > NOISY_PCT)); then
  QUIET="NOT quiet: processes other than the server, the emulator, PostgreSQL and wrk used ${CPU_O}% of a core on average during the window (threshold ${NOISY_PCT}%); throughput and latency are pessimistic."
else
  QUIET="quiet: other processes used ${CPU_O}% of a core on average during the window (threshold ${NOISY_PCT}%)."
fi
((${#BUSY_NOTES[@]} > 0)) && QUIET="$QUIET Compilers or queries on other databases were seen at: ${BUSY_NOTES[*]}."
RUN_SECS=$(($(date +%s) - RUN_START))

{
  echo "# Load and soak: mixed workload at steady state"
  echo
  echo "Written by \`bench/soak/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); every number below comes from that one run (total $((RUN_SECS / 60)) min $((RUN_SECS % 60)) s, build included)."
  echo
  echo "- Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM; PostgreSQL $(psql -At -d postgres -c 'show server_version' | cut -d' ' -f1) on 127.0.0.1 (shared_buffers $(psql -At -d postgres -c 'show shared_buffers')); server, emulator, PostgreSQL and the load generators share the cores. Build: release, commit $BUILD_NOTE; binary built at $BIN_AGE."
  echo "- Machine state: $QUIET Load average before the baselines $LOAD_BEFORE, after the window $LOAD_AFTER."
  echo "- CPU during the window, % of one core: server $CPU_S%, emulator $CPU_E%, PostgreSQL $CPU_P%, wrk $CPU_L%, others $CPU_O%."
  echo "- Server: \`keyhold serve\` with its embedded worker (concurrency 16), pool \`KEYHOLD_DB_MAX_CONNECTIONS\` = $POOL_MAX (default), access tokens valid ${TOKEN_TTL} s, \`KEYHOLD_WORKER_TENANT_RPS\` = $TENANT_RPS and burst $TENANT_BURST (the default 2/s would allow about one rotation a second on the one tenant; the emulator has no rate limit), logs at \`warn\`."
  echo "- Data: one project; $CONNECTIONS connections at the start ($API_CONNECTIONS created through the API and checked with the emulator, $CLONES cloned in SQL by \`clone.sql\`), $CONN_COUNT at the end; $ROTATIONS rotations on the first API-made connection, one per emulator client, created through the API, each first rotation finished before the baselines."
  echo "- Load: wrk, $CLIENTS connections, $THREADS threads, keep-alive, \`mixed.lua\`: ${WARMUP} s warm-up, wait until no rotation is queued, then the measured ${DURATION} s. Per request: 45% GET a random connection, 15% a page of 50 connections (page 1 or a random cursor), 25% GET a random rotation, 5% a page of 50 rotations; 4% create a connection (unique name; the server checks it with the emulator), 4% PATCH a clone's description (each thread its own share of the clones, so no two PATCHes race); 2% rotate-secrets, round-robin over the thread's share of the rotations. All as a machine identity with the \`member\` role. Errors: every answer is matched to its request by the echoed \`x-request-id\`; anything but 200 (201 for a create) counts, as do wrk's socket errors."
  echo "- Baselines: pgbench, $CLIENTS clients, $THREADS threads, ${PG_SECS} s each, on the same table just before the soak. A/A′: the server's GET statement on one clone. M: \`-f read@45 -f listconn@15 -f getrot@25 -f listrot@5 -f insert@4 -f update@4 -f rotate@2\`, the soak's kinds in its shares, each the server's statement for that kind on a random row or page (select of a clone by primary key; a page of 50 connections with its total after a random name; a rotation by its unique name; a page of 50 rotations with its capped count after a random name; insert of a copy; update of a clone's description and version; update of a rotation row). M₀, the earlier reports' baseline, is kept beside it for comparison: it has no page, though a fifth of the soak's requests are pages. $PG_INSERTED inserted rows removed afterwards. The API's requests do more than that statement (a create also calls the emulator and writes an audit row, a rotation is a worker's several statements and two emulator calls), so the ratios compare the service with the database's best case, not like with like. pgbench gives averages only (its per-transaction log cannot time sub-millisecond transactions)."
  echo "- Rules: RSS is **flat** when VmRSS at the end of the window is less than ${RSS_FLAT_PCT}% above its value at the start (the start is after the warm-up, so caches and pools have grown to their working size); sessions are **bounded** when no sample ever counted more PostgreSQL sessions on the test database than the pool's limit plus the two LISTEN sessions (the API's cache invalidation, on its own one-connection pool, and the worker's, which sqlx detaches from the pool). Samples every ${SAMPLE_EVERY} s."
  echo
  echo "$TABLE"
  echo
  echo "Per kind of request in the window (share of requests; server-side p50/p99 of 2xx answers from the server's rolling /metrics summaries at the end of the window):"
  echo
  echo "$KIND_TABLE"
  echo
  echo "Sampled series (every $((STRIDE * SAMPLE_EVERY)) s shown, plus phase changes; t from the start of the warm-up; rotated = keyhold_rotations_total{outcome=\"rotated\"} since start-up):"
  echo
  echo "$SERIES"
  echo
  echo "<details><summary>All samples</summary>"
  echo
  echo '```'
  echo "$FULL_SERIES"
  echo '```'
  echo
  echo "</details>"
  if [[ -f "$HERE/findings.md" ]]; then echo; cat "$HERE/findings.md"; fi
} >"$WORK/report.md"
install -m 0644 "$WORK/report.md" "$REPORT"
echo
cat "$WORK/report.md"
echo
log "report written to $REPORT (whole run $RUN_SECS s)"
# A missed target fails the run, after the report is written.
MISSED=()
[[ $ERR_VERDICT == PASS ]] || MISSED+=("$ERRORS errors")
[[ $MIX_VERDICT == PASS ]] || MISSED+=("throughput $(ratio "$RPS" "$MIX_TPS") M")
[[ $RSS_FLAT == flat ]] || MISSED+=("RSS grew ${RSS_GROWTH}%")
[[ $SESS_OK == bounded ]] || MISSED+=("$SESS_ALL_MAX sessions")
[[ $ROT_VERDICT == PASS ]] || MISSED+=("rotations: $F_FAILED failed, $F_PENDING pending")
((${#MISSED[@]} == 0)) || die "targets missed: ${MISSED[*]}"
