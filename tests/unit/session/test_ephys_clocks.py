"""SpikeGLX probe clocks onto the session clock: which channel is on which clock (from the real
``.meta`` files), the fit of a probe's sync wave to the NIDQ's, the mapping of its channels, and
what happens when a probe cannot be related."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.config import Config
from w2t_bkin.errors import DataQualityWarning, MetadataError
from w2t_bkin.metadata import SessionMetadata
from w2t_bkin.model.ttl import TTLChannel
from w2t_bkin.session.ephys_clocks import align_probe_clocks
from w2t_bkin.session.synchronize import SyncedSession
from w2t_bkin.sources.ttl import load_ttl_channel
from w2t_bkin.sources.ttl.spikeglx_imec import spikeglx_clock_of

from ..ephys.layouts import NOISE4SAM_AP_META, NOISE4SAM_LF_META, SPIKEGLX, write_bin, write_meta

pytestmark = pytest.mark.real_data

NIDQ_META = SPIKEGLX / "DigitalChannelTest_g0/DigitalChannelTest_g0_t0.nidq.meta"
RATE_HZ = 2500.0  # both real metas: NIDQ niSampRate and the NP1.0 LF imSampRate
DURATION_S = 120.0
OFFSET_S = 0.0021
DRIFT_PPM = 23.0


def _wave(times_s: np.ndarray, n_samples: int, bit: int) -> np.ndarray:
    """``(n_samples,) uint16`` with ``bit`` high for 0.5 s from each rising edge."""
    level = np.zeros(n_samples, np.uint16)
    for start in np.ceil(times_s * RATE_HZ).astype(np.int64):
        level[start : start + int(0.5 * RATE_HZ)] |= 1 << bit
    return level


def spikeglx_run(real_data: Path, root: Path) -> tuple[Path, Path, np.ndarray]:
    """A NIDQ file with the sync wave on line 0 and an imec LF file with it on SY bit 6, the
    probe's clock ``offset`` and ``drift`` away; returns both ``.bin`` and the true edges
    (reference seconds)."""
    n = int(DURATION_S * RATE_HZ)
    edges_s = 0.25 + np.arange(int(DURATION_S) - 1, dtype=np.float64)
    nidq = root / "run_g0" / "run_g0_t0.nidq.bin"
    words = _wave(edges_s, n, 0)
    words[::250] |= 1 << 1  # line 1: a 10 Hz trigger (not the sync wave)
    write_bin(nidq, words.view(np.int16)[:, None])
    write_meta(real_data / NIDQ_META, nidq.with_suffix(".meta"), n, firstSample="0")
    probe_s = (edges_s - OFFSET_S) / (1 + DRIFT_PPM * 1e-6)
    sy = _wave(probe_s, n, 6)
    data = np.zeros((n, 2), np.int16)  # one LF channel and the SY word
    data[:, 1] = sy.view(np.int16)
    imec = root / "run_g0" / "run_g0_imec0" / "run_g0_t0.imec0.lf.bin"
    write_bin(imec, data)
    write_meta(
        real_data / NOISE4SAM_LF_META,
        imec.with_suffix(".meta"),
        n,
        firstSample="0",
        nSavedChans="2",
        snsApLfSy="0,1,1",
        fileSizeBytes=str(n * 2 * 2),
    )
    return nidq, imec, edges_s


def _metadata(nidq_line: int = 0, probe_polarity: str = "rising") -> SessionMetadata:
    return SessionMetadata.model_validate(
        {
            "TTLs": [
                {"id": "nidq_sync", "paths": ["x"], "format": "spikeglx", "line": nidq_line},
                {
                    "id": "imec0_sync",
                    "paths": ["y"],
                    "format": "spikeglx",
                    "line": 6,
                    "polarity": probe_polarity,
                },
            ]
        }
    )


def _channels(nidq: Path, imec: Path, nidq_line: int = 0) -> dict[str, TTLChannel]:
    return {
        "nidq_sync": load_ttl_channel("nidq_sync", nidq, fmt="spikeglx", line=nidq_line),
        "imec0_sync": load_ttl_channel("imec0_sync", imec, fmt="spikeglx", line=6),
    }


def test_clock_of_each_spikeglx_file_from_its_meta(real_data: Path, tmp_path: Path) -> None:
    nidq, imec, _ = spikeglx_run(real_data, tmp_path)
    ap = tmp_path / "p_g0" / "p_g0_imec1" / "p_g0_t0.imec1.ap.bin"
    write_bin(ap, np.zeros((10, 385), np.int16))
    write_meta(real_data / NOISE4SAM_AP_META, ap.with_suffix(".meta"), 10)
    text = tmp_path / "pulses.txt"
    text.write_text("1.0\n")

    assert spikeglx_clock_of(nidq) == _clock("nidq", 2500.0, 0)
    assert spikeglx_clock_of(imec) == _clock("imec0", 2500.0, 6)
    assert spikeglx_clock_of(ap) == _clock("imec1", 30000.0, 6)
    assert spikeglx_clock_of(text) is None
    assert spikeglx_clock_of(tmp_path / "no_meta.bin") is None


def _clock(clock_id: str, rate_hz: float, line: int) -> object:
    from w2t_bkin.sources.ttl.spikeglx_imec import SpikeGLXClock

    return SpikeGLXClock(clock_id, rate_hz, line)


def test_probe_sync_fitted_to_the_nidq_and_mapped(real_data: Path, tmp_path: Path) -> None:
    nidq, imec, edges_s = spikeglx_run(real_data, tmp_path)
    ttl = _channels(nidq, imec)
    sample_s = 1 / RATE_HZ
    # as read, the probe's edges are off by its drift: 23 ppm x 120 s = 2.8 ms at the end
    assert abs(ttl["imec0_sync"].times_s[-1] - edges_s[-1]) > 2e-3

    mapped, fits = align_probe_clocks(_metadata(), ttl, Config())

    fit = fits["imec0_sync"]
    assert (fit.clock_id, fit.reference_id, fit.status) == ("imec0_sync", "nidq_sync", "pass")
    assert fit.n_matched == edges_s.size and fit.n_unmatched_inside == 0
    # sample-quantised edges at 2.5 kHz on both clocks (400 us): the fit is far finer
    assert fit.drift_ppm == pytest.approx(DRIFT_PPM, abs=1.0)
    assert fit.offset_s == pytest.approx(OFFSET_S, abs=2e-4)
    np.testing.assert_allclose(mapped["imec0_sync"].times_s, edges_s, atol=sample_s)
    assert mapped["nidq_sync"] is ttl["nidq_sync"]  # the reference stays as read
    assert mapped["imec0_sync"].source_files == ttl["imec0_sync"].source_files
    # recorded for alignment_stats.json
    stats = SyncedSession({}, None, probe_clocks=fits).alignment_stats_json()
    assert stats["streams"] == []
    (row,) = stats["clocks"]  # type: ignore[misc]
    assert row["clock_id"] == "imec0_sync" and row["n_matched"] == edges_s.size


def test_a_probe_alone_is_the_reference_clock(real_data: Path, tmp_path: Path) -> None:
    _, imec, _ = spikeglx_run(real_data, tmp_path)
    ttl = {"imec0_sync": load_ttl_channel("imec0_sync", imec, fmt="spikeglx", line=6)}

    mapped, fits = align_probe_clocks(_metadata(), ttl, Config())

    assert fits == {} and mapped == ttl
    assert "clocks" not in SyncedSession({}, None).alignment_stats_json()


def test_probe_without_a_reference_sync_warns_and_keeps_its_clock(
    real_data: Path, tmp_path: Path
) -> None:
    nidq, imec, _ = spikeglx_run(real_data, tmp_path)
    ttl = _channels(nidq, imec, nidq_line=1)  # not the meta's syncNiChan (0)

    with pytest.warns(DataQualityWarning) as caught:
        mapped, fits = align_probe_clocks(_metadata(nidq_line=1), ttl, Config())

    assert fits == {}
    np.testing.assert_array_equal(mapped["imec0_sync"].times_s, ttl["imec0_sync"].times_s)
    message = str(caught[0].message)
    assert "'imec0_sync' are on the clock of probe imec0" in message
    assert "no reference channel records the sync wave" in message
    assert "'nidq_sync'" in message


def test_different_polarities_are_refused(real_data: Path, tmp_path: Path) -> None:
    nidq, imec, _ = spikeglx_run(real_data, tmp_path)

    with warnings.catch_warnings(), pytest.raises(MetadataError, match="polarity 'falling'"):
        align_probe_clocks(_metadata(probe_polarity="falling"), _channels(nidq, imec), Config())
