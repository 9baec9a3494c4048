"""The dashboard in headless Chromium, as a person uses it: start a batch, watch it, open QC.

A real ``w2t-bkin server start`` process serves a synthetic workspace; Debian's
``/usr/bin/chromium`` is driven through Playwright (never a downloaded browser). Without
chromium or Playwright the tests skip with the reason, and fail when ``CI=true``. Screenshots
are kept in the test's tmp folder (and copied to ``$W2T_SCREENSHOTS`` when set).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from _browser import assert_fits, keep_screenshot, open_page
from w2t_bkin.testing import ExperimentSpec, write_experiment

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

WIDTHS_PX = (1280, 390)
BATCH_TIMEOUT_S = 90.0

#: The live batch panel as a person reads it.
LIVE_JS = """
() => {
  const box = document.getElementById('live');
  return {
    hidden: box.hidden,
    final: box.dataset.final === 'true',
    summary: (box.querySelector('.batch-summary') || {}).textContent || '',
    sessions: Array.from(box.querySelectorAll('li')).map(li => ({
      key: li.dataset.key, state: li.dataset.state, text: li.innerText,
    })),
  };
}
"""


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A two-session synthetic workspace served by ``w2t-bkin server start`` (root, URL)."""
    root = tmp_path_factory.mktemp("dashboard") / "exp"
    write_experiment(root, ExperimentSpec(n_sessions=2, duration_s=1.0, n_bpod_files=1))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "w2t_bkin",
            "server",
            "start",
            str(root),
            "--port=0",
            "--no-browser",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid_file = root / ".w2t" / "server.json"
    deadline = time.monotonic() + 60
    while not pid_file.is_file():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the dashboard did not start: {process.communicate()}")
        time.sleep(0.1)
    url = json.loads(pid_file.read_text())["url"]
    try:
        yield root, url
    finally:
        process.terminate()  # our own child, by its handle
        process.wait(60)


def test_start_a_batch_watch_it_finish_and_open_a_qc_report(
    browser: Browser, dashboard: tuple[Path, str], tmp_path: Path
) -> None:
    _, url = dashboard
    with open_page(browser, WIDTHS_PX[0]) as (page, errors):
        page.goto(url)
        assert page.locator("h1").inner_text() == "Sessions"
        rows = page.locator("#sessions tbody tr")
        assert rows.count() == 2
        assert page.locator("#sessions .badge").all_inner_texts() == ["never run", "never run"]
        keep_screenshot(page, tmp_path, "overview-before.png")

        page.click("text=Run sessions")
        page.fill("input[name=session]", "ses01")
        page.click("#start")
        page.wait_for_selector("#live li")
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + BATCH_TIMEOUT_S
        while time.monotonic() < deadline:
            live = page.evaluate(LIVE_JS)
            seen.append(live)
            if live["final"]:
                break
            time.sleep(0.1)
        final = seen[-1]
        assert final["final"], f"the batch did not finish in {BATCH_TIMEOUT_S} s: {final}"
        running = [s for live in seen for s in live["sessions"] if s["state"] == "running"]
        assert running, "progress never showed a running session"
        assert any(": " in s["text"].splitlines()[0] for s in running)  # "key: phase"
        summaries = [live["summary"].split(" sessions")[0] for live in seen if live["summary"]]
        assert summaries[0].startswith("0 of 1") and summaries[-1] == "1 of 1"
        assert [(s["key"], s["state"]) for s in final["sessions"]] == [
            ("mouse01/ses01", "succeeded")
        ]
        assert "Batch finished" in page.locator("#live h2").inner_text()
        keep_screenshot(page, tmp_path, "batch-finished.png")
        assert_fits(page, "the batch page")

        page.goto(url)
        assert page.locator("#sessions .badge").all_inner_texts() == ["done", "never run"]
        page.click("a[href='/sessions/mouse01/ses01']")
        assert page.locator("h1").inner_text() == "mouse01/ses01"
        assert page.locator("#alignment tbody tr").count() >= 3  # two cameras and the trials
        assert "Provenance" in page.locator("main").inner_text()
        keep_screenshot(page, tmp_path, "session.png")
        assert_fits(page, "the session page")
        page.click("#qc-link")
        page.wait_for_load_state("load")
        assert page.url.endswith("/files/data/processed/mouse01/ses01/qc/report.html")
        body = page.locator("body").inner_text()
        assert "mouse01" in body and "Traceback" not in body
        assert page.evaluate("Array.from(document.images).every(i => i.naturalWidth > 0)")
        keep_screenshot(page, tmp_path, "qc-report.png")
    assert errors == []


@pytest.mark.parametrize("width_px", WIDTHS_PX)
def test_pages_fit_the_window(
    browser: Browser, dashboard: tuple[Path, str], tmp_path: Path, width_px: int
) -> None:
    _, url = dashboard
    with open_page(browser, width_px) as (page, errors):
        for path in ("/", "/runs", "/batches", "/jobs", "/features", "/sessions/mouse01/ses02"):
            page.goto(url.rstrip("/") + path)
            assert page.locator("h1").inner_text() != ""
            assert_fits(page, path)
        runs = page.goto(url.rstrip("/") + "/runs")
        assert runs is not None and runs.ok
        first_run = page.locator("#runs tbody a").first
        if first_run.count():
            first_run.click()
            assert_fits(page, "a run page")
        page.goto(url)
        keep_screenshot(page, tmp_path, f"overview-{width_px}px.png")
    assert errors == []
