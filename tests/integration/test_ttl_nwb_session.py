"""A frame TTL recorded as an NWB TimeSeries gives the same frame times as its text file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

from w2t_bkin.session import process_session
from w2t_bkin.testing import ExperimentSpec, write_experiment

from ._sessions import processed_frame_times_s, replace_once

SPEC = ExperimentSpec(duration_s=2.0, rate_hz=20.0, n_keypoints=2)
RAW = Path("data/raw/mouse01/ses01")


def _pulses_as_levels(times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 0/5 V signal, 1 ms pulses whose first high sample is each pulse time."""
    timestamps = np.stack([times_s - 1e-3, times_s, times_s + 1e-3, times_s + 2e-3], axis=1)
    levels = np.tile([0.0, 5.0, 5.0, 0.0], (times_s.size, 1))
    return timestamps.reshape(-1), levels.reshape(-1)


def test_nwb_timeseries_frame_ttl_matches_text_ttl(tmp_path: Path) -> None:
    text_root, nwb_root = tmp_path / "text", tmp_path / "nwb"
    write_experiment(text_root, SPEC)
    write_experiment(nwb_root, SPEC)
    pulses_s = np.loadtxt(nwb_root / RAW / "TTLs/cam0_frame.txt", ndmin=1)
    assert np.all(np.diff(pulses_s) > 3e-3)  # pulses do not overlap
    timestamps, levels = _pulses_as_levels(pulses_s)
    nwbfile = NWBFile("daq", "daq-1", datetime(2024, 1, 1, tzinfo=UTC))
    nwbfile.add_acquisition(
        TimeSeries(name="cam0_strobe", data=levels, unit="V", timestamps=timestamps)
    )
    with NWBHDF5IO(str(nwb_root / RAW / "TTLs/daq.nwb"), "w") as io:
        io.write(nwbfile)
    (nwb_root / RAW / "TTLs/cam0_frame.txt").unlink()
    replace_once(
        nwb_root / "data/raw/metadata.toml",
        'paths = [\n    "TTLs/cam0_frame.txt",\n]\n',
        'paths = ["TTLs/daq.nwb"]\ncolumn = "cam0_strobe"\n',
    )

    expected = processed_frame_times_s(text_root)
    np.testing.assert_array_equal(processed_frame_times_s(nwb_root), expected)
    assert expected.size > 0


def test_ttl_threshold_key_reaches_the_reader(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, SPEC)
    metadata = root / "data/raw/metadata.toml"
    old = 'paths = [\n    "TTLs/cam0_frame.txt",\n]\n'
    metadata.write_text(metadata.read_text().replace(old, old + "threshold = 2.5\n", 1))

    result = process_session(root, "mouse01", "ses01")

    assert result.failed_phase == "verification"
    assert "a threshold applies only to NWB TimeSeries channels, not to text files" in (
        result.error or ""
    )
