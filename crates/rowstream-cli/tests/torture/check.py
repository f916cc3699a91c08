#!/usr/bin/env python3
"""Type-torture tables: every value of a table with every type, exported by a running
`rowstream serve` in every format, read back with independent decoders (Python's json,
csv and msgpack), and compared with the text the database's own client prints
(psql, mariadb, sqlite3).

    check.py --setup KIND             # prints the SQL that creates `torture`
    check.py KIND BASE CLIENT-ARGS...  # checks the exports of `torture` at BASE

KIND is postgres, mysql or sqlite; BASE the server's http://HOST:PORT; the table
`torture` must exist (the calling test creates it from setup_sql()). Prints one
line per column and format, then a Markdown table of the mapping; exits 1 on any
mismatch.
"""

import base64
import csv
import io
import json
import math
import struct
import subprocess
import sys
import urllib.error
import urllib.request

try:
    import msgpack
except ImportError:  # setup_sql() needs no decoder
    msgpack = None

# (column, SQL type, kind) per database; the values are in the setup SQL below.
POSTGRES = [
    ("i2", "smallint", "int"), ("i4", "integer", "int"), ("i8", "bigint", "int"),
    ("o", "oid", "int"),
    ("f4", "real", "float4"), ("f8", "double precision", "float"),
    ("num", "numeric", "numeric"),
    ("b", "boolean", "bool"), ("t", "text", "text"), ("vc", "varchar(20)", "text"),
    ("nm", "name", "text"), ("ch", '"char"', "text"),
    ("by", "bytea", "bytea"), ("u", "uuid", "text"), ("x", "xml", "text"),
    ("d", "date", "date"), ("tm", "time", "time"), ("ttz", "timetz", "timetz"),
    ("ts", "timestamp", "timestamp"), ("tstz", "timestamptz", "timestamptz"),
    ("iv", "interval", "text"),
    ("js", "json", "json"), ("jb", "jsonb", "json"),
    ("mood", "torture_mood", "text"), ("pos", "torture_pos", "int"),
    ("inet", "inet", "text"), ("cidr", "cidr", "text"), ("mac", "macaddr", "text"),
    ("money", "money", "text"), ("pt", "point", "text"), ("rng", "int4range", "text"),
    ("tsv", "tsvector", "text"), ("comp", "torture_pair", "text"),
    ("bits", "bit varying(8)", "text"),
    ("a_i8", "bigint[]", "array:int"), ("a_f8", "double precision[]", "array:float"),
    ("a_num", "numeric[]", "array:numeric"), ("a_t", "text[]", "array:text"),
    ("a_d", "date[]", "array:date"), ("a_ts", "timestamptz[]", "array:timestamptz"),
    ("a_jb", "jsonb[]", "array:json"), ("a_inet", "inet[]", "text"),
]

POSTGRES_ROWS = [
    # The extremes.
    "(1, -32768, -2147483648, -9223372036854775808, 4294967295, "
    "'-Infinity', 'NaN', 'NaN', false, '', '', 'n', 'x', '', "
    "'00000000-0000-0000-0000-000000000000', '<a/>', "
    "'4714-11-24 BC', '00:00:00', '00:00:00+14:59', '4714-11-24 00:00:00 BC', "
    "'4714-11-24 00:00:00+00 BC', '-178000000 years', "
    "'{\"big\": 12345678901234567890123, \"neg\": -98765432109876543210}', "
    "'{\"big\": 12345678901234567890123, \"f\": 1.5e300, \"s\": \"a,b\\\"c\"}', "
    "'sad', 1, '::1', '10.0.0.0/8', '08:00:2b:01:02:03', '-92233720368547758.08', "
    "'(-1.5,2)', '[1,10)', 'a fat cat', '(1,\"x, y\")', B'1', "
    "'{-9223372036854775808,9223372036854775807,NULL}', '{NaN,Infinity,-Infinity,0.1}', "
    "'{NaN,-Infinity,123456789012345678901234567890.123}', '{\"\",NULL,\"a,b\"}', "
    "'{infinity,-infinity,4714-11-24 BC}', "
    "'{294276-12-31 23:59:59.999999+00,infinity}', "
    "ARRAY['{\"n\": 12345678901234567890123}'::jsonb, 'null'::jsonb], '{::1,NULL}')",
    "(2, 32767, 2147483647, 9223372036854775807, 0, "
    "'Infinity', '-Infinity', 'Infinity', true, 'ünï \"q\" , line\nbreak', '=HYPERLINK(1)', "
    "'name', '\"', '\\x00ff', "
    "'ffffffff-ffff-ffff-ffff-ffffffffffff', '<a>&amp;</a>', "
    "'5874897-12-31', '24:00:00', '23:59:59.999999-15:59', "
    "'294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00', "
    "'1 year 2 mons 3 days 04:05:06.5', "
    "'[1, 2.50, {\"a\": null}]', '[9223372036854775808, -0.0, 1e-7]', "
    "'happy', 2147483647, '2001:db8::1/64', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', "
    "'92233720368547758.07', '(0,0)', 'empty', '''quoted'':1', '(,\"\")', B'10101010', "
    "'{}', '{1.5}', '{-Infinity}', '{}', '{}', '{}', '{}', '{}')",
    # Ordinary values, and 1 BC / 1 AD around year zero.
    "(3, 0, 1, 9007199254740993, 1, 1.5, 0.1, 12.50, true, 'plain', 'x', 'pg_class', "
    "'a', '\\xdeadbeef', '12345678-9abc-def0-0001-020304050607', '<b>x</b>', "
    "'0001-12-31 BC', '12:34:56.5', '12:00:00+00', '0001-01-01 00:00:00', "
    "'2024-02-29 12:00:00.000001+00', '-1 days -00:00:01', "
    "'{}', '{}', 'happy', 42, '192.168.0.1', '192.168.0.0/24', '01:02:03:04:05:06', "
    "'0.01', '(1e+300,-1e-300)', '(,5]', 'x:1A', '(0,\"\")', B'', "
    "'{1,2}', '{1e308,-5e-324}', '{0.0001000}', '{a}', '{2024-01-01}', "
    "'{1970-01-01 00:00:00+00}', ARRAY['[]'::jsonb], '{10.0.0.1}')",
    # NULL everywhere.
    "(4" + ", NULL" * len(POSTGRES) + ")",
]

MYSQL = [
    ("i8", "BIGINT", "int"), ("u8", "BIGINT UNSIGNED", "int"), ("ti", "TINYINT", "int"),
    ("bit1", "BIT(1)", "bit"), ("bit64", "BIT(64)", "bit"), ("yr", "YEAR", "int"),
    ("f", "FLOAT", "float4"), ("db", "DOUBLE", "float"), ("num", "DECIMAL(65,30)", "numeric"),
    ("d", "DATE", "mdate"), ("dt", "DATETIME(6)", "mdatetime"),
    ("ts", "TIMESTAMP(6) NULL", "mtimestamp"), ("tm", "TIME(6)", "mtime"),
    ("txt", "TEXT", "text"), ("vb", "VARBINARY(8)", "bytea_hex"),
    ("e", "ENUM('a','b c')", "text"), ("js", "JSON", "json"),
]

MYSQL_ROWS = [
    "(1, -9223372036854775808, 18446744073709551615, -128, b'1', "
    "b'1111111111111111111111111111111111111111111111111111111111111111', 1901, "
    "-3.40282e38, -1.7976931348623157e308, '-99999999999999999999999999999999999.999999999999999999999999999999', "
    "'0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '-838:59:59', "
    "'', X'', 'a', '{\"big\": 12345678901234567890123, \"n\": -98765432109876543210}')",
    "(2, 9223372036854775807, 0, 127, b'0', b'0', 2155, 1.5, 0.1, '0.000000000000000000000000000001', "
    "'9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '838:59:59', "
    "'ünï \"q\" , line\nbreak', X'00FF', 'b c', '[1, 2.5, \"=x\", null]')",
    "(3, 9007199254740993, 9007199254740993, 0, b'1', b'101', 2024, 0.1, 5e-324, '12.5', "
    "'2024-00-00', '1000-01-01 00:00:00', '1970-01-01 00:00:01', '00:00:00.000001', "
    "'=HYPERLINK(1)', X'DEADBEEF', 'a', '{}')",
    "(4" + ", NULL" * 17 + ")",
]

SQLITE = [
    ("i", "INTEGER", "sqlite"), ("r", "REAL", "sqlite"), ("t", "TEXT", "sqlite"),
    ("b", "BLOB", "sqlite"), ("any", "", "sqlite"),
]

SQLITE_ROWS = [
    "(1, -9223372036854775808, 9e999, 'ünï \"q\" , line\nbreak', X'00FF', 1)",
    "(2, 9223372036854775807, -9e999, '', X'', 1.5)",
    "(3, 9007199254740993, 0.1, '=1+2', X'DEADBEEF', 'text')",
    "(4, 0, -0.0, CAST(X'61C3A962' AS TEXT), NULL, X'01')",
    "(5, NULL, NULL, NULL, NULL, NULL)",
]


def setup_sql(kind):
    """The SQL that creates and fills `torture`."""
    if kind == "postgres":
        cols = ", ".join(f"{c} {t}" for c, t, _ in POSTGRES)
        return (
            "CREATE TYPE torture_mood AS ENUM ('sad', 'happy');\n"
            "CREATE DOMAIN torture_pos AS integer CHECK (VALUE > 0);\n"
            "CREATE TYPE torture_pair AS (n integer, s text);\n"
            f"CREATE TABLE torture (id integer PRIMARY KEY, {cols});\n"
            f"INSERT INTO torture VALUES {', '.join(POSTGRES_ROWS)};\n"
        )
    if kind == "mysql":
        cols = ", ".join(f"{c} {t}" for c, t, _ in MYSQL)
        return (
            "SET SESSION sql_mode = '';\nSET time_zone = '+00:00';\n"
            f"CREATE TABLE torture (id INT PRIMARY KEY, {cols}) CHARACTER SET utf8mb4;\n"
            f"INSERT INTO torture VALUES {', '.join(MYSQL_ROWS)};\n"
        )
    cols = ", ".join(f"{c} {t}".strip() for c, t, _ in SQLITE)
    return (
        f"CREATE TABLE torture (id INTEGER PRIMARY KEY, {cols});\n"
        f"INSERT INTO torture VALUES {', '.join(SQLITE_ROWS)};\n"
        # Text that is not UTF-8 cannot be exported exactly: the export must fail.
        "CREATE TABLE torture_bad (id INTEGER PRIMARY KEY, t TEXT);\n"
        "INSERT INTO torture_bad VALUES (1, CAST(X'61FF62' AS TEXT));\n"
    )


def columns(kind):
    return {"postgres": POSTGRES, "mysql": MYSQL, "sqlite": SQLITE}[kind]


# --- what the database's own client prints -------------------------------------------


def expected_postgres(psql):
    """Each row as {column: the value as psql shows it (its output function), or None};
    arrays as the list of their elements' ::text."""
    parts = []
    for c, _, k in POSTGRES:
        if k.startswith("array:"):
            e = f"(SELECT json_agg(e::text ORDER BY n) FROM unnest({c}) WITH ORDINALITY AS u(e, n))"
            parts.append(f"'{c}', CASE WHEN {c} IS NULL THEN NULL ELSE coalesce({e}, '[]') END")
        elif k == "text":
            # Read as text: the output function's text, as psql shows the value.
            parts.append(f"'{c}', CASE WHEN {c} IS NULL THEN NULL ELSE format('%s', {c}) END")
        else:
            parts.append(f"'{c}', {c}::text")
    sql = f"SELECT json_agg(json_build_object('id', id, {', '.join(parts)}) ORDER BY id) FROM torture"
    out = subprocess.run(psql + ["-AtX", "-c", sql], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def expected_mysql(mariadb):
    parts = []
    for c, _, k in MYSQL:
        if k == "bit":
            parts.append(f"'{c}', CAST({c} + 0 AS CHAR)")
        elif k == "bytea_hex":
            parts.append(f"'{c}', HEX({c})")
        else:
            parts.append(f"'{c}', CAST({c} AS CHAR)")
    sql = (
        "SET time_zone = '+00:00'; SELECT JSON_ARRAYAGG(JSON_OBJECT('id', id, "
        f"{', '.join(parts)})) FROM (SELECT * FROM torture ORDER BY id) AS t"
    )
    out = subprocess.run(mariadb + ["-N", "-B", "-r", "-e", sql], check=True, capture_output=True)
    rows = json.loads(out.stdout.decode("utf-8"))
    return sorted(rows, key=lambda r: r["id"])


def expected_sqlite(sqlite3):
    """(storage class, text as sqlite3 prints it, hex of the bytes) per value."""
    parts = ", ".join(f"typeof({c}), CAST({c} AS TEXT), hex({c})" for c, _, _ in SQLITE)
    out = subprocess.run(
        sqlite3 + ["-json", f"SELECT id, {parts} FROM torture ORDER BY id"],
        check=True, capture_output=True,
    )
    rows = []
    for raw in json.loads(out.stdout.decode("utf-8", "surrogateescape")):
        values = list(raw.values())
        row = {"id": values[0]}
        for i, (c, _, _) in enumerate(SQLITE):
            row[c] = tuple(values[1 + 3 * i: 4 + 3 * i])
        rows.append(row)
    return rows


# --- the conversions from the client's text to rowstream's documented forms -----------


def iso_date(text):
    """PostgreSQL's ISO date text ("4714-11-24 BC", "5874897-12-31") in ISO 8601's
    expanded form with astronomical years."""
    bc = text.endswith(" BC")
    text = text.removesuffix(" BC")
    y, rest = text.split("-", 1)
    year = int(y)
    if bc:
        year = 1 - year
    if 0 <= year <= 9999:
        return f"{year:04d}-{rest}"
    return f"{'+' if year > 0 else '-'}{abs(year):04d}-{rest}"


def trim_fraction(t):
    if "." in t:
        head, frac = t.split(".", 1)
        frac = frac.rstrip("0")
        return head + ("." + frac if frac else "")
    return t


def pg_timestamp(text, zone):
    if text in ("infinity", "-infinity"):
        return text
    bc = text.endswith(" BC")
    text = text.removesuffix(" BC")
    if zone:
        text = text.removesuffix("+00")
    date, time = text.split(" ")
    date = iso_date(date + (" BC" if bc else ""))
    return f"{date}T{trim_fraction(time)}" + ("Z" if zone else "")


def pg_timetz(text):
    # "12:00:00+00", "00:00:00+14:59", "23:59:59.999999-15:59"
    for i in range(len(text) - 1, 0, -1):
        if text[i] in "+-":
            time, off = text[:i], text[i:]
            break
    if len(off) == 3:
        off += ":00"
    return trim_fraction(time) + off


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def same_float(got, text, single):
    want = float(text.replace("Infinity", "inf"))
    if isinstance(got, str):
        got = float(got.replace("Infinity", "inf"))
    if single:
        want, got = f32(want), f32(got)
    return (math.isnan(want) and math.isnan(got)) or want == got


NON_FINITE = {"NaN", "Infinity", "-Infinity", "inf", "-inf", "nan"}


def check_value(kind, got, want, fmt, policy):
    """Whether `got` (decoded from format `fmt` under `policy`) is the value whose client
    text is `want`; raises on a mismatch with the reason."""
    if want is None:
        ok = got is None or (fmt == "csv" and got == "")
        return ok, "NULL"
    if kind.startswith("array:"):
        elem = kind.split(":", 1)[1]
        if fmt == "csv":
            got = json.loads(got)
        if not isinstance(got, list) or len(got) != len(want):
            return False, f"array of {len(want)}"
        if fmt == "csv":
            # Nested JSON in a CSV field: CSV has no types, so big integers stay digits.
            fmt, policy = "json", {k: v for k, v in policy.items() if k != "big_integers"}
        for g, w in zip(got, want):
            ok, why = check_value(elem, g, w, fmt, policy)
            if not ok:
                return False, why
        return True, ""
    if kind in ("float", "float4") or (kind == "numeric" and want in NON_FINITE):
        if want in NON_FINITE:
            if fmt == "csv" or fmt == "msgpack":
                # Native in CSV (text) and MessagePack (IEEE 754).
                ok = (got in ("NaN", "Infinity", "-Infinity") if fmt == "csv" else isinstance(got, float)) and same_float(got, want, False)
                return ok, f"native {want}"
            if policy.get("non_finite") == "string":
                return got == want, f'"{want}"'
            return got is None, "null (the default policy)"
        if fmt == "csv":
            return same_float(float(got), want, kind == "float4"), want
        return isinstance(got, float | int) and same_float(got, want, kind == "float4"), want
    if kind == "int":
        big = abs(int(want)) > 2**53 - 1
        if fmt == "csv":
            return got == want, want
        if big and policy.get("big_integers") == "string":
            return got == want, f'"{want}"'
        return isinstance(got, int) and not isinstance(got, bool) and got == int(want), want
    if kind == "bit":
        if fmt == "csv":
            return got == want, want
        if int(want) > 2**53 - 1 and policy.get("big_integers") == "string":
            return got == want, f'"{want}"'
        return got == int(want), want
    if kind == "bool":
        if fmt == "csv":
            return got == want, want
        return got is (want == "true"), want
    if kind == "numeric":
        return got == want, want
    if kind == "bytea":
        raw = bytes.fromhex(want[2:])
        return base64.b64decode(got) == raw, "base64"
    if kind == "bytea_hex":
        return base64.b64decode(got).hex().upper() == want, "base64"
    if kind == "date":
        if want in ("infinity", "-infinity"):
            return got == want, want
        return got == iso_date(want), iso_date(want)
    if kind == "time":
        return got == trim_fraction(want), trim_fraction(want)
    if kind == "mdate":
        return got == want, want
    if kind in ("mdatetime", "mtimestamp"):
        w = trim_fraction(want.replace(" ", "T"))
        if kind == "mtimestamp" and not w.startswith("0000-00-00"):
            w += "Z"
        return got == w, w
    if kind == "mtime":
        return got == trim_fraction(want), trim_fraction(want)
    if kind == "timetz":
        return got == pg_timetz(want), pg_timetz(want)
    if kind in ("timestamp", "timestamptz"):
        w = pg_timestamp(want, kind == "timestamptz")
        return got == w, w
    if kind == "json":
        if fmt == "csv":
            # The JSON text itself, one field.
            return got == want, "JSON text"
        w = json.loads(want)
        if fmt == "msgpack":
            w = msgpack_json(w, policy.get("big_integers") == "string")
        # JSON formats embed the JSON text verbatim: no policy rewrites it.
        return got == w, "JSON"
    # text
    return got == want, "text"


def msgpack_json(v, big_strings):
    """JSON as rowstream writes it in MessagePack: integers beyond 64 bits as strings of
    their digits, and beyond 2^53 - 1 too under big_integers=string."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        if not -(2**63) <= v < 2**64 or (big_strings and abs(v) > 2**53 - 1):
            return str(v)
        return v
    if isinstance(v, list):
        return [msgpack_json(x, big_strings) for x in v]
    if isinstance(v, dict):
        return {k: msgpack_json(x, big_strings) for k, x in v.items()}
    return v


def check_sqlite(got, want, fmt, policy):
    cls, text, hexed = want
    if cls == "null":
        return got is None or (fmt == "csv" and got == ""), "NULL"
    if cls == "integer":
        if fmt == "csv":
            return got == text, text
        if abs(int(text)) > 2**53 - 1 and policy.get("big_integers") == "string":
            return got == text, f'"{text}"'
        return got == int(text), text
    if cls == "real":
        if text in ("Inf", "-Inf"):
            return check_value("float", got, text.replace("Inf", "Infinity"), fmt, policy)
        if fmt == "csv":
            got = float(got)
        return got == float(text), text
    if cls == "text":
        raw = bytes.fromhex(hexed)
        try:
            return got == raw.decode("utf-8"), "text"
        except UnicodeDecodeError:
            return False, "text that is not UTF-8 (must fail the export, see torture_bad)"
    if cls == "blob":
        return base64.b64decode(got) == bytes.fromhex(hexed), "base64"
    return False, cls


# --- reading the exports ---------------------------------------------------------------


def fetch(base, fmt, query=""):
    url = f"{base}/tables/torture?format={fmt}{query}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except urllib.error.HTTPError as err:
        sys.exit(f"FAIL {url}: {err.code} {err.read().decode(errors='replace')}")


def decode(fmt, body):
    if fmt == "json":
        return json.loads(body)
    if fmt == "ndjson":
        return [json.loads(line) for line in body.decode().splitlines()]
    if fmt == "jsonseq":
        return [json.loads(rec) for rec in body.decode().split("\x1e") if rec.strip()]
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(body.decode(), newline="")))
    if fmt == "msgpack":
        return list(msgpack.Unpacker(io.BytesIO(body), raw=False, strict_map_key=False))
    raise ValueError(fmt)


FORMATS = ["json", "ndjson", "jsonseq", "csv", "msgpack"]
POLICIES = [{}, {"non_finite": "string", "big_integers": "string"}]


def main():
    if sys.argv[1] == "--setup":
        print(setup_sql(sys.argv[2]))
        return
    kind, base, client = sys.argv[1], sys.argv[2], sys.argv[3:]
    if kind == "postgres":
        expected = expected_postgres(client)
    elif kind == "mysql":
        expected = expected_mysql(client)
    else:
        expected = expected_sqlite(client)
    failures = 0
    checked = 0
    table = {}
    for policy in POLICIES:
        query = "".join(f"&{k}={v}" for k, v in policy.items())
        for fmt in FORMATS:
            rows = decode(fmt, fetch(base, fmt, query))
            if len(rows) != len(expected):
                print(f"FAIL {kind} {fmt}{query}: {len(rows)} rows, expected {len(expected)}")
                failures += 1
                continue
            for got_row, want_row in zip(rows, expected):
                for c, sql_type, k in columns(kind):
                    got = got_row.get(c)
                    want = want_row[c]
                    if kind == "sqlite":
                        ok, form = check_sqlite(got, want, fmt, policy)
                    else:
                        ok, form = check_value(k, got, want, fmt, policy)
                    checked += 1
                    if not ok:
                        failures += 1
                        print(f"FAIL {kind} {fmt}{query} id={want_row['id']} {c} ({sql_type}): "
                              f"got {got!r}, the client printed {want!r} (expected as {form})")
                    elif not policy and want_row["id"] == 1:
                        table.setdefault((c, sql_type), {})[fmt] = got
    if kind == "sqlite":
        # Not UTF-8: never a changed value; the export fails, naming the column.
        for fmt in FORMATS:
            url = f"{base}/tables/torture_bad?format={fmt}"
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    failures += 1
                    print(f"FAIL {url}: {response.status}, expected a 500 for text that is not UTF-8")
            except urllib.error.HTTPError as err:
                detail = err.read().decode(errors="replace")
                if err.code != 500 or '\\"t\\"' not in detail or "UTF-8" not in detail:
                    failures += 1
                    print(f"FAIL {url}: {err.code} {detail}")
            checked += 1
    print(f"{kind}: {checked} values checked in {len(FORMATS)} formats x {len(POLICIES)} policies, {failures} mismatches")
    print(f"| {kind} column | type | JSON (id=1) | CSV | MessagePack |")
    print("|---|---|---|---|---|")
    for (c, t), forms in table.items():
        cell = lambda v: "`" + (json.dumps(v, ensure_ascii=False) if not isinstance(v, str) or True else v)[:60].replace("|", "\\|") + "`"
        print(f"| {c} | {t} | {cell(forms.get('json'))} | {cell(forms.get('csv'))} | {cell(forms.get('msgpack'))} |")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
