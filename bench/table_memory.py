"""Memory a worker's RocksDB table stores take as they are written: Faust's options against
Toolwise's (``tables.store_options``), side by side, each in a fresh process.

Run: ``python -m bench.table_memory [--values 50000] [--databases 4] [--value-bytes 1400]``.

Each run opens ``--databases`` databases through Faust's ``RocksDBOptions`` (rocksdict, as a
worker does: one database per table partition) and writes ``--values`` values of
``--value-bytes`` to each, about what a worker's per-intent tables take per intent; it
reports the process's RSS growth. Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.host import host


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def measure(options: str, values: int, databases: int, value_bytes: int) -> float:
    """RSS growth in MB of this process writing ``values`` to each of ``databases``."""
    from faust.stores.rocksdb import RocksDBOptions

    from tables.store_options import rocksdb_options

    chosen: dict[str, Any] = rocksdb_options() if options == "toolwise" else {}
    rocksdb = RocksDBOptions(**chosen, use_rocksdict=True)
    value = os.urandom(value_bytes // 2).hex().encode()
    with tempfile.TemporaryDirectory(prefix="toolwise-table-memory-") as root:
        base = _rss_mb()
        dbs = [rocksdb.open(Path(root) / f"db-{i}") for i in range(databases)]
        for n in range(values):
            key = f"intent-{n}".encode()
            for db in dbs:
                db[key] = value
        grown = _rss_mb() - base
        for db in dbs:
            db.close()
    return round(grown, 1)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.table_memory", description=__doc__)
    parser.add_argument("--values", type=int, default=50_000, help="values per database")
    parser.add_argument("--databases", type=int, default=4, help="databases (table partitions)")
    parser.add_argument("--value-bytes", type=int, default=1400, help="bytes per value")
    parser.add_argument("--only", choices=["faust", "toolwise"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.values, args.databases, args.value_bytes) <= 0:
        parser.error("--values, --databases and --value-bytes must be positive")
    return args


def cli(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = [str(args.values), str(args.databases), str(args.value_bytes)]
    if args.only is not None:  # one side, in this fresh process
        print(measure(args.only, args.values, args.databases, args.value_bytes))
        return
    grown = {}
    for options in ("faust", "toolwise"):
        flags = ["--values", sizes[0], "--databases", sizes[1], "--value-bytes", sizes[2]]
        out = subprocess.run(
            [sys.executable, "-m", "bench.table_memory", *flags, "--only", options],
            check=True,
            capture_output=True,
            text=True,
        )
        grown[options] = float(out.stdout.strip().splitlines()[-1])
    machine = host()
    print(f"machine: {machine['nproc']} x {machine['cpu']}, Python {machine['python']}")
    print(f"{args.databases} databases x {args.values} values of {args.value_bytes} bytes")
    for options, mb in grown.items():
        print(f"{options:9} options: RSS +{mb:.1f} MB")
    print(json.dumps({"machine": machine, "params": vars(args), "rss_growth_mb": grown}))


if __name__ == "__main__":
    cli()
