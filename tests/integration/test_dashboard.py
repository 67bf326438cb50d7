"""The dashboard in a real browser: Debian's chromium, driven by Playwright, against a worker.

Playwright's own browser downloads do not work offline, so it drives the system's chromium
(``make install-system`` installs it). Skipped where chromium is missing, except under CI.
The screenshot is kept as a test artifact (``TOOLWISE_ARTIFACTS``, default
``.toolwise/artifacts``); the README's is a copy of one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI
from tests.integration.test_interfaces import Web, start_web_worker

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TOOLWISE_ARTIFACTS", PROJECT_ROOT / ".toolwise" / "artifacts"))


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI=true and {message}; make install-system installs it", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
async def web(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Web]:
    started = await start_web_worker(
        kafka_bootstrap, redis_url, tmp_path_factory.mktemp("dashboard")
    )
    yield started
    started.worker.stop(timeout_s=30)


async def _number(page: object, card: str) -> str:
    text: str = await page.locator(f'[data-card="{card}"] .v').inner_text()  # type: ignore[attr-defined]
    return text


async def test_the_dashboard_shows_intents_live_in_a_browser(web: Web) -> None:
    from playwright.async_api import async_playwright

    executable = _chromium()
    await asyncio.to_thread(ARTIFACTS.mkdir, parents=True, exist_ok=True)
    async with async_playwright() as playwright, web.http() as http:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 1100})
        await page.goto(f"{web.base}/dashboard")
        await page.wait_for_selector("#conn.live", timeout=30_000)
        completed_before = int((await _number(page, "completed")).replace(",", ""))

        # A slow intent first: the live tail shows it running, with its tool's progress.
        slow = {"text": "count slowly", "tool": "testing.count",
                "arguments": {"steps": 8, "delay_s": 0.5}}  # fmt: skip
        slow_id = (await http.post("/api/intents", json=slow)).json()["intent_id"]
        row = page.locator(f'tr[data-intent="{slow_id}"]')
        await row.locator(".badge.running").wait_for(timeout=20_000)
        await row.locator(".meter").wait_for(timeout=20_000)

        for n in range(6):
            body = {"text": f"calculate {n} + 1", "tool": "calculator.evaluate",
                    "arguments": {"expression": f"{n} + 1"}}  # fmt: skip
            answer = await http.post("/api/intents", params={"wait": 60}, json=body)
            assert answer.json()["status"] == "completed", answer.text
        failing = {"text": "fail", "tool": "testing.fail", "arguments": {"message": "on purpose"}}
        await http.post("/api/intents", params={"wait": 60}, json=failing)

        # Within a second or so of the outcomes: counters, a chart and the tail have moved.
        await page.wait_for_function(
            "n => Number(document.querySelector('[data-card=completed] .v').textContent"
            ".replace(/,/g, '')) >= n",
            arg=completed_before + 6,
            timeout=10_000,
        )
        await row.locator(".badge.completed").wait_for(timeout=20_000)
        assert await page.locator("#throughput rect.bar").count() >= 1
        assert await page.locator("#latency path.line").count() == 3
        assert await page.locator('#tail tr:has-text("calculate 5 + 1")').count() == 1
        failed_row = page.locator('#tail tr:has-text("on purpose")')
        assert await failed_row.locator(".badge.failed").count() == 1
        board = await page.locator("#board").inner_text()
        assert "calculator.evaluate" in board
        assert (await _number(page, "failed")) != "0"

        await asyncio.sleep(0.5)  # let the charts' last frame paint
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        await browser.close()
    shot = await asyncio.to_thread((ARTIFACTS / "dashboard.png").stat)
    assert shot.st_size > 10_000


async def test_the_dashboard_event_stream_sends_snapshots(web: Web) -> None:
    async with (
        httpx.AsyncClient(base_url=web.base, timeout=30) as http,
        http.stream("GET", "/dashboard/events") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                assert '"series"' in line and '"leaderboard"' in line and '"tail"' in line
                break
