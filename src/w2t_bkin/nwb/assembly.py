"""Assemble one session into an ``NWBFile`` and write it atomically.

The session pipeline hands over a :class:`SessionAssembly` whose every time is already on the
reference clock (the TTL/DAQ clock whose t=0 is ``session_start_time``); this module only places
the arrays in NWB containers and documents how the times were obtained.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.common import DynamicTable, VectorData
from pynwb import NWBFile
from pynwb.device import Device
from pynwb.event import EventsTable, TimestampVectorData

from w2t_bkin._version import __version__
from w2t_bkin.config import AssemblyConfig
from w2t_bkin.errors import MetadataError, VerificationError
from w2t_bkin.metadata import SessionMetadata
from w2t_bkin.model.bpod import BpodSession
from w2t_bkin.model.pose import PoseData
from w2t_bkin.model.stats import StreamStats
from w2t_bkin.model.ttl import TTLChannel
from w2t_bkin.model.video import CameraVideos
from w2t_bkin.nwb.behavior import TrialColumns, add_bpod
from w2t_bkin.nwb.devices import (
    BPOD_DEVICE,
    DAQ_DEVICE,
    add_metadata_devices,
    build_subject,
    ensure_device,
)
from w2t_bkin.nwb.facemotion import FaceMotionSeries, add_camera_facemotion
from w2t_bkin.nwb.io import row_ids, wrap_dataset, write_nwbfile_atomic, write_nwbfile_staged
from w2t_bkin.nwb.names import SYNC_MODULE
from w2t_bkin.nwb.pose import add_camera_pose
from w2t_bkin.nwb.ttl import add_ttl_events
from w2t_bkin.nwb.video import add_camera_video, frame_clock_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraAssembly:
    """One camera, ready to write.

    Attributes
    ----------
    camera_id
        ``[[cameras]].id``; also the ImageSeries name.
    frame_times_s
        ``(n_frames,) float64`` frame times on the reference clock.
    frame_clock
        How the times were obtained: 'ttl' | 'video' | 'rate'.
    videos
        The video chunks; None when the videos are archived elsewhere.
    pose
        Pose tracks ``(n_frames, ...)`` concatenated over chunks and aligned to the frames.
    description
        Camera description from metadata.
    device_name
        A ``[[devices]]`` name; a device named ``camera_id`` is created when None.
    frame_has_pulse
        ``(n_frames,) bool``; False for frames whose time was interpolated.
    skeleton_name
        Prefix of the ndx-pose Skeleton name.
    facemotion
        Facial motion series of the camera's ROIs (one per ROI), on its frame times.
    """

    camera_id: str
    frame_times_s: np.ndarray
    frame_clock: str
    videos: CameraVideos | None
    pose: PoseData | None
    description: str = ""
    device_name: str | None = None
    frame_has_pulse: np.ndarray | None = None
    skeleton_name: str | None = None
    facemotion: tuple[FaceMotionSeries, ...] = ()


@dataclass(frozen=True)
class TrialsAssembly:
    """Bpod trials and how to put them on the reference clock.

    Attributes
    ----------
    bpod
        The session in columnar form (Bpod clock).
    to_reference
        Vectorised map from Bpod-clock seconds to reference-clock seconds.
    alignment_label
        ``(n_trials,) str``: matched | interpolated | extrapolated | unaligned.
    trial_type_names
        Trial type number -> name.
    outcome
        ``(n_trials,) str``.
    actions
        Bpod state name -> action name.
    """

    bpod: BpodSession
    to_reference: Callable[[np.ndarray], np.ndarray]
    alignment_label: np.ndarray
    trial_type_names: dict[int, str]
    outcome: np.ndarray
    actions: dict[str, str]


@dataclass(frozen=True)
class SessionAssembly:
    """Everything written into one NWB file; all times on the reference clock.

    Attributes
    ----------
    metadata
        Merged session metadata (session fields, subject, devices, TTL descriptions).
    session_start_time
        tz-aware wall-clock time of reference-clock t=0.
    reference_clock_description
        One sentence naming the reference clock, repeated in every timed object's description.
    identifier
        Unique identifier of the NWB file.
    ttl_channels
        TTL channels on the reference clock.
    cameras
        Cameras with frame times, videos and pose.
    trials
        Bpod trials, or None when the session has no Bpod data.
    alignment_stats
        One :class:`~w2t_bkin.model.stats.StreamStats` per stream, written to
        ``processing/sync/alignment_statistics`` (the columns of its ``to_dict()`` rows).
    """

    metadata: SessionMetadata
    session_start_time: datetime
    reference_clock_description: str
    identifier: str
    ttl_channels: tuple[TTLChannel, ...]
    cameras: tuple[CameraAssembly, ...]
    trials: TrialsAssembly | None
    alignment_stats: tuple[StreamStats, ...]


def build_nwbfile(
    session: SessionAssembly, assembly_config: AssemblyConfig, nwb_path: Path
) -> NWBFile:
    """The in-memory ``NWBFile`` of ``session``.

    ``nwb_path`` is where the file will be written: external video paths are stored relative to
    its folder.
    """
    nwbfile = _session_header(session)
    add_metadata_devices(nwbfile, session.metadata.devices)
    clock = session.reference_clock_description
    if assembly_config.write_ttl and session.ttl_channels:
        ensure_device(nwbfile, DAQ_DEVICE, "Acquisition DAQ recording the TTL lines; " + clock)
        _check_ttl(session.ttl_channels)
        add_ttl_events(nwbfile, _with_metadata_descriptions(session), assembly_config, clock)
    for camera in session.cameras:
        _add_camera(nwbfile, camera, session, assembly_config, Path(nwb_path))
    if assembly_config.write_bpod and session.trials is not None:
        _add_trials(nwbfile, session.trials, clock)
    _add_alignment_statistics(nwbfile, session.alignment_stats)
    return nwbfile


def write_nwb(
    session: SessionAssembly, path: Path, assembly_config: AssemblyConfig | None = None
) -> Path:
    """Build and atomically write the NWB file of ``session`` to ``path``.

    Raises
    ------
    OutputError
        ``path`` cannot be written; no file (partial or temporary) is left behind.
    """
    config = assembly_config or AssemblyConfig()
    path = Path(path).absolute()
    nwbfile = build_nwbfile(session, config, path)
    return write_nwbfile_atomic(nwbfile, path)


def stage_nwb(
    session: SessionAssembly, path: Path, assembly_config: AssemblyConfig | None = None
) -> Path:
    """Build the NWB file of ``session`` and write it completely under a temporary name.

    The file lies next to ``path`` (so relative video paths hold) under a hidden
    ``.<stem>.<random>.partial.nwb`` name; validate it, then rename it with
    :func:`w2t_bkin.nwb.io.publish_file`. Nothing is written at ``path``.

    Raises
    ------
    OutputError
        The folder cannot be written; no temporary file is left behind.
    """
    config = assembly_config or AssemblyConfig()
    path = Path(path).absolute()
    return write_nwbfile_staged(build_nwbfile(session, config, path), path)


# --------------------------------------------------------------------------------------------
# header


def _session_header(session: SessionAssembly) -> NWBFile:
    meta = session.metadata
    start = session.session_start_time
    if start.tzinfo is None or start.utcoffset() is None:
        raise MetadataError(
            f"session_start_time {start.isoformat()} has no time zone",
            hint="give session_start_time with an offset, e.g. 2024-05-01T10:00:00+02:00",
        )
    description = (
        meta.session_description or f"Behavioural session {meta.session_id or session.identifier}"
    )
    if session.reference_clock_description:
        description += f"\n\nTime base: {session.reference_clock_description}"
    nwbfile = NWBFile(
        # The time base belongs in the description: it is what every reader of the file sees
        # first (DANDI shows it), and it says which clock every timestamp of the file is on.
        session_description=description,
        identifier=session.identifier,
        session_start_time=start,
        timestamps_reference_time=start,
        experimenter=list(meta.experimenter) or None,
        experiment_description=meta.experiment_description,
        session_id=meta.session_id,
        institution=meta.institution,
        lab=meta.lab,
        protocol=meta.protocol,
        keywords=list(meta.keywords) or None,
        notes=meta.notes,
        related_publications=list(meta.related_publications) or None,
        pharmacology=meta.pharmacology,
        surgery=meta.surgery,
        virus=meta.virus,
        stimulus_notes=meta.stimulus_notes,
        data_collection=meta.data_collection,
        was_generated_by=[["w2t-bkin", __version__]],
        subject=build_subject(meta.subject),
    )
    return nwbfile


# --------------------------------------------------------------------------------------------
# TTL


def _check_ttl(channels: tuple[TTLChannel, ...]) -> None:
    seen: set[str] = set()
    for ch in channels:
        if ch.channel_id in seen:
            raise VerificationError(
                f"TTL channel '{ch.channel_id}' is given twice",
                hint="each [[TTLs]] id must appear once",
            )
        seen.add(ch.channel_id)


def _with_metadata_descriptions(session: SessionAssembly) -> list[TTLChannel]:
    """TTL channels whose empty description is filled from ``[[TTLs]].description``."""
    known = {ttl.id: ttl.description for ttl in session.metadata.TTLs}
    return [
        replace(ch, description=ch.description or known.get(ch.channel_id) or "")
        for ch in session.ttl_channels
    ]


# --------------------------------------------------------------------------------------------
# cameras


def _camera_device(nwbfile: NWBFile, camera: CameraAssembly, session: SessionAssembly) -> Device:
    name = camera.device_name
    if name is None:
        try:
            name = session.metadata.camera(camera.camera_id).device
        except KeyError:
            name = None
    name = name or camera.camera_id
    return ensure_device(nwbfile, name, camera.description or f"Camera '{camera.camera_id}'")


def _add_camera(
    nwbfile: NWBFile,
    camera: CameraAssembly,
    session: SessionAssembly,
    config: AssemblyConfig,
    nwb_path: Path,
) -> None:
    frame_times_s = np.asarray(camera.frame_times_s, dtype=np.float64)
    write_video = config.write_videos and camera.videos is not None
    write_pose = config.write_pose and camera.pose is not None
    if not (write_video or write_pose or camera.facemotion):
        return
    if camera.videos is not None and camera.videos.n_frames != frame_times_s.shape[0]:
        raise VerificationError(
            f"camera '{camera.camera_id}': videos have {camera.videos.n_frames} frames but "
            f"{frame_times_s.shape[0]} frame times were given",
            hint="frame times must be resolved to one per video frame before assembly",
        )
    device = _camera_device(nwbfile, camera, session)
    clock = session.reference_clock_description
    image_series = None
    if write_video:
        assert camera.videos is not None
        image_series = add_camera_video(
            nwbfile,
            camera_id=camera.camera_id,
            videos=camera.videos,
            frame_times_s=frame_times_s,
            frame_clock=camera.frame_clock,
            device=device,
            nwb_folder=nwb_path.parent,
            config=config,
            description=camera.description,
            clock_description=clock,
            frame_has_pulse=camera.frame_has_pulse,
        )
    if camera.frame_has_pulse is not None:
        _add_interpolated_frames(nwbfile, camera, frame_times_s, config)
    if write_pose:
        assert camera.pose is not None
        if camera.videos is None:
            note = "The source video was not available (archived elsewhere). "
        elif not write_video:
            note = "The source video was not linked (assembly.write_videos = false). "
        else:
            note = ""
        add_camera_pose(
            nwbfile,
            camera_id=camera.camera_id,
            pose=camera.pose,
            frame_times_s=frame_times_s,
            frame_clock=camera.frame_clock,
            device=device,
            config=config,
            image_series=image_series,
            skeleton_name=camera.skeleton_name,
            video_note=note,
            clock_description=f"{frame_clock_text(camera.frame_clock)}. {clock}",
        )
    if camera.facemotion:
        add_camera_facemotion(
            nwbfile,
            camera_id=camera.camera_id,
            rois=camera.facemotion,
            frame_times_s=frame_times_s,
            config=config,
            image_series=image_series,
            clock_description=f"{frame_clock_text(camera.frame_clock)}. {clock}",
        )


def _add_interpolated_frames(
    nwbfile: NWBFile, camera: CameraAssembly, frame_times_s: np.ndarray, config: AssemblyConfig
) -> None:
    """Frames whose time was interpolated (no TTL pulse), as an EventsTable in processing/sync."""
    assert camera.frame_has_pulse is not None
    has_pulse = np.asarray(camera.frame_has_pulse, dtype=bool)
    if has_pulse.shape != frame_times_s.shape:
        raise VerificationError(
            f"camera '{camera.camera_id}': frame_has_pulse has shape {has_pulse.shape}, "
            f"frame_times_s has {frame_times_s.shape}",
            hint="give one flag per frame",
        )
    frame_idx = np.flatnonzero(~has_pulse)
    if frame_idx.size == 0:
        return
    table = EventsTable(
        name=f"interpolated_frames_{camera.camera_id}",
        description=(
            f"Frames of camera '{camera.camera_id}' without a TTL pulse of their own; their "
            "times were interpolated between neighbouring pulses, or, where "
            "verification.frame_pulse_policy had to guess which pulse gaps hold a saved frame, "
            "placed by that guess (the camera's notes in alignment_stats.json say which)."
        ),
        source_description="w2t-bkin frame/pulse matching",
        columns=[
            TimestampVectorData(
                name="timestamp",
                description="Interpolated frame time on the reference clock (s).",
                data=wrap_dataset(frame_times_s[frame_idx], config),
            ),
        ],
        id=row_ids(frame_idx.size, config),
    )
    table.add_column(
        name="frame_idx",
        description="Index of the frame among all frames of the camera (0-based).",
        data=frame_idx.astype(np.int64),
    )
    _sync_module(nwbfile).add(table)


# --------------------------------------------------------------------------------------------
# trials


def _add_trials(nwbfile: NWBFile, trials: TrialsAssembly, clock: str) -> None:
    bpod = trials.bpod
    version = f" (software {bpod.software_version})" if bpod.software_version else ""
    ensure_device(nwbfile, BPOD_DEVICE, f"Bpod state machine{version}")
    trial_type = np.asarray(bpod.trial_types, dtype=np.int64)
    columns = TrialColumns(
        trial_type=trial_type,
        trial_type_name=np.array(
            [trials.trial_type_names.get(int(t), str(int(t))) for t in trial_type], dtype=object
        ),
        outcome=np.asarray(trials.outcome, dtype=object),
        alignment=np.asarray(trials.alignment_label, dtype=object),
    )
    add_bpod(nwbfile, bpod, trials.to_reference, columns, trials.actions, clock)


# --------------------------------------------------------------------------------------------
# alignment statistics

ALIGNMENT_COLUMNS: dict[str, str] = {
    "stream_id": "Stream aligned to the reference clock (camera, TTL channel, Bpod).",
    "kind": "Kind of stream.",
    "n_items": "Items of the stream (frames, trials, pulses).",
    "n_pulses": "Reference pulses available for the stream.",
    "n_matched": "Items matched one-to-one to a pulse.",
    "residual_rms_ms": "RMS residual of matched items after the clock fit (ms).",
    "residual_max_ms": "Largest absolute residual after the clock fit (ms).",
    "drift_ppm": "Clock drift relative to the reference clock (parts per million).",
    "offset_s": "Clock offset relative to the reference clock (s).",
    "n_dropped": "Items detected as dropped.",
    "n_spurious": "Pulses detected as spurious.",
    "n_missing": "Pulses detected as missing.",
    "status": "Alignment status.",
}


def _sync_module(nwbfile: NWBFile) -> Any:
    if SYNC_MODULE in nwbfile.processing:
        return nwbfile.processing[SYNC_MODULE]
    return nwbfile.create_processing_module(
        name=SYNC_MODULE, description="Synchronisation of every stream onto the reference clock."
    )


def _add_alignment_statistics(nwbfile: NWBFile, stats: tuple[StreamStats, ...]) -> None:
    if not stats:
        return
    rows = [row.to_dict() for row in stats]
    keys = [k for k in ALIGNMENT_COLUMNS if any(k in row for row in rows)]
    keys += sorted({k for row in rows for k in row} - set(keys))
    table = DynamicTable(
        name="alignment_statistics",
        description="One row per stream: how it was aligned to the reference clock.",
        columns=[
            VectorData(
                name=key,
                description=ALIGNMENT_COLUMNS.get(key, f"Alignment statistic '{key}'."),
                data=_column_values([row.get(key) for row in rows]),
            )
            for key in keys
        ],
    )
    _sync_module(nwbfile).add(table)


def _column_values(values: list[Any]) -> list[Any] | np.ndarray:
    """One homogeneous column: bool, int64, float64 (None -> NaN) or str."""
    present = [v for v in values if v is not None]
    if (
        present
        and all(isinstance(v, bool | np.bool_) for v in present)
        and len(present) == len(values)
    ):
        return np.asarray(values, dtype=bool)
    if present and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in present
    ):
        if len(present) == len(values):
            return np.asarray(values, dtype=np.int64)
        return np.asarray([math.nan if v is None else float(v) for v in values])
    if present and all(isinstance(v, int | float | np.number) for v in present):
        return np.asarray([math.nan if v is None else float(v) for v in values])
    return ["" if v is None else str(v) for v in values]
