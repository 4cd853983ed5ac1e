#!/usr/bin/env bash
# Zero downtime (issue 18): the same app — a token request to Auth0 every 50 ms with whatever
# credential it last read from its mapped secrets, read again every second — through 20 Private
# Key JWT rotations and through 20 client-secret rotations, side by side, in one run. The runs are
# the worker's tests `zero_downtime::*` (crates/worker/tests/it/zero_downtime.rs) against the Auth0
# emulator and a real database; this script builds and runs them and turns what they print into a
# table. The target: 0 refused token requests through key rotations.
#
# Knobs (environment): PROFILE (release; `dev` reuses the test build), REPORT (path).
# Needs PostgreSQL on 127.0.0.1:5432 (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
PROFILE=${PROFILE:-release}
REPORT=${REPORT:-$HERE/REPORT.md}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
log() { printf '[zero-downtime %s] %s\n' "$(date +%T)" "$*" >&2; }

args=(-p keyhold-worker --test it)
[[ "$PROFILE" == release ]] && args=(--release "${args[@]}")
log "running the two runs (cargo test ${args[*]} zero_downtime)"
out=$(cd "$ROOT" && timeout 1800 cargo test -q "${args[@]}" zero_downtime -- --nocapture --test-threads=1 2>&1) || {
  echo "$out" | tail -40 >&2
  log "FAILED"
  exit 1
}
line() { echo "$out" | grep "zero-downtime: $1" | head -1; }
row() { # label, matching line
  python3 - "$1" "$2" <<'PY'
import re, sys
label, text = sys.argv[1], sys.argv[2]
m = re.search(r"(\d+) rotations in ([\d.]+) s: (\d+) token requests, (\d+) refused, (\d+) other", text)
if not m:
    sys.exit(f"no figures for {label}: {text!r}")
n, secs, req, refused, other = m.groups()
share = 100.0 * int(refused) / max(1, int(req))
print(f"| {label} | {n} | {secs} s | {req} | {refused} ({share:.1f} %) | {other} |")
PY
}
key=$(row "Private Key JWT (overlapping keys)" "$(line 'private key JWT')")
secret=$(row "client secret" "$(line 'client secret')")
refused_key=$(echo "$key" | awk -F'|' '{print $6}' | awk '{print $1}')
verdict=FAIL
[[ "$refused_key" == 0 ]] && verdict=PASS
TABLE=$(cat <<EOT
| credential the app holds | rotations | time | token requests | refused by Auth0 | other failures |
|---|---|---|---|---|---|
$key
$secret

Target: 0 refused through key rotations — $verdict.
EOT
)
echo "$TABLE"
{
  echo "# bench/zero-downtime"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(uname -m)), profile $PROFILE. The app asks for a token every 50 ms and reads its mapped secrets again every second; each key rotation's overlap is ended 1.3 s after the new key is published (in production it lasts overlapSeconds, a day by default)."
  echo
  echo "$TABLE"
} >"$REPORT"
log "report written to $REPORT"
