"""Event-loop lag: how late the loop runs what is due, counted, and who held it when it stalls.

Everything in a worker shares one event loop: heartbeats, fetches, commits and every agent. A
piece of work that holds the loop (a slow regex, a long model run) stalls all of them. The
monitor schedules itself every ``interval_s`` and measures how late it wakes up: a lag above
``stall_s`` is a stall, logged and counted. A daemon thread watches the same heartbeat, so a
loop that never comes back (the stall no callback can report) is logged too, with the stack of
the frame that holds it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class LoopLag:
    """What the monitor has seen so far."""

    checks: int = 0
    stalls: int = 0
    max_lag_s: float = 0.0
    last_lag_s: float = 0.0


class LoopMonitor:
    def __init__(
        self, interval_s: float = 0.25, stall_s: float = 0.1, blocked_s: float = 2.0
    ) -> None:
        self.interval_s = interval_s
        self.stall_s = stall_s
        self.blocked_s = blocked_s
        self.lag = LoopLag()
        self._beat = time.monotonic()
        self._loop_thread_id: int | None = None
        self._stop = threading.Event()

    async def run(self) -> None:
        """Measure until cancelled (run it as a task of the loop it watches)."""
        self._loop_thread_id = threading.get_ident()
        watcher = threading.Thread(target=self._watch, name="loop-watcher", daemon=True)
        watcher.start()
        try:
            while True:
                due = time.monotonic() + self.interval_s
                self._beat = time.monotonic()
                await asyncio.sleep(self.interval_s)
                self.observe(time.monotonic() - due)
        finally:
            self._stop.set()

    def observe(self, lag_s: float) -> None:
        lag = self.lag
        lag.checks += 1
        lag.last_lag_s = max(0.0, lag_s)
        lag.max_lag_s = max(lag.max_lag_s, lag.last_lag_s)
        if lag_s > self.stall_s:
            lag.stalls += 1
            log.warning("event loop stalled for %.0f ms", lag_s * 1000)

    def _watch(self) -> None:
        reported = 0.0
        while not self._stop.wait(self.blocked_s / 2):
            held = time.monotonic() - self._beat - self.interval_s
            if held < self.blocked_s:
                reported = 0.0
                continue
            if held < 2 * reported:
                continue  # report again only when the stall has doubled
            reported = held
            frame = sys._current_frames().get(self._loop_thread_id or -1)
            where = "".join(traceback.format_stack(frame, limit=8)) if frame else "(unknown)\n"
            log.error("event loop blocked for %.1f s, in:\n%s", held, where.rstrip())
