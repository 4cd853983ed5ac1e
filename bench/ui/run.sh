#!/usr/bin/env bash
# The dashboard in headless Chromium: screenshots of every page (from the browser tests, into
# bench/ui/screenshots/) and its speed (examples/ui_bench.rs: first-load transfer, and the
# connections page's time from the API's answer to 100 painted rows at page 1 and at the last page
# of 100,000 connections). Release build, fresh databases, loopback only. Writes REPORT.md here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base=${DATABASE_URL_BASE:-postgres://postgres@127.0.0.1:5432}
db=keyhold_bench_ui
command -v chromedriver >/dev/null || apt-get install -y -qq chromium chromium-driver >/dev/null

cd "$root"
echo "screenshots: the browser tests with UI_SCREENSHOTS_DIR set"
rm -rf "$here/screenshots"
UI_SCREENSHOTS_DIR="$here/screenshots" DATABASE_URL="$base/postgres" \
  cargo test --quiet -p keyhold --test dashboard

cargo build --release --quiet -p keyhold --bin keyhold --example ui_bench
psql "$base/postgres" -qc "drop database if exists $db with (force)" -qc "create database $db" >/dev/null
trap 'psql "$base/postgres" -qc "drop database if exists $db with (force)" >/dev/null' EXIT
table=$(DATABASE_URL="$base/$db" KEYHOLD_BIN="$root/target/release/keyhold" "$root/target/release/examples/ui_bench")

report=$(cat <<REPORT
# Dashboard

Written by \`bench/ui/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), load average $(cut -d' ' -f1-3 /proc/loadavg).
$(chromium --version 2>/dev/null | head -n 1), headless, 1280×800, against a release \`keyhold dev\` (API, embedded emulator, worker) with 100,000 connections in one project (one created through the API, the rest cloned in SQL).

$table

Screenshots of every page, taken by the browser tests (\`crates/keyhold/tests/dashboard.rs\`), are in \`screenshots/\`.
REPORT
)
echo "$report"
echo "$report" > "$here/REPORT.md"
