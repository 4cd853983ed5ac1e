# Shared by the bench/*/run.sh scripts: sourced, never run. Each benchmark starts the same
# loopback stack (a fresh database, the Auth0 emulator, `keyhold serve`) and must tear it down
# the same way whatever step fails, so that one script's leftovers never skew the next one's
# numbers. Everything here talks to 127.0.0.1 only and bounds every wait.
#
# Sourcing sets HERE (the calling script's folder), ROOT, BIN and the PostgreSQL environment.
# Later calls read what the script sets: DB and DATABASE_URL, LOG_TAG (log prefix, "bench"),
# STOP_GRACE (tenths of a second a process gets after SIGTERM, 50), and an optional function
# on_cleanup that stops the script's own extra processes before keyhold and the emulator.
# shellcheck shell=bash

HERE=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/target/release"

export PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres PGCONNECT_TIMEOUT=5

EMU_PID=""
KEYHOLD_PID=""

# Progress goes to stderr so that stdout stays the report table alone.
log() { printf '[%s %s] %s\n' "${LOG_TAG:-bench}" "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is missing"
  done
}

# wrk is the one load generator not in the base image; installing it beats failing a long run.
ensure_wrk() {
  if ! command -v wrk >/dev/null; then
    log "installing wrk"
    # A fresh machine's package lists may be empty or stale: refresh them when the first try fails.
    timeout 300 apt-get install -y -qq wrk >/dev/null 2>&1 \
      || { timeout 300 apt-get update -qq && timeout 300 apt-get install -y -qq wrk >/dev/null; } \
      || die "wrk is missing and apt-get install wrk failed"
  fi
}

# stop_pids GRACE PID...: empty PIDs are skipped, so cleanup can name processes not started yet.
# `keyhold serve` and the worker drain on SIGTERM, so each gets GRACE tenths of a second; SIGKILL
# after that, because cleanup must end even when a drain hangs.
stop_pids() {
  local grace=$1 pid
  shift
  for pid in "$@"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq "$grace"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}

# The EXIT trap: keeps the script's exit status, so a failed run still fails after cleaning up.
bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if declare -F on_cleanup >/dev/null; then on_cleanup; fi
  stop_pids "${STOP_GRACE:-50}" "$KEYHOLD_PID" "$EMU_PID"
  if [[ "${KEEP_DB:-0}" != 1 ]]; then
    psql -q -d postgres -c "drop database if exists $DB with (force)" >/dev/null 2>&1 ||
      log "could not drop database $DB"
  fi
  if [[ "${KEEP_WORK:-0}" == 1 ]]; then log "raw outputs kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}

# make_work NAME: WORK=/tmp/NAME.XXXXXX, and the traps that undo the run on any exit.
make_work() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  trap bench_cleanup EXIT
  # Ctrl-C or a timeout's SIGTERM becomes an exit, so it too goes through bench_cleanup.
  trap 'exit 130' INT TERM
}

# build_release: `keyhold` and `auth0-emulator`, unless SKIP_BUILD=1 (the binaries must then exist).
build_release() {
  if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries (cargo build --release -p keyhold -p auth0-emulator)"
    (cd "$ROOT" && timeout 3600 cargo build --release -q -p keyhold -p auth0-emulator) ||
      die "release build failed"
  fi
  [[ -x "$BIN/keyhold" && -x "$BIN/auth0-emulator" ]] || die "binaries missing in $BIN"
}

# fresh_database: DB dropped (with its sessions) and created empty, so no run sees another's rows.
fresh_database() {
  psql -q -d postgres -c "select 1" >/dev/null || die "PostgreSQL is not reachable at $PGHOST:$PGPORT"
  psql -q -d postgres -c "drop database if exists $DB with (force)" >/dev/null
  psql -q -d postgres -c "create database $DB" >/dev/null
  log "created database $DB"
}

# start_emulator [TRIES]: the emulator on a free port with $WORK/seed.json; sets EMU_PID and
# EMU_URL. It picks its own port (127.0.0.1:0) and prints it, so nothing can race us for one.
# TRIES (100, 0.1 s each) is longer for large seeds, which it loads before listening.
start_emulator() {
  local tries=${1:-100}
  # Created before the start: the first read below must not race the child's redirection.
  : >"$WORK/emulator.out"
  RUST_LOG=warn "$BIN/auth0-emulator" --listen 127.0.0.1:0 --seed "$WORK/seed.json" \
    >"$WORK/emulator.out" 2>"$WORK/emulator.log" &
  EMU_PID=$!
  EMU_URL=""
  for _ in $(seq "$tries"); do
    EMU_URL=$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$WORK/emulator.out" | head -1)
    [[ -n "$EMU_URL" ]] && break
    kill -0 "$EMU_PID" 2>/dev/null || die "emulator exited: $(tail -5 "$WORK/emulator.log")"
    sleep 0.1
  done
  [[ -n "$EMU_URL" ]] || die "emulator did not print its address within $((tries / 10)) s"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port FIRST: PORT, the first free one of FIRST..FIRST+99, and BASE. Each benchmark has its
# own range so that two of them can run side by side.
pick_port() {
  local first=$1
  PORT=$first
  while ! port_free "$PORT"; do
    PORT=$((PORT + 1))
    ((PORT < first + 100)) || die "no free port in $first-$((first + 99))"
  done
  BASE="http://127.0.0.1:$PORT"
}

# bootstrap_keyhold KEY_ID: a root key in $WORK/root.key and the first instance admin in
# $WORK/admin.json, created from the command line as an operator would.
bootstrap_keyhold() {
  "$BIN/keyhold" keys generate --id "$1" >"$WORK/root.key" 2>/dev/null || die "keyhold keys generate failed"
  DATABASE_URL="$DATABASE_URL" timeout 120 "$BIN/keyhold" bootstrap --json >"$WORK/admin.json" 2>"$WORK/bootstrap.log" ||
    die "keyhold bootstrap failed: $(tail -3 "$WORK/bootstrap.log")"
}

# start_keyhold PROBE [NAME=VALUE...]: `keyhold serve` on $PORT against the emulator, waited for
# until GET /PROBE (healthz or readyz) answers; sets KEYHOLD_PID. The NAME=VALUEs are extra
# server environment. Its JSON log stays in $WORK/keyhold.log for the scripts that count lines.
start_keyhold() {
  local probe=$1 state=healthy
  shift
  [[ "$probe" == readyz ]] && state=ready
  DATABASE_URL="$DATABASE_URL" KEYHOLD_ROOT_KEY_FILE="$WORK/root.key" KEYHOLD_LISTEN="127.0.0.1:$PORT" \
    KEYHOLD_AUTH0_ENDPOINT_OVERRIDE="$EMU_URL" KEYHOLD_LOG_FORMAT=json RUST_LOG=warn \
    env "$@" "$BIN/keyhold" serve >"$WORK/keyhold.log" 2>&1 &
  KEYHOLD_PID=$!
  for _ in $(seq 300); do
    curl -fsS --max-time 2 "$BASE/$probe" >/dev/null 2>&1 && break
    kill -0 "$KEYHOLD_PID" 2>/dev/null || die "keyhold exited: $(tail -5 "$WORK/keyhold.log")"
    sleep 0.2
  done
  curl -fsS --max-time 2 "$BASE/$probe" >/dev/null || die "keyhold not $state within 60 s"
}

# api METHOD PATH BODYFILE|- EXPECTED_STATUS: the response body lands in $WORK/resp.json. Sends the
# bearer token in $WORK/$AS.token when AS is set. Tokens go through a header file, never the
# command line, where any user could read them in ps.
api() {
  local method=$1 path=$2 body=$3 want=$4 got
  local args=(-sS --max-time 30 -o "$WORK/resp.json" -w '%{http_code}' -X "$method" "$BASE$path")
  if [[ -n "${AS:-}" ]]; then
    printf 'Authorization: Bearer %s\n' "$(cat "$WORK/$AS.token")" >"$WORK/auth.header"
    args+=(-H "@$WORK/auth.header")
  fi
  if [[ "$body" != - ]]; then args+=(-H 'content-type: application/json' --data-binary "@$body"); fi
  got=$(curl "${args[@]}") || die "$method $path: curl failed"
  rm -f "$WORK/auth.header"
  [[ "$got" == "$want" ]] || die "$method $path: HTTP $got, wanted $want: $(head -c 500 "$WORK/resp.json")"
}

# login NAME CREDENTIALS_JSON: a machine identity's access token into $WORK/NAME.token.
login() {
  jq '{clientId, clientSecret}' "$2" >"$WORK/login.json"
  AS="" api POST /api/v1/auth/universal-auth/login "$WORK/login.json" 200
  jq -r '.accessToken' "$WORK/resp.json" >"$WORK/$1.token"
  rm -f "$WORK/login.json" "$WORK/resp.json"
}

# create_project NAME: a project made as $AS; sets PROJECT and ORG.
create_project() {
  jq -nc --arg n "$1" '{name: $n}' >"$WORK/project.json"
  api POST /api/v1/projects "$WORK/project.json" 201
  PROJECT=$(jq -r '.project.id' "$WORK/resp.json")
  ORG=$(jq -r '.project.orgId' "$WORK/resp.json")
}

# add_project_identity NAME ROLE CREDENTIALS_JSON: a machine identity with ROLE in $PROJECT, its
# credentials written for `login`. The load runs as such an identity because a route's cost
# depends on the caller's role: the instance admin would measure a path no tenant takes.
add_project_identity() {
  jq -nc --arg n "$1" '{type: "machine", name: $n}' >"$WORK/identity.json"
  api POST /api/v1/identities "$WORK/identity.json" 201
  jq '{clientId: .identity.clientId, clientSecret}' "$WORK/resp.json" >"$3"
  jq -n --arg i "$(jq -r '.identity.id' "$WORK/resp.json")" --arg r "$2" '{identityId: $i, role: $r}' >"$WORK/membership.json"
  api POST "/api/v1/projects/$PROJECT/memberships" "$WORK/membership.json" 201
}
