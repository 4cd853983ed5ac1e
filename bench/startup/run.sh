#!/usr/bin/env bash
# Cold start of `keyhold serve` to /readyz 200 with migrations current (target: under 1 s), and
# how long it takes to stop on SIGTERM. Release build, fresh database, 10 starts; prints a report
# and writes REPORT.md beside this script. Talks only to 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${RUNS:-10}
port=${PORT:-18090}
db=keyhold_bench_startup
base=${DATABASE_URL_BASE:-postgres://postgres@127.0.0.1:5432}

cargo build --release --quiet -p keyhold --manifest-path "$root/Cargo.toml"
bin="$root/target/release/keyhold"
psql "$base/postgres" -qc "drop database if exists $db" -qc "create database $db" >/dev/null
export DATABASE_URL="$base/$db" KEYHOLD_LISTEN="127.0.0.1:$port" RUST_LOG=warn
KEYHOLD_ROOT_KEYS=$("$bin" keys generate --id bench 2>/dev/null)
export KEYHOLD_ROOT_KEYS
"$bin" migrate 2>/dev/null

now_ms() { date +%s%3N; }
ready=() stop=()
for _ in $(seq "$runs"); do
  t0=$(now_ms)
  "$bin" serve 2>/dev/null &
  pid=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)" = 200 ]; do
    sleep 0.005
    [ $(( $(now_ms) - t0 )) -lt 30000 ] || { kill "$pid"; echo "not ready in 30 s" >&2; exit 1; }
  done
  ready+=($(( $(now_ms) - t0 )))
  t1=$(now_ms)
  kill -TERM "$pid"
  wait "$pid"
  stop+=($(( $(now_ms) - t1 )))
done
psql "$base/postgres" -qc "drop database if exists $db" >/dev/null

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
max() { printf '%s\n' "$@" | sort -n | tail -n 1; }
r_med=$(median "${ready[@]}"); r_max=$(max "${ready[@]}")
s_med=$(median "${stop[@]}"); s_max=$(max "${stop[@]}")
verdict=$([ "$r_max" -lt 1000 ] && echo PASS || echo FAIL)
report=$(cat <<REPORT
# keyhold serve start-up

Written by bench/startup/run.sh on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg).
$runs starts of the release binary on a migrated database (embedded worker on), each polled with curl every 5 ms.

| metric | median | max | target | ratio (max / target) | result |
| --- | --- | --- | --- | --- | --- |
| start to /readyz 200 | ${r_med} ms | ${r_max} ms | < 1000 ms | $(awk "BEGIN {printf \"%.2f\", $r_max/1000}") | $verdict |
| SIGTERM to exit (API and worker drained) | ${s_med} ms | ${s_max} ms | - | - | info |
REPORT
)
echo "$report"
echo "$report" > "$here/REPORT.md"
