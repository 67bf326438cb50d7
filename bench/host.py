"""The machine a benchmark ran on, as every bench reports it."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def host() -> dict[str, object]:
    """CPU model, core count, Python and OS: enough to tell two runs' machines apart."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
