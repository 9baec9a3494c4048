"""The QC page of real synthetic sessions, rendered in headless Chromium as a person sees it.

Drives Debian's ``/usr/bin/chromium`` through Playwright (never a downloaded browser). Without
chromium or Playwright the tests skip with the reason, and fail when ``CI=true``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from _browser import assert_fits, keep_screenshot, open_page
from w2t_bkin.session import process_session
from w2t_bkin.testing import ExperimentSpec, write_experiment

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

VIEWPORT_WIDTH_PX = 1280

#: Cameras drop frames and lose frame pulses; a quarter of the trial sync pulses are lost, which
#: raises one data-quality warning (fewer than 80 % of the trials matched a pulse).
FAULTY = ExperimentSpec(
    duration_s=12.0,
    rate_hz=50.0,
    n_video_chunks=2,
    camera_drift_ppm=20.0,
    bpod_drift_ppm=50.0,
    jitter_s=1e-4,
    dropped_frame_fraction=0.006,
    missing_frame_pulse_fraction=0.005,
    missing_sync_fraction=0.25,
    n_trials=12,
    seed=3,
)

#: Labels of the summary badges: (label, css class, text) read from the rendered page.
BADGES_JS = """
() => Array.from(document.querySelectorAll('#summary .badge')).map(b => ({
  label: b.querySelector('.label').textContent,
  text: b.textContent.slice(b.querySelector('.label').textContent.length),
  css: b.className,
  background: getComputedStyle(b).backgroundColor,
}))
"""

IMAGES_JS = """
() => Array.from(document.images).map(i => ({
  alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth,
}))
"""

#: CSS background colours of the badge classes (html.PAGE_CSS).
WARN_RGB = "rgb(237, 138, 0)"
OK_RGB = "rgb(46, 125, 50)"
FAIL_RGB = "rgb(198, 40, 40)"


def _assert_fits_and_images_load(page: Page) -> list[dict[str, Any]]:
    assert page.evaluate("window.innerWidth") == VIEWPORT_WIDTH_PX
    assert_fits(page, "the QC page")
    images: list[dict[str, Any]] = page.evaluate(IMAGES_JS)
    broken = [i["alt"] for i in images if not i["complete"] or i["naturalWidth"] == 0]
    assert broken == []
    return images


@contextmanager
def _report_page(browser: Browser, report: Path) -> Iterator[tuple[Page, list[str]]]:
    """``report`` opened from disk at the desktop width once it has loaded, images included."""
    with open_page(browser, VIEWPORT_WIDTH_PX) as (page, errors):
        page.goto(report.resolve().as_uri())
        page.wait_for_load_state("load")
        yield page, errors


@pytest.fixture(scope="module")
def faulty_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("qc") / "exp"
    truth = write_experiment(root, FAULTY)["mouse01/ses01"]
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    return root / "data/processed/mouse01/ses01", truth


def test_qc_page_fits_the_window_and_every_figure_loads(
    browser: Browser, faulty_session: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, truth = faulty_session
    with _report_page(browser, out / "qc/report.html") as (page, errors):
        images = _assert_fits_and_images_load(page)
        alts = [i["alt"] for i in images]
        cameras = sorted(truth["cameras"])
        for camera in cameras:
            assert f"frame interval over time, camera {camera}" in alts
            assert f"confidence over time, {camera}" in alts
            assert f"confidence per keypoint, {camera}" in alts
        assert "Bpod states of each trial aligned to its sync pulse" in alts
        assert len(images) == 3 * len(cameras) + 4  # + TTL raster, intervals, trials, states
        # a readable alignment table: no row taller than a few lines of text
        row_heights = page.evaluate(
            "Array.from(document.querySelectorAll('#alignment tr'))"
            ".map(r => r.getBoundingClientRect().height)"
        )
        assert len(row_heights) == 1 + len(cameras) + 1  # header, cameras, one sync channel
        assert max(row_heights) < 100
        keep_screenshot(page, tmp_path, "qc-report-faulty.png")
    assert errors == []


def test_summary_badges_agree_with_the_findings(
    browser: Browser, faulty_session: tuple[Path, dict[str, Any]]
) -> None:
    out, truth = faulty_session
    status = json.loads((out / "status.json").read_text())
    with _report_page(browser, out / "qc/report.html") as (page, errors):
        badges = {b["label"]: b for b in page.evaluate(BADGES_JS)}
    assert errors == []
    for camera, cam_truth in truth["cameras"].items():
        n_dropped = len(cam_truth["dropped_frames"])
        n_lost = len(cam_truth["missing_pulse_frames"])
        assert n_dropped > 0 and n_lost > 0  # the spec must produce both findings
        badge = badges[f"camera {camera}"]
        assert (badge["css"], badge["background"]) == ("badge warn", WARN_RGB)
        assert badge["text"] == f"{n_dropped} dropped, {n_lost} lost pulses"
    assert len(status["warnings"]) == 1  # the low matched fraction of the sync pulses
    warnings = badges["warnings"]
    assert warnings["text"] == str(len(status["warnings"]))
    assert (warnings["css"], warnings["background"]) == ("badge warn", WARN_RGB)
    assert (badges["session"]["text"], badges["session"]["background"]) == ("succeeded", OK_RGB)


def test_failed_session_page_opens_with_one_sentence_and_no_traceback(
    browser: Browser, tmp_path: Path
) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=2.0))
    ttl = root / "data/raw/mouse01/ses01/TTLs/cam0_frame.txt"
    lines = ttl.read_text().splitlines()
    ttl.write_text("\n".join([*lines[:20], "not-a-number", *lines[20:]]) + "\n")
    result = process_session(root, "mouse01", "ses01")
    assert not result.ok and result.failed_phase == "verification"
    report = root / "data/processed/mouse01/ses01/qc/report.html"
    with _report_page(browser, report) as (page, errors):
        _assert_fits_and_images_load(page)
        # the first block after the title is the failure, its first sentence says what happened
        first = page.evaluate("document.querySelector('h1').nextElementSibling.innerText")
        body = page.evaluate("document.body.innerText")
        badges = {b["label"]: b for b in page.evaluate(BADGES_JS)}
        session_badge = badges["session"]
    assert errors == []
    first_line = (result.error or "").splitlines()[0]
    assert first.splitlines()[0] == (
        "This session failed in phase verification; no NWB file was published. The sections "
        "below show what the run had checked before it stopped."
    )
    assert f"Error: {first_line}" in first
    assert "cam0_frame.txt" in first_line and "line 21" in first_line
    assert "Traceback" not in body
    assert (badges["cameras"]["text"], badges["TTL channels"]["text"]) == ("not reached",) * 2
    assert (session_badge["text"], session_badge["background"]) == (
        "failed in verification",
        FAIL_RGB,
    )
