"""SpikeGLX imec sync word: edges of the sync bit of ``.ap.bin``/``.lf.bin`` on the probe clock."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.ttl import (
    load_ttl_channel,
    read_spikeglx_imec_sync,
    read_spikeglx_meta,
    ttl_format_of,
)

from ..ephys.layouts import NOISE4SAM_AP_BIN, NOISE4SAM_LF_META, SPIKEGLX, write_meta

pytestmark = pytest.mark.real_data

RATE_HZ = 2500.0  # the LF band of the real NP1.0 meta
FIRST_SAMPLE = 1000
PULSE_STARTS = np.array([10, 700, 1299, 1300 + 7, 2900])  # one starts at a chunk boundary
PULSE_SAMPLES = 5


def lf_with_sync(real_data: Path, folder: Path, n_samples: int = 3000) -> Path:
    """A real NP1.0 LF meta with a generated ``.bin``: sync bit 6 pulses at PULSE_STARTS, and
    bit 0 toggling every sample (must not leak into bit 6)."""
    data = np.zeros((n_samples, 385), np.int16)
    data[:, :384] = np.random.default_rng(1).integers(-200, 200, (n_samples, 384))
    sync = np.zeros(n_samples, np.uint16)
    for start in PULSE_STARTS:
        sync[start : start + PULSE_SAMPLES] |= 1 << 6
    sync[::2] |= 1  # another input on bit 0
    sync[-1] |= 1 << 15  # bit 15 set: must not sign-extend into the shift
    data[:, 384] = sync.view(np.int16)
    path = folder / "run_g0" / "run_g0_imec0" / "run_g0_t0.imec0.lf.bin"
    path.parent.mkdir(parents=True)
    data.tofile(path)
    write_meta(
        real_data / NOISE4SAM_LF_META,
        path.with_suffix(".meta"),
        n_samples,
        firstSample=str(FIRST_SAMPLE),
    )
    return path


def test_rising_falling_and_both_edges_on_the_probe_clock(real_data: Path, tmp_path: Path) -> None:
    path = lf_with_sync(real_data, tmp_path)
    rising = (FIRST_SAMPLE + PULSE_STARTS) / RATE_HZ
    falling = (FIRST_SAMPLE + PULSE_STARTS + PULSE_SAMPLES) / RATE_HZ
    for chunk in (1300, 10**6):
        np.testing.assert_array_equal(read_spikeglx_imec_sync(path, chunk_samples=chunk), rising)
    np.testing.assert_array_equal(read_spikeglx_imec_sync(path, 6, "falling"), falling)
    np.testing.assert_array_equal(
        read_spikeglx_imec_sync(path, 6, "both"), np.sort(np.concatenate([rising, falling]))
    )
    assert read_spikeglx_imec_sync(path, 0).size == 1499  # bit 0: every other sample


def test_spikeglx_format_reads_imec_and_nidq_files(real_data: Path, tmp_path: Path) -> None:
    path = lf_with_sync(real_data, tmp_path)
    assert ttl_format_of(path) == "spikeglx"
    channel = load_ttl_channel("probe_sync", path, line=6)
    np.testing.assert_array_equal(channel.times_s, (FIRST_SAMPLE + PULSE_STARTS) / RATE_HZ)
    nidq = real_data / SPIKEGLX / "DigitalChannelTest_g0/DigitalChannelTest_g0_t0.nidq.bin"
    pulses = load_ttl_channel("nidq", nidq, fmt="spikeglx", line=0).times_s
    assert pulses.size == 163
    meta = read_spikeglx_meta(nidq.with_suffix(".meta"))
    start_s = int(meta["firstSample"]) / float(meta["niSampRate"])
    assert pulses[0] - start_s == pytest.approx(0.0932, abs=1e-3)  # as the manifest says


def test_real_probe_files_with_an_idle_sync_line_have_no_edges(real_data: Path) -> None:
    np2 = real_data / SPIKEGLX / "NP2_with_sync/all_chan_g0_imec0/all_chan_g0_t0.imec0.ap.bin"
    for path in (np2, real_data / NOISE4SAM_AP_BIN):
        with pytest.warns(UserWarning, match="differs from fileSizeBytes"):
            times = read_spikeglx_imec_sync(path)
        assert times.dtype == np.float64 and times.size == 0


def test_file_saved_without_sync_channel_is_refused(real_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "x_g0_t0.imec0.lf.bin"
    np.zeros((10, 384), np.int16).tofile(path)
    write_meta(
        real_data / NOISE4SAM_LF_META,
        path.with_suffix(".meta"),
        10,
        nSavedChans="384",
        snsApLfSy="0,384,0",
    )
    with pytest.raises(
        IngestError,
        match=re.escape("snsApLfSy=0,384,0: the file was saved without its sync (SY) channel"),
    ):
        read_spikeglx_imec_sync(path)


def test_out_of_range_line_and_wrong_file_type(real_data: Path, tmp_path: Path) -> None:
    path = lf_with_sync(real_data, tmp_path)
    with pytest.raises(IngestError, match="line 16 is out of range; the imec sync word has bits"):
        read_spikeglx_imec_sync(path, 16)
    nidq = real_data / SPIKEGLX / "DigitalChannelTest_g0/DigitalChannelTest_g0_t0.nidq.bin"
    with pytest.raises(IngestError, match="typeThis='nidq', expected 'imec'"):
        read_spikeglx_imec_sync(nidq)
    with pytest.raises(IngestError, match="a spikeglx TTL source needs a digital line"):
        load_ttl_channel("probe_sync", path)
