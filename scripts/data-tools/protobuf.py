"""Protocol Buffers from `rowstream serve`, read by the classes `protoc` generates.

    python protobuf.py BASE CUT DATA_DIR WORK

For flights, planes, airports and weather (loaded by `check.py`, from SQLite, PostgreSQL
or MariaDB; an `id` key first is checked to number the rows in CSV order): the
table's `.proto` from `GET /tables/{table}.proto` compiled by grpcio-tools'
`python -m grpc_tools.protoc`, the length-delimited stream of `?format=protobuf` parsed
with the generated class (`ParseFromString`, one message per length prefix), and every
value compared with the CSV (NA as an unset optional field), row order kept. The
flights from the server at CUT, which cuts exports after 100,000 rows (`--max-rows`),
end inside a message. Prints one line per check; exits 1 on any failure.
"""

import importlib
import os
import subprocess
import sys
import urllib.request

# The CSV's rows typed as the loaders store them, and the comparison of one value.
from check import csv_rows, same, typed  # check.py, beside this file

TABLES = ["flights", "planes", "airports", "weather"]

failures = 0


def report(ok, reader, what, detail):
    global failures
    print(f"{'ok  ' if ok else 'FAIL'} {reader:<16} {what}: {detail}")
    if not ok:
        failures += 1


def varint(buf, pos):
    """The base-128 varint at `pos` and the position after it; None if it is cut."""
    value, shift = 0, 0
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    return None


def frames(body):
    """The length-delimited messages of `body`, and whether it ends inside one."""
    out, pos = [], 0
    while pos < len(body):
        read = varint(body, pos)
        if read is None or read[1] + read[0] > len(body):
            return out, True
        size, pos = read
        out.append(body[pos : pos + size])
        pos += size
    return out, False


def fetch(url):
    with urllib.request.urlopen(url) as r:
        return r.headers["content-type"], r.read()


def message_class(base, table, work):
    """The generated class of `table`'s served `.proto`."""
    out = os.path.join(work, "proto")
    os.makedirs(out, exist_ok=True)
    ctype, text = fetch(f"{base}/tables/{table}.proto")
    report(ctype.startswith("text/plain"), "http", f"{table}.proto", ctype)
    with open(os.path.join(out, f"{table}.proto"), "wb") as f:
        f.write(text)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{out}", f"--python_out={out}", f"{table}.proto"],
        check=True,
    )
    if out not in sys.path:
        sys.path.insert(0, out)
    module = importlib.import_module(f"{table}_pb2")
    (name,) = module.DESCRIPTOR.message_types_by_name
    return getattr(module, name)


def columns_of(cls, messages):
    """Column name → values of the parsed messages (None for an unset field)."""
    fields = cls.DESCRIPTOR.fields
    columns = {f.name: [] for f in fields}
    for data in messages:
        m = cls()
        m.ParseFromString(data)
        for f in fields:
            present = m.HasField(f.name) if f.has_presence else True
            columns[f.name].append(getattr(m, f.name) if present else None)
    return columns


def compare(columns, header, rows):
    """First difference from the CSV, or None. An `id` column first (the key PostgreSQL
    and MariaDB tables get, numbered in CSV order) must be 1, 2, 3 …"""
    if list(columns)[:1] == ["id"] and "id" not in header:
        columns = dict(columns)
        if columns.pop("id") != list(range(1, len(next(iter(columns.values()), [])) + 1)):
            return "id is not 1, 2, 3 … in order"
    if list(columns) != header:
        return f"columns {list(columns)} != {header}"
    n = len(next(iter(columns.values()))) if columns else 0
    if n != len(rows):
        return f"{n} rows, the CSV has {len(rows)}"
    for j, name in enumerate(header):
        values = columns[name]
        for i, row in enumerate(rows):
            if not same(values[i], typed(name, row[j])):
                return f"row {i}, {name}: served {values[i]!r}, the CSV has {row[j]!r}"
    return None


def main(base, cut, data, work):
    classes = {}
    for table in TABLES:
        header, rows = csv_rows(data, table)
        cls = classes[table] = message_class(base, table, work)
        ctype, body = fetch(f"{base}/tables/{table}?format=protobuf")
        full_name = cls.DESCRIPTOR.full_name
        report(
            ctype == f'application/x-protobuf; delimited=true; messageType="{full_name}"',
            "http",
            f"{table} protobuf",
            ctype,
        )
        messages, truncated = frames(body)
        if truncated:
            report(False, "protobuf", table, "the stream ends inside a message")
            continue
        diff = compare(columns_of(cls, messages), header, rows)
        report(diff is None, "protoc python", table, diff or f"{len(messages)} messages ({len(body)} bytes) equal the CSV")

    # A cut export: the transfer fails, and the last message is truncated.
    try:
        req = urllib.request.urlopen(f"{cut}/tables/flights?format=protobuf")
        body = b""
        try:
            while chunk := req.read(1 << 16):
                body += chunk
            transport = "no error"
        except Exception as e:
            transport = type(e).__name__
            body += getattr(e, "partial", b"")
        messages, truncated = frames(body)
        # A reader that does not check lengths (slices what is left and parses it, as a
        # plain varint loop does) must fail on the cut message too, not read an empty one.
        naive_error, pos = "no error", 0
        while pos < len(body) and naive_error == "no error":
            read = varint(body, pos)
            if read is None:
                naive_error = "cut length"
                break
            size, pos = read
            try:
                classes["flights"]().ParseFromString(body[pos : pos + size])
            except Exception as e:
                naive_error = type(e).__name__
            pos += size
        report(
            naive_error != "no error",
            "cut",
            "protobuf, lengths unchecked",
            f"a plain varint loop with ParseFromString: {naive_error}",
        )
        # The whole messages before the cut are flights, in order.
        header, rows = csv_rows(data, "flights")
        columns = columns_of(classes["flights"], messages)
        diff = compare(columns, header, rows[: len(messages)])
        report(
            truncated and transport != "no error" and diff is None,
            "cut",
            "protobuf",
            f"transport: {transport}; {len(body)} bytes; {len(messages)} whole messages"
            f"{' equal the CSV' if diff is None else ': ' + diff}; "
            f"{'the last one truncated' if truncated else 'no truncated message'}",
        )
    except Exception as e:
        report(False, "cut", "protobuf", repr(e))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
    sys.exit(1 if failures else 0)
