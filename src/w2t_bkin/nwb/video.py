"""Camera videos as external ``ImageSeries`` with per-frame reference-clock timestamps."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from pynwb import NWBFile
from pynwb.device import Device
from pynwb.image import ImageSeries

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.model.video import CameraVideos
from w2t_bkin.nwb.io import wrap_dataset

log = logging.getLogger(__name__)

FRAME_CLOCK_TEXT = {
    "ttl": "each frame time is the camera's TTL pulse recorded on the reference clock",
    "video": (
        "frame times are the video container's own timestamps, from 0 s at the first frame "
        "(each further video file continues one frame period after the last frame of the "
        "previous one); they are on the camera's clock and are NOT aligned to a TTL/DAQ clock"
    ),
    "rate": (
        "frame times are nominal, frame index / frame rate from 0 s at the first frame (no TTL "
        "or container timestamps); they are NOT measured and NOT aligned to a TTL/DAQ clock"
    ),
}


def relative_video_paths(videos: CameraVideos, nwb_folder: Path) -> list[str]:
    """Paths of the chunks relative to the NWB file's folder, with '/' separators."""
    base = os.path.abspath(nwb_folder)
    return [
        Path(os.path.relpath(os.path.abspath(chunk.path), base)).as_posix()
        for chunk in videos.chunks
    ]


def frame_clock_text(frame_clock: str) -> str:
    return FRAME_CLOCK_TEXT.get(frame_clock, f"frame clock '{frame_clock}'")


def interpolated_frames_text(frame_has_pulse: np.ndarray | None) -> str:
    if frame_has_pulse is None:
        return ""
    n_missing = int(np.count_nonzero(~np.asarray(frame_has_pulse, dtype=bool)))
    return f" {n_missing} of {frame_has_pulse.shape[0]} frame times were interpolated (no pulse)."


REGULAR_TOLERANCE_S = 1e-9
"""Frame times reproduced by ``starting_time + k / rate`` within this are stored as a rate."""


def nominal_rate_hz(frame_times_s: np.ndarray) -> float:
    """Frame rate of evenly spaced frame times (first to last frame)."""
    n = frame_times_s.shape[0]
    return float((n - 1) / (frame_times_s[-1] - frame_times_s[0]))


def regular_timing(frame_times_s: np.ndarray, frame_clock: str) -> dict[str, float] | None:
    """``{"rate", "starting_time"}`` when a rate represents the frame times, else None.

    Nominal ('rate') times always are. Measured times ('ttl', 'video') are only when the rate
    reproduces every one of them within :data:`REGULAR_TOLERANCE_S` (e.g. a constant-rate video
    container), so no timing information is lost; jittered TTL times keep their timestamps.
    """
    n = frame_times_s.shape[0]
    if n < 2 or not frame_times_s[-1] > frame_times_s[0]:
        return None
    rate_hz = nominal_rate_hz(frame_times_s)
    start_s = float(frame_times_s[0])
    if frame_clock != "rate":
        rebuilt = start_s + np.arange(n) / rate_hz
        if n < 3 or np.max(np.abs(rebuilt - frame_times_s)) > REGULAR_TOLERANCE_S:
            return None
    return {"rate": rate_hz, "starting_time": start_s}


def add_camera_video(
    nwbfile: NWBFile,
    *,
    camera_id: str,
    videos: CameraVideos,
    frame_times_s: np.ndarray,
    frame_clock: str,
    device: Device,
    nwb_folder: Path,
    config: AssemblyConfig,
    description: str = "",
    clock_description: str = "",
    frame_has_pulse: np.ndarray | None = None,
) -> ImageSeries:
    """Add the external ``ImageSeries`` named ``camera_id`` to acquisition.

    Parameters
    ----------
    frame_times_s
        ``(n_frames,) float64`` on the reference clock, one per frame of all chunks.
    frame_clock
        'ttl' or 'video' store every timestamp, unless a rate reproduces them within 1 ns (see
        :func:`regular_timing`); 'rate' stores ``rate``, ``starting_time`` and ``num_samples``
        (the times are nominal, so nothing is lost).
    """
    first = videos.chunks[0]
    text = (
        f"{description + '. ' if description else ''}Video of camera '{camera_id}' in "
        f"{len(videos.chunks)} external file(s) ({first.codec}, {first.width}x{first.height} px); "
        f"{frame_clock_text(frame_clock)}. {clock_description}"
    ).strip()
    common: dict[str, Any] = dict(
        name=camera_id,
        description=text,
        comments=(
            f"frame_clock={frame_clock}; external_file paths are relative to the NWB file's folder."
            + interpolated_frames_text(frame_has_pulse)
        ),
        external_file=relative_video_paths(videos, nwb_folder),
        starting_frame=videos.starting_frame.tolist(),
        format="external",
        unit="n/a",
        dimension=[first.width, first.height],
        device=device,
    )
    timing = regular_timing(frame_times_s, frame_clock)
    if timing is not None:
        if frame_clock != "rate":
            common["comments"] += (
                f" The {frame_clock} frame times are regular to {REGULAR_TOLERANCE_S:g} s and are "
                "stored as starting_time + frame / rate."
            )
        series = ImageSeries(**common, **timing, num_samples=int(frame_times_s.shape[0]))
    else:
        series = ImageSeries(**common, timestamps=wrap_dataset(frame_times_s, config))
    nwbfile.add_acquisition(series)
    return series
