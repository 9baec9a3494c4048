"""NWB units of a sorting: spike times round trip exactly, unit names kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.nwb.ephys_units import UnitsForNWB, read_units_nwb, write_units_nwb


def units(times: tuple[np.ndarray, ...], ids: tuple[str, ...]) -> UnitsForNWB:
    return UnitsForNWB(
        identifier="job-1",
        session_description="simple sorting of block0_rec_recording1",
        session_start_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        unit_ids=ids,
        spike_times_s=times,
        sorter="simple",
        recording_name="block0_rec_recording1",
    )


def test_spike_times_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    trains = (np.sort(rng.uniform(0, 20, 300)), np.array([]), np.array([0.5, 0.25, 1.0]))
    path = write_units_nwb(tmp_path / "units.nwb", units(trains, ("3", "7", "12")))
    back = read_units_nwb(path)
    assert list(back) == ["3", "7", "12"]
    np.testing.assert_array_equal(back["3"], trains[0])
    assert back["7"].size == 0
    np.testing.assert_array_equal(back["12"], [0.25, 0.5, 1.0])  # stored sorted
    assert [p.name for p in tmp_path.iterdir()] == ["units.nwb"]  # no temporary left
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), mode="r") as io:
        nwbfile = io.read()
        assert nwbfile.session_start_time == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        assert nwbfile.units.description == "units sorted by simple"
        assert list(nwbfile.units["n_spikes"][:]) == [300, 0, 3]


def test_unit_count_mismatch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 unit ids but 1 spike trains"):
        write_units_nwb(tmp_path / "u.nwb", units((np.array([1.0]),), ("a", "b")))
    assert not (tmp_path / "u.nwb").exists()
