"""Reading a (possibly cut) export body: the rows it holds completely, per format.

`rows(fmt, body)` returns the `i` column of every complete row in `body`, in order, and
whether the body ends the way a complete export of that format ends. A row cut in the
middle is not counted; a body that is not of the format (a value that is not a row)
raises ValueError. Standard library only: MessagePack is read by the small decoder
below (the server writes one map per row, one value after the other).

Run directly (`python3 bodies.py`) for the self-checks of each reader.
"""

import csv
import io
import json
import struct

FORMATS = ("json", "ndjson", "jsonseq", "csv", "msgpack")


class Incomplete(Exception):
    """The buffer ends inside a value."""


def rows(fmt, body):
    """(ids, well_ended): the `i` of each complete row, and whether the framing closes."""
    return READERS[fmt](body)


def _id(row):
    if not isinstance(row, dict) or not isinstance(row.get("i"), int):
        raise ValueError(f"not a row: {str(row)[:40]}")
    return row["i"]


def first_row_end(fmt, body):
    """True once `body` holds at least one complete row."""
    return len(rows(fmt, body)[0]) >= 1


def _json_array(body):
    text = body.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "[":
        return [], False
    pos = _skip_ws(text, pos + 1)
    ids = []
    while pos < len(text):
        if text[pos] == "]":
            return ids, _skip_ws(text, pos + 1) == len(text)
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return ids, False
        ids.append(_id(value))
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
    return ids, False


def _skip_ws(text, pos):
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _ndjson(body):
    lines = body.split(b"\n")
    ids = [_id(json.loads(line)) for line in lines[:-1] if line.strip()]
    # A complete NDJSON body ends with the newline of its last record.
    return ids, lines[-1] == b""


def _jsonseq(body):
    # RFC 7464: each record is RS, a JSON text, LF.
    records = body.split(b"\x1e")
    if records[0] != b"":
        return [], False
    ids = []
    for record in records[1:]:
        if not record.endswith(b"\n"):
            return ids, False
        ids.append(_id(json.loads(record)))
    return ids, True


def _csv(body):
    # The rows of these exports hold no line breaks inside quotes, so the text up to the
    # last line break holds the complete records.
    text = body.decode("utf-8", errors="replace")
    end = text.rfind("\n")
    records = list(csv.reader(io.StringIO(text[: end + 1], newline="")))
    if not records or records[0][:1] != ["i"]:
        return [], False
    return [int(r[0]) for r in records[1:]], end == len(text) - 1


def _msgpack(body):
    ids, pos = [], 0
    while pos < len(body):
        try:
            value, pos = decode(body, pos)
        except Incomplete:
            return ids, False
        ids.append(_id(value))
    return ids, True


READERS = {
    "json": _json_array,
    "ndjson": _ndjson,
    "jsonseq": _jsonseq,
    "csv": _csv,
    "msgpack": _msgpack,
}


def decode(buf, pos):
    """One MessagePack value at `pos`: (value, next position); Incomplete if cut."""
    tag = _take(buf, pos, 1)[0]
    pos += 1
    if tag <= 0x7F:
        return tag, pos
    if tag >= 0xE0:
        return tag - 0x100, pos
    if 0x80 <= tag <= 0x8F:
        return _map(buf, pos, tag & 0x0F)
    if 0x90 <= tag <= 0x9F:
        return _array(buf, pos, tag & 0x0F)
    if 0xA0 <= tag <= 0xBF:
        return _str(buf, pos, tag & 0x1F)
    fixed = {
        0xC0: lambda: (None, pos),
        0xC2: lambda: (False, pos),
        0xC3: lambda: (True, pos),
    }
    if tag in fixed:
        return fixed[tag]()
    numbers = {
        0xCA: ">f", 0xCB: ">d",
        0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
        0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
    }  # fmt: skip
    if tag in numbers:
        size = struct.calcsize(numbers[tag])
        return struct.unpack(numbers[tag], _take(buf, pos, size))[0], pos + size
    lengths = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
    if tag in lengths:
        n, pos = _length(buf, pos, lengths[tag])
        if tag >= 0xD9:
            return _str(buf, pos, n)
        return bytes(_take(buf, pos, n)), pos + n
    containers = {0xDC: (2, _array), 0xDD: (4, _array), 0xDE: (2, _map), 0xDF: (4, _map)}
    if tag in containers:
        size, read = containers[tag]
        n, pos = _length(buf, pos, size)
        return read(buf, pos, n)
    fixext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
    if tag in fixext:
        _take(buf, pos, 1 + fixext[tag])
        return ("ext", bytes(buf[pos : pos + 1 + fixext[tag]])), pos + 1 + fixext[tag]
    if tag in (0xC7, 0xC8, 0xC9):
        n, pos = _length(buf, pos, {0xC7: 1, 0xC8: 2, 0xC9: 4}[tag])
        _take(buf, pos, 1 + n)
        return ("ext", bytes(buf[pos : pos + 1 + n])), pos + 1 + n
    raise ValueError(f"0x{tag:02x} is not a MessagePack type")


def _take(buf, pos, n):
    if pos + n > len(buf):
        raise Incomplete
    return buf[pos : pos + n]


def _length(buf, pos, size):
    return int.from_bytes(_take(buf, pos, size), "big"), pos + size


def _str(buf, pos, n):
    return bytes(_take(buf, pos, n)).decode("utf-8"), pos + n


def _array(buf, pos, n):
    out = []
    for _ in range(n):
        value, pos = decode(buf, pos)
        out.append(value)
    return out, pos


def _map(buf, pos, n):
    out = {}
    for _ in range(n):
        key, pos = decode(buf, pos)
        out[key], pos = decode(buf, pos)
    return out, pos


def _self_check():
    bodies = {
        "json": b'[{"i":1,"label":"a"},\n{"i":2,"label":"b"}]',
        "ndjson": b'{"i":1}\n{"i":2}\n',
        "jsonseq": b'\x1e{"i":1}\n\x1e{"i":2}\n',
        "csv": b'i,label\r\n1,"row 1, ""q"""\r\n2,x\r\n',
        # {"i": 1, "s": "\u00e9"}, {"i": 300, "f": 1.5}
        "msgpack": bytes.fromhex("82a16901a173a2c3a9" "82a169cd012ca166cb3ff8000000000000"),
    }
    for fmt, body in bodies.items():
        full = [1, 300] if fmt == "msgpack" else [1, 2]
        assert rows(fmt, body) == (full, True), fmt
        for cut in range(len(body)):
            ids, ended = rows(fmt, body[:cut])
            # A cut body holds a prefix of the rows and, in JSON, never looks closed.
            assert ids == full[: len(ids)], (fmt, cut, ids)
            assert not (ended and fmt == "json"), (fmt, cut)
    assert rows("json", b"[") == ([], False)
    assert rows("json", b"[]") == ([], True)
    assert rows("ndjson", b'{"i":1}\n{"i":') == ([1], False)
    assert rows("csv", b"i,label\r\n1,a\r\n2,") == ([1], False)
    assert rows("msgpack", bytes.fromhex("82a16901a173a2c3")) == ([], False)
    problem = b'{"type":"about:blank","status":500}'
    for fmt in FORMATS:
        try:
            assert rows(fmt, problem + b"\n") == ([], False), fmt
        except ValueError:
            pass
    print("bodies: self-checks passed")


if __name__ == "__main__":
    _self_check()
