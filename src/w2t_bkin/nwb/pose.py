"""Pose tracks with ndx-pose: ``Skeletons`` and one ``PoseEstimation`` per camera/individual.

Everything goes into the ``processing/behavior`` module. Only the first keypoint series of a
camera stores timestamps (or links the camera ``ImageSeries`` timing); every other series links
to it, so each camera's frame times exist once in the file.

Provenance: ``scorer`` and ``source_software_version`` are the :class:`PoseData` fields (what
the files record, or the metadata model's id and ``software_version``); the model's id, path
and details (:attr:`PoseData.model_description`) are a "Model: ..." sentence of the
description, since ndx-pose has no field for them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons
from pynwb import NWBFile, TimeSeries
from pynwb.base import ProcessingModule
from pynwb.device import Device
from pynwb.image import ImageSeries

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.errors import VerificationError
from w2t_bkin.model.pose import PoseData
from w2t_bkin.nwb.io import wrap_dataset
from w2t_bkin.nwb.video import regular_timing

log = logging.getLogger(__name__)

BEHAVIOR_MODULE = "behavior"
REFERENCE_FRAME = "(0,0) is the top-left corner of the video frame; x to the right, y downwards"


def behavior_module(nwbfile: NWBFile) -> ProcessingModule:
    if BEHAVIOR_MODULE in nwbfile.processing:
        return nwbfile.processing[BEHAVIOR_MODULE]
    return nwbfile.create_processing_module(
        name=BEHAVIOR_MODULE, description="Behavioural data: pose estimation of camera videos."
    )


def skeletons_container(module: ProcessingModule) -> Skeletons:
    if "Skeletons" in module.data_interfaces:
        return module.data_interfaces["Skeletons"]
    skeletons = Skeletons()
    module.add(skeletons)
    return skeletons


def skeleton_edges(pose: PoseData) -> np.ndarray:
    """``(n_edges, 2) uint8`` node index pairs (the ndx-pose dtype)."""
    n_nodes = len(pose.keypoint_names)
    if n_nodes > np.iinfo(np.uint8).max + 1:
        raise VerificationError(
            f"pose from {pose.source_file}: {n_nodes} keypoints, but ndx-pose skeleton edges are "
            "uint8 node indices (at most 256 nodes)",
            hint="map the keypoints onto a smaller skeleton in [pose.mappings]",
        )
    edges = np.asarray(pose.skeleton_edges, dtype=np.int64).reshape(-1, 2)
    if edges.size and (edges.min() < 0 or edges.max() >= n_nodes):
        raise VerificationError(
            f"pose from {pose.source_file}: skeleton edge indices must be in [0, {n_nodes}), "
            f"found {edges.min()}..{edges.max()}",
            hint="check the skeleton edges against the keypoint names",
        )
    return edges.astype(np.uint8)


def add_camera_pose(
    nwbfile: NWBFile,
    *,
    camera_id: str,
    pose: PoseData,
    frame_times_s: np.ndarray,
    frame_clock: str,
    device: Device,
    config: AssemblyConfig,
    image_series: ImageSeries | None,
    skeleton_name: str | None = None,
    video_note: str = "",
    clock_description: str = "",
) -> list[PoseEstimation]:
    """Add the skeleton(s) and ``PoseEstimation`` container(s) of one camera.

    Parameters
    ----------
    pose
        ``positions (n_frames, n_individuals, n_keypoints, n_space) float32`` aligned to frames.
    frame_times_s
        ``(n_frames,) float64`` camera frame times on the reference clock.
    image_series
        The camera's external video; its timing is linked (and it becomes ``source_video``).
    video_note
        Extra sentence for the description, e.g. that the video was not available.
    """
    if pose.n_frames != frame_times_s.shape[0]:
        raise VerificationError(
            f"camera '{camera_id}': pose from {pose.source_file} has {pose.n_frames} frames, the "
            f"camera has {frame_times_s.shape[0]} frame times",
            hint="pose must be concatenated over chunks and aligned to the camera frames first",
        )
    module = behavior_module(nwbfile)
    skeletons = skeletons_container(module)
    edges = skeleton_edges(pose)
    multi = len(pose.individual_names) > 1
    timing: dict[str, Any] = _timing_source(image_series, frame_times_s, frame_clock, config)
    estimations = []
    for i, individual in enumerate(pose.individual_names):
        suffix = f"_{individual}" if multi else ""
        skeleton = Skeleton(
            name=f"{skeleton_name or 'skeleton'}_{camera_id}{suffix}",
            nodes=list(pose.keypoint_names),
            edges=edges,
            subject=nwbfile.subject if not multi else None,
        )
        skeletons.add_skeletons(skeleton)
        series = []
        for k, keypoint in enumerate(pose.keypoint_names):
            one = PoseEstimationSeries(
                name=keypoint,
                description=(
                    f"Position of '{keypoint}' ({individual}) in camera '{camera_id}' in pixels; "
                    "NaN where not detected."
                ),
                # Views of float32 pose, not copies: the writer copies one chunk at a time.
                data=wrap_dataset(np.asarray(pose.positions[:, i, k, :], dtype=np.float32), config),
                confidence=wrap_dataset(
                    np.asarray(pose.confidence[:, i, k], dtype=np.float32), config
                ),
                confidence_definition=f"Score reported by {pose.source_software}; NaN if none.",
                unit="pixels",
                reference_frame=REFERENCE_FRAME,
                **timing,
            )
            if "timestamps" in timing and not isinstance(timing["timestamps"], TimeSeries):
                # The first series owns the frame times; all the others link to it.
                timing = {"timestamps": one}
            series.append(one)
        name = f"PoseEstimation_{camera_id}{suffix}"
        estimation = PoseEstimation(
            name=name,
            pose_estimation_series=series,
            description=(
                f"{pose.source_software} pose of camera '{camera_id}'"
                f"{f', individual {individual!r}' if multi else ''}, read from "
                f"{pose.source_file.name}. {_model_sentence(pose)}Timestamps are the camera "
                f"frame times ({frame_clock} clock). {video_note}{clock_description}"
            ).strip(),
            scorer=pose.scorer,
            source_software=pose.source_software,
            source_software_version=pose.source_software_version,
            skeleton=skeleton,
            device=device,
            source_video=image_series,
        )
        module.add(estimation)
        estimations.append(estimation)
    return estimations


def _model_sentence(pose: PoseData) -> str:
    """``"Model: ... "`` from :attr:`PoseData.model_description`, or nothing."""
    if not pose.model_description:
        return ""
    return f"Model: {pose.model_description.rstrip('.')}. "


def _timing_source(
    image_series: ImageSeries | None,
    frame_times_s: np.ndarray,
    frame_clock: str,
    config: AssemblyConfig,
) -> dict[str, Any]:
    """Link the video's timing when it exists; otherwise timestamps, or a lossless rate."""
    if image_series is not None and image_series.timestamps is not None:
        return {"timestamps": image_series}
    if image_series is not None and image_series.rate is not None:
        return {"rate": image_series.rate, "starting_time": image_series.starting_time}
    timing = regular_timing(frame_times_s, frame_clock)
    if timing is not None:
        return dict(timing)
    return {"timestamps": wrap_dataset(frame_times_s, config)}
