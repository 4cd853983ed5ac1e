#!/usr/bin/env bash
# Root key rewrap benchmark (issue 7: "`keyhold keys rewrap` over 100,000 connections under 30 s on
# this machine").
#
# Builds the release binary and the seeding example, makes a fresh database, seeds ROWS
# connections whose secrets are real envelopes sealed under key k1 (each bound to its own row:
# crates/keyhold/examples/keys_bench_seed.rs), runs `keyhold keys check` with k1 as a deployment's
# first start would, then times `keyhold keys rewrap` with the keyring "k2,k1". Afterwards
# `keyhold keys check` with k2 alone must pass: it refuses if any record still names k1.
# Prints one table and writes it, with the date and machine, to REPORT.md beside this script.
#
# Knobs (environment): ROWS (100000), BATCH (rewrap --batch-size, 1000), SKIP_BUILD=1, KEEP_DB=1,
# REPORT (path of the report). Only 127.0.0.1 is contacted; every step is bounded in time.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

ROWS=${ROWS:-100000}
BATCH=${BATCH:-1000}
REPORT=${REPORT:-$HERE/REPORT.md}
TARGET_SECS=30

DB=keyhold_bench_keys
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
# Keys are in the environment of the commands below only; nothing prints them.
unset KEYHOLD_ROOT_KEYS KEYHOLD_ROOT_KEY_FILE

require_tools cargo psql jq timeout

# Not a knob here: the work dir holds only logs, each already shown by the die that needs it.
KEEP_WORK=0
make_work keyhold-keys-bench

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "building release binaries (a few minutes from clean on 2 cores)"
  (cd "$ROOT" && timeout 1500 cargo build --release --quiet -p keyhold --bin keyhold --example keys_bench_seed) ||
    die "release build failed"
fi
KEYHOLD="$BIN/keyhold"
SEED="$BIN/examples/keys_bench_seed"
[[ -x "$KEYHOLD" && -x "$SEED" ]] || die "missing $KEYHOLD or $SEED (run without SKIP_BUILD=1)"

log "fresh database $DB"
psql -q -d postgres -c "drop database if exists $DB with (force)" >/dev/null
psql -q -d postgres -c "create database $DB" >/dev/null
timeout 120 "$KEYHOLD" migrate 2>"$WORK/migrate.log" || die "migrate: $(cat "$WORK/migrate.log")"

K1=$("$KEYHOLD" keys generate --id k1 2>/dev/null)
K2=$("$KEYHOLD" keys generate --id k2 2>/dev/null)

log "seeding $ROWS connections under k1"
KEYHOLD_ROOT_KEYS="$K1" timeout 600 "$SEED" "$ROWS" 2>"$WORK/seed.log" || die "seed: $(cat "$WORK/seed.log")"
SEED_LINE=$(tail -n 1 "$WORK/seed.log")
log "$SEED_LINE"
# Fresh statistics and a visibility map, as a long-lived table would have.
psql -q -d "$DB" -c "vacuum (analyze) app_connections" >/dev/null
KEYHOLD_ROOT_KEYS="$K1" timeout 120 "$KEYHOLD" keys check >/dev/null 2>"$WORK/check1.log" ||
  die "keys check with k1: $(cat "$WORK/check1.log")"

BEFORE=$(KEYHOLD_ROOT_KEYS="$K2,$K1" timeout 120 "$KEYHOLD" keys status --json 2>/dev/null)
[[ $(jq -r '.notOnActiveKey' <<<"$BEFORE") == "$ROWS" ]] || die "expected $ROWS records under k1: $BEFORE"

log "timing keyhold keys rewrap (batch $BATCH)"
START=$(date +%s.%N)
KEYHOLD_ROOT_KEYS="$K2,$K1" timeout 600 "$KEYHOLD" keys rewrap --batch-size "$BATCH" \
  >"$WORK/rewrap.out" 2>"$WORK/rewrap.err" || die "rewrap: $(cat "$WORK/rewrap.out" "$WORK/rewrap.err")"
END=$(date +%s.%N)
SUMMARY=$(head -n 1 "$WORK/rewrap.out")
log "$SUMMARY"

# Every record must have moved: with k2 alone, the start-up check refuses any record under k1.
KEYHOLD_ROOT_KEYS="$K2" timeout 120 "$KEYHOLD" keys check >/dev/null 2>"$WORK/check2.log" ||
  die "records left under k1: $(cat "$WORK/check2.log")"
AFTER=$(KEYHOLD_ROOT_KEYS="$K2" timeout 120 "$KEYHOLD" keys status --json 2>/dev/null)
MOVED=$(jq -r '.keys[] | select(.keyId == "k2") | .total' <<<"$AFTER")
[[ "$MOVED" == "$ROWS" ]] || die "expected $ROWS records under k2, found $MOVED"

SECS=$(awk -v a="$START" -v b="$END" 'BEGIN { printf "%.2f", b - a }')
RATE=$(awk -v n="$ROWS" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')
RATIO=$(awk -v t="$TARGET_SECS" -v s="$SECS" 'BEGIN { printf "%.1f", t / s }')
VERDICT=$(awk -v t="$TARGET_SECS" -v s="$SECS" 'BEGIN { print (s < t) ? "met" : "MISSED" }')
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
PG=$(psql -qtA -d postgres -c "show server_version")

cat >"$WORK/report.md" <<EOF
# Root key rewrap

$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($CPU), PostgreSQL $PG on loopback, release build.
$ROWS app connections, each a real envelope sealed under k1 and bound to its row; then
\`keyhold keys rewrap --batch-size $BATCH\` with KEYHOLD_ROOT_KEYS=k2,k1, timed from process start
to exit (connect, keyring check, counts, every batch, final counts).

| records | wall time | records/s | target | headroom (target / time) | verdict |
| ---: | ---: | ---: | ---: | ---: | --- |
| $ROWS | ${SECS} s | $RATE | < ${TARGET_SECS} s | ${RATIO}x | $VERDICT |

Checked afterwards: \`keyhold keys check\` with k2 alone passes (it refuses while any record
names k1) and \`keyhold keys status\` counts all $ROWS records under k2.

Seeding: $SEED_LINE.
Rewrap's own summary: $SUMMARY
EOF
cp "$WORK/report.md" "$REPORT"
echo
cat "$WORK/report.md"
echo
log "report written to $REPORT"
[[ "$VERDICT" == met ]] || die "rewrap took ${SECS} s, target < ${TARGET_SECS} s"
