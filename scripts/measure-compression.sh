#!/usr/bin/env bash
# Downloads /tables/tickets from `rowstream serve` (release, demo database) once per content
# coding — identity, gzip, zstd, br, asked for with Accept-Encoding — and prints a markdown
# table: wall time, bytes on the wire, decoded bytes, ratio, MB/s of decoded data, the
# server's CPU seconds and peak RSS.
#
#   scripts/measure-compression.sh [ROWS]          # default 1,000,000 tickets
#   LEVELS="fastest default" scripts/measure-compression.sh
#   LEVELS=default CODINGS="identity gzip zstd" scripts/measure-compression.sh
#
# Mind that `default` for br is brotli's quality 11, about 0.2 MB of JSON per CPU-second:
# the 1M-ticket export needs close to half an hour of CPU at that level.
#
# Every coding runs against a freshly started server, so CPU and peak RSS are that export's
# alone. Each body is decoded with gzip, zstd or brotli (a decoder error or a truncated
# stream fails the script), parsed as JSON and its rows counted; all decoded bodies must be
# byte-identical. Needs curl, gzip, zstd and brotli (`apt-get install zstd brotli`).
set -euo pipefail
cd "$(dirname "$0")/.."

rows="${1:-1000000}"
port="${PORT:-3917}"
levels="${LEVELS:-fastest}"
codings="${CODINGS:-identity gzip zstd br}"
mkdir -p target/measure
export ROWSTREAM_DEMO_DB="$PWD/target/measure/demo-$rows.sqlite"
out="$PWD/target/measure/compression"
mkdir -p "$out"

for tool in curl gzip zstd brotli python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }
done

# NO_BUILD=1 uses the binary as it is (for example while cargo is busy with another build).
[ -n "${NO_BUILD:-}" ] || cargo build --release -p rowstream-cli --quiet

wait_healthy() {
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "the server did not become healthy" >&2
  return 1
}

server=
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}
trap stop_server EXIT

if [ ! -f "$ROWSTREAM_DEMO_DB" ]; then
  # Seed in a first run, so the measured process's peak RSS is the export's alone.
  ./target/release/rowstream serve --bind "127.0.0.1:$port" --demo-rows "$rows" >"$out/seed.log" 2>&1 &
  server=$!
  wait_healthy
  stop_server
fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

results="$out/results.tsv"
: >"$results"
for level in $levels; do
  for coding in $codings; do
    ./target/release/rowstream serve --bind "127.0.0.1:$port" --demo-rows "$rows" \
      --compression-level "$level" >"$out/serve-$level-$coding.log" 2>&1 &
    server=$!
    wait_healthy
    load=$(cut -d' ' -f1 /proc/loadavg)
    cpu_before=$(cpu_ticks "$server")
    body="$out/body.$coding"
    # No --compressed: curl stores the bytes as they came over the wire.
    # A failed or truncated transfer (curl exit 18) fails the script.
    stats=$(curl -sS -H "Accept-Encoding: $coding" -D "$out/headers.$coding" -o "$body" \
      -w '%{time_total} %{size_download}' "http://127.0.0.1:$port/tables/tickets")
    read -r total wire <<<"$stats"
    cpu_after=$(cpu_ticks "$server")
    hwm_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
    stop_server

    sent=$(awk -F': *' 'tolower($1) == "content-encoding" {gsub("\r", "", $2); print $2}' "$out/headers.$coding")
    if [ "${sent:-identity}" != "$coding" ]; then
      echo "asked for $coding, got Content-Encoding: ${sent:-none}" >&2
      exit 1
    fi
    case "$coding" in
      identity) decode=(cat) ;;
      gzip) decode=(gzip -dc) ;;
      zstd) decode=(zstd -dcq) ;;
      br) decode=(brotli -dc) ;;
    esac
    # Decoded size, SHA-256 and row count; a decoder error fails the script (pipefail).
    verdict=$("${decode[@]}" <"$body" | python3 -c '
import hashlib, json, sys
data = sys.stdin.buffer.read()
print(len(data), hashlib.sha256(data).hexdigest(), len(json.loads(data)))
')
    read -r decoded sha count <<<"$verdict"
    if [ "$count" != "$rows" ]; then
      echo "$coding: $count rows decoded, expected $rows" >&2
      exit 1
    fi
    rm -f "$body"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$level" "$coding" "$total" "$wire" "$decoded" \
      "$sha" "$count" "$((cpu_after - cpu_before))" "$hwm_kib" "$load" "$(getconf CLK_TCK)" >>"$results"
  done
done

python3 - "$results" <<'PY'
import sys
runs = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
if len({r[5] for r in runs}) != 1:
    sys.exit("the decoded bodies differ: " + ", ".join(f"{r[1]} {r[5][:12]}" for r in runs))
print("| level | coding | wall (s) | bytes on the wire | decoded bytes | ratio | MB/s decoded | rows | server CPU (s) | server peak RSS (MiB) | load |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for level, coding, total, wire, decoded, _sha, count, ticks, hwm, load, hz in runs:
    total, wire, decoded = float(total), int(wire), int(decoded)
    print(f"| {level} | {coding} | {total:.2f} | {wire:,} | {decoded:,} | {decoded / wire:.2f} | "
          f"{decoded / total / 1e6:.0f} | {int(count):,} | {int(ticks) / int(hz):.2f} | {int(hwm) / 1024:.1f} | {load} |")
PY
