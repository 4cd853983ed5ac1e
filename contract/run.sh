#!/usr/bin/env bash
# Contract fuzzing: drive every operation in openapi.yaml with generated valid and invalid requests
# (schemathesis, pinned below) against a real `keyhold dev`, authenticated, and fail on any 5xx, any
# response that the document does not describe (status, content type, headers, body schema) and any
# response that carries a known secret (the canary check in contract/hooks.py).
#
#   contract/run.sh --ci                     # what .ci/run calls: bounded examples, fixed seed
#   contract/run.sh                          # the same run, building with `cargo build -p keyhold`
#   CONTRACT_EXAMPLES=200 contract/run.sh    # a longer run (see "Longer runs" below)
#
# What it does:
#   1. a Python venv in target/contract-venv with schemathesis==$SCHEMATHESIS_VERSION (from PyPI);
#   2. `cargo build -p keyhold` (with --ci: `cargo test --workspace --no-run`, whose artifacts the
#      CI test step reuses), then `target/debug/keyhold dev` on a fresh database
#      (keyhold_contract_<pid>) and a free loopback port, with a temporary KEYHOLD_DEV_DIR;
#   3. logs in as the dev instance admin and creates real resources so that fuzzed ids can hit
#      something: a connection to the emulator's demo tenant, a rotation using it, a sacrificial
#      machine identity and an Auth0 user (the generated config gives schemathesis these ids, names
#      and the demo project's id half of the time, random values the other half);
#   4. runs schemathesis (command printed before it starts), then stops keyhold and drops the
#      database, whatever happened (also on failure or Ctrl-C).
#
# Checks: all of schemathesis's (`--checks all`, with `--continue-on-failure` so one failure does
# not hide the next), and no_secret_in_response (hooks.py): neither the demo Auth0 M2M client
# secret nor the instance admin's client secret may appear in any response body or header. Among
# schemathesis's: negative_data_rejection (a request the document calls invalid must not succeed;
# it found JSON arrays accepted as request objects), positive_data_acceptance (a request the
# document calls valid must not be refused: the document states every rule the server enforces
# that OpenAPI can state; hooks.py lists, once, the few it cannot and fills them in for positive
# cases; a stale If-Match's 412 counts as accepted), ignored_auth, unsupported_method (a method a
# path does not serve answers 405, as x-keyhold-unmatched says), use_after_free,
# ensure_resource_availability, missing_required_header. The run also fails if operations answer only 401
# (warning `missing_auth`: the fuzzing token stopped working, so the run would prove nothing), if
# the token does not work after the run, or if keyhold died or logged an ERROR or a panic.
#
# Requests that would take the fuzzing token away are redirected, not dropped:
#   * POST /api/v1/auth/token/revoke (revokeToken) revokes, without a body (or with `{}`), the
#     token of the request itself, after which every other operation would answer only 401. So
#     hooks.py sends each revocation with a token of its own, fresh from a login of the login
#     fixture (below), in place of the fuzzing token (a request without it, or with another, is
#     sent as generated).
#   * Requests aimed at the fuzzing identity: hooks.py
#     rewrites an `identityId` path parameter equal to the instance admin's id (schemathesis learns
#     it from GET /api/v1/identities) to the sacrificial identity's id. Otherwise
#     POST /api/v1/identities/{id}/client-secret on the admin rotates its secret and revokes its
#     tokens, and PATCH/DELETE could disable or delete it once the fuzzer has made another admin.
#     Every identity operation is still fuzzed, on every other id.
#   The two logins are fuzzed (all their answers, 401/422/429 included, are in the document); they
#   are exempt from the `missing_auth` failure because 401 is their normal answer to generated
#   credentials. Failed logins are throttled per client id and source address, which only affects
#   the logins: the fuzzing token is obtained before the run. One positive login case in three
#   logs in with a login fixture's real credentials (a machine identity and a user, in no project)
#   from an address of its own: keyhold trusts 127.0.0.1 as a proxy here (KEYHOLD_TRUSTED_PROXIES)
#   and hooks.py sends those logins with `X-Forwarded-For`, so the generated failures from
#   127.0.0.1 do not throttle them and every operation answers 2xx at least once.
#
# Knobs (environment):
#   CONTRACT_EXAMPLES  max examples per operation and phase (default 50)
#   CONTRACT_CALLER    who fuzzes: admin (default: the instance admin), viewer (a viewer of the
#                      demo project) or outsider (in no project); see "The caller" below
#   CONTRACT_SEED      schemathesis seed (default 20261123: CI runs are reproducible)
#   CONTRACT_WORKERS   concurrent schemathesis workers (default 1: with more, Python 3.11's
#                      ast.parse, which hypothesis calls from every worker thread, sometimes fails
#                      with "AST constructor recursion depth mismatch"; one worker is barely slower)
#   CONTRACT_MAX_TIME  optional --max-time in seconds (fuzzing/stateful repeat until it is spent)
#   CONTRACT_TIMEOUT   hard limit for the schemathesis process in seconds (default 900)
#   CONTRACT_PHASES    optional --phases list (default: all four: examples,coverage,fuzzing,stateful)
#   SKIP_BUILD=1       use the existing target/debug/keyhold
#   KEEP_WORK=1        keep the work directory (server log, generated config, reports)
#   KEEP_DB=1          keep the database
#
# Longer runs (not in CI; a few minutes to an hour on 2 cores):
#   CONTRACT_EXAMPLES=200 CONTRACT_SEED=$RANDOM KEEP_WORK=1 contract/run.sh
#   CONTRACT_EXAMPLES=100 CONTRACT_MAX_TIME=1800 CONTRACT_TIMEOUT=3600 contract/run.sh
# A failure prints the curl command that reproduces it; the JUnit and NDJSON reports stay in the
# work directory with KEEP_WORK=1.
#
# Only 127.0.0.1 is contacted (keyhold and its embedded Auth0 emulator); every step is bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SCHEMATHESIS_VERSION=4.32.5
VENV="$ROOT/target/contract-venv"
KEYHOLD="$ROOT/target/debug/keyhold"

CI_MODE=0
case "${1:-}" in
  --ci) CI_MODE=1 ;;
  "") ;;
  *) echo "usage: $0 [--ci]" >&2; exit 2 ;;
esac
EXAMPLES=${CONTRACT_EXAMPLES:-50}
SEED=${CONTRACT_SEED:-20261123}
WORKERS=${CONTRACT_WORKERS:-1}
TIMEOUT=${CONTRACT_TIMEOUT:-900}

export PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres PGCONNECT_TIMEOUT=5
DB="keyhold_contract_$$"

log() { printf '[contract %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

for tool in cargo psql curl jq python3 timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done

started=$(date +%s)
WORK=$(mktemp -d /tmp/keyhold-contract.XXXXXX)
KEYHOLD_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$KEYHOLD_PID" ]] && kill -0 "$KEYHOLD_PID" 2>/dev/null; then
    kill "$KEYHOLD_PID" 2>/dev/null || true
    # Graceful shutdown drains the embedded worker, which can wait on a rotation for its
    # propagation timeout; the database is dropped anyway, so give it 3 seconds, then insist.
    for _ in $(seq 30); do kill -0 "$KEYHOLD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$KEYHOLD_PID" 2>/dev/null || true
    wait "$KEYHOLD_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 && -s "$WORK/keyhold.log" ]]; then
    log "last lines of the keyhold log:"
    tail -n 30 "$WORK/keyhold.log" >&2 || true
  fi
  if [[ "${KEEP_DB:-0}" != 1 ]]; then
    psql -q -d postgres -c "drop database if exists $DB with (force)" >/dev/null 2>&1 ||
      log "could not drop database $DB"
  fi
  if [[ "${KEEP_WORK:-0}" == 1 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  log "finished in $(( $(date +%s) - started ))s (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- schemathesis
if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]]; then
  log "installing schemathesis==$SCHEMATHESIS_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "cannot create the venv $VENV"
  timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" ||
    die "pip install schemathesis==$SCHEMATHESIS_VERSION failed"
fi

# ---------------------------------------------------------------- keyhold dev
if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
  :
elif [[ "$CI_MODE" == 1 ]]; then
  # CI runs `cargo test --workspace` next, which builds target/debug/keyhold anyway (crates/keyhold
  # has integration tests) with the workspace's unified features. `cargo build -p keyhold` resolves
  # features differently, so it would compile ~110 crates a second time (about 3 minutes on 2 cores).
  log "building keyhold through the test build (cargo test --workspace --no-run)"
  (cd "$ROOT" && cargo test -q --workspace --no-run) || die "cargo test --workspace --no-run failed"
else
  log "building keyhold (cargo build -p keyhold)"
  (cd "$ROOT" && cargo build -q -p keyhold) || die "cargo build -p keyhold failed"
fi
[[ -x "$KEYHOLD" ]] || die "$KEYHOLD is missing"

psql -q -d postgres -c "select 1" >/dev/null || die "PostgreSQL is not reachable at $PGHOST:$PGPORT"
psql -q -d postgres -c "drop database if exists $DB with (force)" >/dev/null

umask 077
# Port 0: the kernel picks a free port and `keyhold dev` prints the address it got.
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB" KEYHOLD_LISTEN=127.0.0.1:0 KEYHOLD_TRUSTED_PROXIES=127.0.0.1 \
  KEYHOLD_DEV_DIR="$WORK/dev" KEYHOLD_LOG_FORMAT=json RUST_LOG=warn \
  "$KEYHOLD" dev >"$WORK/keyhold.out" 2>"$WORK/keyhold.log" </dev/null &
KEYHOLD_PID=$!
API=""
for _ in $(seq 600); do
  API=$(sed -n 's/^ *API: *\(http:\/\/127\.0\.0\.1:[0-9][0-9]*\).*/\1/p' "$WORK/keyhold.out" | head -n 1)
  [[ -n "$API" ]] && break
  kill -0 "$KEYHOLD_PID" 2>/dev/null || die "keyhold dev exited early"
  sleep 0.1
done
[[ -n "$API" ]] || die "keyhold dev did not print its address within 60 s"
curl -sf --max-time 10 "$API/readyz" >/dev/null || die "$API/readyz is not ready"
log "keyhold dev is up at $API (database $DB)"

# ---------------------------------------------------------------- fixtures
# Secrets stay in files under $WORK (mode 0600) and in the environment of schemathesis only.
api() { # METHOD PATH [JSON body on stdin]; prints the body, fails on a non-2xx answer
  local method=$1 path=$2
  shift 2
  curl -sS --fail-with-body --max-time 30 -X "$method" "$API$path" \
    -H "authorization: Bearer $(cat "$WORK/token")" -H 'content-type: application/json' "$@"
}
jq -c '{clientId, clientSecret}' "$WORK/dev/admin.json" |
  curl -sS --fail-with-body --max-time 30 -X POST "$API/api/v1/auth/universal-auth/login" \
    -H 'content-type: application/json' -d @- | jq -er .accessToken >"$WORK/token" ||
  die "login as the dev instance admin failed"

PROJECT=$(api GET /api/v1/projects | jq -er '.projects[] | select(.name == "demo") | .id') ||
  die "the demo project is missing"
ADMIN_ID=$(api GET /api/v1/identities | jq -er --arg c "$(jq -r .clientId "$WORK/dev/admin.json")" \
  '.identities[] | select(.clientId == $c) | .id') || die "cannot find the instance admin's identity"
# demo_connection NAME: a connection to the emulator's demo tenant; prints its id.
demo_connection() {
  jq -n --arg n "$1" --arg p "$PROJECT" --rawfile s "$WORK/dev/demo-client-secret" '{
    name: $n, method: "client-credentials", projectId: $p,
    credentials: {domain: "demo.auth0.test", clientId: "keyhold-demo-m2m", clientSecret: ($s | rtrimstr("\n"))}
  }' | api POST /api/v1/app-connections/auth0 -d @- | jq -er .appConnection.id
}
CONNECTION=$(demo_connection contract-demo) || die "cannot create the connection"
ROTATION=$(jq -n --arg p "$PROJECT" --arg c "$CONNECTION" '{
    name: "contract-rotation", projectId: $p, connectionId: $c, rotationInterval: 30,
    parameters: {clientId: "demo-orders-service"},
    environment: "dev", secretPath: "/",
    secretsMapping: {clientId: "CONTRACT_AUTH0_CLIENT_ID", clientSecret: "CONTRACT_AUTH0_CLIENT_SECRET"}
  }' | api POST /api/v2/secret-rotations/auth0-client-secret -d @- | jq -er .secretRotation.id) ||
  die "cannot create the rotation"
DECOY=$(api POST /api/v1/identities -d '{"type":"machine","name":"contract-decoy"}' | jq -er .identity.id) ||
  die "cannot create the sacrificial identity"
# A member from the start, so changing and removing a membership have one to act on.
api POST "/api/v1/projects/$PROJECT/memberships" -d "{\"identityId\":\"$DECOY\",\"role\":\"viewer\"}" >/dev/null ||
  die "cannot make the sacrificial identity a member"
AUTH0_USER=$(api POST "/api/v1/app-connections/auth0/$CONNECTION/users" -d '{
    "connection": "Username-Password-Authentication", "email": "contract@example.com",
    "password": "contract-Passw0rd-only-for-the-emulator"
  }' | jq -er .user.user_id) || die "cannot create the Auth0 user"
# A project secret for the secret routes to find (its value is a project secret's: readable by
# design, so no canary), and decoys that take the changes and deletions aimed at the fixtures
# (hooks.py), so the fixtures stay findable by id and by name for the whole run.
for name in CONTRACT_SECRET CONTRACT_DECOY CONTRACT_DELETABLE; do
  api POST "/api/v3/secrets/raw/$name" \
    -d "{\"workspaceId\":\"$PROJECT\",\"environment\":\"dev\",\"secretValue\":\"contract-value\"}" >/dev/null ||
    die "cannot create the project secret $name"
done
DECOY_CONNECTION=$(demo_connection contract-decoy) || die "cannot create the decoy connection"
# With a mapping like the fixture's: changing a mapping needs one stored (409 otherwise).
DECOY_ROTATION=$(jq -n --arg p "$PROJECT" --arg c "$DECOY_CONNECTION" '{
    name: "contract-decoy-rotation", projectId: $p, connectionId: $c, rotationInterval: 30,
    parameters: {clientId: "demo-orders-service"},
    environment: "dev", secretPath: "/",
    secretsMapping: {clientId: "DECOY_AUTH0_CLIENT_ID", clientSecret: "DECOY_AUTH0_CLIENT_SECRET"}
  }' | api POST /api/v2/secret-rotations/auth0-client-secret -d @- | jq -er .secretRotation.id) ||
  die "cannot create the decoy rotation"
# settle KIND ID SECONDS: waits until the rotation's queued first rotation has ended.
settle() {
  local status=pending
  for _ in $(seq $(($3 * 5))); do
    status=$(api GET "/api/v2/secret-rotations/$1/$2" | jq -r .secretRotation.rotationStatus) || true
    [[ "$status" != pending ]] && return 0
    sleep 0.2
  done
  die "the first rotation of $1 $2 did not end within $3 s"
}
# Before the key rotations below switch the demo application to Private Key JWT (after which Auth0
# refuses to rotate its secret, and a retrying rotation cannot be changed).
settle auth0-client-secret "$ROTATION" 60
settle auth0-client-secret "$DECOY_ROTATION" 60
# Key rotations (auth0-private-key-jwt) of the demo application, the fixture and its decoy, mapped
# to `dev` like the client-secret ones (found by name there). The decoy overlaps its keys for the
# shortest time allowed and is waited for below: a rotation whose attempt is open (a key rotation's
# is, for its whole overlap) can be neither deleted nor re-pointed.
key_rotation() { # CONNECTION NAME SECRET_PREFIX OVERLAP [APPLICATION]
  jq -n --arg p "$PROJECT" --arg c "$1" --arg n "$2" --arg prefix "$3" --argjson overlap "$4" \
    --arg app "${5:-demo-orders-service}" '{
      name: $n, projectId: $p, connectionId: $c, rotationInterval: 30,
      parameters: {clientId: $app, overlapSeconds: $overlap},
      environment: "dev", secretPath: "/",
      secretsMapping: {clientId: ($prefix + "_CLIENT_ID"), privateKey: ($prefix + "_PRIVATE_KEY"),
                       keyId: ($prefix + "_KEY_ID")}
    }' | api POST /api/v2/secret-rotations/auth0-private-key-jwt -d @- | jq -er .secretRotation.id
}
KEY_ROTATION=$(key_rotation "$CONNECTION" contract-key-rotation CONTRACT_KEY 86400) ||
  die "cannot create the key rotation"
DECOY_KEY_ROTATION=$(key_rotation "$DECOY_CONNECTION" contract-decoy-key-rotation DECOY_KEY 60) ||
  die "cannot create the decoy key rotation"
# The one a deletion aimed at the fixture deletes, so the decoy stays for the changes: of the demo
# tenant's other application (Auth0 enables at most two keys per application).
DOOMED_KEY_ROTATION=$(key_rotation "$CONNECTION" contract-doomed-key-rotation DOOMED_KEY 60 demo-billing-service) ||
  die "cannot create the key rotation to delete"
STREAM=$(jq -n --arg p "$PROJECT" '{projectId: $p, url: "https://intake.example.com/contract"}' |
  api POST /api/v1/audit-log-streams -d @- | jq -er .auditLogStream.id) || die "cannot create the stream"
# A webhook with a delivery that is over (so it can be redelivered): its test event is queued,
# then the webhook disabled, so the delivery fails for good at its next attempt without leaving
# the machine (there is no internet here either). A decoy takes the changes.
webhook() {
  jq -n --arg p "$PROJECT" --arg n "$1" \
    '{projectId: $p, url: ("https://hooks.example.com/" + $n), eventTypes: ["*"]}' |
    api POST /api/v1/webhooks -d @- | jq -er .webhook.id
}
HOOK=$(webhook contract) || die "cannot create the webhook"
DECOY_HOOK=$(webhook contract-decoy) || die "cannot create the decoy webhook"
api POST "/api/v1/webhooks/$HOOK/test" >/dev/null || die "cannot queue the webhook's test event"
api PATCH "/api/v1/webhooks/$HOOK" -d '{"enabled": false}' >/dev/null || die "cannot disable the webhook"
DELIVERY=""
for _ in $(seq 400); do
  DELIVERY=$(api GET "/api/v1/webhooks/$HOOK/deliveries" |
    jq -r '[.deliveries[] | select(.status != "pending") | .id][0] // empty') || true
  [[ -n "$DELIVERY" ]] && break
  sleep 0.1
done
[[ -n "$DELIVERY" ]] || die "the webhook's test delivery did not finish within 40 s"
# An identity to be deleted in the sacrificial one's place, so it stays a member throughout.
DOOMED=$(api POST /api/v1/identities -d '{"type":"machine","name":"contract-doomed"}' | jq -er .identity.id) ||
  die "cannot create the identity to delete"
settle auth0-private-key-jwt "$DECOY_KEY_ROTATION" 180
settle auth0-private-key-jwt "$DOOMED_KEY_ROTATION" 180
# The login fixtures: a machine identity and a user in no project, whose logins hooks.py makes
# succeed now and then (see "The two logins" above). Their secrets join the canaries.
made=$(api POST /api/v1/identities -d '{"type":"machine","name":"contract-login"}') ||
  die "cannot create the login identity"
jq -er .identity.clientId <<<"$made" >"$WORK/login-id" || die "no client id for the login identity"
jq -er .clientSecret <<<"$made" >"$WORK/login-secret" || die "no secret for the login identity"
LOGIN_IDENTITY=$(jq -er .identity.id <<<"$made") || die "no id for the login identity"
unset made
head -c 24 /dev/urandom | base64 | tr -d '\n/+=' | sed 's/^/Contract-9-/' >"$WORK/user-password"
jq -n --rawfile pw "$WORK/user-password" \
  '{type: "user", name: "contract-user", email: "contract-user@example.com", password: ($pw | rtrimstr("\n"))}' |
  api POST /api/v1/identities -d @- | jq -er .identity.id >"$WORK/user-id" || die "cannot create the login user"
log "fixtures: project $PROJECT, connection $CONNECTION, rotation $ROTATION, decoy identity $DECOY"

# The caller the fuzzing runs as (CONTRACT_CALLER): the instance admin reaches every operation;
# a project viewer and an outsider (an identity of the organisation in no project) prove that
# what they may not do is refused as documented (403, or 404 for what they cannot see) and
# that nothing leaks to them. Their own client secret joins the canaries.
CALLER=${CONTRACT_CALLER:-admin}
cp "$WORK/token" "$WORK/caller-token"
: >"$WORK/caller-secret"
case "$CALLER" in
  admin) ;;
  viewer | outsider)
    made=$(api POST /api/v1/identities -d "{\"type\":\"machine\",\"name\":\"contract-$CALLER\"}") ||
      die "cannot create the $CALLER identity"
    caller_id=$(jq -er .identity.id <<<"$made") || die "no id for the $CALLER identity"
    jq -er .clientSecret <<<"$made" >"$WORK/caller-secret" || die "no secret for the $CALLER identity"
    if [[ "$CALLER" == viewer ]]; then
      api POST "/api/v1/projects/$PROJECT/memberships" \
        -d "{\"identityId\":\"$caller_id\",\"role\":\"viewer\"}" >/dev/null ||
        die "cannot make the viewer a member"
    fi
    jq -n --arg c "$(jq -er .identity.clientId <<<"$made")" --rawfile s "$WORK/caller-secret" \
      '{clientId: $c, clientSecret: ($s | rtrimstr("\n"))}' |
      curl -sS --fail-with-body --max-time 30 -X POST "$API/api/v1/auth/universal-auth/login" \
        -H 'content-type: application/json' -d @- | jq -er .accessToken >"$WORK/caller-token" ||
      die "login as the $CALLER failed"
    unset made
    ;;
  *) die "CONTRACT_CALLER must be admin, viewer or outsider" ;;
esac
log "fuzzing as: $CALLER"

# ---------------------------------------------------------------- schemathesis config
# Ids that exist, offered half of the time for the parameters (path, query, body) of that name, and
# the demo tenant's real credentials, so that generated connections can pass Auth0's check (and the
# canary sees whether any answer echoes the secret it was sent). The file is mode 0600 in $WORK.
demo_secret_toml=$(tr -d '\n' <"$WORK/dev/demo-client-secret" | jq -Rrs @json)
cat >"$WORK/schemathesis.toml" <<EOF
seed = $SEED
workers = $WORKERS
request-timeout = 30

[warnings]
# As the admin, an operation answering only 401/403 means the token died; a viewer or an outsider
# is refused most operations by design (the token is checked after the run either way).
fail-on = $([[ "$CALLER" == admin ]] && echo '["missing_auth"]' || echo '[]')

# A stale If-Match answers 412 before the body is looked at (RFC 9110 13.2.2 evaluates
# preconditions before the content), so 412 is a right answer to an invalid body too.
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422, 428, 429]

# A well-formed If-Match naming a version that is not the current one answers 412 (RFC 9110): the
# generator cannot know the resource's version, so 412 is a right answer to a valid request too.
[checks.positive_data_acceptance]
expected-statuses = ["2XX", "3XX", "401", "403", "404", "409", "412", "429", "5XX"]

[auth.openapi.bearerAuth]
bearer = "\${KEYHOLD_CONTRACT_TOKEN}"

[generation]
max-examples = $EXAMPLES
database = "none"

[dictionaries]
project = { values = ["$PROJECT"] }
connection = { values = ["$CONNECTION"] }
connection-name = { values = ["contract-demo"] }
rotation = { values = ["$ROTATION", "$KEY_ROTATION"] }
rotation-name = { values = ["contract-rotation", "contract-key-rotation"] }
identity = { values = ["$DECOY"] }
auth0-user = { values = ["$AUTH0_USER"] }
auth0-domain = { values = ["demo.auth0.test"] }
auth0-client = { values = ["keyhold-demo-m2m"] }
auth0-secret = { values = [$demo_secret_toml] }
rotation-target = { values = ["demo-orders-service"] }
environment = { values = ["dev"] }
secret-name = { values = ["CONTRACT_SECRET"] }
stream = { values = ["$STREAM"] }
webhook = { values = ["$HOOK"] }
delivery = { values = ["$DELIVERY"] }

[parameters]
projectId = { dictionary = "project", probability = 0.5 }
"body.projectId" = { dictionary = "project", probability = 0.5 }
connectionId = { dictionary = "connection", probability = 0.5 }
"body.connectionId" = { dictionary = "connection", probability = 0.5 }
connectionName = { dictionary = "connection-name", probability = 0.5 }
rotationId = { dictionary = "rotation", probability = 0.5 }
rotationName = { dictionary = "rotation-name", probability = 0.5 }
identityId = { dictionary = "identity", probability = 0.5 }
"body.identityId" = { dictionary = "identity", probability = 0.5 }
userId = { dictionary = "auth0-user", probability = 0.5 }
"body.credentials.domain" = { dictionary = "auth0-domain", probability = 0.75 }
"body.credentials.clientId" = { dictionary = "auth0-client", probability = 0.75 }
"body.credentials.clientSecret" = { dictionary = "auth0-secret", probability = 0.75 }
"body.parameters.clientId" = { dictionary = "rotation-target", probability = 0.5 }
workspaceId = { dictionary = "project", probability = 0.5 }
"body.workspaceId" = { dictionary = "project", probability = 0.5 }
environment = { dictionary = "environment", probability = 0.5 }
secretName = { dictionary = "secret-name", probability = 0.5 }
streamId = { dictionary = "stream", probability = 0.5 }
webhookId = { dictionary = "webhook", probability = 0.5 }
deliveryId = { dictionary = "delivery", probability = 0.5 }

# 401 is what a login answers to generated credentials: not a sign of a dead fuzzing token.
[[operations]]
include-operation-id = ["machineLogin", "userLogin"]
warnings = { fail-on = false }

# Token Vault's refresh token exchange sets up an application of the tenant, named in the body.
[[operations]]
include-operation-id = ["setUpTokenVaultRefreshTokenExchange"]
parameters = { "body.clientId" = { dictionary = "rotation-target", probability = 0.5 } }
EOF
unset demo_secret_toml

# ---------------------------------------------------------------- run
checks=all,no_secret_in_response
cmd=(schemathesis --config-file "$WORK/schemathesis.toml" run "$ROOT/openapi.yaml" --url "$API"
  --checks "$checks" --continue-on-failure
  --max-examples "$EXAMPLES" --seed "$SEED" --workers "$WORKERS" --no-color
  --report junit,ndjson --report-dir "$WORK/report")
[[ -n "${CONTRACT_MAX_TIME:-}" ]] && cmd+=(--max-time "$CONTRACT_MAX_TIME")
[[ -n "${CONTRACT_PHASES:-}" ]] && cmd+=(--phases "$CONTRACT_PHASES")
log "running: ${cmd[*]}"

canaries="$(jq -r .clientSecret "$WORK/dev/admin.json")"$'\n'"$(cat "$WORK/dev/demo-client-secret")"$'\n'"$(cat "$WORK/caller-secret")"
canaries+=$'\n'"$(cat "$WORK/login-secret")"$'\n'"$(cat "$WORK/user-password")"
rc=0
(
  # In the work directory: schemathesis and hypothesis leave caches in the current directory.
  cd "$WORK"
  KEYHOLD_CONTRACT_TOKEN="$(cat "$WORK/caller-token")" \
    KEYHOLD_CANARY_SECRETS="$canaries" \
    KEYHOLD_CONTRACT_PROTECTED_IDENTITY="$ADMIN_ID $LOGIN_IDENTITY $(cat "$WORK/user-id")" KEYHOLD_CONTRACT_DECOY_IDENTITY="$DECOY" \
    KEYHOLD_CONTRACT_PROJECT="$PROJECT" \
    KEYHOLD_CONTRACT_FIXTURES="connectionId=$CONNECTION:$DECOY_CONNECTION rotationId=$ROTATION:$DECOY_ROTATION rotationId=$KEY_ROTATION:$DECOY_KEY_ROTATION:$DOOMED_KEY_ROTATION secretName=CONTRACT_SECRET:CONTRACT_DECOY webhookId=$HOOK:$DECOY_HOOK" \
    KEYHOLD_CONTRACT_API="$API" KEYHOLD_CONTRACT_LOGIN_ID="$(cat "$WORK/login-id")" \
    KEYHOLD_CONTRACT_LOGIN_SECRET="$(cat "$WORK/login-secret")" \
    KEYHOLD_CONTRACT_USER_EMAIL=contract-user@example.com KEYHOLD_CONTRACT_USER_PASSWORD="$(cat "$WORK/user-password")" \
    KEYHOLD_CONTRACT_COVERAGE="$WORK/answered-2xx.txt" KEYHOLD_CONTRACT_DELETABLE_SECRET=CONTRACT_DELETABLE \
    KEYHOLD_CONTRACT_DOOMED_IDENTITY="$DOOMED" \
    PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=hooks \
    timeout --kill-after=10 "$TIMEOUT" "$VENV/bin/${cmd[0]}" "${cmd[@]:1}"
) || rc=$?
unset canaries

# Every operation must answer 2xx at least once (issue 22) when the instance admin fuzzes: an
# operation that never did was only ever refused, so the run proved nothing about its success path. The fixtures, dictionaries and
# hooks.py give each one what it needs; a run that misses one fails, naming it.
touch "$WORK/answered-2xx.txt"
covered=0
"$VENV/bin/python" - "$ROOT/openapi.yaml" "$WORK/answered-2xx.txt" >&2 <<'PY' || covered=$?
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
seen = set(line.strip() for line in open(sys.argv[2], encoding="utf-8"))
methods = {"get", "put", "post", "patch", "delete"}
ops = [f"{m.upper()} {path}" for path, item in doc["paths"].items() for m in item if m in methods]
never = sorted(op for op in ops if op not in seen)
print(f"[contract] {len(ops) - len(never)} of {len(ops)} operations answered 2xx at least once" + ("; never:" if never else ""))
for op in never:
    print(f"[contract]   {op}")
sys.exit(3 if never else 0)
PY
# Only the instance admin may do everything; a viewer's or an outsider's refusals are the point.
if [[ $covered -ne 0 && "$CALLER" == admin ]]; then
  log "not every operation answered 2xx (exit $covered)"
  [[ $rc -ne 0 ]] || rc=1
fi

# The token must have survived the run (otherwise later operations tested only the 401 path).
if ! curl -sf --max-time 10 "$API/api/v1/projects" -H "authorization: Bearer $(cat "$WORK/caller-token")" >/dev/null; then
  log "the fuzzing token no longer works after the run"
  [[ $rc -ne 0 ]] || rc=1
fi
kill -0 "$KEYHOLD_PID" 2>/dev/null || { log "keyhold dev died during the run"; [[ $rc -ne 0 ]] || rc=1; }
# What the responses cannot show: a panic or an error the server (or its embedded rotation worker)
# logged while being fuzzed. A rotation that fails for the emulator tenant's state (the fuzzer
# creates many key rotations of one demo client; Auth0 allows two credentials per client) is the
# worker reporting a real outcome (`worker::failure`, also on the rotation itself), not a fault.
if grep -E '"level":"ERROR"|panicked' "$WORK/keyhold.log" | grep -v '"target":"worker::failure"' >"$WORK/keyhold-errors.log"; then
  log "keyhold logged errors during the run:"
  head -n 20 "$WORK/keyhold-errors.log" >&2
  [[ $rc -ne 0 ]] || rc=1
fi
if [[ $rc -eq 124 || $rc -eq 137 ]]; then log "schemathesis did not finish within ${TIMEOUT}s"; fi
[[ $rc -eq 0 ]] || die "schemathesis found problems (exit $rc)"
log "contract fuzzing passed"
