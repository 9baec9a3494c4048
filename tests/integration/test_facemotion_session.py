"""Facial motion in the session pipeline: metadata ROIs -> cached signals -> NWB on frame times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.facemotion.result import load_motion
from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.session import process_session
from w2t_bkin.testing import ExperimentSpec, write_experiment

SPEC = ExperimentSpec(
    duration_s=3.0, n_video_chunks=2, dropped_frame_fraction=0.03, jitter_s=1e-4, seed=5
)

# Declared once for the rig's view, in the experiment-wide metadata ...
LAB_ROIS = """
[facemotion.cameras.cam0]
fit_frames = 40
segment_frames = 15

[[facemotion.cameras.cam0.rois]]
id = "upper"
width = 64
height = 24
bin = 2
n_components = 5
description = "Index bit cells"

[[facemotion.cameras.cam0.rois]]
id = "lower"
y = 24
bin = 4
n_components = 3
"""
# ... and nudged for one session: only the keys given change.
SESSION_OVERRIDE = """
[[facemotion.cameras.cam0.rois]]
id = "lower"
x = 8
"""


def _declare(root: Path, lab: str, session: str = "") -> None:
    with (root / "data/raw/metadata.toml").open("a", encoding="utf-8") as f:
        f.write(lab)
    if session:
        with (root / "data/raw/mouse01/ses01/session.toml").open("a", encoding="utf-8") as f:
            f.write(session)


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("fm") / "exp"
    truth = write_experiment(root, SPEC)["mouse01/ses01"]
    _declare(root, LAB_ROIS, SESSION_OVERRIDE)
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    assert "facial motion" in result.phase_durations_s
    return root, truth


def test_series_are_on_the_cameras_synchronized_frame_times(processed: tuple[Path, dict]) -> None:
    root, truth = processed
    nwb = root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb"
    expected_s = np.asarray(truth["cameras"]["cam0"]["frame_times_s"])
    with read_nwb(nwb) as nwbfile:
        video_times_s = nwbfile.acquisition["cam0"].get_timestamps()[:]
        container = nwbfile.processing["behavior"]["FaceMotion_cam0"]
        assert sorted(container.time_series) == [
            "motion_energy_lower",
            "motion_energy_upper",
            "motion_svd_lower",
            "motion_svd_upper",
        ]
        for series in container.time_series.values():
            np.testing.assert_array_equal(series.get_timestamps()[:], video_times_s)
        upper = container.time_series["motion_svd_upper"]
        assert upper.data.shape == (expected_s.shape[0], 5)
        lower = container.time_series["motion_energy_lower"]
        assert "ROI x=8 y=24 width=56 height=24 px" in lower.description
        assert "binned 4x4 to 14x6" in lower.description
        assert "FaceMotion_cam1" not in nwbfile.processing["behavior"].data_interfaces
    # dropped frames and jitter: the times are the TTL pulses, not index / rate
    np.testing.assert_allclose(video_times_s, expected_s, atol=2e-4)
    assert np.ptp(np.diff(video_times_s)) > 1 / 30.0 * 0.9


@pytest.mark.slow
def test_result_is_cached_in_interim_and_reused(processed: tuple[Path, dict]) -> None:
    root, _ = processed
    cached = root / "data/interim/mouse01/ses01/facemotion/cam0.npz"
    motion = load_motion(cached)
    assert [r.roi.roi_id for r in motion.rois] == ["upper", "lower"]
    before = cached.stat().st_mtime_ns
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error
    assert cached.stat().st_mtime_ns == before
    log = (root / "data/processed/mouse01/ses01/pipeline.log").read_text()
    assert f"camera cam0: facial motion read from {cached} (cache hit)" in log
    nwb = root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb"
    with read_nwb(nwb) as nwbfile:
        energy = nwbfile.processing["behavior"]["FaceMotion_cam0"]["motion_energy_upper"]
        np.testing.assert_array_equal(energy.data[:], motion.rois[0].motion_energy)


def test_roi_outside_the_frame_fails_the_phase_naming_camera_and_roi(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(seed=6))
    _declare(
        root,
        '\n[[facemotion.cameras.cam1.rois]]\nid = "whisker"\nx = 40\ny = 10\nwidth = 32\n'
        "height = 20\n",
    )
    result = process_session(root, "mouse01", "ses01")
    assert (result.ok, result.failed_phase, result.exit_code) == (False, "facial motion", 2)
    metadata = root / "data/raw/metadata.toml"
    assert (
        f"camera 'cam1', facial motion ROI 'whisker' (x=40 y=10 width=32 height=20 px) "
        f"(declared in {metadata}): it reaches x=72, y=30, outside the frame of 64x48 px "
        "(cam1_chunk00.mp4); expected x + width <= 64 and y + height <= 48"
    ) in (result.error or "")
    assert not (root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb").exists()


def test_unknown_camera_in_facemotion_metadata_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(seed=7))
    _declare(root, '\n[[facemotion.cameras.side.rois]]\nid = "nose"\n')
    result = process_session(root, "mouse01", "ses01")
    assert (result.ok, result.failed_phase, result.exit_code) == (False, "configuration", 2)
    assert "facemotion.cameras.side: no [[cameras]] entry with id 'side'" in (result.error or "")
