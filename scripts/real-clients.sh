#!/usr/bin/env bash
# Real HTTP clients against `rowstream serve`: curl, Python requests and httpx, Node's
# built-in fetch, and headless Chromium (playwright-core driving /usr/bin/chromium).
#
# For each client: a complete export is read as complete with the exact row count; an
# export the server cuts mid-stream is reported by the client as a failure; with
# `?complete=true` the tagged error record is readable before the failure. Chromium also
# loads the index page and downloads the table by clicking its CSV link.
#
# Installs what is missing (chromium from apt, requests and httpx into a venv in the work
# folder with Polars and fsspec, playwright-core from npm: no Playwright browser is downloaded), builds the binary, starts one server on
# a free loopback port and stops it on exit. Prints one line per check; exits non-zero if
# any check fails. Polars and fsspec read spooled exports (`?spool`: Content-Length and
# byte ranges) and must see every value of the streamed export.
#
#   scripts/real-clients.sh            # ROWS=20000 tickets by default
#   ROWSTREAM_BIN=target/debug/rowstream scripts/real-clients.sh   # without building
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/lib/server.sh
helpers=$root/scripts/real-clients
rows=${ROWS:-20000}
started=$(date +%s)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "--- real clients: setup"
if [ ! -x /usr/bin/chromium ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
(cd "$helpers" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# ROWSTREAM_BIN: a binary built already (skips the build).
rowstream_bin debug
make_workdir
# requests and httpx in a venv of the work folder, not the machine's Python.
if ! python3 -m venv "$work/venv" 2>/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  python3 -m venv "$work/venv"
fi
"$work/venv/bin/pip" install -q requests httpx polars fsspec aiohttp openapi-spec-validator
ROWSTREAM_DEMO_DB=$work/demo.sqlite start_server --demo-rows "$rows" --config "$helpers/rowstream.toml"

# The expected count, from the database itself.
expected=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("SELECT count(*) FROM tickets").fetchone()[0])' "$work/demo.sqlite")
failing=/queries/slow_tickets
echo "--- real clients: $base, tickets has $expected rows (counted in SQLite); $failing is cut after about 1 s"

failures=0
check() { # ok? client check observed
  if [ "$1" = 1 ]; then printf 'ok   %-9s %s: %s\n' "$2" "$3" "$4"; else
    printf 'FAIL %-9s %s: %s\n' "$2" "$3" "$4"; failures=$((failures + 1)); fi
}
csv_rows() { python3 -c 'import csv, sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline="", encoding="utf-8"))) - 1)' "$1"; }

# curl
rc=0; curl -sS -o "$work/c.ndjson" "$base/tables/tickets?format=ndjson" 2>"$work/err" || rc=$?
n=$(wc -l <"$work/c.ndjson")
check "$([ "$rc" = 0 ] && [ "$n" = "$expected" ] && echo 1)" curl "complete ndjson" "exit $rc, $n rows (expected $expected)"
rc=0; curl -sS -o "$work/c.csv" "$base/tables/tickets?format=csv" 2>"$work/err" || rc=$?
n=$(csv_rows "$work/c.csv")
check "$([ "$rc" = 0 ] && [ "$n" = "$expected" ] && echo 1)" curl "complete csv" "exit $rc, $n rows (expected $expected)"
rc=0; curl -sS -o "$work/f.ndjson" "$base$failing?format=ndjson" 2>"$work/err" || rc=$?
n=$(wc -l <"$work/f.ndjson")
check "$([ "$rc" = 18 ] && [ "$n" -gt 0 ] && [ "$n" -lt "$expected" ] && echo 1)" curl "mid-stream failure" \
  "exit $rc after $n rows: $(tr -d '\n' <"$work/err")"
for compressed in "" --compressed; do
  rc=0; curl -sS $compressed -o "$work/r.ndjson" "$base$failing?format=ndjson&complete=true" 2>"$work/err" || rc=$?
  last=$(tail -n 1 "$work/r.ndjson")
  record=$(python3 -c 'import json, sys; r = json.loads(sys.argv[1]).get("$rowstream", {}); print(1 if r.get("complete") is False and r["error"]["kind"] == "timed_out" else "")' "$last" 2>/dev/null || true)
  check "$([ "$rc" = 18 ] && [ -n "$record" ] && echo 1)" curl "error record${compressed:+ ($compressed, gzip)}" "exit $rc; last line: $last"
done

# Python requests and httpx
"$work/venv/bin/python" "$helpers/clients.py" "$base" "$expected" "$failing" || failures=$((failures + 1))

# Readers that open a URL like a file (Polars, fsspec), on spooled exports
"$work/venv/bin/python" "$helpers/readers.py" "$base" "$expected" "$failing" || failures=$((failures + 1))

# Node fetch and headless Chromium; the index page's slice form is compared with SQLite.
python3 - "$work/demo.sqlite" "$work/slice.csv" <<'PY'
import csv, sqlite3, sys
rows = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute(
    "SELECT id, priority, status FROM tickets WHERE priority >= 4 ORDER BY id DESC LIMIT 50").fetchall()
with open(sys.argv[2], "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\r\n")
    w.writerow(["id", "priority", "status"])
    w.writerows(rows)
PY
(cd "$helpers" && SLICE_EXPECTED="$work/slice.csv" node clients.mjs "$base" "$expected" "$failing") || failures=$((failures + 1))

echo "--- real clients: $(($(date +%s) - started)) s"
if [ "$failures" != 0 ]; then
  echo "real clients: FAILED"
  sed -n '1,40p' "$work/server.log"
  exit 1
fi
echo "real clients: all checks passed"
