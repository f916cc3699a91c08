"""Arrow and Parquet from `rowstream serve`, read by the data tools their users have.

    python check.py load DB.sqlite DATA_DIR     # the four tables into SQLite
    python check.py check BASE CUT DATA_DIR WORK  # read them back from the servers

`check`: flights, planes, airports and weather as `?format=arrow` read by pyarrow
(`ipc.open_stream`) and Polars (`read_ipc_stream`), as `?format=parquet` by pyarrow
(`parquet.read_table`) and Polars (`read_parquet`): every value equals the CSV's
(NA as NULL), row order kept. DuckDB reads the flights' Parquet file and agrees with
the CSV on count(*) and a few aggregates. The flights from the server at CUT, which
cuts exports after 100,000 rows (`--max-rows`), make every reader raise. Prints one line per check; exits 1 on any failure.
"""

import csv
import io
import math
import sqlite3
import sys
import urllib.request
import zipfile

TABLES = ["flights", "planes", "airports", "weather"]


def csv_rows(data, table):
    if table == "flights":
        with zipfile.ZipFile(f"{data}/flights.csv.zip") as z:
            text = z.read("flights.csv").decode("utf-8")
    else:
        with open(f"{data}/{table}.csv", encoding="utf-8", newline="") as f:
            text = f.read()
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    return header, list(reader)


def typed(column, field):
    """As tests/common/flights.rs: NA → NULL, an integer, a finite real, else text."""
    if field == "NA":
        return None
    if column == "time_hour":
        return field
    try:
        return int(field)
    except ValueError:
        pass
    try:
        real = float(field)
        if math.isfinite(real):
            return real
    except ValueError:
        pass
    return field


def load(db, data):
    conn = sqlite3.connect(db)
    for table in TABLES:
        header, rows = csv_rows(data, table)
        cols = ", ".join(f'"{c}"' for c in header)
        conn.execute(f'CREATE TABLE "{table}" ({cols})')
        marks = ", ".join("?" for _ in header)
        conn.executemany(
            f'INSERT INTO "{table}" VALUES ({marks})',
            ([typed(c, v) for c, v in zip(header, row)] for row in rows),
        )
    conn.commit()
    conn.close()


failures = 0


def report(ok, reader, what, detail):
    global failures
    print(f"{'ok  ' if ok else 'FAIL'} {reader:<16} {what}: {detail}")
    if not ok:
        failures += 1


def same(served, expected):
    if expected is None or served is None:
        return served is None and expected is None
    if isinstance(expected, str):
        return served == expected
    if isinstance(served, str):  # a column that mixes storage classes: its text
        try:
            return float(served) == float(expected)
        except ValueError:
            return False
    return served == expected and type(served) is not bool


def compare(columns, header, rows):
    """First difference between served columns (name → list) and the CSV, or None."""
    if list(columns) != header:
        return f"columns {list(columns)} != {header}"
    n = len(next(iter(columns.values()))) if columns else 0
    if n != len(rows):
        return f"{n} rows, the CSV has {len(rows)}"
    for j, name in enumerate(header):
        values = columns[name]
        for i, row in enumerate(rows):
            expected = typed(name, row[j])
            if not same(values[i], expected):
                return f"row {i}, {name}: served {values[i]!r}, the CSV has {row[j]!r}"
    return None


def fetch(url):
    with urllib.request.urlopen(url) as r:
        return r.headers["content-type"], r.read()


def check(base, cut, data, work):
    import duckdb
    import polars as pl
    import pyarrow as pa
    import pyarrow.ipc
    import pyarrow.parquet as pq

    for table in TABLES:
        header, rows = csv_rows(data, table)
        ctype, arrow = fetch(f"{base}/tables/{table}?format=arrow")
        report(ctype == "application/vnd.apache.arrow.stream", "http", f"{table} arrow", ctype)
        t = pa.ipc.open_stream(arrow).read_all()
        diff = compare(t.to_pydict(), header, rows)
        report(diff is None, "pyarrow ipc", table, diff or f"{t.num_rows} rows equal the CSV")
        df = pl.read_ipc_stream(io.BytesIO(arrow))
        diff = compare(df.to_dict(as_series=False), header, rows)
        report(diff is None, "polars ipc", table, diff or f"{df.height} rows equal the CSV")

        ctype, parquet = fetch(f"{base}/tables/{table}?format=parquet")
        report(ctype == "application/vnd.apache.parquet", "http", f"{table} parquet", ctype)
        t = pq.read_table(io.BytesIO(parquet))
        diff = compare(t.to_pydict(), header, rows)
        report(diff is None, "pyarrow parquet", table, diff or f"{t.num_rows} rows equal the CSV")
        df = pl.read_parquet(io.BytesIO(parquet))
        diff = compare(df.to_dict(as_series=False), header, rows)
        report(diff is None, "polars parquet", table, diff or f"{df.height} rows equal the CSV")
        if table == "flights":
            print(f"     flights: {len(arrow)} bytes as Arrow, {len(parquet)} bytes as Parquet")
            path = f"{work}/flights.parquet"
            with open(path, "wb") as f:
                f.write(parquet)
            got = duckdb.connect().execute(
                f"SELECT count(*), sum(distance), sum(dep_delay), count(dep_delay), "
                f"min(carrier), max(tailnum) FROM read_parquet('{path}')"
            ).fetchone()
            col = {c: i for i, c in enumerate(header)}
            ints = lambda c: [int(r[col[c]]) for r in rows if r[col[c]] != "NA"]
            want = (
                len(rows),
                sum(ints("distance")),
                sum(ints("dep_delay")),
                len(ints("dep_delay")),
                min(r[col["carrier"]] for r in rows),
                max(r[col["tailnum"]] for r in rows if r[col["tailnum"]] != "NA"),
            )
            report(tuple(got) == want, "duckdb", "flights aggregates", f"{tuple(got)} vs the CSV's {want}")

    # A cut export: every reader raises.
    for fmt in ["arrow", "parquet"]:
        try:
            req = urllib.request.urlopen(f"{cut}/tables/flights?format={fmt}")
            # Read past the server's --max-rows cut; the transport raises, or the bytes do.
            body = b""
            try:
                while chunk := req.read(1 << 16):
                    body += chunk
                transport = "no error"
            except Exception as e:
                transport = type(e).__name__
                body += getattr(e, "partial", b"")
            raised = []
            for name, read in [
                ("pyarrow", (lambda b: pa.ipc.open_stream(b).read_all()) if fmt == "arrow" else (lambda b: pq.read_table(io.BytesIO(b)))),
                ("polars", (lambda b: pl.read_ipc_stream(io.BytesIO(b))) if fmt == "arrow" else (lambda b: pl.read_parquet(io.BytesIO(b)))),
            ]:
                try:
                    read(body)
                except Exception as e:
                    raised.append(f"{name}: {type(e).__name__}")
            report(len(raised) == 2, "cut", fmt, f"transport: {transport}; {len(body)} bytes; " + "; ".join(raised))
        except Exception as e:
            report(False, "cut", fmt, repr(e))


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
        sys.exit(1 if failures else 0)
