"""The QC report's ephys clock section: the fit's numbers equal the synthetic truth, the status
follows the tolerance, the figure is embedded, and sessions without ephys have no section."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from w2t_bkin.report.qc import QCInputs, render_qc_report
from w2t_bkin.report.qc_ephys import probe_clock_png
from w2t_bkin.session.synchronize import SyncedSession
from w2t_bkin.sync.sync_wave import fit_sync_wave

from ..sync.sync_waves import sync_wave
from .test_qc import _parse

OFFSET_S = 0.0123
DRIFT_PPM = -17.5
DURATION_S = 900.0


def _synced(*, lose_edge: bool = False) -> SyncedSession:
    wave = sync_wave(
        DURATION_S, offset_s=OFFSET_S, drift_ppm=DRIFT_PPM, probe_window_s=(3.0, 880.0)
    )
    probe = np.delete(wave.probe_s, 400) if lose_edge else wave.probe_s
    fit = fit_sync_wave(
        probe, wave.reference_s, clock_id="imec0_sync", reference_id="nidq_sync", tolerance_s=0.005
    )
    return SyncedSession({}, None, probe_clocks={"imec0_sync": fit})


def _page(synced: SyncedSession) -> str:
    from w2t_bkin.session.sidecars import probe_clocks_qc

    return render_qc_report(QCInputs("m1", "s1", probe_clocks=probe_clocks_qc(synced)))


def _section(page: str) -> str:
    match = re.search(r'<section id="ephys-clocks">(.*?)</section>', page, re.S)
    assert match is not None, "no ephys clock section"
    return match.group(1)


def _cells(section: str) -> list[str]:
    row = re.search(r"<tbody><tr>(.*?)</tr>", section, re.S)
    assert row is not None
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", row.group(1))]


def test_section_numbers_equal_the_truth() -> None:
    page = _page(_synced())
    _parse(page)  # well formed

    cells = _cells(_section(page))

    probe, reference, model, offset, drift, rms, worst, tol, edges, matched, unmatched = cells[:11]
    lost_inside, status = cells[11:]
    assert (probe, reference, model) == ("imec0_sync", "nidq_sync", "linear")
    assert float(offset) == pytest.approx(OFFSET_S, abs=1e-5)
    assert float(drift) == pytest.approx(DRIFT_PPM, abs=0.02)
    # edges: probe saw 3.0..880 s of the 900 s run (1 Hz wave, phase 0.4321 s)
    assert edges == "877 / 900"
    assert matched == "877"
    assert unmatched == "0 / 23"
    assert lost_inside == "0"
    assert float(worst) < 0.08 and float(rms) < float(worst)  # sample quantisation only
    assert float(tol) == 5.0
    assert status == "pass"
    assert re.search(r'class="badge ok"><span class="label">ephys clock imec0_sync', page)


def test_a_lost_edge_turns_the_section_and_badge_to_warn() -> None:
    page = _page(_synced(lose_edge=True))

    cells = _cells(_section(page))

    assert cells[8] == "876 / 900" and cells[9] == "876"
    assert cells[11] == "1" and cells[12] == "warn"
    assert re.search(r'class="badge warn"><span class="label">ephys clock imec0_sync', page)


def test_figure_is_an_embedded_png() -> None:
    section = _section(_page(_synced()))

    sources = re.findall(
        r'<img alt="clock fit of imec0_sync onto nidq_sync" src="([^"]+)"', section
    )

    assert len(sources) == 1
    png = base64.b64decode(sources[0].removeprefix("data:image/png;base64,"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_figure_draws_residuals_beyond_the_tolerance() -> None:
    from w2t_bkin.session.sidecars import probe_clocks_qc

    clock = probe_clocks_qc(_synced())[0]
    wild = np.array(clock.residuals_ms, copy=True)
    wild[10] = 12.0  # 12 ms: drawn, and the axis widened to show it against the 5 ms band
    png = probe_clock_png(type(clock)(**{**clock.__dict__, "residuals_ms": wild, "status": "warn"}))
    assert png.startswith(b"\x89PNG")


def test_sessions_without_ephys_have_no_section_and_no_badge() -> None:
    page = render_qc_report(QCInputs("m1", "s1"))

    assert 'id="ephys-clocks"' not in page
    assert "ephys clock" not in page
    # and a session whose synchronization found no probe clock
    assert 'id="ephys-clocks"' not in _page(SyncedSession({}, None))


def test_figure_labels_are_inside_and_off_the_other_plot(monkeypatch: pytest.MonkeyPatch) -> None:
    from w2t_bkin.report import qc_ephys
    from w2t_bkin.session.sidecars import probe_clocks_qc

    from .test_figure_layout import assert_laid_out

    checked = []
    monkeypatch.setattr(qc_ephys, "_png", lambda fig: checked.append(assert_laid_out(fig)) or b"")
    probe_clock_png(probe_clocks_qc(_synced())[0])
    assert len(checked) == 1
