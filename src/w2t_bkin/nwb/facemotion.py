"""Facial motion (Facemap-style motion energy and motion SVD) as ``BehavioralTimeSeries``.

Each camera with facial motion ROIs gets ``processing/behavior/FaceMotion_<camera>``, a
``BehavioralTimeSeries`` holding, per ROI, ``motion_energy_<roi>`` ``(n_frames,)`` and
``motion_svd_<roi>`` ``(n_frames, k)``, on the camera's synchronized frame times (one stored
copy: the first series owns the timestamps, or links the camera ``ImageSeries`` timestamps,
and the others link to it). The spatial components and the mean motion of each ROI go to
``processing/behavior/FaceMotionMasks_<camera>`` (an ``Images`` container:
``mean_motion_<roi>`` and ``motion_mask_<roi>_<i>``), so the projections can be read back as
pixels of the binned ROI.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pynwb import NWBFile, TimeSeries
from pynwb.base import Images
from pynwb.behavior import BehavioralTimeSeries
from pynwb.image import GrayscaleImage, ImageSeries

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.errors import VerificationError
from w2t_bkin.nwb.io import wrap_dataset
from w2t_bkin.nwb.pose import behavior_module

log = logging.getLogger(__name__)

__all__ = ["FaceMotionSeries", "add_camera_facemotion", "facemotion_container_name"]


@dataclass(frozen=True)
class FaceMotionSeries:
    """One ROI's facial motion, ready to write.

    Attributes
    ----------
    roi_id
        ROI name (series names end with it).
    description
        What the ROI is and how it was processed (rectangle, binning, fit), one or two sentences.
    motion_energy
        ``(n_frames,) float32``; NaN at frame 0 (no previous frame).
    projections
        ``(n_frames, k) float32`` motion SVD projections; ``k`` may be 0 (not written then).
    components
        ``(k, rows, cols) float32`` spatial components on the binned ROI grid.
    mean_motion
        ``(rows, cols) float32`` mean motion subtracted before projecting.
    """

    roi_id: str
    description: str
    motion_energy: np.ndarray
    projections: np.ndarray
    components: np.ndarray
    mean_motion: np.ndarray


def facemotion_container_name(camera_id: str) -> str:
    """``FaceMotion_<camera>``: the ``BehavioralTimeSeries`` of one camera."""
    return f"FaceMotion_{camera_id}"


def add_camera_facemotion(
    nwbfile: NWBFile,
    *,
    camera_id: str,
    rois: Sequence[FaceMotionSeries],
    frame_times_s: np.ndarray,
    config: AssemblyConfig,
    image_series: ImageSeries | None = None,
    clock_description: str = "",
) -> BehavioralTimeSeries:
    """Add one camera's facial motion series (and masks) to ``processing/behavior``.

    Parameters
    ----------
    nwbfile
        The file being assembled.
    camera_id
        ``[[cameras]].id``.
    rois
        One :class:`FaceMotionSeries` per ROI.
    frame_times_s
        ``(n_frames,) float64`` synchronized frame times of the camera on the reference clock.
    config
        Compression and chunking of the datasets.
    image_series
        The camera's video; its timestamps are linked when it stores them explicitly.
    clock_description
        How the frame times were obtained (repeated in the container's description).

    Returns
    -------
    BehavioralTimeSeries
        ``FaceMotion_<camera>``.

    Raises
    ------
    VerificationError
        A series does not have one row per frame time.
    """
    frame_times_s = np.asarray(frame_times_s, dtype=np.float64)
    _check_lengths(camera_id, rois, frame_times_s.shape[0])
    timing: dict[str, Any]
    if image_series is not None and image_series.timestamps is not None:
        timing = {"timestamps": image_series}
    else:
        timing = {"timestamps": wrap_dataset(frame_times_s, config)}
    container = BehavioralTimeSeries(name=facemotion_container_name(camera_id))
    # BehavioralTimeSeries has no description: each series' comments say which clock it is on.
    clock = f"Timestamps: the camera's synchronized frame times. {clock_description}".strip()
    for roi in rois:
        energy = TimeSeries(
            name=f"motion_energy_{roi.roi_id}",
            description=(
                f"Motion energy of ROI '{roi.roi_id}' of camera '{camera_id}': mean absolute "
                f"difference between the binned ROI of each frame and of the previous frame "
                f"(NaN at frame 0). {roi.description}"
            ),
            data=wrap_dataset(np.asarray(roi.motion_energy, dtype=np.float32), config),
            unit="grey levels per binned pixel",
            comments=f"Grey levels are the video's luma code values (0-255). {clock}".strip(),
            **timing,
        )
        container.add_timeseries(energy)
        if "timestamps" in timing and not isinstance(timing["timestamps"], TimeSeries):
            timing = {"timestamps": energy}  # one stored copy of the frame times
        if roi.projections.shape[1] == 0:
            continue
        container.add_timeseries(
            TimeSeries(
                name=f"motion_svd_{roi.roi_id}",
                description=(
                    f"Motion SVD of ROI '{roi.roi_id}' of camera '{camera_id}' (Facemap "
                    f"method): the absolute frame difference minus its mean motion, projected "
                    f"on {roi.projections.shape[1]} spatial components (columns, by decreasing "
                    f"singular value; NaN at frame 0). Components: "
                    f"FaceMotionMasks_{camera_id}/motion_mask_{roi.roi_id}_<column>. "
                    f"{roi.description}"
                ),
                data=wrap_dataset(np.asarray(roi.projections, dtype=np.float32), config),
                unit="a.u.",
                comments=f"Grey-level motion projected on unit-norm components. {clock}".strip(),
                **timing,
            )
        )
    module = behavior_module(nwbfile)
    module.add(container)
    module.add(_masks(camera_id, rois))
    log.debug("camera %s: facial motion of %d ROI(s) added", camera_id, len(rois))
    return container


def _masks(camera_id: str, rois: Sequence[FaceMotionSeries]) -> Images:
    images: list[GrayscaleImage] = []
    for roi in rois:
        images.append(
            GrayscaleImage(
                name=f"mean_motion_{roi.roi_id}",
                data=np.asarray(roi.mean_motion, dtype=np.float32).T,
                description=f"Mean motion of ROI '{roi.roi_id}' (binned grid, x by y).",
            )
        )
        for i, component in enumerate(roi.components):
            images.append(
                GrayscaleImage(
                    name=f"motion_mask_{roi.roi_id}_{i}",
                    data=np.asarray(component, dtype=np.float32).T,
                    description=(
                        f"Motion SVD component {i} of ROI '{roi.roi_id}' (unit norm, binned "
                        "grid, x by y)."
                    ),
                )
            )
    return Images(
        name=f"FaceMotionMasks_{camera_id}",
        images=images,
        description=(
            f"Spatial components and mean motion of the facial motion ROIs of camera "
            f"'{camera_id}', on each ROI's binned pixel grid, stored x by y (NWB image order)."
        ),
    )


def _check_lengths(camera_id: str, rois: Sequence[FaceMotionSeries], n_frames: int) -> None:
    for roi in rois:
        for name, array in (("motion energy", roi.motion_energy), ("motion SVD", roi.projections)):
            if array.shape[0] != n_frames:
                raise VerificationError(
                    f"camera '{camera_id}': facial motion ROI '{roi.roi_id}' has {name} for "
                    f"{array.shape[0]} frames, the camera has {n_frames} frame times",
                    hint="facial motion is computed on all frames of the camera's videos; "
                    "recompute it (delete data/interim/<subject>/<session>/facemotion/)",
                )
