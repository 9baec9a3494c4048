"""The synthetic experiment generator: session dates, frame-TTL faults and their ground truth."""

from __future__ import annotations

import io
import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.config import Config, render_config_template
from w2t_bkin.session import process_session
from w2t_bkin.testing import ExperimentSpec, write_experiment
from w2t_bkin.testing.experiment import BASE_SESSION_START, CAMERA_IDS, session_start_time
from w2t_bkin.testing.simulate import simulate_camera

SESSION = Path("data/raw/mouse01/ses01")
TINY = ExperimentSpec(duration_s=0.2, rate_hz=20.0, n_keypoints=1, width=32, height=32)


def _read_ttl(path: Path) -> np.ndarray:
    return np.loadtxt(path, ndmin=1)


def test_session_start_is_deterministic_and_spans_28_days() -> None:
    starts = [session_start_time(seed) for seed in range(41)]
    assert starts[0] == BASE_SESSION_START == datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
    assert starts[28] == starts[0] and starts[40] == starts[12]
    assert len(set(starts)) == 28
    assert [(s - BASE_SESSION_START).days for s in starts[:28]] == list(range(28))


def test_generated_sessions_start_before_they_are_generated(tmp_path: Path) -> None:
    # a future session_start_time is a CRITICAL nwbinspector (DANDI) finding
    for seed in range(41):
        generated_at = datetime.now(UTC)
        root = tmp_path / f"seed{seed}"
        truth = write_experiment(root, ExperimentSpec(**{**TINY.__dict__, "seed": seed}))
        start = datetime.fromisoformat(truth["mouse01/ses01"]["session_start_time"])
        session_toml = tomllib.loads((root / SESSION / "session.toml").read_text())
        assert session_toml["session_start_time"] == start
        assert start < generated_at, f"seed {seed}: {start} is not in the past"
        on_disk = json.loads((root / SESSION / "truth.json").read_text())
        assert on_disk == truth["mouse01/ses01"]


@pytest.fixture(scope="module")
def faulty_ttl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, ExperimentSpec]:
    spec = ExperimentSpec(
        duration_s=4.0,
        rate_hz=50.0,
        n_keypoints=2,
        width=32,
        height=32,
        dropped_frame_fraction=0.02,
        missing_frame_pulse_fraction=0.05,
        spurious_frame_pulse_fraction=0.03,
        seed=2,
    )
    root = tmp_path_factory.mktemp("faulty") / "exp"
    truth = write_experiment(root, spec)["mouse01/ses01"]
    return root, truth, spec


def test_frame_pulse_knobs_remove_and_add_exactly_the_recorded_pulses(
    faulty_ttl: tuple[Path, dict, ExperimentSpec],
) -> None:
    root, truth, spec = faulty_ttl
    for camera_id in CAMERA_IDS:
        cam = truth["cameras"][camera_id]
        frames = np.asarray(cam["frame_times_s"])
        pulses = _read_ttl(root / SESSION / "TTLs" / f"{camera_id}_frame.txt")
        missing, spurious = cam["missing_pulse_frames"], cam["spurious_pulse_idx"]
        assert len(missing) == round(spec.missing_frame_pulse_fraction * cam["n_frames"]) > 0
        assert len(spurious) == round(spec.spurious_frame_pulse_fraction * cam["n_frames"]) > 0
        assert 0 not in missing and cam["n_frames"] - 1 not in missing
        assert pulses.size == cam["n_pulses"] == cam["n_frames"] - len(missing) + len(spurious)
        # without jitter the other lines are exactly the frames that kept their pulse
        real = np.delete(pulses, spurious)
        np.testing.assert_allclose(real, np.delete(frames, missing), rtol=0, atol=1e-9)
        # each added pulse lies a quarter to three quarters of a period off the frame grid
        phase = (pulses[spurious] - frames[0]) * spec.rate_hz % 1.0
        assert np.all((phase >= 0.25 - 1e-6) & (phase <= 0.75 + 1e-6)), phase


def test_pipeline_finds_exactly_the_lost_and_spurious_frame_pulses(
    faulty_ttl: tuple[Path, dict, ExperimentSpec],
) -> None:
    root, truth, _ = faulty_ttl
    fast = Config.model_validate(
        {"finalization": {"validate_nwb": False, "qc_report": False, "provenance": False}}
    )
    config = root / "fast.toml"
    config.write_text(render_config_template(fast))
    result = process_session(root, "mouse01", "ses01", config_path=config)
    assert result.ok, result.error
    stats = {s.stream_id: s.to_dict() for s in result.stats}
    for camera_id in CAMERA_IDS:
        cam = truth["cameras"][camera_id]
        assert stats[camera_id]["missing_idx"] == cam["missing_pulse_frames"]
        assert stats[camera_id]["spurious_idx"] == cam["spurious_pulse_idx"]
        assert stats[camera_id]["dropped_idx"] == cam["dropped_frames"]
        assert stats[camera_id]["status"] == "repaired"


def test_zero_frame_pulse_knobs_write_the_same_ttl_bytes_as_before(tmp_path: Path) -> None:
    spec = ExperimentSpec(**{**TINY.__dict__, "duration_s": 1.0, "jitter_s": 1e-4})
    truth = write_experiment(tmp_path / "exp", spec)["mouse01/ses01"]
    for c, camera_id in enumerate(CAMERA_IDS):
        # the call write_session made before the frame-pulse knobs existed
        camera = simulate_camera(
            spec.duration_s,
            spec.rate_hz,
            jitter_s=spec.jitter_s,
            t_start_s=0.5 + 0.01 * c,
            seed=0 * 10 + c,
        )
        expected = io.BytesIO()
        np.savetxt(expected, camera.pulse_times_s, fmt="%.9f")
        written = (tmp_path / "exp" / SESSION / "TTLs" / f"{camera_id}_frame.txt").read_bytes()
        assert written == expected.getvalue()
        cam = truth["cameras"][camera_id]
        assert cam["missing_pulse_frames"] == [] and cam["spurious_pulse_idx"] == []
