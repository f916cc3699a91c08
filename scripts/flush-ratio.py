#!/usr/bin/env python3
"""What flushing the compressor at every 32 KiB chunk costs in size, per codec and level.

Compresses FILE in 32 KiB pieces with a sync flush after each piece (as `rowstream serve`
does at every chunk) and without, using the reference libraries (zlib, zstandard, brotli),
and prints a markdown table.

    ROWSTREAM_DEMO_DB=target/measure/demo-1000000.sqlite \\
        target/release/rowstream export --table tickets > target/measure/tickets.json
    pip install zstandard brotli
    scripts/flush-ratio.py target/measure/tickets.json gzip:1 gzip:6 zstd:1 zstd:3 br:0

CPU times are the process's, single-threaded.
"""

import sys
import time
import zlib

import brotli
import zstandard

CHUNK = 32 * 1024


def gzip_size(pieces, level, flush):
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    n = 0
    for piece in pieces:
        n += len(c.compress(piece))
        if flush:
            n += len(c.flush(zlib.Z_SYNC_FLUSH))
    return n + len(c.flush())


def zstd_size(pieces, level, flush):
    c = zstandard.ZstdCompressor(level=level).compressobj()
    n = 0
    for piece in pieces:
        n += len(c.compress(piece))
        if flush:
            n += len(c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
    return n + len(c.flush())


def brotli_size(pieces, quality, flush):
    c = brotli.Compressor(quality=quality)
    n = 0
    for piece in pieces:
        n += len(c.process(piece))
        if flush:
            n += len(c.flush())
    return n + len(c.finish())


CODECS = {"gzip": gzip_size, "zstd": zstd_size, "br": brotli_size}


def main():
    path, cases = sys.argv[1], sys.argv[2:]
    with open(path, "rb") as f:
        data = f.read()
    pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    print(f"{len(data):,} bytes in {len(pieces):,} pieces of 32 KiB")
    print()
    print("| codec | level | flushed every 32 KiB | bytes | ratio | CPU (s) | MB/s |")
    print("|---|---|---|---|---|---|---|")
    for case in cases:
        name, level = case.split(":")
        for flush in (True, False):
            start = time.process_time()
            size = CODECS[name](pieces, int(level), flush)
            cpu = time.process_time() - start
            print(
                f"| {name} | {level} | {'yes' if flush else 'no'} | {size:,} | "
                f"{len(data) / size:.2f} | {cpu:.2f} | {len(data) / cpu / 1e6:.0f} |"
            )


if __name__ == "__main__":
    main()
