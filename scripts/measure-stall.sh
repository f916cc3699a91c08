#!/usr/bin/env bash
# Memory of `rowstream serve` (release, demo database) while a client stalls mid-export.
#
#   scripts/measure-stall.sh [ROWS] [STALL_SECONDS] [WRITE_TIMEOUT] [RESUME]
#
#   scripts/measure-stall.sh 1000000 30 120s resume   # stall shorter than --write-timeout,
#                                                     # then read the rest and count the rows
#   scripts/measure-stall.sh 1000000 45 30s resume    # stall past it: the server disconnects
#
# A Python client sends GET /tables/tickets over a plain socket, reads the headers and the
# first 64 KiB of the body, then stops calling recv for STALL_SECONDS. Every second it
# samples the server's VmRSS and VmHWM (/proc/PID/status), the bytes queued in the kernel
# (ss: the server socket's Send-Q, the client socket's Recv-Q) and the server socket's
# state. With RESUME=resume it then reads to the end of the connection, decodes the chunked
# body and counts the rows; otherwise it closes the connection and samples the server for
# a few more seconds. Prints the samples and a summary as markdown. SERVE_ARGS adds flags to
# `rowstream serve` (e.g. SERVE_ARGS="--batch-size 100").
set -euo pipefail
cd "$(dirname "$0")/.."

rows="${1:-1000000}"
stall="${2:-30}"
write_timeout="${3:-120s}"
resume="${4:-resume}"
port="${PORT:-3918}"
mkdir -p target/measure
export ROWSTREAM_DEMO_DB="$PWD/target/measure/demo-$rows.sqlite"

# NO_BUILD=1 uses the binary as it is (for example while cargo is busy with another build).
[ -n "${NO_BUILD:-}" ] || cargo build --release -p rowstream-cli --quiet

wait_healthy() {
  for _ in $(seq 1 7200); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "the server did not become healthy" >&2
  return 1
}

if [ ! -f "$ROWSTREAM_DEMO_DB" ]; then
  # Seed in a first run, so the measured process's peak RSS is the export's alone.
  start=$(date +%s)
  ./target/release/rowstream serve --bind "127.0.0.1:$port" --demo-rows "$rows" >target/measure/seed.log 2>&1 &
  seeder=$!
  wait_healthy
  kill "$seeder"
  wait "$seeder" 2>/dev/null || true
  echo "seeded $rows tickets in $(($(date +%s) - start)) s" >&2
fi

log=target/measure/stall-serve.log
./target/release/rowstream serve --bind "127.0.0.1:$port" --demo-rows "$rows" \
  --write-timeout "$write_timeout" ${SERVE_ARGS:-} >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT

wait_healthy

python3 - "$server" "$port" "$rows" "$stall" "$write_timeout" "$resume" "${SERVE_ARGS:-}" <<'PY'
import json, socket, subprocess, sys, time, urllib.request

pid, port, rows, stall = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
write_timeout, resume, serve_args = sys.argv[5], sys.argv[6] == "resume", sys.argv[7]
PREFIX = 64 * 1024


def status(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # KiB


def queues(client_port):
    """(server Send-Q, server state, client Recv-Q) from ss for the one connection."""
    out = subprocess.run(["ss", "-tanH", f"( sport = :{port} and dport = :{client_port} ) or "
                          f"( sport = :{client_port} and dport = :{port} )"],
                         capture_output=True, text=True).stdout
    send_q, state, recv_q = 0, "closed", 0
    for line in out.splitlines():
        f = line.split()
        st, rq, sq, local = f[0], int(f[1]), int(f[2]), f[3]
        if local.endswith(f":{port}"):
            send_q, state = sq, st
        else:
            recv_q = rq
    return send_q, state, recv_q


idle_rss = status("VmRSS")
sock = socket.create_connection(("127.0.0.1", port))
client_port = sock.getsockname()[1]
t0 = time.monotonic()
sock.sendall(f"GET /tables/tickets HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
             "Connection: close\r\n\r\n".encode())
raw = bytearray()
while b"\r\n\r\n" not in raw:
    raw += sock.recv(65536)
head, _, body = bytes(raw).partition(b"\r\n\r\n")
body = bytearray(body)
while len(body) < PREFIX:
    body += sock.recv(PREFIX - len(body))
got_before_stall = len(body)
status_line = head.split(b"\r\n")[0].decode()

print(f"`GET /tables/tickets`, {rows:,} tickets, `--write-timeout {write_timeout}`"
      f"{' ' + serve_args if serve_args else ''}: {status_line}; "
      f"the client read {got_before_stall:,} body bytes, then stopped reading for {stall} s.")
print()
print("| t (s) | server VmRSS (MiB) | server VmHWM (MiB) | server Send-Q (bytes) | client Recv-Q (bytes) | server socket |")
print("|---|---|---|---|---|---|")
samples = []
stall_start = time.monotonic()
closed_at = None
for second in range(stall + 1):
    while time.monotonic() < stall_start + second:
        time.sleep(0.01)
    rss, hwm = status("VmRSS"), status("VmHWM")
    send_q, state, recv_q = queues(client_port)
    if closed_at is None and state != "ESTAB":
        closed_at = time.monotonic() - stall_start
    samples.append((second, rss, hwm, send_q, recv_q, state))
    print(f"| {second} | {rss / 1024:.1f} | {hwm / 1024:.1f} | {send_q:,} | {recv_q:,} | {state} |")
print()

summary = {
    "idle VmRSS (MiB)": f"{idle_rss / 1024:.1f}",
    "body bytes read before the stall": f"{got_before_stall:,}",
    "VmRSS during the stall, min–max (MiB)": f"{min(s[1] for s in samples[1:]) / 1024:.1f}–"
                                              f"{max(s[1] for s in samples[1:]) / 1024:.1f}",
    "VmRSS growth over the stall (MiB)": f"{(samples[-1][1] - samples[1][1]) / 1024:+.2f}",
    "bytes parked in the kernel at the end of the stall (server Send-Q + client Recv-Q)":
        f"{samples[-1][3] + samples[-1][4]:,}",
    "server socket left ESTABLISHED after (s of stall)":
        "no" if closed_at is None else f"{closed_at:.0f}",
}

if resume:
    resumed = time.monotonic()
    while True:
        try:
            data = sock.recv(1 << 20)
        except ConnectionResetError:
            summary["connection reset by the server"] = "yes"
            break
        if not data:
            break
        body += data
    ended = time.monotonic()
    # Undo the chunked transfer coding.
    decoded, pos, terminated = bytearray(), 0, False
    while pos < len(body):
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            break
        size = int(body[pos:eol].split(b";")[0], 16)
        if size == 0:
            terminated = True
            break
        if eol + 2 + size > len(body):
            decoded += body[eol + 2:]
            break
        decoded += body[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2
    summary["body bytes read in all (chunked framing included)"] = f"{len(body):,}"
    summary["terminating zero-length chunk"] = "yes" if terminated else "no"
    try:
        count = len(json.loads(decoded))
        summary["rows decoded"] = f"{count:,} (valid JSON array)"
    except ValueError:
        count = decoded.count(b'{"id":')
        summary["rows decoded"] = f"{count:,} objects, not a complete JSON array ({len(decoded):,} bytes)"
    summary["request wall time (s)"] = f"{ended - t0:.1f} (reading after the stall: {ended - resumed:.1f})"
    summary["server VmHWM after the export (MiB)"] = f"{status('VmHWM') / 1024:.1f}"
else:
    sock.close()
    time.sleep(3)
    summary["server VmRSS 3 s after the client closed (MiB)"] = f"{status('VmRSS') / 1024:.1f}"
sock.close()
# What the server's own metrics say about the stream (in flight, how it ended).
with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
    for line in response.read().decode().splitlines():
        if line.startswith(("rowstream_streams_in_flight", "rowstream_streams_total")):
            name, value = line.rsplit(" ", 1)
            summary[f"`{name}`"] = value

print("| | |")
print("|---|---|")
for key, value in summary.items():
    print(f"| {key} | {value} |")
PY

echo
echo "server log, warnings and errors:"
grep -E ' (WARN|ERROR) ' "$log" | tail -5 || true
