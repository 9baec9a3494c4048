"""A session with a SpikeGLX NIDQ and an imec probe recording the same sync wave: the probe
clock is fitted to the session clock, recorded in ``alignment_stats.json`` and the NWB file's
clock description, mapped onto the probe's TTL channel, and shown in the QC report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unit.ephys.layouts import NOISE4SAM, NOISE4SAM_AP_META, write_bin, write_meta
from w2t_bkin.session import process_session
from w2t_bkin.testing import ExperimentSpec, write_experiment

pytestmark = pytest.mark.real_data

SPEC = ExperimentSpec(duration_s=2.0, rate_hz=20.0, n_keypoints=2)
RAW = Path("data/raw/mouse01/ses01")
NIDQ_META = NOISE4SAM / "Noise4Sam_g0_t0.nidq.meta"  # niSampRate 11574.07 Hz, syncNiChan=0
DURATION_S = 60.0
OFFSET_S = -0.0007
DRIFT_PPM = 41.0


def _levels(edges_s: np.ndarray, rate_hz: float, n: int, bit: int) -> np.ndarray:
    """``(n,) uint16``: ``bit`` high for half a second from the first sample after each edge."""
    level = np.zeros(n, np.uint16)
    for start in np.ceil(edges_s * rate_hz).astype(np.int64):
        level[start : start + int(0.5 * rate_hz)] |= 1 << bit
    return level


def write_spikeglx(real_data: Path, session: Path) -> np.ndarray:
    """NIDQ (sync on line 0) and imec0 AP (sync on SY bit 6, probe clock) under ``Ephys/``."""
    edges_s = 0.3 + np.arange(int(DURATION_S) - 1, dtype=np.float64)
    nidq_rate_hz = 11574.074074
    n_nidq = int(DURATION_S * nidq_rate_hz)
    nidq = session / "Ephys/run_g0/run_g0_t0.nidq.bin"
    write_bin(nidq, _levels(edges_s, nidq_rate_hz, n_nidq, 0).view(np.int16)[:, None])
    write_meta(
        real_data / NIDQ_META,
        nidq.with_suffix(".meta"),
        n_nidq,
        firstSample="0",
        nSavedChans="1",
        snsMnMaXaDw="0,0,0,1",
        fileSizeBytes=str(2 * n_nidq),
    )
    n_ap = int(DURATION_S * 30_000)
    probe_s = (edges_s - OFFSET_S) / (1 + DRIFT_PPM * 1e-6)
    ap = np.zeros((n_ap, 2), np.int16)  # one AP channel and the SY word
    ap[:, 1] = _levels(probe_s, 30_000.0, n_ap, 6).view(np.int16)
    imec = session / "Ephys/run_g0/run_g0_imec0/run_g0_t0.imec0.ap.bin"
    write_bin(imec, ap)
    write_meta(
        real_data / NOISE4SAM_AP_META,
        imec.with_suffix(".meta"),
        n_ap,
        firstSample="0",
        nSavedChans="2",
        snsApLfSy="1,0,1",
        fileSizeBytes=str(4 * n_ap),
    )
    return edges_s


def test_probe_clock_fit_reaches_stats_nwb_and_qc(real_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, SPEC)
    edges_s = write_spikeglx(real_data, root / RAW)
    with (root / "data/raw/metadata.toml").open("a") as handle:
        handle.write(
            '\n[[TTLs]]\nid = "nidq_sync"\npaths = ["Ephys/run_g0/run_g0_t0.nidq.bin"]\n'
            'format = "spikeglx"\nline = 0\n'
            '\n[[TTLs]]\nid = "imec0_sync"\n'
            'paths = ["Ephys/run_g0/run_g0_imec0/run_g0_t0.imec0.ap.bin"]\n'
            'format = "spikeglx"\nline = 6\n'
        )

    result = process_session(root, "mouse01", "ses01")

    assert result.failed_phase is None, result.error
    out = root / "data/processed/mouse01/ses01"
    stats = json.loads((out / "alignment_stats.json").read_text())
    (clock,) = stats["clocks"]
    assert (clock["clock_id"], clock["reference_id"]) == ("imec0_sync", "nidq_sync")
    # edges quantised to 86 us (NIDQ) and 33 us (probe) samples over 59 s
    assert clock["drift_ppm"] == pytest.approx(DRIFT_PPM, abs=1.5)
    assert clock["offset_s"] == pytest.approx(OFFSET_S, abs=1e-4)
    assert clock["n_matched"] == edges_s.size and clock["status"] == "pass"
    assert {row["stream_id"] for row in stats["streams"]} >= {"cam0", "cam1"}

    from w2t_bkin.nwb.inspection import read_nwb

    with read_nwb(out / "sub-mouse01_ses-ses01.nwb") as nwb:
        described = json.dumps({k: str(v) for k, v in nwb.fields.items()})
        assert "mapped onto the reference clock through the sync wave on 'nidq_sync'" in described
        probe = _ttl_times(nwb, "imec0_sync")
    # the probe's pulses in the NWB file are on the session clock, not the probe's
    np.testing.assert_allclose(probe, edges_s, atol=1.2e-4)

    page = (out / "qc/report.html").read_text()
    section = re.search(r'<section id="ephys-clocks">(.*?)</section>', page, re.S)
    assert section is not None
    assert "imec0_sync" in section.group(1) and "<img" in section.group(1)


def _ttl_times(nwb: Any, channel: str) -> np.ndarray:
    """Pulse times of one channel of the ``TTLEvents`` table (channel codes in its meanings)."""
    from w2t_bkin.nwb.names import TTL_TABLE_NAME

    events = nwb.acquisition[TTL_TABLE_NAME]
    meanings = events.get_meanings_table("channel_meanings")
    code = list(meanings["value"].data[:])[list(meanings["meaning"].data[:]).index(channel)]
    codes = np.asarray(events["channel"].data[:])
    return np.asarray(events["timestamp"].data[:])[codes == code]
