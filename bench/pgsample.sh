#!/usr/bin/env bash
# pgsample.sh DB SECONDS OUT: a sampling profile of PostgreSQL's side of a benchmark. Every 10 ms
# for SECONDS, records what each active client backend of DB is doing (its wait event type, or
# "cpu" when it waits for nothing) and the first 160 characters of its statement; OUT gets the
# counts, most frequent first (OUT.raw keeps every sample). Run it beside a benchmark's measured
# window; it costs PostgreSQL a few percent of a core itself. bench/soak/findings.md reads one.
set -euo pipefail
DB=$1 SECS=$2 OUT=$3
query="select coalesce(wait_event_type, 'cpu') || ' | ' || regexp_replace(left(query, 160), '\s+', ' ', 'g')
  from pg_stat_activity
 where datname = '$DB' and state = 'active' and backend_type = 'client backend'
   and pid <> pg_backend_pid();"
# psql repeats the last query with \watch until `timeout` ends it.
printf '%s\n%s\n' "$query" '\watch 0.01' | timeout "$SECS" psql -At -d postgres >"$OUT.raw" 2>/dev/null || true
{ grep -v '^$' "$OUT.raw" || true; } | sort | uniq -c | sort -rn >"$OUT"
