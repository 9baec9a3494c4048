"""Read pose tracks back from NWB files (ndx-pose), each with its per-frame timestamps.

Our processed files hold one ``PoseEstimation`` per camera (and individual) in
``processing/behavior``; files written by other tools (DLC2NWB, neuroconv) are read the same
way. Timestamps come from the series itself: stored or linked timestamps, else
``starting_time + frame / rate``: the times synchronization wrote, never a frame count
divided by a nominal rate.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.model.pose import PoseData
from w2t_bkin.nwb.inspection import read_nwb

__all__ = ["NWBPoseTrack", "read_nwb_pose"]

_DESCRIPTION = re.compile(
    r"pose of camera '(?P<camera>.+?)'(?:, individual (?P<individual>.+?))?, read from"
)


@dataclass(frozen=True)
class NWBPoseTrack:
    """One ``PoseEstimation`` container read back.

    Attributes
    ----------
    estimation
        Container name, e.g. ``"PoseEstimation_top"``.
    camera
        Camera id (from our description, else the container name without its prefix).
    individual
        Individual name (``"individual_0"`` when the file names none).
    subject, session
        ``subject.subject_id`` and ``session_id`` of the file (``None`` when absent).
    pose
        ``positions (n_frames, 1, n_keypoints, n_space) float32``; confidence
        ``(n_frames, 1, n_keypoints) float32`` (NaN when the file stores none).
    t_s
        ``(n_frames,) float64`` frame times in seconds on the file's reference clock.
    """

    estimation: str
    camera: str
    individual: str
    subject: str | None
    session: str | None
    pose: PoseData
    t_s: np.ndarray


def read_nwb_pose(path: str | Path) -> list[NWBPoseTrack]:
    """Every ``PoseEstimation`` of an NWB file, as pose arrays with real timestamps.

    Raises
    ------
    IngestError
        The file cannot be read as NWB, holds no pose, or a container's series disagree in
        length or timing.
    """
    path = Path(path)
    tracks: list[NWBPoseTrack] = []
    with read_nwb(path) as nwbfile:
        subject = getattr(nwbfile.subject, "subject_id", None) if nwbfile.subject else None
        for module in nwbfile.processing.values():
            for obj in module.data_interfaces.values():
                if type(obj).__name__ == "PoseEstimation":
                    tracks.append(_track(path, obj, subject, nwbfile.session_id))
    if not tracks:
        raise IngestError(
            f"{path} holds no ndx-pose PoseEstimation container",
            hint="pose is written when the session has pose files; check the session's "
            "Pose/ folder and rerun it",
            path=path,
        )
    return tracks


def _track(path: Path, estimation: Any, subject: str | None, session: str | None) -> NWBPoseTrack:
    name = str(getattr(estimation, "name", "PoseEstimation"))
    series = list(estimation.pose_estimation_series.values())
    if not series:
        raise IngestError(f"{path}: {name} has no PoseEstimationSeries", path=path)
    data = [np.asarray(s.data[:], dtype=np.float32) for s in series]
    n_frames = data[0].shape[0]
    if any(d.shape != data[0].shape for d in data):
        raise IngestError(
            f"{path}: the series of {name} differ in shape: "
            f"{sorted({str(d.shape) for d in data})}; expected one shape for every keypoint",
            path=path,
        )
    positions = np.stack(data, axis=1)[:, None, :, :]
    confidence = np.full((n_frames, 1, len(series)), np.nan, dtype=np.float32)
    for k, s in enumerate(series):
        if s.confidence is not None:
            confidence[:, 0, k] = np.asarray(s.confidence[:], dtype=np.float32)
    t_s = _frame_times(path, name, series[0], n_frames)
    camera, individual = _names(name, str(getattr(estimation, "description", "") or ""))
    pose = PoseData(
        positions=positions,
        confidence=confidence,
        keypoint_names=tuple(str(s.name) for s in series),
        individual_names=(individual,),
        source_software=str(getattr(estimation, "source_software", None) or "unknown"),
        source_file=path,
        source_software_version=getattr(estimation, "source_software_version", None),
        scorer=getattr(estimation, "scorer", None),
    )
    return NWBPoseTrack(name, camera, individual, subject, session, pose, t_s)


def _frame_times(path: Path, name: str, series: object, n_frames: int) -> np.ndarray:
    timestamps = getattr(series, "timestamps", None)
    if timestamps is not None:
        t_s = np.asarray(timestamps[:], dtype=np.float64)
    else:
        rate = getattr(series, "rate", None)
        start = float(getattr(series, "starting_time", None) or 0.0)
        if not rate:
            raise IngestError(f"{path}: {name} has neither timestamps nor a rate", path=path)
        t_s = start + np.arange(n_frames, dtype=np.float64) / float(rate)
    if t_s.shape != (n_frames,):
        raise IngestError(
            f"{path}: {name} has {n_frames} frames but {t_s.shape[0]} timestamps",
            hint="the file is inconsistent; rewrite it with w2t-bkin run",
            path=path,
        )
    return t_s


def _names(name: str, description: str) -> tuple[str, str]:
    match = _DESCRIPTION.search(description)
    if match is not None:
        individual = "individual_0"
        if match.group("individual"):
            try:
                individual = str(ast.literal_eval(match.group("individual")))
            except (ValueError, SyntaxError):
                individual = match.group("individual")
        return match.group("camera"), individual
    camera = name.removeprefix("PoseEstimation_") or name
    return camera, "individual_0"
