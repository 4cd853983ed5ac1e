#!/usr/bin/env python3
"""The statements a request ran, read from PostgreSQL's log, as a pgbench script.

A benchmark's baseline should be the database doing exactly what the server asks of it for one
request, so the ratio measures the server's own cost and nothing else. Rather than copy the SQL
from the source (and drift from it), a benchmark starts one server session with
`log_statement=all`, sends the request, and passes the log lines it produced here:

    capture.py LOG DATABASE [--after LINE] [--drop-prefix PREFIX]... > request.sql

Each `execute` with its `DETAIL: parameters` becomes one statement with the values inlined, in
order, each ending with `;` (pgbench runs it as its own transaction, as the server does outside
an explicit one; `BEGIN`/`COMMIT` are kept where the server sent them). Inserts get a fresh id
per run (`gen_random_uuid()` for a `$1` that is a uuid, or for each uuid of a `$1` that is an
array of them, as in a many-row insert from `unnest`), since a repeated primary key would fail.
Statements whose text starts with a --drop-prefix (e.g. the token check, answered from the
server's cache after the first request) are left out.
"""

import argparse
import re
import sys

LINE = re.compile(r"^\S+ \S+ \S+ \[(?P<pid>\d+)\] (?P<who>\S+) (?P<level>[A-Z]+):  (?P<text>.*)$")
EXECUTE = re.compile(r"^execute [^:]+: (?P<sql>.*)$")
SIMPLE = re.compile(r"^statement: (?P<sql>.*)$")
PARAM = re.compile(r"\$(?P<n>\d+) = (?P<value>NULL|'(?:[^']|'')*')")
UUID_TEXT = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
UUID = re.compile(r"^'%s'$" % UUID_TEXT)
UUID_ARRAY = re.compile(r"^'\{%s(?:,%s)*\}'$" % (UUID_TEXT, UUID_TEXT))


def statements(lines, database):
    """(sql, {n: literal}) for each statement of `database`'s sessions, in log order."""
    pending = {}
    for raw in lines:
        m = LINE.match(raw.rstrip("\n"))
        if not m or not m.group("who").endswith("@" + database):
            continue
        pid, level, text = m.group("pid"), m.group("level"), m.group("text")
        if level == "LOG":
            if pid in pending:
                yield pending.pop(pid)
            ex = EXECUTE.match(text) or SIMPLE.match(text)
            if ex:
                pending[pid] = (ex.group("sql"), {})
        elif level == "DETAIL" and pid in pending and text.startswith("parameters: "):
            sql, _ = pending[pid]
            params = {int(p.group("n")): p.group("value") for p in PARAM.finditer(text)}
            pending[pid] = (sql, params)
    yield from pending.values()


def inline(sql, params):
    fresh_id = sql.lstrip().lower().startswith(("insert", "with")) and "insert into" in sql.lower()
    first = params.get(1, "")
    if fresh_id and UUID.match(first):
        params = {**params, 1: "gen_random_uuid()"}
    elif fresh_id and UUID_ARRAY.match(first):
        fresh = ", ".join(["gen_random_uuid()"] * (first.count(",") + 1))
        params = {**params, 1: "array[%s]" % fresh}
    # Highest numbers first, so $1 does not eat the front of $12.
    for n in sorted(params, reverse=True):
        sql = re.sub(r"\$%d(?!\d)" % n, lambda _m, v=params[n]: v, sql)
    return sql


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("database")
    ap.add_argument("--after", type=int, default=0, help="skip the log's first LINE lines")
    ap.add_argument("--drop-prefix", action="append", default=[])
    args = ap.parse_args()
    with open(args.log, errors="replace") as f:
        lines = f.readlines()[args.after:]
    out = []
    for sql, params in statements(lines, args.database):
        if any(sql.lstrip().lower().startswith(p.lower()) for p in args.drop_prefix):
            continue
        out.append(inline(sql, params).rstrip().rstrip(";") + ";")
    if not out:
        sys.exit("capture.py: no statement of database %s in the log" % args.database)
    print("\n".join(out))


if __name__ == "__main__":
    main()
