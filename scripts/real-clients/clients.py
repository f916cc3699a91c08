"""Python HTTP clients against `rowstream serve`: requests and httpx.

Usage: clients.py BASE_URL EXPECTED_ROWS FAILING_PATH

Prints one line per check (`ok ...` or `FAIL ...`) and exits 1 if any check failed.
BASE_URL serves the `tickets` table (EXPECTED_ROWS rows, counted in the database by the
caller); FAILING_PATH is an export that the server cuts mid-stream.
"""

import csv
import io
import json
import sys

import httpx
import requests

BASE, EXPECTED, FAILING = sys.argv[1], int(sys.argv[2]), sys.argv[3]
failures = 0


def report(ok, client, check, observed):
    global failures
    if not ok:
        failures += 1
    print(f"{'ok  ' if ok else 'FAIL'} {client:9} {check}: {observed}", flush=True)


def count_ndjson(body):
    lines = [line for line in body.split(b"\n") if line]
    for line in lines:
        json.loads(line)
    return len(lines)


def count_csv(body):
    records = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    return len(records) - 1  # the header row


def last_record(body):
    """The last complete NDJSON line of a (possibly cut) body, parsed."""
    lines = body.split(b"\n")
    complete = [line for line in lines[:-1] if line] if lines[-1] else [line for line in lines if line]
    return json.loads(complete[-1]) if complete else None


def requests_complete(fmt, count):
    with requests.get(f"{BASE}/tables/tickets?format={fmt}", stream=True, timeout=60) as r:
        r.raise_for_status()
        body = b"".join(r.iter_content(chunk_size=None))
        encoding = r.headers.get("content-encoding", "identity")
    n = count(body)
    report(n == EXPECTED, "requests", f"complete {fmt}", f"{n} rows, no exception ({encoding}; expected {EXPECTED})")


def requests_failure(query):
    body = b""
    error = None
    encoding = "no response"
    try:
        with requests.get(f"{BASE}{FAILING}{query}", stream=True, timeout=60) as r:
            encoding = r.headers.get("content-encoding", "identity")
            for chunk in r.iter_content(chunk_size=None):
                body += chunk
    except Exception as e:  # noqa: BLE001 - the exception class is what is checked
        error = e
    name = type(error).__name__ if error else "no exception"
    return body, error, f"{name} ({encoding})"


def httpx_complete(fmt, count):
    with httpx.stream("GET", f"{BASE}/tables/tickets?format={fmt}", timeout=60) as r:
        r.raise_for_status()
        body = b"".join(r.iter_bytes())
        encoding = r.headers.get("content-encoding", "identity")
    n = count(body)
    report(n == EXPECTED, "httpx", f"complete {fmt}", f"{n} rows, no exception ({encoding}; expected {EXPECTED})")


def httpx_failure(query):
    body = b""
    error = None
    encoding = "no response"
    try:
        with httpx.stream("GET", f"{BASE}{FAILING}{query}", timeout=60) as r:
            encoding = r.headers.get("content-encoding", "identity")
            for chunk in r.iter_bytes():
                body += chunk
    except Exception as e:  # noqa: BLE001
        error = e
    name = type(error).__name__ if error else "no exception"
    return body, error, f"{name} ({encoding})"


def check_failure(client, fetch, expected_exc):
    body, error, name = fetch("?format=ndjson")
    rows = body.count(b"\n")
    report(
        isinstance(error, expected_exc) and 0 < rows < EXPECTED,
        client,
        "mid-stream failure",
        f"{name} after {rows} rows ({error})",
    )
    body, error, name = fetch("?format=ndjson&complete=true")
    record = last_record(body)
    tagged = isinstance(record, dict) and "$rowstream" in record
    ok = (
        isinstance(error, expected_exc)
        and tagged
        and record["$rowstream"]["complete"] is False
        and record["$rowstream"]["error"]["kind"] == "timed_out"
    )
    report(ok, client, "error record", f"{name}; last line read: {json.dumps(record) if record else None}")


requests_complete("ndjson", count_ndjson)
requests_complete("csv", count_csv)
check_failure("requests", requests_failure, requests.exceptions.ChunkedEncodingError)
httpx_complete("ndjson", count_ndjson)
httpx_complete("csv", count_csv)
check_failure("httpx", httpx_failure, httpx.RemoteProtocolError)

sys.exit(1 if failures else 0)
