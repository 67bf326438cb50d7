"""Which records were in flight when a worker died, so one that kills it is not retried forever.

A record whose processing crashes the process (or blocks its event loop until an operator kills
it) is read again after the restart, since its offset was never committed, and would kill the
worker again, forever. Before an agent handles a record the ledger appends ``+ topic partition
offset`` to a file in the worker's data dir, and ``-`` with the same position once it is done.
Lines are written with ``os.write`` on an ``O_APPEND`` descriptor: they reach the kernel at once
and survive ``kill -9`` (not a power loss, which only costs the count of one death).

When the next worker starts on that data dir, every ``+`` without its ``-`` was in flight at a
death; each such record's count of deaths goes up by one and is kept in ``deaths.json``. The
boundary dead-letters a record once it has been in flight at ``max_deaths`` deaths instead of
handling it again. Records merely in flight beside the culprit are counted too; with the default
of 2 an innocent record is dead-lettered only if it was in flight at two deaths in a row.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

Position = tuple[str, int, int]

# The log is rewritten with only the open records once it holds this many lines, so its size
# stays bounded (about 5 MB of lines at most) without a write per record beyond the append.
_COMPACT_AFTER_LINES = 100_000
# Death counts kept: only records of recent deaths matter, and they are few.
_DEATHS_KEPT = 10_000


def _line(sign: str, position: Position) -> bytes:
    topic, partition, offset = position
    return f"{sign} {topic} {partition} {offset}\n".encode()


def _parse(line: str) -> tuple[str, Position] | None:
    parts = line.split(" ")
    if len(parts) != 4 or parts[0] not in "+-" or not parts[2].isdigit():
        return None  # a line cut short by the death itself
    try:
        return parts[0], (parts[1], int(parts[2]), int(parts[3]))
    except ValueError:
        return None


def _key(position: Position) -> str:
    return f"{position[0]}/{position[1]}@{position[2]}"


class InflightLedger:
    """Append-only record of what is in flight, and how often each record was at a death.

    Inert until ``open(directory)``: only a worker opens it (on its own data dir), so that
    importing the app elsewhere (the CLI, tests) never touches a running worker's ledger.
    """

    def __init__(self) -> None:
        self._deaths: dict[str, int] = {}
        self._open: dict[Position, int] = {}
        self._fd: int | None = None
        self._lines = 0

    def open(self, directory: Path) -> None:
        """Count the deaths the previous worker on ``directory`` left, then start a new log."""
        directory.mkdir(parents=True, exist_ok=True)
        self._log_path = directory / "inflight.log"
        self._deaths_path = directory / "deaths.json"
        self._deaths = self._load_deaths()
        self._count_previous_deaths()
        self._fd = os.open(self._log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        self._lines = 0

    def _load_deaths(self) -> dict[str, int]:
        try:
            data = json.loads(self._deaths_path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _count_previous_deaths(self) -> None:
        try:
            text = self._log_path.read_text(errors="replace")
        except OSError:
            return
        open_positions: dict[Position, int] = {}
        for line in text.splitlines():
            parsed = _parse(line)
            if parsed is None:
                continue
            sign, position = parsed
            if sign == "+":
                open_positions[position] = open_positions.get(position, 0) + 1
            elif open_positions.get(position, 0) > 1:
                open_positions[position] -= 1
            else:
                open_positions.pop(position, None)
        if not open_positions:
            return
        for position in open_positions:
            self._deaths[_key(position)] = self._deaths.get(_key(position), 0) + 1
        log.warning(
            "%d record(s) were in flight when the last worker on this data dir died: %s",
            len(open_positions),
            ", ".join(sorted(_key(p) for p in open_positions)[:10]),
        )
        if len(self._deaths) > _DEATHS_KEPT:
            self._deaths = dict(list(self._deaths.items())[-_DEATHS_KEPT:])
        tmp = self._deaths_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._deaths))
        tmp.replace(self._deaths_path)

    def deaths(self, position: Position) -> int:
        """How many worker deaths this record was in flight at."""
        return self._deaths.get(_key(position), 0)

    def begin(self, position: Position) -> None:
        self._open[position] = self._open.get(position, 0) + 1
        self._write(_line("+", position))

    def end(self, position: Position) -> None:
        count = self._open.get(position, 0)
        if count > 1:
            self._open[position] = count - 1
        else:
            self._open.pop(position, None)
        self._write(_line("-", position))

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            return
        os.write(self._fd, data)
        self._lines += 1
        if self._lines >= _COMPACT_AFTER_LINES:
            self._compact()

    def _compact(self) -> None:
        tmp = self._log_path.with_suffix(".tmp")
        lines = b"".join(
            _line("+", position) for position, n in self._open.items() for _ in range(n)
        )
        tmp.write_bytes(lines)
        fd = os.open(tmp, os.O_WRONLY | os.O_APPEND)
        tmp.replace(self._log_path)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = fd
        self._lines = len(self._open)

    def close(self) -> None:
        """Nothing is in flight any more (a clean shutdown): the next start counts no death."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        self._log_path.write_bytes(b"")
