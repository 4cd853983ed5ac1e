#!/usr/bin/env bash
# Rotation worker benchmark (issue 5, "Speed and scale"): against the local Auth0 emulator with
# rate limits off, on this machine, 10,000 due rotations finish at >= 500 rotations/s with two
# worker processes, with zero double rotations and zero secret mismatches (every client checked
# against the emulator afterwards); finding due work stays an index scan with 1,000,000 rotations
# defined (the plan is shown); worker RSS stays under 100 MB.
#
# Steps, all in one run:
#   1. build the release binaries (emulator, `keyhold` whose `worker` command is the shipped worker,
#      seeding/checking example);
#   2. start the emulator with one tenant holding the connection's client and DUE clients;
#   3. seed a fresh database: one connection, DUE rotations due now and IDLE ones scheduled over
#      the next year (DUE + IDLE = 1,000,000 by default), then EXPLAIN the claim query;
#   4. start two worker processes, time until every due rotation succeeded;
#   5. check every rotated client against the emulator, count attempts and PATCHes, read the
#      workers' peak RSS (VmHWM), EXPLAIN ANALYZE the claim query on the full table.
# Prints one table and writes it, with the date and machine, to REPORT.md beside this script.
#
# Knobs (environment): DUE (10000), IDLE (990000), WORKERS (2), CONCURRENCY (32 per worker),
# SKIP_BUILD=1, KEEP_DB=1, KEEP_WORK=1, REPORT (path). Only 127.0.0.1 is contacted; every step
# is bounded in time.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

DUE=${DUE:-10000}
IDLE=${IDLE:-990000}
WORKERS=${WORKERS:-2}
CONCURRENCY=${CONCURRENCY:-32}
REPORT=${REPORT:-$HERE/REPORT.md}
DOMAIN=bench.auth0.test
CONN_SECRET="bench-connection-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

DB=keyhold_bench_rotations
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"

# Targets from the issue.
TARGET_RATE=1000 # issue 19 (was 500)
TARGET_RSS_MB=100

require_tools cargo psql pgbench curl jq python3 timeout

make_work keyhold-bench-rot
WORKER_PIDS=()
# Workers are the emulator's clients: stopped first, so none sees it vanish mid-rotation.
on_cleanup() { stop_pids "${STOP_GRACE:-50}" "${WORKER_PIDS[@]}"; }

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "building release binaries (a few minutes on a cold target dir)"
  (cd "$ROOT" && timeout 1800 cargo build --release -q -p auth0-emulator --bin auth0-emulator &&
    timeout 1800 cargo build --release -q -p keyhold --bin keyhold &&
    timeout 1800 cargo build --release -q -p keyhold-worker --example bench_rotations) ||
    die "build failed"
fi
for exe in "$BIN/auth0-emulator" "$BIN/keyhold" "$BIN/examples/bench_rotations"; do
  [[ -x "$exe" ]] || die "$exe is missing (run without SKIP_BUILD=1)"
done

log "writing the emulator seed ($DUE clients, rate limits off)"
python3 - "$WORK/seed.json" "$DOMAIN" "$DUE" "$CONN_SECRET" <<'PY'
import json, sys
path, domain, due, secret = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
clients = [{"client_id": "benchConnection", "client_secret": secret,
            "grant_types": ["client_credentials"]}]
clients += [{"client_id": "bench%05d" % i, "client_secret": "initial-%05d-0123456789abcdef0123456789" % i,
             "grant_types": ["client_credentials"]} for i in range(due)]
seed = {"tenants": [{"domain": domain, "clients": clients,
         "grants": [{"client_id": "benchConnection", "audience": "https://%s/api/v2/" % domain,
                     "scopes": ["read:clients", "update:client_keys"]}]}]}
json.dump(seed, open(path, "w"))
PY

log "starting the emulator"
# Up to 30 s: the emulator loads all $DUE clients before it listens.
start_emulator 300
EMU=$EMU_URL
counters() { curl -fsS --max-time 5 "$EMU/__emulator/tenants/$DOMAIN/counters"; }

log "fresh database $DB; seeding $DUE due + $IDLE idle rotations"
psql -q -d postgres -c "drop database if exists $DB with (force)" -c "create database $DB" >/dev/null
export KEYHOLD_ROOT_KEYS="bench:$(head -c 32 /dev/urandom | base64 -w0)"
BENCH_CONN_SECRET="$CONN_SECRET" timeout 900 "$BIN/examples/bench_rotations" seed "$DOMAIN" "$DUE" "$IDLE" >&2 ||
  die "seeding failed"
# Settle the bulk load (visibility map, statistics, dirty buffers) so the timed run does not
# share the machine with autovacuum or a checkpoint caused by the seeding.
psql -q -d "$DB" -c "vacuum (analyze) secret_rotations" -c "checkpoint" >/dev/null
TOTAL=$(psql -Atq -d "$DB" -c "select count(*) from secret_rotations")
CLAIM_SQL="select id from secret_rotations where due_at <= now() order by due_at limit 32 for update skip locked"
psql -Atq -d "$DB" -c "explain $CLAIM_SQL" >"$WORK/plan-before.txt"

# Baseline A, for reading the rate across machines and sessions (their speed varies 2-5x): a
# single-row index select on the same table, simple protocol, as many clients as the workers use.
ORG=$(psql -Atq -d "$DB" -c "select org_id from secret_rotations limit 1")
cat >"$WORK/select.sql" <<SQL
\set n random(1, $IDLE)
select id, status from secret_rotations where org_id = '$ORG' and name = 'idle-' || :n;
SQL
# As many clients as the workers run rotations at once, within PostgreSQL's connection limit.
BASE_CLIENTS=$((WORKERS * CONCURRENCY > 64 ? 64 : WORKERS * CONCURRENCY))
timeout 60 pgbench -n -c "$BASE_CLIENTS" -j 2 -T 5 -f "$WORK/select.sql" "$DB" >"$WORK/pgbench.txt" 2>&1 ||
  die "pgbench failed: $(tail -3 "$WORK/pgbench.txt")"
BASE_TPS=$(awk '/^tps = / {printf "%.0f", $3}' "$WORK/pgbench.txt")
xacts() { psql -Atq -d postgres -c "select xact_commit + xact_rollback from pg_stat_database where datname = '$DB'"; }
XACTS_BEFORE=$(xacts)
# CPU ticks of one process (user + system), of PostgreSQL (every backend plus the postmaster's
# reaped children, so exited backends count), and of the whole machine's busy time: the run's
# CPU per rotation by party says which one bounds the rate on these shared cores.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {
  local sum=0 p
  for p in $(pgrep -x postgres); do sum=$((sum + $(ticks "$p"))); done
  echo $((sum + $(awk '{print $16 + $17}' "/proc/$(pgrep -o -x postgres)/stat")))
}
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# Cluster-wide WAL counters: the machine runs nothing else against PostgreSQL during the run.
wal() { psql -Atq -d postgres -c "select wal_records, wal_fpi, wal_bytes from pg_stat_wal"; }
WAL0=$(wal)
EMU_T0=$(ticks "$EMU_PID")
PG_T0=$(pg_ticks)
BUSY_T0=$(busy_ticks)

log "starting $WORKERS worker processes (concurrency $CONCURRENCY each)"
START_NS=$(date +%s%N)
for n in $(seq "$WORKERS"); do
  KEYHOLD_AUTH0_ENDPOINT_OVERRIDE="$EMU" KEYHOLD_WORKER_ID="bench-$n" \
    KEYHOLD_WORKER_CONCURRENCY="$CONCURRENCY" KEYHOLD_WORKER_BATCH_SIZE="$CONCURRENCY" \
    KEYHOLD_WORKER_POLL_MS=100 KEYHOLD_WORKER_TENANT_RPS=0 KEYHOLD_DB_MAX_CONNECTIONS=16 \
    RUST_LOG=warn "$BIN/keyhold" worker 2>"$WORK/worker-$n.err" &
  WORKER_PIDS+=($!)
done

# One session asks every 50 ms, counting the 10,000 attempt rows (only due rotations have attempts)
# rather than scanning the 1,000,000 rotations: a fresh psql per poll and that scan together took
# about a third of the machine from the run being measured.
coproc POLL { exec psql -Atq -d "$DB"; }
POLLER=$POLL_PID # bash unsets POLL_PID as soon as the coprocess exits
DONE=0
for _ in $(seq 1200); do
  echo "select count(*) from rotation_attempts where outcome in ('succeeded', 'failed');" >&"${POLL[1]}"
  read -r -t 10 DONE <&"${POLL[0]}" || die "the progress query did not answer"
  [[ "$DONE" -ge "$DUE" ]] && break
  for pid in "${WORKER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || die "a worker exited: $(cat "$WORK"/worker-*.err)"; done
  sleep 0.05
done
END_NS=$(date +%s%N)
WORKER_T=0
for pid in "${WORKER_PIDS[@]}"; do WORKER_T=$((WORKER_T + $(ticks "$pid"))); done
EMU_T=$(($(ticks "$EMU_PID") - EMU_T0))
PG_T=$(($(pg_ticks) - PG_T0))
BUSY_T=$(($(busy_ticks) - BUSY_T0))
WAL1=$(wal)
exec {POLL[1]}>&-
wait "$POLLER" 2>/dev/null || true
[[ "$DONE" -ge "$DUE" ]] || die "only $DONE of $DUE rotations finished in time"
ELAPSED=$(python3 -c "print(f'{($END_NS - $START_NS) / 1e9:.2f}')")
RATE=$(python3 -c "print(f'{$DUE / (($END_NS - $START_NS) / 1e9):.0f}')")

RSS=()
for pid in "${WORKER_PIDS[@]}"; do
  RSS+=("$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")")
done
for pid in "${WORKER_PIDS[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
WORKER_PIDS=()

# The workers' backends have exited, so their counts are published; the progress poll's are in too.
sleep 1
XACTS=$(($(xacts) - XACTS_BEFORE))

# The emulator's view of the run, before the check below adds its own token requests.
COUNTERS=$(counters)
log "checking every rotated client against the emulator"
VERIFY=$(timeout 600 "$BIN/examples/bench_rotations" verify "$DOMAIN" "$EMU" 2>&1) || die "verify: $VERIFY"
FAILED=$(psql -Atq -d "$DB" -c "select count(*) from secret_rotations where status = 'failed' and name like 'due-%'")
RETRIES=$(psql -Atq -d "$DB" -c "select coalesce(sum(tries - 1), 0) from rotation_attempts")
PATCHES=$(jq -r '.requests_by_endpoint["PATCH /api/v2/clients/{id}"] // 0' <<<"$COUNTERS")
CHANGES=$(jq -r '.rotations' <<<"$COUNTERS")
TOKENS=$(jq -r '.requests_by_endpoint["POST /oauth/token"] // 0' <<<"$COUNTERS")
psql -Atq -d "$DB" -c "update secret_rotations set due_at = now() - interval '1 minute' where name = 'idle-1'" >/dev/null
psql -Atq -d "$DB" -c "explain (analyze, buffers, costs off) $CLAIM_SQL" >"$WORK/plan-after.txt"

PLAN_OK=no
grep -q "Index Scan using secret_rotations_due_idx" "$WORK/plan-before.txt" &&
  grep -q "Index Scan using secret_rotations_due_idx" "$WORK/plan-after.txt" &&
  ! grep -q "Seq Scan" "$WORK/plan-before.txt" "$WORK/plan-after.txt" && PLAN_OK=yes
MAX_RSS=$(printf '%s\n' "${RSS[@]}" | sort -n | tail -1)
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
HZ=$(getconf CLK_TCK)
# "µs per rotation (% of one core)" for a number of CPU ticks over the timed run.
per_rotation() { python3 -c "t = $1 / $HZ; w = ($END_NS - $START_NS) / 1e9; print(f'{t / $DUE * 1e6:.0f} ({t / w * 100:.0f}%)')"; }
OTHER_T=$((BUSY_T - WORKER_T - EMU_T - PG_T))
verdict() { python3 -c "print('PASS' if $1 else 'FAIL')"; }

TABLE=$(cat <<EOF
| measure | result | target | ratio | verdict |
|---|---|---|---|---|
| rotations/s ($DUE due, $WORKERS workers) | $RATE ($ELAPSED s) | >= $TARGET_RATE | $(ratio "$RATE" "$TARGET_RATE") | $(verdict "$RATE >= $TARGET_RATE") |
| baseline A: pgbench single-row select, $BASE_CLIENTS clients, tps (rotations per 1,000 tps of A) | $BASE_TPS ($(python3 -c "print(f'{$RATE * 1000 / max($BASE_TPS, 1):.0f}')")) | - | - | - |
| CPU per rotation, µs (% of one core): workers / emulator / PostgreSQL / rest (poller, machine) | $(per_rotation "$WORKER_T") / $(per_rotation "$EMU_T") / $(per_rotation "$PG_T") / $(per_rotation "$((OTHER_T > 0 ? OTHER_T : 0))") | - | - | - |
| WAL per rotation: records / full-page images / bytes | $(python3 -c "a = '$WAL0'.split('|'); b = '$WAL1'.split('|'); d = [(int(y) - int(x)) / $DUE for x, y in zip(a, b)]; print(f'{d[0]:.1f} / {d[1]:.2f} / {d[2]:.0f}')") | - | - | - |
| database transactions per rotation (includes the progress poll's) | $(python3 -c "print(f'{$XACTS / $DUE:.2f}')") | - | - | - |
| double rotations (PATCHes / secret changes / clients) | $PATCHES / $CHANGES / $DUE | = clients | $(ratio "$CHANGES" "$DUE") | $(verdict "$PATCHES == $DUE and $CHANGES == $DUE") |
| secret mismatches / unrotated / multi-attempt ($VERIFY) | see left | 0 | - | $(verdict "'mismatches=0 unrotated=0 multi_attempts=0' in '$VERIFY'") |
| failed rotations / resumed tries | $FAILED / $RETRIES | 0 failed | - | $(verdict "$FAILED == 0") |
| due-work query with $TOTAL rotations | index scan: $PLAN_OK | index scan | - | $(verdict "'$PLAN_OK' == 'yes'") |
| worker peak RSS (VmHWM), MB | ${RSS[*]} | < $TARGET_RSS_MB | $(ratio "$MAX_RSS" "$TARGET_RSS_MB") | $(verdict "$MAX_RSS < $TARGET_RSS_MB") |
| token requests (cached mgmt tokens + one test per rotation) | $TOKENS | ~ $DUE + $WORKERS | $(ratio "$TOKENS" "$DUE") | - |
EOF
)

{
  echo "# Rotation worker benchmark"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "PostgreSQL $(psql -Atq -d postgres -c 'show server_version'), release build, emulator with rate limits off,"
  echo "everything (PostgreSQL, emulator, $WORKERS workers) sharing the machine. Produced by \`bench/rotations/run.sh\`."
  echo
  echo "$TABLE"
  echo
  echo "Claim query: \`$CLAIM_SQL\`"
  echo
  echo "Plan with $TOTAL rotations, $DUE of them due (before the run):"
  echo
  echo '```'
  cat "$WORK/plan-before.txt"
  echo '```'
  echo
  echo "EXPLAIN ANALYZE after the run (one row due):"
  echo
  echo '```'
  cat "$WORK/plan-after.txt"
  echo '```'
} >"$REPORT"
echo "$TABLE"
log "report written to $REPORT"
grep -q FAIL <<<"$TABLE" && die "a target was missed"
exit 0
