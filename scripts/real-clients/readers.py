"""Readers that open a URL like a file, against spooled exports of `rowstream serve`:
Polars (`read_csv` and `scan_csv`, through its object store)
and fsspec's HTTP filesystem (what pandas and pyarrow use for URLs). Also: the server's
`/openapi.json` validates as OpenAPI 3.1 (`openapi-spec-validator`) and names every
column of `tickets`.

Usage: readers.py BASE_URL EXPECTED_ROWS FAILING_PATH

Every value read must equal the streamed export's (parsed with Python's csv module); a
spooled export that fails must make the reader raise. Prints one line per check and
exits 1 if any failed.
"""

import csv
import io
import sys

import fsspec
import polars as pl
import requests

BASE, EXPECTED, FAILING = sys.argv[1], int(sys.argv[2]), sys.argv[3]
failures = 0


def report(ok, client, check, observed):
    global failures
    if not ok:
        failures += 1
    print(f"{'ok  ' if ok else 'FAIL'} {client:9} {check}: {observed}", flush=True)


streamed = requests.get(f"{BASE}/tables/tickets?format=csv", timeout=60).content
records = list(csv.reader(io.StringIO(streamed.decode("utf-8"), newline="")))
header, rows = records[0], [tuple(r) for r in records[1:]]
assert len(rows) == EXPECTED, (len(rows), EXPECTED)
url = f"{BASE}/tables/tickets?format=csv&spool"


def as_text(frame):
    """Rows of a frame read with every column as text, NULL (an empty field) as ''."""
    return [tuple("" if v is None else v for v in row) for row in frame.rows()]


# Polars: read_csv on the URL.
try:
    frame = pl.read_csv(url, infer_schema=False)
    got = as_text(frame)
    report(
        frame.columns == header and got == rows,
        "polars",
        "read_csv(url)",
        f"{len(got)} rows, equal: {got == rows}",
    )
except Exception as err:  # noqa: BLE001 - any failure is the check's result
    report(False, "polars", "read_csv(url)", repr(err)[:300])

# Polars: a lazy scan reads what it needs.
try:
    head = pl.scan_csv(url, infer_schema=False).head(7).collect()
    report(as_text(head) == rows[:7], "polars", "scan_csv(url).head(7)", f"{head.height} rows")
except Exception as err:  # noqa: BLE001
    report(False, "polars", "scan_csv(url).head(7)", repr(err)[:300])

# Polars: Parquet and the Arrow IPC stream, spooled; the key and a text column equal the
# CSV's, in order.
ids = [r[header.index("id")] for r in rows]
subjects = [r[header.index("subject")] for r in rows]
for fmt, read in [("parquet", pl.read_parquet), ("arrow", pl.read_ipc_stream)]:
    try:
        frame = read(f"{BASE}/tables/tickets?format={fmt}&spool")
        same = ([str(v) for v in frame["id"].to_list()] == ids
                and frame["subject"].to_list() == subjects)
        report(frame.height == EXPECTED and same, "polars", f"read {fmt} (spooled)",
               f"{frame.height} rows, {frame.width} columns, equal to the CSV: {same}")
    except Exception as err:  # noqa: BLE001
        report(False, "polars", f"read {fmt} (spooled)", repr(err)[:300])

# Polars: a spooled export that fails is an error, not a short frame.
try:
    frame = pl.read_csv(f"{BASE}{FAILING}?format=csv&spool", infer_schema=False)
    report(False, "polars", "failed export raises", f"read {frame.height} rows")
except Exception as err:  # noqa: BLE001
    report(True, "polars", "failed export raises", f"{type(err).__name__}: {str(err)[:120]}")

# fsspec's HTTP filesystem: the size, then random access by ranges.
try:
    fs = fsspec.filesystem("http")
    size = fs.size(url)
    report(size == len(streamed), "fsspec", "size", f"{size} (streamed {len(streamed)})")
    with fs.open(url, "rb", block_size=4096) as f:
        f.seek(len(streamed) // 2)
        middle = f.read(3000)
        f.seek(0)
        whole = f.read()
    half = len(streamed) // 2
    report(middle == streamed[half:half + 3000], "fsspec", "seek + read", f"{len(middle)} bytes")
    report(whole == streamed, "fsspec", "read all", f"{len(whole)} bytes")
except Exception as err:  # noqa: BLE001
    report(False, "fsspec", "random access", repr(err)[:300])

try:
    fsspec.filesystem("http").cat_file(f"{BASE}{FAILING}?format=csv&spool")
    report(False, "fsspec", "failed export raises", "read it")
except Exception as err:  # noqa: BLE001
    report(True, "fsspec", "failed export raises", type(err).__name__)

# The OpenAPI document: valid 3.1, with the table's every column.
try:
    from openapi_spec_validator import validate

    api = requests.get(f"{BASE}/openapi.json", timeout=60).json()
    validate(api)
    row = api["components"]["schemas"]["table.tickets"]["properties"]
    report(sorted(row) == sorted(header), "openapi", "validates, tickets' columns",
           f"{len(api['paths'])} paths, columns {sorted(row) == sorted(header)}")
except Exception as err:  # noqa: BLE001
    report(False, "openapi", "validates", repr(err)[:300])

sys.exit(1 if failures else 0)
