#!/usr/bin/env bash
# Webhook delivery benchmark (issue 17, "Speed"): with two `keyhold worker` processes delivering
# to a local receiver, sustained fan-out is >= 1,000 deliveries/s and the outbox stays flat at
# that rate; a rotation's `secret-rotation.succeeded` reaches the receiver within 1 s (p99) of the
# rotation finishing.
#
# The receiver is nginx (Debian's nginx-light) answering 204, logging each request's arrival
# (`$msec`) and `webhook-id`. Baseline, measured in the same run: wrk POSTing the same body to the
# same nginx, i.e. what the receiver and the loopback allow without Keyhold in between.
#
# Steps, all in one run:
#   1. build the release binaries; fresh database; the Auth0 emulator (rate limits off) with the
#      connection's client and ROTATIONS target applications; `keyhold serve` (no embedded
#      worker) and WORKERS `keyhold worker` processes; nginx on a free port;
#   2. a project, one endpoint subscribed to every event, a connection and ROTATIONS rotations;
#   3. burst: EVENTS events queued in one go (SQL, as the API's fan-out writes them, with
#      time-ordered ids); time until every delivery is delivered, and whether nginx's log has
#      them in event order (one endpoint's deliveries go out in order);
#   4. sustained: RATE events/s queued for SUSTAIN s, the pending deliveries sampled every second
#      (flat: the last samples no higher than the first ones);
#   5. latency: "rotate now" on every rotation; for each `secret-rotation.succeeded`, the time from
#      the event's commit (`webhook_events.created_at`, written in the rotation's finishing
#      transaction) to nginx's arrival time;
#   6. baseline: wrk against nginx with the same body.
# Prints one table and writes it, with the date and machine, to REPORT.md beside this script.
#
# Knobs (environment): EVENTS (20000), RATE (1000), SUSTAIN (20 s), ROTATIONS (50), WORKERS (2),
# SKIP_BUILD=1, KEEP_DB=1, KEEP_WORK=1, REPORT. Only 127.0.0.1 is contacted; every wait is bounded.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
LOG_TAG=webhooks

EVENTS=${EVENTS:-20000}
RATE=${RATE:-1000}
SUSTAIN=${SUSTAIN:-20}
ROTATIONS=${ROTATIONS:-50}
WORKERS=${WORKERS:-2}
REPORT=${REPORT:-$HERE/REPORT.md}
DOMAIN=bench.auth0.test
CONN_ID=benchKeyholdM2MclientID00000001
CONN_SECRET="bench-connection-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

DB=keyhold_bench_webhooks
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"

# Targets from the issue.
TARGET_RATE=1000
TARGET_P99_MS=1000

require_tools cargo psql curl jq python3 timeout
ensure_wrk
if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
  log "installing nginx-light (the receiver)"
  timeout 300 apt-get install -y -qq nginx-light >/dev/null || die "nginx is missing and could not be installed"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

make_work keyhold-bench-hooks
WORKER_PIDS=()
NGINX_PID=""
on_cleanup() {
  stop_pids "${STOP_GRACE:-50}" "${WORKER_PIDS[@]}"
  [[ -n "$NGINX_PID" ]] && stop_pids 20 "$NGINX_PID"
}

build_release
fresh_database

log "emulator seed: the connection's client and $ROTATIONS targets, no rate limits"
python3 - "$WORK/seed.json" "$DOMAIN" "$CONN_ID" "$CONN_SECRET" "$ROTATIONS" <<'PY'
import json, sys
path, domain, conn_id, secret, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
clients = [{"client_id": conn_id, "client_secret": secret, "name": "keyhold"}]
clients += [{"client_id": f"benchTarget{i:020d}", "name": f"target-{i}"} for i in range(n)]
seed = {"tenants": [{
    "domain": domain,
    "clients": clients,
    "grants": [{"client_id": conn_id, "audience": f"https://{domain}/api/v2/",
                "scopes": ["read:clients", "update:client_keys"]}],
}]}
json.dump(seed, open(path, "w"))
PY
start_emulator

log "nginx: the receiver"
pick_port 18600
HOOK_PORT=$PORT
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  client_body_temp_path $WORK/nginx/body;
  log_format hook '\$msec \$http_webhook_id \$status';
  access_log $WORK/nginx/access.log hook buffer=64k flush=1s;
  server {
    listen 127.0.0.1:$HOOK_PORT;
    location / { return 204; }
  }
}
EOF
"$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>"$WORK/nginx/start.log" &
NGINX_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null -X POST "http://127.0.0.1:$HOOK_PORT/hook" && break; sleep 0.1; done
curl -s -o /dev/null -X POST "http://127.0.0.1:$HOOK_PORT/hook" || die "nginx did not start: $(cat "$WORK/nginx/start.log")"

pick_port 18700
bootstrap_keyhold bench
start_keyhold readyz KEYHOLD_EMBEDDED_WORKER=false KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true \
  KEYHOLD_WORKER_TENANT_RPS=0
login admin "$WORK/admin.json"
AS=admin

log "project, endpoint, connection and $ROTATIONS rotations"
create_project hooks
jq -nc --arg p "$PROJECT" --arg u "http://127.0.0.1:$HOOK_PORT/hook" \
  '{projectId: $p, url: $u, eventTypes: ["*"], description: "bench"}' >"$WORK/hook.json"
api POST /api/v1/webhooks "$WORK/hook.json" 201
ENDPOINT=$(jq -r '.webhook.id' "$WORK/resp.json")
jq -nc --arg p "$PROJECT" --arg d "$DOMAIN" --arg c "$CONN_ID" --arg s "$CONN_SECRET" \
  '{name: "bench", method: "client-credentials", projectId: $p, credentials: {domain: $d, clientId: $c, clientSecret: $s}}' \
  >"$WORK/conn.json"
api POST /api/v1/app-connections/auth0 "$WORK/conn.json" 201
CONNECTION=$(jq -r '.appConnection.id' "$WORK/resp.json")
ROTATION_IDS=()
for i in $(seq 0 $((ROTATIONS - 1))); do
  jq -nc --arg p "$PROJECT" --arg c "$CONNECTION" --arg t "$(printf 'benchTarget%020d' "$i")" --arg n "bench-$i" \
    '{name: $n, projectId: $p, connectionId: $c, rotationInterval: 30, rotateAtUtc: {hours: 3, minutes: 0}, parameters: {clientId: $t}}' \
    >"$WORK/rotation.json"
  api POST /api/v2/secret-rotations/auth0-client-secret "$WORK/rotation.json" 201
  ROTATION_IDS+=("$(jq -r '.secretRotation.id' "$WORK/resp.json")")
done

log "starting $WORKERS workers"
for w in $(seq "$WORKERS"); do
  DATABASE_URL="$DATABASE_URL" KEYHOLD_ROOT_KEY_FILE="$WORK/root.key" KEYHOLD_AUTH0_ENDPOINT_OVERRIDE="$EMU_URL" \
    KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true KEYHOLD_WORKER_TENANT_RPS=0 KEYHOLD_WORKER_ID="bench-w$w" \
    KEYHOLD_LOG_FORMAT=json RUST_LOG=warn "$BIN/keyhold" worker >"$WORK/worker-$w.log" 2>&1 &
  WORKER_PIDS+=($!)
done

# Wait for the rotations made by creating them (each queues its own succeeded event) to settle.
wait_delivered() {
  local limit=$1 pending
  for _ in $(seq $((limit * 10))); do
    pending=$(psql -qtAX -d "$DB" -c "select count(*) from webhook_deliveries where status = 'pending'")
    [[ "$pending" == 0 ]] && return 0
    sleep 0.1
  done
  return 1
}
for _ in $(seq 600); do
  busy=$(psql -qtAX -d "$DB" -c "select count(*) from secret_rotations where status = 'pending' or current_attempt_id is not null")
  [[ "$busy" == 0 ]] && break
  sleep 0.1
done
wait_delivered 60 || die "the first rotations' events were not delivered"

# queue N: N events with one delivery each to the endpoint, written as the API's fan-out writes
# them, then the dispatchers woken.
queue() {
  psql -qX -d "$DB" -v n="$1" -v project="$PROJECT" -v endpoint="$ENDPOINT" >/dev/null <<'SQL'
with events as (
  insert into webhook_events (id, project_id, type, payload)
  -- Time-ordered ids like the server's UUIDv7 (milliseconds, then a counter), so the receiver's
  -- log can show whether one endpoint's events arrived in order.
  select (lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || '7000' ||
          '8' || lpad(to_hex(g), 15, '0'))::uuid, :'project', 'secret.updated',
         jsonb_build_object('type', 'secret.updated', 'timestamp', now(),
                            'data', jsonb_build_object('secretKey', 'KEY_' || g, 'version', 1))
  from generate_series(1, :n) g
  returning id)
insert into webhook_deliveries (id, event_id, endpoint_id, project_id)
select gen_random_uuid(), id, :'endpoint', :'project' from events;
select pg_notify('keyhold_webhooks', '');
SQL
}

log "burst: $EVENTS events"
delivered_before=$(psql -qtAX -d "$DB" -c "select count(*) from webhook_deliveries where status = 'delivered'")
start=$(date +%s.%N)
queue "$EVENTS"
wait_delivered 300 || die "the burst was not delivered within 300 s"
end=$(date +%s.%N)
BURST_S=$(python3 -c "print($end - $start)")
BURST_RATE=$(python3 -c "print($EVENTS / $BURST_S)")
sleep 1.5 # nginx flushes its log every second
# Arrivals of the burst's events, in the receiver's log order: any id lower than one before it
# arrived out of order (a retried one arrives again later, in order behind itself).
read -r OUT_OF_ORDER ARRIVED < <(psql -qtAX -d "$DB" -c "select id from webhook_events where type = 'secret.updated'" |
  python3 -c '
import sys
burst = set(l.strip() for l in sys.stdin if l.strip())
seen, highest, late = set(), "", 0
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) < 2 or parts[1] not in burst or parts[1] in seen:
        continue
    seen.add(parts[1])
    if parts[1] < highest:
        late += 1
    highest = max(highest, parts[1])
print(late, len(seen))' "$WORK/nginx/access.log")
failed=$(psql -qtAX -d "$DB" -c "select count(*) from webhook_deliveries where status = 'failed'")
retried=$(psql -qtAX -d "$DB" -c "select count(*) from webhook_deliveries where attempts > 1")

log "sustained: $RATE events/s for $SUSTAIN s"
: >"$WORK/pending.txt"
per_tick=$((RATE / 10))
for s in $(seq "$SUSTAIN"); do
  for _ in $(seq 10); do queue "$per_tick"; sleep 0.08; done
  psql -qtAX -d "$DB" -c "select count(*) from webhook_deliveries where status = 'pending'" >>"$WORK/pending.txt"
done
wait_delivered 120 || die "the sustained load was not delivered"
read -r PENDING_FIRST PENDING_MAX PENDING_LAST < <(python3 - "$WORK/pending.txt" <<'PY'
import sys
xs = [int(l) for l in open(sys.argv[1]) if l.strip()]
head = max(xs[: max(1, len(xs) // 4)])
tail = max(xs[-max(1, len(xs) // 4):])
print(head, max(xs), tail)
PY
)

log "latency: rotate now on $ROTATIONS rotations"
since=$(psql -qtAX -d "$DB" -c "select now()")
for id in "${ROTATION_IDS[@]}"; do
  api POST "/api/v2/secret-rotations/auth0-client-secret/$id/rotate-secrets" - 200
done
for _ in $(seq 600); do
  done_n=$(psql -qtAX -d "$DB" -c "select count(*) from webhook_events where type = 'secret-rotation.succeeded' and created_at > '$since'")
  [[ "$done_n" -ge "$ROTATIONS" ]] && break
  sleep 0.1
done
wait_delivered 60 || die "the rotations' events were not delivered"
sleep 1.5 # nginx flushes its log every second
psql -qtAX -d "$DB" -F ' ' -c "select id, extract(epoch from created_at) from webhook_events where type = 'secret-rotation.succeeded' and created_at > '$since'" >"$WORK/committed.txt"
read -r LAT_N LAT_P50 LAT_P99 LAT_MAX < <(python3 - "$WORK/committed.txt" "$WORK/nginx/access.log" <<'PY'
import sys
committed = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) == 2:
        committed[parts[0]] = float(parts[1])
arrived = {}
for line in open(sys.argv[2]):
    parts = line.split()
    if len(parts) >= 2 and parts[1] in committed and parts[1] not in arrived:
        arrived[parts[1]] = float(parts[0])
lat = sorted((arrived[i] - committed[i]) * 1000 for i in arrived)
if not lat:
    print(0, 0, 0, 0)
else:
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(len(lat), round(pick(0.5), 1), round(pick(0.99), 1), round(lat[-1], 1))
PY
)

log "baseline: wrk against nginx with the same body"
python3 - >"$WORK/post.lua" <<'PY'
body = '{"type":"secret.updated","timestamp":"2026-12-06T00:00:00Z","data":{"secretKey":"KEY_1","version":1}}'
print('wrk.method = "POST"')
print('wrk.body = \'%s\'' % body)
print('wrk.headers["Content-Type"] = "application/json"')
print('wrk.headers["webhook-id"] = "0190f0f0-0000-7000-8000-000000000000"')
PY
wrk -t 2 -c 64 -d 10s -s "$WORK/post.lua" "http://127.0.0.1:$HOOK_PORT/hook" >"$WORK/wrk.txt" 2>&1 || die "wrk failed"
WRK_RATE=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")

WORKER_RSS_KB=0
for pid in "${WORKER_PIDS[@]}"; do
  kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  ((kb > WORKER_RSS_KB)) && WORKER_RSS_KB=$kb
done

verdict() { if python3 -c "import sys; sys.exit(0 if $1 else 1)"; then echo PASS; else echo FAIL; fi; }
RATE_OK=$(verdict "$BURST_RATE >= $TARGET_RATE")
FLAT_OK=$(verdict "$PENDING_LAST <= max(2 * $PENDING_FIRST, $RATE)")
LAT_OK=$(verdict "$LAT_N >= $ROTATIONS and $LAT_P99 <= $TARGET_P99_MS")

TABLE=$(cat <<EOF
| measure | result | target | |
|---|---|---|---|
| burst of $EVENTS events, $WORKERS workers | $(printf '%.0f' "$BURST_RATE") deliveries/s ($(printf '%.1f' "$BURST_S") s; $failed failed, $retried retried) | >= $TARGET_RATE/s | $RATE_OK |
| burst: events that arrived after a newer one (one endpoint: in order) | $OUT_OF_ORDER of $ARRIVED | 0 of $EVENTS | $(verdict "$OUT_OF_ORDER == 0 and $ARRIVED == $EVENTS") |
| receiver alone (wrk, 64 connections, same body) | $(printf '%.0f' "$WRK_RATE") req/s; Keyhold reaches $(python3 -c "print(f'{$BURST_RATE / $WRK_RATE:.2f}')")x of it | baseline | |
| sustained $RATE events/s for $SUSTAIN s: pending deliveries first quarter / max / last quarter | $PENDING_FIRST / $PENDING_MAX / $PENDING_LAST | flat | $FLAT_OK |
| rotation finished -> event at the receiver, $LAT_N rotations | p50 $LAT_P50 ms, p99 $LAT_P99 ms, max $LAT_MAX ms | p99 <= $TARGET_P99_MS ms | $LAT_OK |
| worker peak RSS | $((WORKER_RSS_KB / 1024)) MB | | |
EOF
)
echo "$TABLE"
{
  echo "# bench/webhooks"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(uname -m)), $(psql -qtAX -d postgres -c 'show server_version'), release build."
  echo
  echo "$TABLE"
} >"$REPORT"
log "report written to $REPORT"
