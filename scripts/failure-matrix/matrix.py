"""The failure matrix: every transport x format x coding x scenario, read by real clients.

Usage (scripts/failure-matrix.sh starts the server and the proxies and runs this):

    matrix.py --base URL --nginx-default URL --nginx-unbuffered URL --haproxy URL
              [--report FILE] [--details FILE] [--jobs N]

Each cell runs curl (exit code, status, headers and trailers from `-D`, the body read as
it arrives); a sample of cells also runs Python `requests` (HTTP/1.1) or `httpx`
(HTTP/2). Per cell it asserts:

- fails before the first row: nothing was sent yet, so the answer is a 5xx with an
  `application/problem+json` body;
- fails after 100,000 rows: the client detects the failure, by a non-zero curl exit or an
  exception (a cut, a reset), a 5xx, or a `rowstream-outcome` trailer other than
  `complete`;
- completes, and first row then a 5 s pause: status 200, a clean end, every row in order
  (ids 1..N, the format's framing closed), and with `TE: trailers` the trailers
  `rowstream-outcome: complete` and `rowstream-rows: N`; in the pause cells the first row
  reaches the client within 0.5 s.

A cell that cannot be served as its transport says (no HTTP/2, a proxy that did not answer,
a hang) fails too. Prints the matrix as Markdown tables (one row per transport x scenario,
one column per format x coding), writes them to --report, the observations of every cell
to --details (JSON), and exits 1 if any cell failed.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import bodies

FIRST_ROW_WITHIN = 0.5  # seconds, in the pause cells
CELL_TIMEOUT = 40  # seconds; a cell that takes longer hangs
VIA = "x-rowstream-matrix-via"  # set by the proxies' configs

SCENARIOS = {
    "early": ("fails before the first row (after 300 ms)", "/queries/fail_early", None),
    "late": ("fails after 100,000 rows", "/queries/fail_late", None),
    "complete": ("completes (100,000 rows)", "/queries/complete", 100_000),
    "pause": ("first row, then a 5 s pause (10 rows)", "/queries/pause", 10),
}
ENCODINGS = ("identity", "gzip")


class Transport:
    """How a client reaches the server: base URL, curl's flags, the proxy's name (its
    `X-Rowstream-Matrix-Via` header) and the Python client of the sampled cells."""

    def __init__(self, key, title, base, curl=(), via=None, python=None):
        self.key, self.title, self.base = key, title, base
        self.curl, self.via, self.python = list(curl), via, python


def transports(args):
    return [
        Transport("h1", "HTTP/1.1", args.base, python="requests"),
        Transport("te", "HTTP/1.1 + TE: trailers", args.base, ["-H", "TE: trailers"]),
        Transport("h10", "HTTP/1.0", args.base, ["--http1.0"]),
        Transport("h2", "HTTP/2 prior knowledge", args.base, ["--http2-prior-knowledge"],
                  python="httpx"),
        Transport("nginx", "nginx default proxy_pass", args.nginx_default, via="nginx-default",
                  python="requests"),
        Transport("nginx11", "nginx 1.1, proxy_buffering off", args.nginx_unbuffered,
                  via="nginx-unbuffered", python="requests"),
        Transport("haproxy", "HAProxy mode http", args.haproxy, via="haproxy",
                  python="requests"),
    ]  # fmt: skip


# The cells Python reads too: two formats, both codings, every scenario, on each
# transport a Python client speaks (no HTTP/1.0 client; `TE: trailers` is left out
# because neither library exposes trailers).
PYTHON_FORMATS = ("ndjson", "csv")


class Cell:
    """One export read by one client: transport x format x coding x scenario."""

    def __init__(self, transport, fmt, encoding, scenario, client):
        self.transport, self.fmt, self.encoding = transport, fmt, encoding
        self.scenario, self.client = scenario, client

    @property
    def url(self):
        return f"{self.transport.base}{SCENARIOS[self.scenario][1]}?format={self.fmt}"

    @property
    def name(self):
        t = self.transport.key
        return f"{self.client}/{t}/{self.fmt}/{self.encoding}/{self.scenario}"


class Seen:
    """What a client observed: the response, the body as it arrived, how it ended."""

    def __init__(self):
        self.status = None
        self.version = None
        self.headers = {}
        self.trailers = {}
        self.failure = None  # "curl exit N", or the exception's class
        self.message = None  # curl's error message, or the exception's text
        self.timed_out = False
        self.chunks = []  # (seconds since the request, bytes)
        self.total = None

    def body(self):
        return b"".join(chunk for _, chunk in self.chunks)

    def rows(self, fmt):
        """The ids of the complete rows of a 200 body and whether it closes (bodies.rows)."""
        return bodies.rows(fmt, self.body()) if self.status == 200 else ([], False)

    def first_row_at(self, fmt):
        if self.status != 200:
            return None
        prefix = b""
        for at, chunk in self.chunks:
            prefix += chunk
            if bodies.first_row_end(fmt, prefix):
                return at
        return None


def run_curl(cell, scratch):
    dump = os.path.join(scratch, cell.name.replace("/", "_") + ".headers")
    cmd = ["curl", "-sS", "-N", "-o", "-", "-D", dump, "--max-time", str(CELL_TIMEOUT),
           "-w", "%{stderr}\n@@matrix %{json}\n", *cell.transport.curl]  # fmt: skip
    if cell.encoding == "gzip":
        # --compressed decodes; the header asks for gzip only.
        cmd += ["--compressed", "-H", "Accept-Encoding: gzip"]
    cmd.append(cell.url)
    seen = Seen()
    start = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        while chunk := os.read(proc.stdout.fileno(), 1 << 16):
            seen.chunks.append((time.monotonic() - start, chunk))
        err = proc.stderr.read().decode("utf-8", errors="replace")
        rc = proc.wait()
    seen.total = time.monotonic() - start
    out = json.loads(err.rsplit("@@matrix ", 1)[1]) if "@@matrix " in err else {}
    message = err.split("\n@@matrix ", 1)[0].strip()
    if rc != 0:
        seen.failure, seen.message = f"curl exit {rc}", message
        seen.timed_out = rc == 28
    if out.get("http_code"):
        seen.status = out["http_code"]
        seen.version = out.get("http_version")
    if os.path.exists(dump):
        with open(dump, encoding="latin-1") as f:
            seen.headers, seen.trailers = parse_dump(f.read())
    return seen


def parse_dump(text):
    """The final response's headers and the trailers from a curl `-D` file."""
    headers, trailers, current = {}, {}, None
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line.startswith("HTTP/"):
            headers, trailers, current = {}, {}, "headers"
        elif line == "":
            current = "trailers" if current == "headers" else current
        elif ":" in line and current:
            name, value = line.split(":", 1)
            target = headers if current == "headers" else trailers
            target[name.strip().lower()] = value.strip()
    return headers, trailers


def run_python(cell, _scratch):
    import httpx  # noqa: PLC0415 - only in the venv the script creates
    import requests  # noqa: PLC0415

    headers = {"Accept-Encoding": cell.encoding}
    seen = Seen()
    # The clients are made before the clock starts: httpx loads its TLS context then,
    # which takes up to a second on a busy machine and says nothing about the server.
    session = requests.Session() if cell.client == "requests" else None
    client = None if session else httpx.Client(http1=False, http2=True, timeout=CELL_TIMEOUT)
    start = time.monotonic()
    try:
        if session:
            with session, session.get(cell.url, headers=headers, stream=True, timeout=(5, CELL_TIMEOUT)) as r:
                note_response(seen, r.status_code, "1.1", r.headers)
                for chunk in r.iter_content(chunk_size=None):
                    seen.chunks.append((time.monotonic() - start, chunk))
        else:
            with client:
                with client.stream("GET", cell.url, headers=headers) as r:
                    note_response(seen, r.status_code, r.http_version, r.headers)
                    for chunk in r.iter_bytes():
                        seen.chunks.append((time.monotonic() - start, chunk))
    except Exception as e:  # noqa: BLE001 - any exception is how the client reports a failure
        seen.failure, seen.message = type(e).__name__, str(e)
        seen.timed_out = isinstance(e, (requests.Timeout, httpx.TimeoutException))
    seen.total = time.monotonic() - start
    return seen


def note_response(seen, status, version, headers):
    seen.status = status
    seen.version = version.removeprefix("HTTP/")
    seen.headers = {k.lower(): v for k, v in headers.items()}


def judge(cell, seen):
    """(ok, reason): whether the cell behaved as it must, and in a few words why not."""
    transport, scenario = cell.transport, cell.scenario
    if seen.timed_out:
        return False, f"hang ({seen.total:.0f} s)"
    if transport.key == "h2" and seen.version != "2":
        return False, f"no h2 ({seen.failure or 'HTTP/' + str(seen.version)})"
    if seen.status is None:
        return False, f"no response ({seen.failure})"
    if transport.via and seen.headers.get(VIA) != transport.via:
        return False, f"not through {transport.via}"
    try:
        ids, ended = seen.rows(cell.fmt)
    except ValueError as e:
        return False, f"{seen.status}, not {cell.fmt}: {e}"
    outcome = seen.trailers.get("rowstream-outcome")
    what = f"{seen.status}, {seen.failure or 'clean end'}, {len(ids)} rows"
    if outcome:
        what += f", trailer {outcome}"
    if scenario == "early":
        problem = seen.headers.get("content-type", "").startswith("application/problem+json")
        if seen.status >= 500 and problem:
            return True, "PASS"
        if seen.status < 500 and not seen.failure and outcome in (None, "complete"):
            return False, f"looks complete: {what}"
        return False, f"{what}; want 5xx problem+json"
    if scenario == "late":
        if len(ids) > 100_000 or ids != list(range(1, len(ids) + 1)):
            return False, f"made-up rows: {what}"
        if seen.failure or seen.status >= 500 or outcome not in (None, "complete"):
            return True, "PASS"
        return False, f"looks complete: {what}"
    expected = SCENARIOS[scenario][2]
    if seen.failure or seen.status != 200:
        return False, f"failed: {what}"
    problems = []
    if ids != list(range(1, expected + 1)) or not ended:
        problems.append(f"rows wrong: {len(ids)} of {expected}{'' if ended else ', not closed'}")
    if transport.key == "te" and cell.client == "curl":
        rows = seen.trailers.get("rowstream-rows")
        if outcome != "complete" or rows != str(expected):
            problems.append(f"trailers {outcome or 'missing'}/{rows or 'missing'}")
    if scenario == "pause":
        at = seen.first_row_at(cell.fmt)
        if at is None or at > FIRST_ROW_WITHIN:
            problems.append(f"row 1 at {at:.1f} s" if at is not None else "no first row")
    return not problems, "; ".join(problems) or "PASS"


def observe(cell, scratch):
    runner = run_curl if cell.client == "curl" else run_python
    try:
        seen = runner(cell, scratch)
        ok, reason = judge(cell, seen)
    except Exception as e:  # noqa: BLE001 - a harness error is reported as the cell's failure
        return cell, False, f"harness error: {type(e).__name__}: {e}", None
    return cell, ok, reason, seen


def cells(order):
    out = []
    for transport in order:
        for scenario in SCENARIOS:
            for fmt in bodies.FORMATS:
                for encoding in ENCODINGS:
                    out.append(Cell(transport, fmt, encoding, scenario, "curl"))
                    if transport.python and fmt in PYTHON_FORMATS:
                        out.append(Cell(transport, fmt, encoding, scenario, transport.python))
    return out


def run_all(all_cells, jobs):
    """Runs the cells; the pause cells first and alone, as they measure time to row 1."""
    results = []
    with tempfile.TemporaryDirectory(prefix="failure-matrix-") as scratch:
        pause = [c for c in all_cells if c.scenario == "pause"]
        rest = [c for c in all_cells if c.scenario != "pause"]
        # The pause cells mostly wait on the database: twice the jobs run at once, their
        # starts 50 ms apart, so the time to row 1 measures the server, not a burst of
        # client processes starting together.
        for group, workers, stagger in ((pause, 2 * jobs, 0.05), (rest, jobs, 0)):
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
                futures = []
                for i, cell in enumerate(group):
                    if stagger and i < workers:
                        time.sleep(stagger)
                    futures.append(pool.submit(observe, cell, scratch))
                for future in futures:
                    result = future.result()
                    results.append(result)
                    cell, ok, reason, seen = result
                    if not ok:
                        message = f" [{seen.message}]" if seen and seen.message else ""
                        print(f"FAIL {cell.name}: {reason}{message}", flush=True)
        # A pause cell whose only fault is a late row 1 runs once more, alone: a row the
        # server holds back is late again (by the whole 5 s pause), while a row delayed by
        # a busy machine's scheduling is not.
        for i, (cell, ok, reason, seen) in enumerate(results):
            if not ok and cell.scenario == "pause" and reason.startswith("row 1 at"):
                again = observe(cell, scratch)
                verdict = "PASS" if again[1] else f"FAIL ({again[2]})"
                print(f"RETRY {cell.name} alone: {verdict}", flush=True)
                results[i] = again
    return results


def table(results, order, clients, formats):
    """One row per transport x scenario (in `order`), one column per format x coding."""
    by = {(c.transport.key, c.scenario, c.fmt, c.encoding): reason
          for c, _, reason, _ in results if c.client in clients}  # fmt: skip
    columns = [(f, e) for f in formats for e in ENCODINGS]
    lines = ["| transport | scenario | " + " | ".join(f"{f} {e}" for f, e in columns) + " |",
             "|---|---|" + "---|" * len(columns)]  # fmt: skip
    for transport in order:
        for scenario, (title, _, _) in SCENARIOS.items():
            texts = [by.get((transport.key, scenario, f, e)) for f, e in columns]
            if any(texts):
                texts = [t or "-" for t in texts]
                lines.append(f"| {transport.title} | {title} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def summary(results):
    failed = [(c, reason) for c, ok, reason, _ in results if not ok]
    by_client = collections.Counter(c.client for c, _, _, _ in results)
    fails_by_client = collections.Counter(c.client for c, _ in failed)
    lines = [f"- {client}: {n - fails_by_client[client]} of {n} cells pass"
             for client, n in sorted(by_client.items())]  # fmt: skip
    reasons = collections.Counter(reason_kind(reason) for _, reason in failed)
    if reasons:
        lines.append("\nFailing cells by reason:\n")
        lines += [f"- {n} x {kind}" for kind, n in reasons.most_common()]
    return "\n".join(lines), len(failed)


def reason_kind(reason):
    """A reason without its row counts and times, to group cells that fail alike."""
    return re.sub(r"\b\d+(\.\d+)? (rows|s)\b", r"N \2", reason)


def details(results):
    out = []
    for cell, ok, reason, seen in results:
        entry = {"cell": cell.name, "ok": ok, "reason": reason}
        if seen is not None:
            entry.update(
                status=seen.status, version=seen.version, failure=seen.failure,
                message=seen.message,
                content_type=seen.headers.get("content-type"),
                content_encoding=seen.headers.get("content-encoding"),
                trailers=seen.trailers, bytes=len(seen.body()),
                rows=rows_or_none(cell.fmt, seen),
                first_row_s=seen.first_row_at(cell.fmt), total_s=round(seen.total, 3),
            )  # fmt: skip
        out.append(entry)
    return out


def rows_or_none(fmt, seen):
    try:
        return len(seen.rows(fmt)[0])
    except ValueError:
        return None


def self_check():
    """judge() on made-up observations whose verdicts are known."""
    t = {t.key: t for t in transports(argparse.Namespace(
        base="b", nginx_default="n", nginx_unbuffered="u", haproxy="h"))}  # fmt: skip

    def seen(status=200, rows=0, failure=None, trailers=None, first=0.01, ctype=None, end=b""):
        s = Seen()
        s.status, s.version, s.failure, s.trailers = status, "1.1", failure, trailers or {}
        s.headers = {"content-type": ctype or "application/x-ndjson"}
        body = b"".join(b'{"i":%d}\n' % i for i in range(1, rows + 1)) + end
        s.chunks = [(first, body[:9]), (first + 0.1, body[9:])]
        return s

    def verdict(transport, scenario, s):
        return judge(Cell(t[transport], "ndjson", "identity", scenario, "curl"), s)

    problem = "application/problem+json"
    cases = [
        ("h1", "early", seen(500, ctype=problem), (True, "PASS")),
        ("h1", "early", seen(failure="curl exit 18"), (False, "200, curl exit 18, 0 rows; want 5xx problem+json")),
        ("h10", "early", seen(), (False, "looks complete: 200, clean end, 0 rows")),
        ("h1", "late", seen(rows=100_000, failure="curl exit 18"), (True, "PASS")),
        ("te", "late", seen(rows=100_000, trailers={"rowstream-outcome": "error"}), (True, "PASS")),
        ("h10", "late", seen(rows=100_000), (False, "looks complete: 200, clean end, 100000 rows")),
        ("h1", "late", seen(rows=100_001, failure="curl exit 18"), (False, "made-up rows: 200, curl exit 18, 100001 rows")),
        ("h1", "complete", seen(rows=100_000), (True, "PASS")),
        ("h1", "complete", seen(rows=99_999), (False, "rows wrong: 99999 of 100000")),
        ("h1", "complete", seen(rows=100_000, end=b'{"i":'), (False, "rows wrong: 100000 of 100000, not closed")),
        ("h1", "complete", seen(rows=100_000, failure="curl exit 18"), (False, "failed: 200, curl exit 18, 100000 rows")),
        ("te", "complete", seen(rows=100_000), (False, "trailers missing/missing")),
        ("te", "complete", seen(rows=100_000, trailers={"rowstream-outcome": "complete", "rowstream-rows": "100000"}), (True, "PASS")),
        ("h1", "pause", seen(rows=10, first=0.4), (True, "PASS")),
        ("te", "pause", seen(rows=10, first=5.0), (False, "trailers missing/missing; row 1 at 5.0 s")),
        ("h2", "complete", seen(rows=100_000), (False, "no h2 (HTTP/1.1)")),
        ("nginx", "complete", seen(rows=100_000), (False, "not through nginx-default")),
    ]  # fmt: skip
    for transport, scenario, s, want in cases:
        got = verdict(transport, scenario, s)
        assert got == want, (transport, scenario, got, want)
    print(f"matrix: {len(cases)} self-checks of the verdicts passed")


def main():
    if sys.argv[1:] == ["--self-check"]:
        return self_check()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("--base", "--nginx-default", "--nginx-unbuffered", "--haproxy"):
        parser.add_argument(name, required=True)
    parser.add_argument("--report")
    parser.add_argument("--details")
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args()

    started = time.monotonic()
    order = transports(args)
    results = run_all(cells(order), args.jobs)
    text, failed = summary(results)
    report = "\n\n".join([
        "### curl, every cell\n\n" + table(results, order, {"curl"}, bodies.FORMATS),
        "### Python (requests over HTTP/1.1, httpx over HTTP/2), a sample\n\n"
        + table(results, order, {"requests", "httpx"}, PYTHON_FORMATS),
        f"### Summary ({time.monotonic() - started:.0f} s)\n\n{text}",
    ])  # fmt: skip
    print(report)
    if args.report:
        with open(args.report, "w") as f:
            f.write(report + "\n")
    if args.details:
        with open(args.details, "w") as f:
            json.dump(details(results), f, indent=1)
    print(f"\nmatrix: {len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
