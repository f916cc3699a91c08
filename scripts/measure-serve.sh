#!/usr/bin/env bash
# Starts `rowstream serve` (release) on the demo database, downloads /tables/tickets with
# curl, and prints wall time, throughput, time to first byte and the server's peak RSS.
#
#   scripts/measure-serve.sh [ROWS]     # default 1,000,000 tickets
#
# The demo database is kept in target/measure/ so later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."

rows="${1:-1000000}"
port="${PORT:-3917}"
mkdir -p target/measure
export ROWSTREAM_DEMO_DB="$PWD/target/measure/demo-$rows.sqlite"

cargo build --release -p rowstream-cli --quiet

wait_healthy() {
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "the server did not become healthy" >&2
  return 1
}

if [ ! -f "$ROWSTREAM_DEMO_DB" ]; then
  # Seed in a first run, so the measured process's peak RSS is the export's alone.
  ./target/release/rowstream serve --bind "127.0.0.1:$port" --demo-rows "$rows" >target/measure/seed.log 2>&1 &
  seeder=$!
  wait_healthy
  kill "$seeder"
  wait "$seeder" 2>/dev/null || true
fi

./target/release/rowstream serve --bind "127.0.0.1:$port" --demo-rows "$rows" >target/measure/serve.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT

wait_healthy

idle_kib=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
read -r ttfb total size < <(curl -s -o /dev/null -w '%{time_starttransfer} %{time_total} %{size_download}\n' \
  "http://127.0.0.1:$port/tables/tickets")
hwm_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
cpu_ticks=$(awk '{print $14 + $15}' "/proc/$server/stat")
hz=$(getconf CLK_TCK)

python3 - "$rows" "$ttfb" "$total" "$size" "$idle_kib" "$hwm_kib" "$cpu_ticks" "$hz" <<'PY'
import sys
rows, ttfb, total, size, idle, hwm, ticks, hz = sys.argv[1:]
rows, ttfb, total, size = int(rows), float(ttfb), float(total), int(size)
print("| rows | bytes | wall (s) | MB/s | rows/s | TTFB (ms) | server RSS idle (MiB) | server peak RSS (MiB) | server CPU (s) |")
print("|---|---|---|---|---|---|---|---|---|")
print(f"| {rows:,} | {size:,} | {total:.2f} | {size / total / 1e6:.0f} | {rows / total:,.0f} | {ttfb * 1000:.1f} | "
      f"{int(idle) / 1024:.1f} | {int(hwm) / 1024:.1f} | {int(ticks) / int(hz):.2f} |")
PY
