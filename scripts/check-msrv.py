#!/usr/bin/env python3
"""Checks that the workspace's `rust-version` is honest, without the old toolchain at hand.

Three checks, each a reason the declared minimum could be wrong:

1. every dependency in the lock file declares a `rust-version` no newer than ours
   (`cargo metadata`), so the locked tree builds on our minimum;
2. no source file uses a language feature newer than our minimum that clippy's
   `incompatible_msrv` lint (standard library APIs only, run by `cargo clippy`) cannot see:
   `if let … && let …` chains (Rust 1.88);
3. the edition needs at least the version it was stabilised in (2024: Rust 1.85).

Exits 1 with one line per problem.
"""

import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
EDITION_FLOOR = {"2015": (1, 0), "2018": (1, 31), "2021": (1, 56), "2024": (1, 85)}
# A `let` after `&&` or `||` inside an `if`/`while` condition: a let chain (1.88).
LET_CHAIN = re.compile(r"(?:&&|\|\|)\s*let\s")
LET_CHAIN_VERSION = (1, 88)


def version(text):
    return tuple(int(part) for part in text.split(".")[:2])


def main():
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
            cwd=ROOT,
        )
    )
    members = set(meta["workspace_members"])
    ours = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
    problems = []
    if len(ours) != 1 or None in ours:
        problems.append(f"workspace members declare different or no rust-version: {sorted(map(str, ours))}")
        print("\n".join(problems))
        return 1
    msrv = version(ours.pop())

    for package in meta["packages"]:
        declared = package.get("rust_version")
        if package["id"] not in members and declared and version(declared) > msrv:
            problems.append(
                f"{package['name']} {package['version']} needs Rust {declared}, "
                f"newer than rust-version {'.'.join(map(str, msrv))}"
            )
        if package["id"] in members:
            floor = EDITION_FLOOR.get(package["edition"], (0, 0))
            if floor > msrv:
                problems.append(f"{package['name']}: edition {package['edition']} needs Rust {floor}")

    if LET_CHAIN_VERSION > msrv:
        for path in sorted((ROOT / "crates").rglob("*.rs")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("//", 1)[0]
                if LET_CHAIN.search(code):
                    problems.append(
                        f"{path.relative_to(ROOT)}:{number}: a let chain needs Rust 1.88"
                    )

    for problem in problems:
        print(problem)
    if not problems:
        print(f"rust-version {'.'.join(map(str, msrv))}: dependencies, edition and let chains agree")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
