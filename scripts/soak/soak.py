"""Soak load for `rowstream serve` over PostgreSQL (driven by scripts/soak.sh).

Keeps CONCURRENCY exports running for DURATION seconds, a random mix of complete reads
(row count verified), client aborts at random points and slow readers, while a chaos task
terminates random rowstream backends with pg_terminate_backend and, once, restarts
PostgreSQL. Every response is classified:

  complete            read to the end, exact row count (and a `complete:true` record when
                      asked for one with the same count)
  failed_signalled    the client saw the failure: a cut chunked body (httpx
                      RemoteProtocolError), an error record, or an error status
  aborted             the client left on purpose
  busy                503 from --max-streams
  TRUNCATED_SILENTLY  a clean end of body with missing rows or no complete record: a bug
  HANG                no byte for READ_TIMEOUT seconds: a bug (slow readers never pause that long)
  UNEXPECTED          anything else

Writes a JSON summary to the path given as the last argument.
"""

import asyncio
import collections
import csv
import json
import os
import random
import subprocess
import sys
import time

import httpx

BASE = os.environ["BASE"]
ROWS = int(os.environ["ROWS"])
DURATION = float(os.environ.get("DURATION", "600"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "50"))
PSQL_ADMIN = os.environ["PSQL_ADMIN"]  # a URL of another database on the same server
SOAK_DB = os.environ["SOAK_DB"]
RESTART_CMD = os.environ.get("RESTART_CMD", "pg_ctlcluster 15 main restart")
READ_TIMEOUT = float(os.environ.get("READ_TIMEOUT", "90"))
OUT = sys.argv[1]

outcomes = collections.Counter()  # (scenario, outcome) -> n
details = collections.defaultdict(collections.Counter)  # outcome -> detail -> n
bad_examples = []
events = []
restart = {"start": None, "back": None}
after_restart = collections.Counter()  # outcomes of requests started once PostgreSQL was back
after_restart_failures = []  # when (seconds after it was back) and how they failed
rows_read = 0
t0 = time.monotonic()


def now():
    return round(time.monotonic() - t0, 1)


def psql(sql):
    return subprocess.run(
        ["psql", PSQL_ADMIN, "-XAtqc", sql], capture_output=True, text=True, timeout=30
    )


def pick():
    """A scenario: (name, path, expected rows or None, format, complete flag, gzip, behaviour)."""
    r = random.random()
    fmt = "csv" if random.random() < 0.2 else "ndjson"
    complete = random.random() < 0.5
    gzip = random.random() < 0.2
    if r < 0.05:
        table = random.choice(["soak", "soak_view"])
        return ("full_table", f"/tables/{table}", ROWS, fmt, complete, gzip, "read")
    lo = random.randrange(0, ROWS)
    if r < 0.55:
        size = int(10 ** random.uniform(3, 5.3))  # 1,000 .. 200,000 rows
        behaviour = "read"
        name = "complete_read"
    elif r < 0.80:
        size = int(10 ** random.uniform(3, 5.3))
        behaviour = "abort"
        name = "client_abort"
    else:
        size = int(10 ** random.uniform(3, 4.3))  # 1,000 .. 20,000 rows
        behaviour = "slow"
        name = "slow_reader"
    hi = min(ROWS, lo + size)
    path = f"/queries/range?lo={lo}&hi={hi}"
    return (name, path, hi - lo, fmt, complete, gzip, behaviour)


def classify_body(body_tail, lines, expected, fmt, complete):
    """For a body that ended cleanly: (outcome, detail)."""
    data_lines = lines - (1 if fmt == "csv" else 0)
    if complete:
        record = parse_record(body_tail, fmt)
        if record is None:
            return "TRUNCATED_SILENTLY", f"no completion record, {data_lines} lines"
        data_lines -= 1
        if record.get("complete") is not True:
            # A record saying incomplete, on a body that ended cleanly: the transport should
            # have been cut as well.
            return "TRUNCATED_SILENTLY", f"clean end with record {record}"
        if record.get("rows") != expected or data_lines != expected:
            return "TRUNCATED_SILENTLY", f"record {record}, {data_lines} rows, expected {expected}"
        return "complete", "record ok"
    if data_lines != expected:
        return "TRUNCATED_SILENTLY", f"{data_lines} rows, expected {expected}"
    return "complete", "count ok"


def parse_record(body_tail, fmt):
    """The `$rowstream` record on the last line of a body, or None."""
    last = body_tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].decode("utf-8", "replace")
    if "$rowstream" not in last:
        return None
    if fmt == "csv":
        last = next(csv.reader([last]))[0]
    try:
        return json.loads(last)["$rowstream"]
    except Exception:  # noqa: BLE001
        return None


async def one(client):
    global rows_read
    name, path, expected, fmt, complete, gzip, behaviour = pick()
    started_after_back = restart["back"] is not None
    sep = "&" if "?" in path else "?"
    url = f"{BASE}{path}{sep}format={fmt}" + ("&complete=true" if complete else "")
    headers = {"accept-encoding": "gzip" if gzip else "identity"}
    lines = 0
    tail = b""
    abort_after = random.randrange(1, max(2, expected * 100)) if behaviour == "abort" else None
    read_bytes = 0
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 503:
                await response.aread()
                return record(name, "busy", "503", started_after_back)
            if response.status_code != 200:
                body = await response.aread()
                return record(name, "failed_signalled", f"status {response.status_code}: {body[:80]!r}", started_after_back)
            async for chunk in response.aiter_bytes():
                lines += chunk.count(b"\n")
                read_bytes += len(chunk)
                tail = (tail + chunk)[-4096:]
                if abort_after is not None and read_bytes >= abort_after:
                    rows_read += lines
                    return record(name, "aborted", "closed early", started_after_back)
                if behaviour == "slow":
                    await asyncio.sleep(random.uniform(0.01, 0.1))
        rows_read += lines
        if abort_after is not None:
            # The body ended before the abort point: it must be complete.
            pass
        outcome, detail = classify_body(tail, lines, expected, fmt, complete)
        if outcome != "complete":
            bad_examples.append({"t": now(), "url": url, "gzip": gzip, "detail": detail})
        return record(name, outcome, detail, started_after_back)
    except httpx.RemoteProtocolError as e:
        rows_read += lines
        rec = parse_record(tail, fmt) if complete else None
        kind = rec["error"]["kind"] if rec and rec.get("complete") is False else None
        if complete and rec and rec.get("complete") is True:
            bad_examples.append({"t": now(), "url": url, "detail": f"cut after a complete record: {e}"})
            return record(name, "UNEXPECTED", "cut after a complete record", started_after_back)
        detail = f"cut chunked body, error record kind={kind}" if kind else "cut chunked body"
        if complete and not kind:
            detail += " (no error record)"
        return record(name, "failed_signalled", detail, started_after_back)
    except httpx.ReadTimeout:
        bad_examples.append({"t": now(), "url": url, "detail": f"no data for {READ_TIMEOUT}s after {lines} lines"})
        return record(name, "HANG", f"read timeout after {lines} lines", started_after_back)
    except (httpx.ConnectError, httpx.ReadError, httpx.WriteError) as e:
        return record(name, "failed_signalled", f"{type(e).__name__}", started_after_back)
    except Exception as e:  # noqa: BLE001
        bad_examples.append({"t": now(), "url": url, "detail": f"{type(e).__name__}: {e}"})
        return record(name, "UNEXPECTED", f"{type(e).__name__}", started_after_back)


def record(name, outcome, detail, started_after_back):
    outcomes[(name, outcome)] += 1
    details[outcome][detail] += 1
    if started_after_back:
        after_restart[outcome] += 1
        if outcome == "failed_signalled":
            after_restart_failures.append({"s_after_back": round(now() - restart["back"], 1), "detail": detail})
    return outcome


async def worker(client, deadline):
    while time.monotonic() < deadline:
        outcome = await one(client)
        if outcome == "busy":
            await asyncio.sleep(0.2)


async def chaos(deadline):
    terminated = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(random.uniform(3, 10))
        if restart["start"] is not None and restart["back"] is None:
            continue
        k = random.randint(1, 3)
        sql = (
            "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity "
            f"WHERE datname = '{SOAK_DB}' AND backend_type = 'client backend' AND state = 'active' "
            f"AND pid <> pg_backend_pid() ORDER BY random() LIMIT {k}) AS victims"
        )
        result = await asyncio.to_thread(psql, sql)
        try:
            terminated += int(result.stdout.strip() or 0)
        except ValueError:
            pass
    events.append({"t": now(), "event": f"pg_terminate_backend: {terminated} backends terminated in all"})
    return terminated


async def restarter(at):
    await asyncio.sleep(at)
    restart["start"] = now()
    events.append({"t": now(), "event": f"restarting PostgreSQL: {RESTART_CMD}"})
    result = await asyncio.to_thread(
        subprocess.run, RESTART_CMD, shell=True, capture_output=True, text=True, timeout=120
    )
    events.append({"t": now(), "event": f"restart command exited {result.returncode} {result.stderr.strip()[:200]}"})
    for _ in range(600):
        ready = await asyncio.to_thread(psql, "SELECT 1")
        if ready.returncode == 0:
            break
        await asyncio.sleep(0.1)
    restart["back"] = now()
    events.append({"t": now(), "event": "PostgreSQL accepts connections again"})


async def main():
    deadline = time.monotonic() + DURATION
    limits = httpx.Limits(max_connections=CONCURRENCY + 10, max_keepalive_connections=CONCURRENCY + 10)
    timeout = httpx.Timeout(connect=10, read=READ_TIMEOUT, write=10, pool=30)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        tasks = [asyncio.create_task(worker(client, deadline)) for _ in range(CONCURRENCY)]
        chaos_task = asyncio.create_task(chaos(deadline))
        restart_task = asyncio.create_task(restarter(DURATION / 2))
        await asyncio.gather(*tasks)
        terminated = await chaos_task
        await restart_task
    summary = {
        "duration_s": now(),
        "concurrency": CONCURRENCY,
        "rows_read": rows_read,
        "outcomes": [{"scenario": s, "outcome": o, "n": n} for (s, o), n in sorted(outcomes.items())],
        "details": {o: dict(d.most_common()) for o, d in details.items()},
        "terminated_backends": terminated,
        "restart": restart,
        "after_restart": dict(after_restart),
        "after_restart_failures": after_restart_failures[:100],
        "events": events,
        "bad_examples": bad_examples[:50],
    }
    with open(OUT, "w") as f:
        json.dump(summary, f, indent=1)


asyncio.run(main())
