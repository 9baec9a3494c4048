"""NWB round trip of facial motion: series, timestamps (the camera's frame times) and masks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.errors import VerificationError
from w2t_bkin.nwb.facemotion import FaceMotionSeries, add_camera_facemotion
from w2t_bkin.nwb.inspection import read_nwb


def _series(roi_id: str, n_frames: int, k: int, seed: int) -> FaceMotionSeries:
    rng = np.random.default_rng(seed)
    energy = rng.random(n_frames).astype(np.float32)
    energy[0] = np.nan
    projections = rng.normal(size=(n_frames, k)).astype(np.float32)
    projections[0] = np.nan
    return FaceMotionSeries(
        roi_id=roi_id,
        description=f"ROI {roi_id}.",
        motion_energy=energy,
        projections=projections,
        components=rng.random((k, 3, 5)).astype(np.float32),
        mean_motion=rng.random((3, 5)).astype(np.float32),
    )


def _nwbfile() -> NWBFile:
    start = datetime(2024, 5, 1, 10, tzinfo=UTC)
    return NWBFile(session_description="test", identifier="fm", session_start_time=start)


def test_round_trip(tmp_path: Path) -> None:
    # jittered TTL frame times with a dropped frame: only explicit timestamps represent them
    frame_times_s = 2.0 + np.arange(50) / 30.0 + np.random.default_rng(1).normal(0, 1e-4, 50)
    frame_times_s[30:] += 1 / 30.0
    rois = (_series("whisker", 50, 4, 0), _series("nose", 50, 0, 1))
    nwbfile = _nwbfile()
    add_camera_facemotion(
        nwbfile,
        camera_id="face",
        rois=rois,
        frame_times_s=frame_times_s,
        config=AssemblyConfig(),
        clock_description="TTL clock.",
    )
    path = tmp_path / "fm.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)

    with read_nwb(path) as read:
        behavior = read.processing["behavior"]
        container = behavior["FaceMotion_face"]
        assert sorted(container.time_series) == [
            "motion_energy_nose",
            "motion_energy_whisker",
            "motion_svd_whisker",
        ]
        for name in container.time_series:
            series = container.time_series[name]
            np.testing.assert_array_equal(series.get_timestamps()[:], frame_times_s)
        energy = container.time_series["motion_energy_whisker"]
        np.testing.assert_array_equal(energy.data[:], rois[0].motion_energy)
        assert energy.unit == "grey levels per binned pixel"
        svd = container.time_series["motion_svd_whisker"]
        np.testing.assert_array_equal(svd.data[:], rois[0].projections)
        # one stored copy: every other series links the first one's timestamps
        owner = "/processing/behavior/FaceMotion_face/motion_energy_whisker/timestamps"
        assert svd.timestamps.name == owner
        assert container.time_series["motion_energy_nose"].timestamps.name == owner
        masks = behavior["FaceMotionMasks_face"]
        np.testing.assert_array_equal(
            masks["motion_mask_whisker_2"].data[:].T, rois[0].components[2]
        )
        np.testing.assert_array_equal(masks["mean_motion_nose"].data[:].T, rois[1].mean_motion)
        assert "motion_mask_nose_0" not in masks.images


def test_series_length_must_match_the_frame_times() -> None:
    with pytest.raises(VerificationError) as caught:
        add_camera_facemotion(
            _nwbfile(),
            camera_id="face",
            rois=(_series("whisker", 49, 2, 0),),
            frame_times_s=np.arange(50) / 30.0,
            config=AssemblyConfig(),
        )
    assert caught.value.message == (
        "camera 'face': facial motion ROI 'whisker' has motion energy for 49 frames, the "
        "camera has 50 frame times"
    )
