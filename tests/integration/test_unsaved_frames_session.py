"""A DAQ that recorded camera pulses before the video started saving, declared in session.toml."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.config import Config
from w2t_bkin.errors import MetadataError
from w2t_bkin.metadata import CameraMeta, load_session_metadata
from w2t_bkin.nwb.inspection import read_nwb
from w2t_bkin.session import process_session
from w2t_bkin.session.synchronize import _camera_timing
from w2t_bkin.testing import ExperimentSpec, write_experiment

SPEC = ExperimentSpec(duration_s=2.0, rate_hz=30.0, n_keypoints=2)
RAW = Path("data/raw/mouse01/ses01")
OUT = Path("data/processed/mouse01/ses01")
N_UNSAVED = 3


def _workspace_with_unsaved_pulses(root: Path, declaration: str | None) -> dict:
    """cam0's TTL file gets 3 pulses on its frame grid before the first saved frame."""
    truth = write_experiment(root, SPEC)["mouse01/ses01"]
    ttl = root / RAW / "TTLs/cam0_frame.txt"
    pulses_s = np.loadtxt(ttl, ndmin=1)
    period_s = 1.0 / SPEC.rate_hz
    before_s = pulses_s[0] - period_s * np.arange(N_UNSAVED, 0, -1)
    np.savetxt(ttl, np.concatenate([before_s, pulses_s]), fmt="%.9f")
    if declaration is not None:
        session = root / RAW / "session.toml"
        session.write_text(
            session.read_text() + f'\n[[cameras]]\nid = "cam0"\nsaved_frames = {declaration}\n'
        )
    return truth


def _frame_times_s(nwb_path: Path, camera_id: str) -> np.ndarray:
    with read_nwb(nwb_path) as nwb:
        series = nwb.acquisition[camera_id]
        if series.timestamps is not None:
            return np.asarray(series.timestamps[:])
        # evenly spaced frames are stored as starting_time + rate
        return series.starting_time + np.arange(series.num_samples) / series.rate


def test_without_a_declaration_the_session_fails_in_synchronization(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    _workspace_with_unsaved_pulses(root, None)
    result = process_session(root, "mouse01", "ses01")
    assert result.failed_phase == "synchronization"
    assert (
        "camera 'cam0' has 60 frames but its TTL channel 'ttl_cam0' has 63 pulses (0 removed "
        "as spurious, 63 kept): 3 more pulses than frames after removing spurious pulses"
    ) in (result.error or "")
    assert "saved_frames" in (result.error or "")  # the hint names the way out
    assert not (root / OUT / "sub-mouse01_ses-ses01.nwb").exists()


@pytest.mark.parametrize(
    "declaration",
    ["{ skip_leading_pulses = 3 }", "{ pulses_from_s = 0.483 }"],
    ids=["pulse-count", "time-window"],
)
def test_declared_unsaved_pulses_give_the_true_frame_times(
    tmp_path: Path, declaration: str
) -> None:
    root = tmp_path / "exp"
    truth = _workspace_with_unsaved_pulses(root, declaration)
    result = process_session(root, "mouse01", "ses01")
    assert result.ok, result.error

    for camera_id, camera in truth["cameras"].items():
        times_s = _frame_times_s(root / OUT / "sub-mouse01_ses-ses01.nwb", camera_id)
        np.testing.assert_allclose(times_s, camera["frame_times_s"], rtol=0, atol=1e-9)

    stats = json.loads((root / OUT / "alignment_stats.json").read_text())
    row = {s["stream_id"]: s for s in stats["streams"]}["cam0"]
    assert (row["n_pulses"], row["n_items"], row["n_matched"]) == (63, 60, 60)
    assert row["unassigned_idx"] == [0, 1, 2]
    assert row["dropped_idx"] == [] and row["status"] == "exact"
    skipped = "at 0.400000, 0.433333, 0.466667 s"
    note = (
        f"camera 'cam0' (TTL channel 'ttl_cam0'): saved_frames = {declaration}: "
        f"3 pulses before the first saved frame ({skipped}) have no saved frame; the frames are "
        "placed on the 60 pulses from 0.500000 s to 2.466667 s (checked against the counts "
        "only; container timestamps not used: evenly spaced"
    )
    assert note in row["notes"]
    assert "camera 'cam0' (TTL channel 'ttl_cam0'): 3 pulses have no saved frame" in row["notes"]
    # the other camera is untouched by cam0's declaration
    assert {s["stream_id"]: s for s in stats["streams"]}["cam1"]["unassigned_idx"] == []
    report = (root / OUT / "qc/report.html").read_text()
    assert "3 pulses before the first saved frame" in report


@pytest.mark.parametrize(
    ("declaration", "why"),
    [
        (
            "{ skip_leading_pulses = 3, pulses_from_s = 0.4 }",
            "saved_frames takes pulse counts (skip_leading_pulses, skip_trailing_pulses) or a "
            "time window (pulses_from_s, pulses_to_s), not both",
        ),
        ("{ skip_trailing_pulses = -1 }", "Input should be greater than or equal to 0"),
        (
            "{ pulses_from_s = 2.0, pulses_to_s = 1.0 }",
            "saved_frames: pulses_from_s (2 s) must be before pulses_to_s (1 s)",
        ),
        ("{ skip_leading = 3 }", "unknown key"),
    ],
)
def test_a_malformed_declaration_is_refused_with_file_and_line(
    tmp_path: Path, declaration: str, why: str
) -> None:
    root = tmp_path / "exp"
    _workspace_with_unsaved_pulses(root, declaration)
    session = root / RAW / "session.toml"
    line = len(session.read_text().splitlines())  # the saved_frames line
    with pytest.raises(MetadataError) as info:
        load_session_metadata(root / "data/raw", "mouse01", "ses01")
    assert f"{session}:{line}: cameras[0].saved_frames" in str(info.value)
    assert why in str(info.value)


def test_a_declaration_on_a_camera_without_ttl_is_refused() -> None:
    camera = CameraMeta.model_validate(
        {"id": "top", "fps": 30.0, "frame_clock": "rate", "saved_frames": {"pulses_to_s": 9.0}}
    )
    with pytest.raises(MetadataError) as info:
        _camera_timing(camera, 60, None, {}, Config())
    assert info.value.message == (
        "camera 'top': saved_frames says which frames own the camera's TTL pulses, but its "
        "frame_clock is 'rate'"
    )
    assert (
        info.value.hint == "give the camera a ttl_id (frame_clock = 'ttl'), or remove saved_frames"
    )
