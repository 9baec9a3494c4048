"""What facial motion extraction returns, and its compact on-disk form (``.npz``, no pickle)."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from w2t_bkin.facemotion.errors import FaceMotionCacheError
from w2t_bkin.facemotion.roi import ROI
from w2t_bkin.io_utils import atomic_write_bytes

__all__ = ["RESULT_SCHEMA_VERSION", "CameraMotion", "ROIMotion", "load_motion", "save_motion"]

RESULT_SCHEMA_VERSION = 1
"""Version of the ``.npz`` layout written by :func:`save_motion`; bump on any change."""


@dataclass(frozen=True)
class ROIMotion:
    """Motion signals of one ROI, one value (row) per video frame of the camera.

    Frame 0 has no previous frame, so its motion energy and projections are NaN.

    Attributes
    ----------
    roi
        The ROI, resolved (width and height set).
    motion_energy
        ``(n_frames,) float32``: mean absolute difference between the binned frame and the
        previous one, in grey levels per binned pixel.
    projections
        ``(n_frames, k) float32``: the centred motion of each frame projected on the
        components (Facemap's ``motSVD``); ``k`` may be 0 (motion energy only).
    components
        ``(k, rows, cols) float32`` unit-norm spatial components (Facemap's motion masks) on
        the binned ROI grid.
    singular_values
        ``(k,) float32`` singular values of the fitted centred motion, decreasing.
    mean_motion
        ``(rows, cols) float32`` mean motion of the fitted frames (subtracted before projecting).
    n_fit_frames
        Motion frames the SVD was fitted on.
    """

    roi: ROI
    motion_energy: np.ndarray
    projections: np.ndarray
    components: np.ndarray
    singular_values: np.ndarray
    mean_motion: np.ndarray
    n_fit_frames: int


@dataclass(frozen=True)
class CameraMotion:
    """Facial motion of every ROI of one camera.

    Attributes
    ----------
    camera_id
        ``[[cameras]].id``.
    n_frames
        Frames of the camera (all video chunks).
    frame_width_px, frame_height_px
        Size of the video frames the ROIs are drawn on.
    rois
        One :class:`ROIMotion` per declared ROI, in declaration order.
    key
        Digest of what produced it (videos, ROIs, parameters, method version); the cache key.
    """

    camera_id: str
    n_frames: int
    frame_width_px: int
    frame_height_px: int
    rois: tuple[ROIMotion, ...]
    key: str = ""


def _header(motion: CameraMotion) -> dict[str, Any]:
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "camera_id": motion.camera_id,
        "n_frames": motion.n_frames,
        "frame_width_px": motion.frame_width_px,
        "frame_height_px": motion.frame_height_px,
        "key": motion.key,
        "rois": [
            {
                "roi_id": r.roi.roi_id,
                "x_px": r.roi.x_px,
                "y_px": r.roi.y_px,
                "width_px": r.roi.width_px,
                "height_px": r.roi.height_px,
                "bin_px": r.roi.bin_px,
                "n_components": r.roi.n_components,
                "description": r.roi.description,
                "n_fit_frames": r.n_fit_frames,
            }
            for r in motion.rois
        ],
    }


_ARRAYS = ("motion_energy", "projections", "components", "singular_values", "mean_motion")


def save_motion(motion: CameraMotion, path: str | Path) -> Path:
    """Write ``motion`` atomically as an uncompressed ``.npz`` (plain arrays, a JSON header).

    Returns
    -------
    Path
        ``path``.
    """
    import io

    arrays: dict[str, np.ndarray] = {"header": np.array(json.dumps(_header(motion)))}
    for i, roi in enumerate(motion.rois):
        for name in _ARRAYS:
            arrays[f"roi{i}_{name}"] = np.ascontiguousarray(getattr(roi, name))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return atomic_write_bytes(path, buffer.getvalue())


def load_motion(path: str | Path) -> CameraMotion:
    """Read a file written by :func:`save_motion`, checking its schema version and shapes.

    Raises
    ------
    FaceMotionCacheError
        The file is not such a file, has another schema version or inconsistent shapes.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            version = header.get("schema_version")
            if version != RESULT_SCHEMA_VERSION:
                raise FaceMotionCacheError(
                    f"facial motion file {path} has schema version {version!r}, this w2t-bkin "
                    f"reads version {RESULT_SCHEMA_VERSION}",
                    hint="delete the file; the next run computes it again",
                    path=path,
                )
            rois = tuple(
                _roi_motion(header, i, {n: data[f"roi{i}_{n}"] for n in _ARRAYS}, path)
                for i in range(len(header["rois"]))
            )
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        if isinstance(exc, FaceMotionCacheError):
            raise
        raise FaceMotionCacheError(
            f"{path} is not a facial motion file written by w2t-bkin: {exc}",
            hint="delete the file; the next run computes it again",
            path=path,
        ) from exc
    return CameraMotion(
        camera_id=str(header["camera_id"]),
        n_frames=int(header["n_frames"]),
        frame_width_px=int(header["frame_width_px"]),
        frame_height_px=int(header["frame_height_px"]),
        rois=rois,
        key=str(header["key"]),
    )


def _roi_motion(
    header: dict[str, Any], i: int, arrays: dict[str, np.ndarray], path: Path
) -> ROIMotion:
    meta = header["rois"][i]
    roi = ROI(
        roi_id=str(meta["roi_id"]),
        x_px=int(meta["x_px"]),
        y_px=int(meta["y_px"]),
        width_px=int(meta["width_px"]),
        height_px=int(meta["height_px"]),
        bin_px=int(meta["bin_px"]),
        n_components=int(meta["n_components"]),
        description=str(meta["description"]),
    )
    n_frames = int(header["n_frames"])
    rows, cols = roi.binned_shape
    k = arrays["singular_values"].shape[0]
    expected = {
        "motion_energy": (n_frames,),
        "projections": (n_frames, k),
        "components": (k, rows, cols),
        "singular_values": (k,),
        "mean_motion": (rows, cols),
    }
    for name, shape in expected.items():
        if arrays[name].shape != shape or arrays[name].dtype != np.float32:
            raise FaceMotionCacheError(
                f"{path}: ROI '{roi.roi_id}' array {name} is {arrays[name].dtype} "
                f"{arrays[name].shape}, expected float32 {shape}",
                hint="delete the file; the next run computes it again",
                path=path,
            )
    return ROIMotion(roi=roi, n_fit_frames=int(meta["n_fit_frames"]), **arrays)
