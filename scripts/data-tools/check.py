"""Arrow and Parquet from `rowstream serve`, read by the data tools their users have.

    python check.py load DB.sqlite DATA_DIR           # the four tables into SQLite
    python check.py sql postgres|mariadb DATA_DIR WORK  # SQL for psql/mariadb that loads them
    python check.py check LABEL BASE CUT DATA_DIR WORK   # read them back from the servers

`load`: each value bound as the CSV reads (an integer, a real, text; NA as NULL) into
columns of no declared type. `sql`: typed columns (integer, bigint, double, text,
`time_hour` as timestamptz / TIMESTAMP in UTC) after an `id` key numbered in CSV order,
loaded with `\\copy` (PostgreSQL) or `LOAD DATA LOCAL INFILE` (MariaDB) into the current
schema or database; the flights' CSV is unzipped into WORK for it.

`check`: flights, planes, airports and weather as `?format=arrow` read by pyarrow
(`ipc.open_stream`) and Polars (`read_ipc_stream`), as `?format=parquet` by pyarrow
(`parquet.read_table`) and Polars (`read_parquet`), and spooled (`&spool`) by Polars
straight from the URL (`read_parquet(url)`, `read_ipc_stream(url)`): every value equals
the CSV's (NA as NULL), row order kept (an `id` column, when served, is 1, 2, 3 …).
DuckDB reads each table's Parquet file and agrees with the CSV on count(*), the count of
every column, the sum of every integer column and the min and max of every text column.
The flights from the server at CUT, which cuts exports after 100,000 rows
(`--max-rows`), make every reader raise. Prints one line per check, prefixed with LABEL;
exits 1 on any failure.
"""

import csv
import io
import math
import sqlite3
import sys
import time
import urllib.request
import zipfile
from datetime import datetime

TABLES = ["flights", "planes", "airports", "weather"]


def csv_text(data, table):
    if table == "flights":
        with zipfile.ZipFile(f"{data}/flights.csv.zip") as z:
            return z.read("flights.csv").decode("utf-8")
    with open(f"{data}/{table}.csv", encoding="utf-8", newline="") as f:
        return f.read()


def csv_rows(data, table):
    reader = csv.reader(io.StringIO(csv_text(data, table), newline=""))
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


def typed_column(name, fields):
    """`typed` of every field, each distinct field converted once."""
    cache = {}
    return [cache[f] if f in cache else cache.setdefault(f, typed(name, f)) for f in fields]


def kinds(columns):
    """Each column's kind from its values: int, bigint, float, text, or time (time_hour)."""
    out = {}
    for name, values in columns.items():
        values = {v for v in values if v is not None}
        if name == "time_hour":
            out[name] = "time"
        elif all(isinstance(v, int) for v in values):
            out[name] = "int" if all(-(2**31) <= v < 2**31 for v in values) else "bigint"
        elif all(isinstance(v, (int, float)) for v in values):
            out[name] = "float"
        else:
            out[name] = "text"
    return out


def typed_columns(header, rows):
    fields = list(zip(*rows)) if rows else [() for _ in header]
    return {name: typed_column(name, fields[j]) for j, name in enumerate(header)}


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


SQL_TYPES = {
    "postgres": {"int": "integer", "bigint": "bigint", "float": "double precision",
                 "text": "text", "time": "timestamptz"},
    "mariadb": {"int": "INT", "bigint": "BIGINT", "float": "DOUBLE",
                "text": "VARCHAR(255)", "time": "TIMESTAMP NULL DEFAULT NULL"},
}


def sql(dialect, data, work):
    """The SQL that creates and loads the four tables, for psql or the mariadb client."""
    out = []
    if dialect == "mariadb":
        out.append("SET time_zone = '+00:00';")
    for table in TABLES:
        text = csv_text(data, table)
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader)
        kind = kinds(typed_columns(header, list(reader)))
        path = f"{data}/{table}.csv"
        if table == "flights":
            path = f"{work}/flights.csv"
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        types = SQL_TYPES[dialect]
        columns = ", ".join(f"{c} {types[kind[c]]}" for c in header)
        if dialect == "postgres":
            out.append(f"CREATE TABLE {table} (id integer GENERATED BY DEFAULT AS IDENTITY "
                       f"PRIMARY KEY, {columns});")
            out.append(f"\\copy {table} ({', '.join(header)}) FROM '{path}' "
                       "(FORMAT csv, HEADER true, NULL 'NA')")
        else:
            out.append(f"CREATE TABLE {table} (id INT AUTO_INCREMENT PRIMARY KEY, {columns}) "
                       "CHARACTER SET utf8mb4;")
            # NA → NULL; time_hour "2013-01-01T10:00:00Z" as a UTC TIMESTAMP literal.
            sets = []
            for i, c in enumerate(header):
                value = f"NULLIF(@v{i}, 'NA')"
                if kind[c] == "time":
                    value = f"REPLACE(REPLACE({value}, 'T', ' '), 'Z', '')"
                sets.append(f"{c} = {value}")
            variables = ", ".join(f"@v{i}" for i in range(len(header)))
            out.append(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} CHARACTER SET utf8mb4 "
                       "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                       f"LINES TERMINATED BY '\\n' IGNORE 1 LINES ({variables}) SET {', '.join(sets)};")
            out.append("SHOW WARNINGS;")
    print("\n".join(out))


failures = 0
LABEL = ""


def report(ok, reader, what, detail):
    global failures
    print(f"{'ok  ' if ok else 'FAIL'} {LABEL:<8} {reader:<16} {what}: {detail}")
    if not ok:
        failures += 1


class Expected:
    """A table's CSV as columns of typed values (time_hour also as UTC datetimes)."""

    def __init__(self, data, table):
        self.header, self.rows = csv_rows(data, table)
        self.columns = typed_columns(self.header, self.rows)
        self.kind = kinds(self.columns)
        self.instants = {
            name: [None if v is None else datetime.fromisoformat(v) for v in values]
            for name, values in self.columns.items()
            if self.kind[name] == "time"
        }


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


def compare(columns, types, want):
    """First difference between served columns (name → list; types: name → dtype text)
    and the CSV, or None. An `id` column first must be 1, 2, 3 …"""
    names = list(columns)
    if names and names[0] == "id" and "id" not in want.header:
        ids = columns.pop("id")
        if ids != list(range(1, len(want.rows) + 1)):
            return f"id is not 1 … {len(want.rows)} in order"
        names = names[1:]
    if names != want.header:
        return f"columns {names} != {want.header}"
    n = len(next(iter(columns.values()))) if columns else 0
    if n != len(want.rows):
        return f"{n} rows, the CSV has {len(want.rows)}"
    for j, name in enumerate(want.header):
        values = columns[name]
        if "bool" in types[name].lower():
            return f"{name} is {types[name]}"
        expected = want.columns[name]
        first = next((v for v in values if v is not None), None)
        if isinstance(first, datetime):
            if first.tzinfo is None:
                return f"{name}: a timestamp without a zone ({types[name]})"
            if values == want.instants[name]:
                continue
            expected = want.instants[name]
        elif values == expected:  # every value equal, None where NULL (1.0 == 1 is fine)
            continue
        for i, value in enumerate(values):
            if not same(value, expected[i]):
                return f"row {i}, {name}: served {value!r}, the CSV has {want.rows[i][j]!r}"
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

    def arrow_types(t):
        return {f.name: str(f.type) for f in t.schema}

    def polars_types(df):
        return {name: str(dtype) for name, dtype in df.schema.items()}

    for table in TABLES:
        want = Expected(data, table)
        header, rows = want.header, want.rows
        url = f"{base}/tables/{table}"
        ctype, arrow = fetch(f"{url}?format=arrow")
        report(ctype == "application/vnd.apache.arrow.stream", "http", f"{table} arrow", ctype)
        t = pa.ipc.open_stream(arrow).read_all()
        diff = compare(t.to_pydict(), arrow_types(t), want)
        report(diff is None, "pyarrow ipc", table, diff or f"{t.num_rows} rows equal the CSV")
        df = pl.read_ipc_stream(io.BytesIO(arrow))
        diff = compare(df.to_dict(as_series=False), polars_types(df), want)
        report(diff is None, "polars ipc", table, diff or f"{df.height} rows equal the CSV")

        ctype, parquet = fetch(f"{url}?format=parquet")
        report(ctype == "application/vnd.apache.parquet", "http", f"{table} parquet", ctype)
        t = pq.read_table(io.BytesIO(parquet))
        diff = compare(t.to_pydict(), arrow_types(t), want)
        report(diff is None, "pyarrow parquet", table, diff or f"{t.num_rows} rows equal the CSV")
        df = pl.read_parquet(io.BytesIO(parquet))
        diff = compare(df.to_dict(as_series=False), polars_types(df), want)
        report(diff is None, "polars parquet", table, diff or f"{df.height} rows equal the CSV")
        if table == "flights":
            print(f"     {LABEL} flights: {len(arrow)} bytes as Arrow, {len(parquet)} bytes as Parquet")

        # Spooled: Polars opens the URL like a file (HEAD, then byte ranges).
        for fmt, read in [("parquet", pl.read_parquet), ("arrow", pl.read_ipc_stream)]:
            try:
                df = read(f"{url}?format={fmt}&spool")
                diff = compare(df.to_dict(as_series=False), polars_types(df), want)
                report(diff is None, "polars url", f"{table} {fmt} (spooled)",
                       diff or f"{df.height} rows equal the CSV")
            except Exception as e:  # noqa: BLE001 - any failure is the check's result
                report(False, "polars url", f"{table} {fmt} (spooled)", repr(e)[:300])

        # DuckDB on the Parquet file: counts, integer sums, text min/max.
        path = f"{work}/{table}.parquet"
        with open(path, "wb") as f:
            f.write(parquet)
        exprs, expected = ["count(*)"], [len(rows)]
        for j, name in enumerate(header):
            values = [v for v in want.columns[name] if v is not None]
            exprs.append(f'count("{name}")')
            expected.append(len(values))
            if want.kind[name] in ("int", "bigint"):
                exprs.append(f'sum("{name}")')
                expected.append(sum(values) if values else None)
            elif want.kind[name] == "text":
                # The CSV's text (a text column may hold fields that read as numbers).
                texts = [r[j] for r in rows if r[j] != "NA"]
                exprs += [f'min("{name}")', f'max("{name}")']
                expected += [min(texts), max(texts)]
        got = duckdb.connect().execute(
            f"SELECT {', '.join(exprs)} FROM read_parquet('{path}')"
        ).fetchone()
        diffs = [f"{e}: {g!r} != {x!r}" for e, g, x in zip(exprs, got, expected) if g != x]
        report(not diffs, "duckdb", f"{table} aggregates",
               "; ".join(diffs) or f"{len(exprs)} aggregates equal the CSV's (count(*) {got[0]})")

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
    elif sys.argv[1] == "sql":
        sql(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "check":
        LABEL = sys.argv[2]
        started = time.monotonic()
        check(sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6])
        print(f"     {LABEL}: {failures} failures, {time.monotonic() - started:.1f} s")
        sys.exit(1 if failures else 0)
