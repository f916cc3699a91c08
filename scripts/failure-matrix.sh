#!/usr/bin/env bash
# The failure matrix: can a client always tell a failed export from a complete one, and do
# rows reach it without waiting, whatever the transport?
#
# Walks every cell of
#   {HTTP/1.1, HTTP/1.1 + `TE: trailers`, HTTP/1.0, HTTP/2 prior knowledge,
#    nginx default proxy_pass (HTTP/1.0 upstream), nginx with proxy_http_version 1.1 and
#    proxy_buffering off, HAProxy mode http}
#   x {json, ndjson, jsonseq, csv, msgpack} x {identity, gzip}
#   x {fails before the first row after 300 ms, fails after 100,000 rows,
#      completes with 100,000 rows, row 1 then a 5 s pause}
# with curl (280 cells), and a sample with Python requests (HTTP/1.1, the proxies) and
# httpx (HTTP/2). Per cell: an early failure is a 5xx problem+json; a late failure is
# detected by the client (non-zero curl exit or an exception, a 5xx, an error
# `rowstream-outcome` trailer, a reset); a complete export ends cleanly with every row (and
# with `TE: trailers`, the trailers `complete` and the row count); in the pause cells row
# 1 arrives within 0.5 s. scripts/failure-matrix/matrix.py says exactly what is checked.
#
# Needs PostgreSQL at $ROWSTREAM_TEST_POSTGRES_URL (and psql), curl and python3. Installs
# nginx and haproxy from Debian when missing (their system services are not started),
# and requests and httpx into a venv in the work folder. Builds the binary (debug profile, as
# the tests build it; or
# takes $ROWSTREAM_BIN), creates one PL/pgSQL function for the pause (named for this run,
# dropped at the end), starts one `rowstream serve` (with `--http2` when the binary has
# it) with the named queries of scripts/failure-matrix/rowstream.toml, and nginx and
# HAProxy with the configs beside it on free loopback ports, in a temporary folder; stops
# all of them on exit, failed or not. Takes 2 to 4 minutes once the binary is built.
#
# Prints the matrix as Markdown tables (one row per transport x scenario, one column per
# format x coding; each cell PASS or a short reason) and exits non-zero if any cell fails.
#
#   scripts/failure-matrix.sh [--report FILE] [--details FILE] [--jobs N]
#     --report FILE    also write the tables to FILE
#     --details FILE   write every cell's observations (status, curl exit, trailers, rows,
#                      bytes, time of row 1) to FILE as JSON
#     --jobs N         cells run at once (default 8; the pause cells run 2N at once)
#   ROWSTREAM_BIN=target/release/rowstream scripts/failure-matrix.sh   # without building
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ beside the driver

report="" details="" jobs=8
while [ $# -gt 0 ]; do
  case "$1" in
    --report) report=$(realpath -m "$2"); shift 2 ;;
    --details) details=$(realpath -m "$2"); shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) echo "usage: $0 [--report FILE] [--details FILE] [--jobs N]" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
root=$PWD
. scripts/lib/server.sh
here=$root/scripts/failure-matrix
pg=${ROWSTREAM_TEST_POSTGRES_URL:?set ROWSTREAM_TEST_POSTGRES_URL to a PostgreSQL database}
started=$(date +%s)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# The path of a program that Debian installs in /usr/sbin (not on every user's PATH).
sbin() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

echo "--- failure matrix: setup"
missing=()
for program in nginx haproxy; do [ -x "$(sbin "$program")" ] || missing+=("$program"); done
if [ ${#missing[@]} -gt 0 ]; then
  # policy-rc.d exiting 101 keeps apt from starting the packages' system services.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    policy=made
  fi
  rc=0
  { as_root apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } || rc=$?
  [ -z "$policy" ] || as_root rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || { echo "FAIL cannot install ${missing[*]}"; exit 1; }
fi
nginx=$(sbin nginx)
haproxy=$(sbin haproxy)

# The readers that count rows and the verdicts, on made-up bodies with known answers.
python3 "$here/bodies.py"
python3 "$here/matrix.py" --self-check

rowstream_bin debug
make_workdir
matrix_pid="" nginx_pid="" haproxy_pid="" pause_fn=""
cleanup() {
  local status=$?
  for pid in $matrix_pid $haproxy_pid $nginx_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$pause_fn" ]; then
    psql -Xq "$pg" -c "DROP FUNCTION IF EXISTS $pause_fn(float8)" || true
  fi
  if [ "$status" != 0 ] && [ -d "$work" ]; then
    for log in server.log nginx/error.log haproxy.log; do
      [ -s "$work/$log" ] && { echo "--- $log (last lines)"; tail -n 15 "$work/$log"; }
    done
  fi
  stop_and_clean
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! python3 -m venv "$work/venv" 2>/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  python3 -m venv "$work/venv"
fi
"$work/venv/bin/pip" install -q requests 'httpx[http2]'

# Row 1, a notice (PostgreSQL flushes its output buffer for it), then the sleep.
pause_fn="rowstream_matrix_pause_$$_$RANDOM"
psql -Xq -v ON_ERROR_STOP=1 "$pg" <<SQL
CREATE FUNCTION $pause_fn(secs float8) RETURNS int LANGUAGE plpgsql VOLATILE AS \$\$
BEGIN
  RAISE NOTICE 'pausing % s', secs;
  PERFORM pg_sleep(secs);
  RETURN 0;
END \$\$;
SQL
sed "s/@PAUSE_FN@/$pause_fn/" "$here/rowstream.toml" >"$work/rowstream.toml"
# Enough export slots for the pause cells (2 x jobs at once) and the rest; HTTP/2 (prior
# knowledge, beside HTTP/1) when the binary offers it: without, the HTTP/2 cells fail.
http2=()
if "$bin" serve --help | grep -- '--http2' >/dev/null; then http2=(--http2); fi
start_server --db "$pg" --config "$work/rowstream.toml" "${http2[@]}" \
  --max-streams $((2 * jobs + 4)) --pool-size $((2 * jobs + 6))
upstream=${base#http://}

read -r default_port unbuffered_port haproxy_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')

mkdir -p "$work/nginx"
user=""
[ "$(id -u)" = 0 ] && user="user root;" # the workers must reach the temporary folder
sed -e "s|@USER@|$user|" -e "s|@DIR@|$work/nginx|g" -e "s|@UPSTREAM@|$upstream|g" \
  -e "s|@DEFAULT_PORT@|$default_port|" -e "s|@UNBUFFERED_PORT@|$unbuffered_port|" \
  "$here/nginx.conf" >"$work/nginx/nginx.conf"
"$nginx" -p "$work/nginx/" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!
sed -e "s|@PORT@|$haproxy_port|" -e "s|@UPSTREAM@|$upstream|" \
  "$here/haproxy.cfg" >"$work/haproxy.cfg"
"$haproxy" -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
haproxy_pid=$!

nginx_default=http://127.0.0.1:$default_port
nginx_unbuffered=http://127.0.0.1:$unbuffered_port
haproxy_url=http://127.0.0.1:$haproxy_port
for url in "$nginx_default" "$nginx_unbuffered" "$haproxy_url"; do
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$url/healthz" && continue 2
    sleep 0.1
  done
  echo "FAIL no answer through $url"
  exit 1
done

echo "--- failure matrix: rowstream $base, nginx $nginx_default (default) and" \
  "$nginx_unbuffered (1.1, unbuffered), HAProxy $haproxy_url"
# In the background so that a signal reaches the trap at once, not after the matrix.
"$work/venv/bin/python" "$here/matrix.py" --base "$base" --nginx-default "$nginx_default" \
  --nginx-unbuffered "$nginx_unbuffered" --haproxy "$haproxy_url" --jobs "$jobs" \
  ${report:+--report "$report"} ${details:+--details "$details"} &
matrix_pid=$!
rc=0
wait "$matrix_pid" || rc=$?
matrix_pid=""
echo "--- failure matrix: $(($(date +%s) - started)) s"
exit "$rc"
