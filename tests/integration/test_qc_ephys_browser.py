"""The QC page's ephys clock section in headless Chromium: it fits the window, its figure loads,
and the probe's badge has the colour of its status."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from _browser import assert_fits, keep_screenshot, open_page
from unit.sync.sync_waves import sync_wave
from w2t_bkin.report.qc import QCInputs, write_qc_report
from w2t_bkin.session.sidecars import probe_clocks_qc
from w2t_bkin.session.synchronize import SyncedSession
from w2t_bkin.sync.sync_wave import fit_sync_wave

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

VIEWPORT_WIDTH_PX = 1280
OK_RGB = "rgb(46, 125, 50)"
WARN_RGB = "rgb(237, 138, 0)"


def _report(tmp_path: Path) -> Path:
    """Two probes: imec0 fits cleanly, imec1 lost an edge inside the run (warn)."""
    fits = {}
    for name, drift_ppm, lose in (("imec0_sync", 12.0, False), ("imec1_sync", -40.0, True)):
        wave = sync_wave(600.0, offset_s=0.001, drift_ppm=drift_ppm)
        probe = np.delete(wave.probe_s, 300) if lose else wave.probe_s
        fits[name] = fit_sync_wave(
            probe, wave.reference_s, clock_id=name, reference_id="nidq_sync", tolerance_s=0.005
        )
    clocks = probe_clocks_qc(SyncedSession({}, None, probe_clocks=fits))
    qc = QCInputs("mouse01", "ses01", probe_clocks=clocks)
    return write_qc_report(qc, tmp_path / "qc" / "report.html")


def test_ephys_clock_section_fits_and_shows_each_probe(browser: Browser, tmp_path: Path) -> None:
    report = _report(tmp_path)
    with open_page(browser, VIEWPORT_WIDTH_PX) as (page, errors):
        page.goto(report.resolve().as_uri())
        page.wait_for_load_state("load")
        assert_fits(page, "the QC page with ephys clocks")
        images = page.evaluate(
            "Array.from(document.querySelectorAll('#ephys-clocks img'))"
            ".map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0}))"
        )
        assert images == [
            {"alt": "clock fit of imec0_sync onto nidq_sync", "ok": True},
            {"alt": "clock fit of imec1_sync onto nidq_sync", "ok": True},
        ]
        badges = page.evaluate(
            "Array.from(document.querySelectorAll('#summary .badge'))"
            ".filter(b => b.textContent.startsWith('ephys clock'))"
            ".map(b => [b.querySelector('.label').textContent,"
            " getComputedStyle(b).backgroundColor])"
        )
        assert badges == [["ephys clock imec0_sync", OK_RGB], ["ephys clock imec1_sync", WARN_RGB]]
        keep_screenshot(page, tmp_path, "qc-report-ephys-clocks.png")
    assert errors == []
