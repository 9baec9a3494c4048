"""Complete synthetic experiments on disk, with ground truth (``truth.json`` per session).

:func:`write_experiment` builds a workspace exactly as a lab would have it after
``w2t-bkin data init`` and ``import-raw``: S subjects x N sessions, each with

- 2 cameras: real encoded videos (PyAV), optionally split in chunks, whose container
  timestamps run on the camera clock and show gaps where the camera dropped frames;
- one frame-TTL text file per camera (one DAQ timestamp in seconds per line; optionally with
  lost and spurious pulses), a cue TTL (one pulse at each trial's sync-state onset) and an
  outcome TTL;
- Bpod Gen2 ``SessionData`` ``.mat`` files (several trial types, unvisited states as NaN,
  repeated states and events), split over 2 files;
- DeepLabCut ``.h5`` outputs per video (single animal) and a SLEAP analysis ``.h5`` for the
  second camera;
- ``truth.json``: true frame times, dropped frames, lost and spurious frame pulses, trial
  times and offsets, clock drift.

The reference clock is the DAQ that records every TTL line; its t=0 is ``session_start_time``.
Sessions are dated :data:`BASE_SESSION_START` plus ``seed % 28`` days: deterministic, and in
the past, so the DANDI inspector check against future session dates never fires.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from w2t_bkin.io_utils import atomic_write_text
from w2t_bkin.testing.bpod import BpodTrialsSpec, simulate_bpod_trials, write_bpod_session
from w2t_bkin.testing.pose import simulate_pose, write_dlc_h5, write_sleap_analysis_h5
from w2t_bkin.testing.simulate import (
    CameraTruth,
    _bpod_to_reference,
    record_sync_pulses,
    simulate_camera,
)
from w2t_bkin.testing.video import write_video

CAMERA_IDS = ("cam0", "cam1")
SYNC_STATES = {1: "W2T_Audio", 2: "A2L_Audio", 3: "Microstim"}
TRIAL_TYPE_NAMES = {"1": "W2T_Audio", "2": "A2L_Audio", "3": "Microstim"}
DLC_SCORER = "DLC_resnet50_w2tNov21shuffle1_100000"
BASE_SESSION_START = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
"""Start of the session with seed 0; a session with seed ``k`` starts ``k % 28`` days later."""


@dataclass(frozen=True)
class ExperimentSpec:
    """Knobs of a synthetic experiment (defaults: a 2-second clean test session).

    Attributes
    ----------
    n_subjects, n_sessions
        Subjects, and sessions per subject.
    duration_s
        Length of each camera recording (seconds of nominal frames).
    rate_hz
        Camera frame rate.
    n_keypoints
        Keypoints per pose model.
    width, height
        Video frame size in pixels (small keeps tests fast).
    n_video_chunks
        Video files per camera (recording split in chunks).
    camera_drift_ppm
        Camera clock vs DAQ clock.
    bpod_drift_ppm, bpod_offset_s
        Bpod clock vs DAQ: ``daq = offset + (1 + drift) * bpod``.
    jitter_s
        Half-width of the uniform error of every recorded pulse.
    dropped_frame_fraction
        Fraction of frames the cameras skipped (gap in pulses and in the video).
    missing_frame_pulse_fraction, spurious_frame_pulse_fraction
        Frame-TTL pulses lost (frame saved, pulse not recorded; never the first or last frame's)
        and added (glitches between a quarter and three quarters of a period off the frame
        grid), as fractions of each camera's saved frames. ``truth.json`` lists them per camera.
    missing_sync_fraction, spurious_sync_fraction
        Cue (trial sync) pulses lost / added, as fractions of the number of trials.
    n_trials
        Bpod trials per session (default: enough to span the recording, at least 4).
    n_bpod_files
        Files the Bpod session is split into.
    seed
        Base seed; each session derives its own.
    """

    n_subjects: int = 1
    n_sessions: int = 1
    duration_s: float = 2.0
    rate_hz: float = 30.0
    n_keypoints: int = 4
    width: int = 64
    height: int = 48
    n_video_chunks: int = 1
    camera_drift_ppm: float = 0.0
    bpod_drift_ppm: float = 0.0
    bpod_offset_s: float = 0.25
    jitter_s: float = 0.0
    dropped_frame_fraction: float = 0.0
    missing_frame_pulse_fraction: float = 0.0
    spurious_frame_pulse_fraction: float = 0.0
    missing_sync_fraction: float = 0.0
    spurious_sync_fraction: float = 0.0
    n_trials: int | None = None
    n_bpod_files: int = 2
    seed: int = 0


def write_experiment(root: str | Path, spec: ExperimentSpec | None = None) -> dict[str, Any]:
    """Write a workspace at ``root`` and return the truth of every session.

    Returns
    -------
    dict
        ``{"<subject>/<session>": truth}`` where ``truth`` is what ``truth.json`` holds.
    """
    from w2t_bkin.workspace.create import ExperimentInfo, init_workspace

    spec = spec or ExperimentSpec()
    root = Path(root)
    workspace = init_workspace(
        root,
        ExperimentInfo(
            "Synthetic Lab", "w2t-bkin", ("Doe, Jane",), "P-0001", "Synthetic experiment"
        ),
        force=True,
    )
    _write_toml(workspace.root_metadata, _experiment_metadata(spec), merge=True)
    truths: dict[str, Any] = {}
    for s in range(spec.n_subjects):
        subject = f"mouse{s + 1:02d}"
        subject_dir = workspace.raw / subject
        subject_dir.mkdir(parents=True, exist_ok=True)
        _write_toml(
            subject_dir / "subject.toml",
            {
                "subject": {
                    "subject_id": subject,
                    "species": "Mus musculus",
                    "sex": "F" if s % 2 == 0 else "M",
                    "age": "P90D",
                    "strain": "C57BL/6J",
                    "description": "synthetic subject",
                }
            },
        )
        for n in range(spec.n_sessions):
            session = f"ses{n + 1:02d}"
            seed = spec.seed * 1000 + s * 100 + n
            truth = write_session(subject_dir / session, subject, session, spec, seed)
            truths[f"{subject}/{session}"] = truth
    return truths


def write_session(
    session_dir: Path, subject: str, session: str, spec: ExperimentSpec, seed: int
) -> dict[str, Any]:
    """Write one session's raw files, ``session.toml`` and ``truth.json``."""
    for name in ("Video", "TTLs", "Bpod", "Pose"):
        (session_dir / name).mkdir(parents=True, exist_ok=True)
    start = session_start_time(seed)
    truth: dict[str, Any] = {
        "subject": subject,
        "session": session,
        "session_start_time": start.isoformat(),
        "reference_clock": "DAQ; t=0 at session_start_time",
        "spec": asdict(spec),
        "cameras": {},
    }
    for c, camera_id in enumerate(CAMERA_IDS):
        camera = simulate_camera(
            spec.duration_s,
            spec.rate_hz,
            drift_ppm=spec.camera_drift_ppm,
            jitter_s=spec.jitter_s,
            dropped_frame_fraction=spec.dropped_frame_fraction,
            missing_pulse_fraction=spec.missing_frame_pulse_fraction,
            spurious_pulse_fraction=spec.spurious_frame_pulse_fraction,
            t_start_s=0.5 + 0.01 * c,
            seed=seed * 10 + c,
        )
        truth["cameras"][camera_id] = _write_camera(session_dir, camera_id, camera, spec, seed, c)
    bpod_spec = simulate_bpod_trials(
        spec.n_trials or max(4, int(spec.duration_s / 2.5) + 2),
        trial_types=(1, 2, 3),
        seed=seed,
        sync_states=SYNC_STATES,
        session_start=start + timedelta(seconds=round(spec.bpod_offset_s)),
    )
    bpod_files = write_bpod_session(
        session_dir / "Bpod", bpod_spec, n_files=spec.n_bpod_files, subject=subject
    )
    truth["trials"] = _write_trial_ttls(session_dir, bpod_spec, spec, seed)
    truth["bpod_files"] = [p.name for p in bpod_files]
    _write_toml(
        session_dir / "session.toml",
        {
            "session_description": f"Synthetic session {session} of {subject}",
            "identifier": f"{subject}-{session}-synthetic",
            "session_id": session,
            "session_start_time": start,
        },
    )
    atomic_write_text(session_dir / "truth.json", json.dumps(truth, indent=1))
    return truth


def session_start_time(seed: int) -> datetime:
    """Wall-clock start (UTC) of the session generated with ``seed``: always in the past."""
    return BASE_SESSION_START + timedelta(days=seed % 28)


def _write_camera(
    session_dir: Path, camera_id: str, camera: CameraTruth, spec: ExperimentSpec, seed: int, c: int
) -> dict[str, Any]:
    bounds = np.linspace(0, camera.n_frames, spec.n_video_chunks + 1).astype(int)
    positions, confidence, names = simulate_pose(
        camera.n_frames, spec.n_keypoints, seed=seed * 10 + c, width=spec.width, height=spec.height
    )
    video_dir = session_dir / "Video" / camera_id
    pose_dir = session_dir / "Pose" / camera_id
    video_dir.mkdir(parents=True, exist_ok=True)
    pose_dir.mkdir(parents=True, exist_ok=True)
    for k in range(spec.n_video_chunks):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        stem = f"{camera_id}_chunk{k:02d}"
        pts = camera.frame_pts_s[lo:hi] - camera.frame_pts_s[lo]
        write_video(
            video_dir / f"{stem}.mp4",
            hi - lo,
            spec.rate_hz,
            width=spec.width,
            height=spec.height,
            pts_s=pts,
            seed=seed,
        )
        write_dlc_h5(
            pose_dir / f"{stem}{DLC_SCORER}.h5",
            positions[lo:hi],
            confidence[lo:hi],
            names,
            scorer=DLC_SCORER,  # DeepLabCut names its output <video stem><scorer>.h5
        )
        if c == 1:
            write_sleap_analysis_h5(
                pose_dir / f"{stem}.analysis.h5",
                positions[lo:hi],
                confidence[lo:hi],
                names,
                ("track_0",),
                tuple((i, i + 1) for i in range(len(names) - 1)),
            )
    ttl_path = session_dir / "TTLs" / f"{camera_id}_frame.txt"
    np.savetxt(ttl_path, camera.pulse_times_s, fmt="%.9f")
    return {
        "n_frames": camera.n_frames,
        "frame_times_s": camera.frame_times_s.tolist(),
        "dropped_frames": camera.dropped_frame_idx.tolist(),
        "n_pulses": camera.n_pulses,
        # saved frames whose pulse is absent from <camera>_frame.txt
        "missing_pulse_frames": camera.missing_pulse_frame_idx.tolist(),
        # 0-based lines of <camera>_frame.txt that belong to no frame
        "spurious_pulse_idx": camera.spurious_pulse_idx.tolist(),
        "drift_ppm": camera.drift_ppm,
        "chunk_starting_frame": bounds[:-1].tolist(),
        "keypoints": list(names),
    }


def _write_trial_ttls(
    session_dir: Path, bpod: BpodTrialsSpec, spec: ExperimentSpec, seed: int
) -> dict[str, Any]:
    """Cue pulses at sync-state onsets and outcome pulses at reward/punish onsets (DAQ clock)."""
    rng = np.random.default_rng(seed + 7)
    # simulate_bpod_trials puts session t=0 at a whole second; the sub-second rest of the
    # offset is a DAQ/Bpod start difference.
    offset_s = spec.bpod_offset_s

    def to_daq(bpod_s: np.ndarray) -> np.ndarray:
        return _bpod_to_reference(bpod_s, offset_s, spec.bpod_drift_ppm, 0.0, np.inf)

    sync_daq = to_daq(bpod.sync_onsets_s())
    cue, pulse_trial, lost = record_sync_pulses(
        sync_daq,
        rng,
        jitter_s=spec.jitter_s,
        missing_pulse_fraction=spec.missing_sync_fraction,
        spurious_pulse_fraction=spec.spurious_sync_fraction,
    )
    np.savetxt(session_dir / "TTLs" / "cue.txt", cue, fmt="%.9f")
    _, names, start_s, _ = bpod.state_visits()
    outcome_rows = np.isin(names, ["Reward", "Punish"])
    np.savetxt(
        session_dir / "TTLs" / "outcome.txt", np.sort(to_daq(start_s[outcome_rows])), fmt="%.9f"
    )
    return {
        "n_trials": bpod.n_trials,
        "bpod_offset_s": offset_s,
        "bpod_drift_ppm": spec.bpod_drift_ppm,
        "trial_types": bpod.trial_types.tolist(),
        "trial_start_reference_s": to_daq(bpod.trial_start_s).tolist(),
        "trial_stop_reference_s": to_daq(bpod.trial_end_s).tolist(),
        "sync_reference_s": [None if np.isnan(x) else float(x) for x in sync_daq],
        "missing_pulse_trials": lost.tolist(),
        "n_spurious_pulses": int(np.count_nonzero(pulse_trial < 0)),
    }


def _experiment_metadata(spec: ExperimentSpec) -> dict[str, Any]:
    """Cameras, TTL channels, Bpod rules, devices and pose declarations shared by all sessions."""
    cameras = [
        {
            "id": camera_id,
            "paths": [f"Video/{camera_id}/*.mp4"],
            "fps": spec.rate_hz,
            "ttl_id": f"ttl_{camera_id}",
            "description": f"{'Top' if i == 0 else 'Side'} view camera",
            "device": f"camera_{camera_id}",
        }
        for i, camera_id in enumerate(CAMERA_IDS)
    ]
    ttls = [
        {
            "id": f"ttl_{camera_id}",
            "paths": [f"TTLs/{camera_id}_frame.txt"],
            "description": f"Exposure strobe of {camera_id}, one pulse per acquired frame",
        }
        for camera_id in CAMERA_IDS
    ]
    ttls += [
        {"id": "ttl_cue", "paths": ["TTLs/cue.txt"], "description": "Bpod BNC1: cue onset"},
        {"id": "ttl_outcome", "paths": ["TTLs/outcome.txt"], "description": "Bpod BNC2: outcome"},
    ]
    nodes = [f"kp{i}" for i in range(spec.n_keypoints)]
    return {
        "devices": [
            {
                "name": f"camera_{camera_id}",
                "description": "Machine-vision camera",
                "manufacturer": "FLIR",
                "model_name": "Blackfly S BFS-U3-04S2M",
                "serial_number": f"2110{i:04d}",
            }
            for i, camera_id in enumerate(CAMERA_IDS)
        ]
        + [
            {
                "name": "bpod",
                "description": "Bpod State Machine r2",
                "manufacturer": "Sanworks",
                "serial_number": "BP-0042",
            }
        ],
        "cameras": cameras,
        "TTLs": ttls,
        "bpod": {
            "path": ["Bpod/*.mat"],
            "sync": {
                "trial_types": [
                    {"trial_type": t, "sync_signal": state, "sync_ttl": "ttl_cue"}
                    for t, state in SYNC_STATES.items()
                ]
            },
            "trial_type_names": TRIAL_TYPE_NAMES,
            "outcomes": [
                {"state": "Reward", "outcome": "hit"},
                {"state": "Punish", "outcome": "miss"},
            ],
            "actions": {"Reward": "reward_valve_open", "Punish": "airpuff"},
        },
        "pose": {
            "skeletons": {
                "chain": {
                    "name": "chain",
                    "nodes": nodes,
                    "edges": [[nodes[i], nodes[i + 1]] for i in range(len(nodes) - 1)],
                }
            },
            "cameras": {
                "cam0": {"source": "dlc", "paths": ["Pose/cam0/*DLC_*.h5"], "skeleton_id": "chain"},
                "cam1": {"source": "sleap", "paths": ["Pose/cam1/*.analysis.h5"]},
            },
        },
    }


def _write_toml(path: Path, data: dict[str, Any], *, merge: bool = False) -> None:
    if merge and path.exists():
        data = {**tomllib.loads(path.read_text()), **data}
    atomic_write_text(path, tomli_w.dumps(data))
