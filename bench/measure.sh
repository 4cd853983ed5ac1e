# Shared by the API benchmarks (bench/connections, bench/secrets): sourced after lib.sh, never run.
# wrk_run and pgbench_run measure one run each and record, beside its rate and latencies, the CPU
# that the server, PostgreSQL, the load generator and everything else used, so that a table can say
# whether the machine was quiet. They read DB, WORK, KEYHOLD_PID, CLIENTS and THREADS.
# shellcheck shell=bash

HZ=$(getconf CLK_TCK)
BUSY_NOTES=()
NOISY=()
NOISY_PCT=${NOISY_PCT:-15} # % of one core used by other processes during a run before it is flagged

# Builds and tests by other engineers share these 2 cores and this PostgreSQL; note any seen at the
# start or end of a run so the numbers can be read with that in mind.
note_busy() {
  local n pg last=""
  # shellcheck disable=SC2009 # pgrep refuses patterns longer than 15 characters
  n=$(ps -eo comm= | grep -cxE 'rustc|cc1|cc1plus|ld|cargo|rust-lld' || true)
  pg=$(psql -At -d postgres -c "select count(*) from pg_stat_activity where state = 'active' \
    and datname is distinct from '$DB' and pid <> pg_backend_pid()" 2>/dev/null || echo 0)
  if ((${#BUSY_NOTES[@]} > 0)); then last=${BUSY_NOTES[-1]}; fi
  if [[ "${n:-0}" -gt 0 || "${pg:-0}" -gt 0 ]] && [[ "$last" != "$1" ]]; then BUSY_NOTES+=("$1"); fi
}

# CPU ticks: "server postgres machine_busy" (postgres = all its processes plus exited children).
cpu_snap() {
  local server pg=0 t pm
  server=$(awk '{print $14 + $15}' "/proc/$KEYHOLD_PID/stat")
  for p in $(pgrep -x postgres); do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || t=0
    pg=$((pg + ${t:-0}))
  done
  pm=$(pgrep -o -x postgres)
  pg=$((pg + $(awk '{print $16 + $17}' "/proc/$pm/stat")))
  awk -v s="$server" -v p="$pg" '/^cpu / {print s, p, $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

# Transactions committed in the benchmark database so far. Each statement outside an explicit
# transaction is one, so the difference over a run divided by its requests is statements per request.
# A backend that stays connected publishes its counts up to 10 s after going idle (PostgreSQL 15's
# PGSTAT_IDLE_INTERVAL), so runs against the server's pooled connections are counted only where the
# script can afford to wait (STATS_WAIT); pgbench's backends publish theirs when they exit.
STATS_WAIT=11
xacts() { psql -At -d postgres -c "select xact_commit + xact_rollback from pg_stat_database where datname = '$DB'"; }

# cpu_split NAME BEFORE AFTER WALL_S RATE XACTS REQUESTS: one CPU table row: each party's CPU as % of
# one core ("200%" = both cores busy), the server's and PostgreSQL's CPU time per request, and the
# database statements per request.
declare -A CPU_SPLIT
cpu_split() {
  local name=$1 lg
  lg=$(awk '{print $1 + $2}' "$WORK/$name.time")
  CPU_SPLIT[$name]=$(awk -v b="$2" -v a="$3" -v w="$4" -v r="$5" -v x="$6" -v q="$7" -v lg="$lg" -v hz="$HZ" 'BEGIN {
    split(b, u, " "); split(a, v, " ")
    s = (v[1] - u[1]) / hz; p = (v[2] - u[2]) / hz; m = (v[3] - u[3]) / hz; n = r * w
      printf "%.0f | %.0f%% | %.0f%% | %.0f%% | %.0f%% | %.0f | %.0f | %s", r, s / w * 100, p / w * 100, lg / w * 100, (m - s - p - lg > 0 ? m - s - p - lg : 0) / w * 100, s / n * 1e6, p / n * 1e6, (x == "" ? "-" : sprintf("%.2f", x / q))
  }')
  # CPU that none of the three parties used is someone else's work on these cores: flag the run.
  local other
  other=$(awk -F' [|] ' '{ sub(/%$/, "", $5); print $5 + 0 }' <<<"${CPU_SPLIT[$name]}")
  if ((other > NOISY_PCT)) && [[ "$name" != *-warm ]]; then NOISY+=("$name (${other}%)"); fi
}

elapsed_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { print b - a }'; }

to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }'
}

# wrk_run NAME DURATION URL LUA [script args]: sets RPS, P50, P99 (ms). Honours CLIENTS/THREADS, and
# COUNT_STATEMENTS=1 (waits STATS_WAIT s before and after the run to count statements per request).
wrk_run() {
  local name=$1 secs=$2 url=$3 script=$4; shift 4
  local before after t0 wall bad x0="" x1 requests statements=""
  note_busy "$name"
  if [[ "${COUNT_STATEMENTS:-0}" == 1 ]]; then sleep "$STATS_WAIT"; x0=$(xacts); fi
  before=$(cpu_snap)
  t0=$(date +%s.%N)
  timeout $((secs + 30)) /usr/bin/time -f '%U %S' -o "$WORK/$name.time" \
    wrk -t"$THREADS" -c"$CLIENTS" -d"${secs}s" --timeout 5s --latency -s "$script" "$url" -- "$@" \
    >"$WORK/$name.wrk" 2>&1 || die "wrk $name failed: $(tail -5 "$WORK/$name.wrk")"
  after=$(cpu_snap)
  wall=$(elapsed_since "$t0")
  note_busy "$name"
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$WORK/$name.wrk")
  [[ -z "$bad" ]] || die "wrk $name: $bad non-2xx responses"
  if grep -q 'Socket errors' "$WORK/$name.wrk"; then die "wrk $name: $(grep 'Socket errors' "$WORK/$name.wrk")"; fi
  RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/$name.wrk")
  P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$WORK/$name.wrk")")
  P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/$name.wrk")")
  [[ -n "$RPS" && -n "$P99" ]] || die "cannot parse wrk output of $name"
  requests=$(awk '/ requests in / {print $1}' "$WORK/$name.wrk")
  if [[ -n "$x0" ]]; then sleep "$STATS_WAIT"; x1=$(xacts); statements=$((x1 - x0)); fi
  cpu_split "$name" "$before" "$after" "$wall" "$RPS" "$statements" "$requests"
}

# pgbench_run NAME DURATION SCRIPT [pgbench flags]: sets RPS (tps), AVG (ms) and, with PGB_LOG=1
# (per-transaction log; it costs pgbench a little, so the GET baseline runs without it), P50/P99.
pgbench_run() {
  local name=$1 secs=$2 script=$3; shift 3
  local before after t0 wall x0 x1 requests logging=()
  [[ "${PGB_LOG:-0}" == 1 ]] && logging=(-l "--log-prefix=$WORK/pglog-$name")
  note_busy "$name"
  x0=$(xacts)
  before=$(cpu_snap)
  t0=$(date +%s.%N)
  (cd "$WORK" && timeout $((secs + 60)) /usr/bin/time -f '%U %S' -o "$WORK/$name.time" \
    pgbench -n -c "$CLIENTS" -j "$THREADS" -T "$secs" "$@" "${logging[@]}" -f "$script" "$DB" \
    >"$WORK/$name.pgbench" 2>&1) || die "pgbench $name failed: $(tail -5 "$WORK/$name.pgbench")"
  sleep 0.5 # let the postmaster reap the benchmark's backends so their CPU is counted
  after=$(cpu_snap)
  wall=$(elapsed_since "$t0")
  note_busy "$name"
  RPS=$(awk '/^tps = / {printf "%.0f", $3}' "$WORK/$name.pgbench")
  AVG=$(awk '/^latency average/ {print $4}' "$WORK/$name.pgbench")
  [[ -n "$RPS" && -n "$AVG" ]] || die "cannot parse pgbench output of $name"
  requests=$(awk '/^number of transactions actually processed:/ {print $6}' "$WORK/$name.pgbench")
  x1=$(xacts)
  # pgbench's tps excludes connection set-up; close enough for a per-request CPU figure.
  cpu_split "$name" "$before" "$after" "$wall" "$RPS" "$((x1 - x0))" "$requests"
  grep -q '^number of failed transactions: 0 ' "$WORK/$name.pgbench" ||
    die "pgbench $name had failed transactions: $(grep failed "$WORK/$name.pgbench")"
  P50=- P99=-
  if ((${#logging[@]} > 0)); then
    read -r P50 P99 < <(cat "$WORK/pglog-$name".* | awk '{print $3}' | sort -n |
      awk '{ v[NR] = $1 } END { printf "%.2f %.2f\n", v[int((NR - 1) * 0.50) + 1] / 1000, v[int((NR - 1) * 0.99) + 1] / 1000 }')
    rm -f "$WORK/pglog-$name".*
  fi
}


# ---------------------------------------------------------------- report helpers
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == "<") ? (v < t) : (v >= t); print ok ? "PASS" : "FAIL" }'; }
# A baseline that measured nothing (0, or empty after a failed run) gives "n/a", not awk's crash.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
# rss_parts PID: "anonymous A MB, file-backed F MB" of a process's resident set: the heap (allocator,
# buffers, caches) against the mapped binary and libraries. With KEEP_WORK=1 the whole memory map
# is kept as $WORK/smaps-PID.txt for a closer look.
rss_parts() {
  [[ "${KEEP_WORK:-0}" == 1 ]] && cp "/proc/$1/smaps" "$WORK/smaps-$1.txt" 2>/dev/null
  awk '/^RssAnon:/ {a = $2} /^RssFile:/ {f = $2} END { printf "anonymous %.1f MB, file-backed %.1f MB", a / 1024, f / 1024 }' "/proc/$1/status"
}

# machine_state: one sentence on how quiet the machine was during the runs, for the report.
machine_state() {
  if ((${#NOISY[@]} > 0)); then
    echo "NOT quiet: other processes used more than ${NOISY_PCT}% of a core during ${NOISY[*]}; those numbers are pessimistic, rerun when quiet."
  elif ((${#BUSY_NOTES[@]} > 0)); then
    echo "quiet enough: other processes stayed under ${NOISY_PCT}% of a core in every run, though compilers or queries on other databases were seen at the start or end of ${BUSY_NOTES[*]}."
  else
    echo "quiet: other processes stayed under ${NOISY_PCT}% of a core in every run; no compiler and no query on another database at the start or end of any."
  fi
}

# profile_run NAME DURATION URL LUA [script args]: with PROFILE=1, the same load as wrk_run while
# `perf record` samples the server's stacks (software clock: this machine has no hardware counters),
# then the functions that used the most server CPU, by self time and including callees, go to
# $WORK/NAME.profile.txt and the log. Not a measured run: sampling slows the server down, so its
# numbers are not reported. Without PROFILE=1, or without perf, it does nothing.
profile_run() {
  local name=$1 secs=$2 url=$3 script=$4; shift 4
  [[ "${PROFILE:-0}" == 1 ]] || return 0
  command -v perf >/dev/null || { log "perf is missing: no profile of $name"; return 0; }
  log "profiling $name for ${secs} s (perf record on pid $KEYHOLD_PID)"
  timeout $((secs + 30)) perf record -q -e cpu-clock -F 999 --call-graph dwarf,32768 \
    -o "$WORK/$name.perf" -p "$KEYHOLD_PID" -- sleep "$secs" >/dev/null 2>&1 &
  local perf_pid=$!
  timeout $((secs + 30)) wrk -t"$THREADS" -c"$CLIENTS" -d"${secs}s" --timeout 5s -s "$script" "$url" -- "$@" \
    >"$WORK/$name.profile.wrk" 2>&1 || log "wrk during the profile of $name failed"
  wait "$perf_pid" || true
  # Written whole, then cut: `head` on perf's pipe would end it with SIGPIPE, which pipefail turns
  # into the script's failure.
  perf report -q -i "$WORK/$name.perf" --no-children --sort dso,symbol --percent-limit 0.4 --stdio -g none \
    >"$WORK/$name.self.txt" 2>/dev/null || true
  perf report -q -i "$WORK/$name.perf" --children --sort symbol --percent-limit 5 --stdio -g none \
    >"$WORK/$name.children.txt" 2>/dev/null || true
  {
    echo "## $name: server CPU by function, self time"
    sed -n '1,45p' "$WORK/$name.self.txt" | cut -c1-150
    echo
    echo "## $name: including callees"
    sed -n '1,60p' "$WORK/$name.children.txt" | cut -c1-150
  } >"$WORK/$name.profile.txt"
  cat "$WORK/$name.profile.txt" >&2
}
