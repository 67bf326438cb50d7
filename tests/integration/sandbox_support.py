"""Getting a sandbox for a test: skipped with the reason where bubblewrap cannot run,
but under CI=true (where `make install-system` installs it) a failure."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import IN_CI
from tools.sandbox import SandboxPool, SandboxUnavailable


def unavailable(reason: str) -> None:
    message = f"the sandbox cannot run here: {reason}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


async def started_pool(pool: SandboxPool) -> SandboxPool:
    if shutil.which("bwrap") is None:
        unavailable("bubblewrap is not installed (apt-get install bubblewrap)")
    try:
        await pool.start()
    except SandboxUnavailable as exc:
        await pool.aclose()
        unavailable(str(exc))
    return pool
