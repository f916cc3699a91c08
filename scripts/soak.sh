#!/usr/bin/env bash
# Soak test of `rowstream serve` over PostgreSQL (not part of CI): DURATION seconds
# (default 600) of CONCURRENCY (default 50) exports at once — complete reads with their
# row count verified, client aborts at random points, slow readers — while random rowstream
# backends are killed with pg_terminate_backend and PostgreSQL is restarted once, halfway.
# Writes a markdown report to REPORT (default soak-report.md) and stdout.
#
#   scripts/soak.sh                      # 600 s
#   DURATION=60 scripts/soak.sh          # a short run
#
# Needs: a local PostgreSQL reachable as PG (default postgres://postgres@127.0.0.1:5432)
# with the right to create a database and to restart the server (RESTART_CMD, default
# `pg_ctlcluster 15 main restart`), psql, python3 with httpx. Restarting PostgreSQL cuts
# every other client of that server too: run it on a machine of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/lib/server.sh

PG=${PG:-postgres://postgres@127.0.0.1:5432}
SOAK_DB=${SOAK_DB:-rowstream_soak}
ROWS=${ROWS:-1000000}
DURATION=${DURATION:-600}
CONCURRENCY=${CONCURRENCY:-50}
RESTART_CMD=${RESTART_CMD:-pg_ctlcluster 15 main restart}
REPORT=${REPORT:-soak-report.md}
POOL_SIZE=${POOL_SIZE:-64}
MAX_STREAMS=${MAX_STREAMS:-60}

python3 -c 'import httpx' 2>/dev/null || python3 -m pip install -q httpx

echo "--- soak: database $SOAK_DB with $ROWS rows"
if [ "$(psql "$PG/postgres" -XAtqc "SELECT count(*) FROM pg_database WHERE datname = '$SOAK_DB'")" = 0 ]; then
  psql "$PG/postgres" -Xqc "CREATE DATABASE $SOAK_DB"
fi
have=$(psql "$PG/$SOAK_DB" -XAtqc "SELECT CASE WHEN to_regclass('soak') IS NULL THEN -1 ELSE (SELECT count(*) FROM soak) END")
if [ "$have" != "$ROWS" ]; then
  psql "$PG/$SOAK_DB" -Xq -v ON_ERROR_STOP=1 <<SQL
DROP VIEW IF EXISTS soak_view;
DROP TABLE IF EXISTS soak;
CREATE TABLE soak (
  id bigint PRIMARY KEY,
  name text NOT NULL,
  amount numeric(12, 2) NOT NULL,
  created_at timestamptz NOT NULL,
  flag boolean NOT NULL
);
INSERT INTO soak
SELECT g, 'row ' || g, (g % 100000) / 100.0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', g % 3 = 0
FROM generate_series(1, $ROWS) AS g;
-- A view is read in one long query (the table by keyset pages).
CREATE VIEW soak_view AS SELECT * FROM soak ORDER BY id;
ANALYZE soak;
SQL
fi

# ROWSTREAM_BIN: a release binary built already (skips the build).
rowstream_bin release
make_workdir

cat >"$work/rowstream.toml" <<'TOML'
[queries.range]
description = "Rows with lo < id <= hi, in one query"
sql = "SELECT * FROM soak WHERE id > $1 AND id <= $2 ORDER BY id"
params = [{ name = "lo", type = "int" }, { name = "hi", type = "int" }]
TOML

start_server --db "$PG/$SOAK_DB" --config "$work/rowstream.toml" \
  --pool-size "$POOL_SIZE" --max-streams "$MAX_STREAMS"

proc() { # VmRSS VmHWM fds
  local rss hwm
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$server/status")
  echo "$rss $hwm $(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l)"
}
metric() { curl -s "$base/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
running_statements() {
  psql "$PG/postgres" -XAtqc "SELECT count(*) FROM pg_stat_activity WHERE datname = '$SOAK_DB' AND backend_type = 'client backend' AND state <> 'idle'"
}
connections() {
  psql "$PG/postgres" -XAtqc "SELECT count(*) FROM pg_stat_activity WHERE datname = '$SOAK_DB' AND backend_type = 'client backend'"
}

# One export first, so that "start" is a warm, idle server.
curl -s "$base/queries/range?lo=0&hi=1000&format=ndjson" >/dev/null
read -r rss0 hwm0 fd0 < <(proc)
echo "--- soak: $base, $CONCURRENCY exports at once for $DURATION s (start: VmRSS $rss0 kB, $fd0 fds)"

BASE=$base ROWS=$ROWS DURATION=$DURATION CONCURRENCY=$CONCURRENCY PSQL_ADMIN="$PG/postgres" \
  SOAK_DB=$SOAK_DB RESTART_CMD=$RESTART_CMD python3 "$root/scripts/soak/soak.py" "$work/summary.json"

sleep 5 # let the last aborted exports end
read -r rss1 hwm1 fd1 < <(proc)
in_use=$(metric 'rowstream_db_connections{state="in_use"}')
idle=$(metric 'rowstream_db_connections{state="idle"}')
in_flight=$(curl -s "$base/metrics" | awk '/^rowstream_streams_in_flight/ {s += $2} END {print s + 0}')
running=$(running_statements)
conns=$(connections)
curl -s "$base/metrics" | grep -E '^rowstream_(streams_total|stream_errors_total|http_requests_total|requests_rejected_total)' >"$work/metrics.txt" || true
alive=$(kill -0 "$server" 2>/dev/null && echo yes || echo no)

python3 - "$work/summary.json" "$work/metrics.txt" >"$REPORT" <<PY
import collections, json, sys
s = json.load(open(sys.argv[1]))
metrics = open(sys.argv[2]).read().strip()
print(f"## Soak: {s['concurrency']} exports at once for {s['duration_s']:.0f} s")
print()
print(f"PostgreSQL 15, table \`soak\` of $ROWS rows; \`rowstream serve --pool-size $POOL_SIZE --max-streams $MAX_STREAMS\` (release build).")
print(f"Rows read by the clients: {s['rows_read']:,}. Backends terminated by pg_terminate_backend: {s['terminated_backends']}.")
print()
print("### Requests by scenario and outcome")
print()
print("| scenario | outcome | requests |")
print("|---|---|---:|")
totals = collections.Counter()
for row in s["outcomes"]:
    print(f"| {row['scenario']} | {row['outcome']} | {row['n']:,} |")
    totals[row["outcome"]] += row["n"]
print(f"| **all** | | **{sum(totals.values()):,}** |")
print()
print("| outcome | requests |")
print("|---|---:|")
for outcome, n in totals.most_common():
    print(f"| {outcome} | {n:,} |")
print()
print("### How the failures and aborts were seen")
print()
print("| outcome | detail | requests |")
print("|---|---|---:|")
for outcome, ds in s["details"].items():
    if outcome == "complete":
        continue
    for detail, n in ds.items():
        print(f"| {outcome} | {detail.replace('|', '/')} | {n:,} |")
print()
print("### PostgreSQL restart")
print()
r = s["restart"]
print(f"Restart started at {r['start']} s, PostgreSQL accepted connections again at {r['back']} s.")
print(f"Requests started after it was back, by outcome: {json.dumps(s['after_restart'])}.")
fails = s.get("after_restart_failures", [])
if fails:
    print(f"Their failures ended between {min(f['s_after_back'] for f in fails)} s and {max(f['s_after_back'] for f in fails)} s after it was back:")
    print()
    for detail, n in collections.Counter(f["detail"] for f in fails).most_common():
        print(f"- {n} × {detail}")
print()
for e in s["events"]:
    print(f"- {e['t']} s: {e['event']}")
print()
print("### The server, start → end")
print()
print("| | start | end |")
print("|---|---:|---:|")
print(f"| VmRSS (kB) | $rss0 | $rss1 |")
print(f"| VmHWM (kB) | $hwm0 | $hwm1 |")
print(f"| open fds | $fd0 | $fd1 |")
print()
print("At the end, 5 s after the load stopped:")
print()
print(f"- server still running: $alive")
print(f"- statements still running in pg_stat_activity (state <> idle): $running")
print(f"- connections of the soak database: $conns")
print(f"- pool connections from /metrics: in_use $in_use, idle $idle")
print(f"- rowstream_streams_in_flight (sum): $in_flight")
print()
bad = [o for o in totals if o in ("TRUNCATED_SILENTLY", "HANG", "UNEXPECTED")]
print("### Verdict")
print()
if bad:
    print("**Problems:** " + ", ".join(f"{o} ×{totals[o]}" for o in bad))
    print()
    for ex in s["bad_examples"]:
        print(f"- {ex}")
else:
    print("No stream ended cleanly with missing rows, none hung, nothing unexpected.")
print()
print("### /metrics at the end (counters)")
print()
print("\`\`\`text")
print(metrics)
print("\`\`\`")
PY
cat "$REPORT"
