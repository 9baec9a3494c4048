"""Facial motion phase: motion energy and motion SVD of each camera's declared ROIs.

Where ROIs are declared: ``[facemotion.cameras.<camera>]`` in the session metadata. An ROI is
drawn on one camera view, and a rig's view is the same across its sessions, so a lab declares
the ROIs once in ``data/raw/metadata.toml`` (or ``subject.toml`` when the framing differs per
animal); the metadata merge lets ``session.toml`` override one ROI by ``id`` (only the keys it
repeats, e.g. ``x`` and ``y`` after the camera was nudged) or switch a camera off
(``enabled = false``). They are metadata, not configuration, because they describe the data
(which pixels show the whiskers), and because metadata enters the NWB identifier::

    [facemotion.cameras.face]
    fit_frames = 4000

    [[facemotion.cameras.face.rois]]
    id = "whisker"
    x = 120
    y = 40
    width = 160
    height = 120
    bin = 4
    n_components = 100

Results are cached per camera in ``data/interim/<subject>/<session>/facemotion/<camera>.npz``
under a key of the videos' content digests, the ROIs, the fit parameters and the method
version: a rerun with the same inputs reads the file instead of decoding the videos twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from w2t_bkin.errors import MetadataError
from w2t_bkin.facemotion.compute import MotionParams, compute_camera_motion
from w2t_bkin.facemotion.errors import FaceMotionCacheError
from w2t_bkin.facemotion.result import CameraMotion, load_motion, save_motion
from w2t_bkin.facemotion.roi import ROI, check_rois
from w2t_bkin.metadata.schema import FaceMotionCameraMeta
from w2t_bkin.model.video import CameraVideos
from w2t_bkin.runtime.fingerprint import file_digest, json_digest
from w2t_bkin.runtime.tasks import report_progress
from w2t_bkin.session.context import SessionContext, metadata_file_defining
from w2t_bkin.session.fingerprint import workspace_digest_cache
from w2t_bkin.session.verify import VerifiedInputs

if TYPE_CHECKING:
    from w2t_bkin.nwb.facemotion import FaceMotionSeries

log = logging.getLogger(__name__)

__all__ = ["METHOD_VERSION", "compute_facemotion", "facemotion_dir", "facemotion_series"]

METHOD_VERSION = 1
"""Version of the computation; part of the cache key (bump when results would change)."""


def facemotion_dir(ctx: SessionContext) -> Path:
    """``data/interim/<subject>/<session>/facemotion``: the per-camera result files."""
    return ctx.workspace.interim / ctx.subject / ctx.session / "facemotion"


def compute_facemotion(ctx: SessionContext, verified: VerifiedInputs) -> dict[str, CameraMotion]:
    """Facial motion: every enabled camera of ``[facemotion.cameras]``, cached.

    Returns
    -------
    dict
        Camera id -> :class:`~w2t_bkin.facemotion.result.CameraMotion`; cameras whose
        optional videos are absent are left out (logged).

    Raises
    ------
    ROIError
        An ROI does not fit the camera's frame (the message names camera, ROI and file).
    MetadataError
        A camera with facial motion has no videos to compute it from.
    FaceMotionDecodeError
        A video cannot be decoded to its probed frame count.
    """
    results: dict[str, CameraMotion] = {}
    for camera_id, meta in ctx.metadata.facemotion.cameras.items():
        if not meta.enabled:
            log.info("camera %s: facial motion disabled (enabled = false)", camera_id)
            continue
        videos = verified.videos.get(camera_id)
        if videos is None or not videos.chunks:
            _no_videos(ctx, camera_id)
            continue
        results[camera_id] = _camera_motion(ctx, camera_id, meta, videos)
    return results


def _no_videos(ctx: SessionContext, camera_id: str) -> None:
    camera = ctx.metadata.camera(camera_id)
    if camera.optional:
        log.info("camera %s: optional videos absent; no facial motion", camera_id)
        return
    source = metadata_file_defining(ctx, "facemotion", "cameras", camera_id)
    raise MetadataError(
        f"{source}: [facemotion.cameras.{camera_id}] asks for facial motion, but camera "
        f"'{camera_id}' has no video files in this session (its [[cameras]] paths are empty)",
        hint=f"declare the videos in [[cameras]] paths, or set enabled = false under "
        f"[facemotion.cameras.{camera_id}] in {source.name}",
        path=source,
    )


def _camera_motion(
    ctx: SessionContext, camera_id: str, meta: FaceMotionCameraMeta, videos: CameraVideos
) -> CameraMotion:
    first = videos.chunks[0]
    sizes = {(chunk.width, chunk.height) for chunk in videos.chunks}
    if len(sizes) > 1:
        raise MetadataError(
            f"camera '{camera_id}': its video chunks have different frame sizes "
            f"({', '.join(f'{w}x{h}' for w, h in sorted(sizes))}), so one set of facial motion "
            "ROIs cannot fit them all",
            hint=f"split the recording into separate cameras or disable "
            f"[facemotion.cameras.{camera_id}]",
            path=first.path,
        )
    declared = tuple(
        ROI(
            roi_id=roi.id,
            x_px=roi.x,
            y_px=roi.y,
            width_px=roi.width,
            height_px=roi.height,
            bin_px=roi.bin,
            n_components=roi.n_components,
            description=roi.description or "",
        )
        for roi in meta.rois
    )
    rois = check_rois(
        camera_id,
        declared,
        first.width,
        first.height,
        video=first.path,
        declared_in=metadata_file_defining(ctx, "facemotion", "cameras", camera_id),
    )
    params = MotionParams(fit_frames=meta.fit_frames, segment_frames=meta.segment_frames)
    key = _cache_key(ctx, videos, rois, params)
    path = facemotion_dir(ctx) / f"{camera_id}.npz"
    cached = _read_cached(path, key)
    if cached is not None:
        log.info("camera %s: facial motion read from %s (cache hit)", camera_id, path)
        return cached
    motion = compute_camera_motion(
        camera_id,
        [chunk.path for chunk in videos.chunks],
        rois,
        n_frames=videos.n_frames,
        frame_width_px=first.width,
        frame_height_px=first.height,
        params=params,
        progress=report_progress,
        key=key,
    )
    save_motion(motion, path)
    log.info("camera %s: facial motion written to %s", camera_id, path)
    return motion


def _cache_key(
    ctx: SessionContext, videos: CameraVideos, rois: tuple[ROI, ...], params: MotionParams
) -> str:
    cache = workspace_digest_cache(ctx.workspace.cache)
    return json_digest(
        {
            "method_version": METHOD_VERSION,
            "videos": [file_digest(chunk.path, cache) for chunk in videos.chunks],
            "rois": [roi.__dict__ for roi in rois],
            "fit_frames": params.fit_frames,
            "segment_frames": params.segment_frames,
        }
    )


def _read_cached(path: Path, key: str) -> CameraMotion | None:
    if not path.is_file():
        return None
    try:
        motion = load_motion(path)
    except FaceMotionCacheError as exc:
        log.warning("ignoring facial motion cache %s: %s", path, exc.message)
        return None
    return motion if motion.key == key else None


def facemotion_series(motion: CameraMotion) -> tuple[FaceMotionSeries, ...]:
    """The NWB hand-off of one camera's facial motion (one series set per ROI)."""
    from w2t_bkin.nwb.facemotion import FaceMotionSeries

    series = []
    for roi_motion in motion.rois:
        roi = roi_motion.roi
        rows, cols = roi.binned_shape
        what = f"{roi.description.rstrip('.')}. " if roi.description else ""
        series.append(
            FaceMotionSeries(
                roi_id=roi.roi_id,
                description=(
                    f"{what}ROI x={roi.x_px} y={roi.y_px} width={roi.width_px} "
                    f"height={roi.height_px} px of the {motion.frame_width_px}x"
                    f"{motion.frame_height_px} px frame (origin top-left), binned "
                    f"{roi.bin_px}x{roi.bin_px} to {cols}x{rows}; SVD fitted on "
                    f"{roi_motion.n_fit_frames} motion frames spread over the video."
                ),
                motion_energy=roi_motion.motion_energy,
                projections=roi_motion.projections,
                components=roi_motion.components,
                mean_motion=roi_motion.mean_motion,
            )
        )
    return tuple(series)


def camera_facemotion_series(
    facemotion: Mapping[str, CameraMotion] | None, camera_id: str
) -> tuple[FaceMotionSeries, ...]:
    """:func:`facemotion_series` of ``camera_id``, or ``()`` when it has none."""
    if not facemotion or camera_id not in facemotion:
        return ()
    return facemotion_series(facemotion[camera_id])
