"""Motion energy and motion SVD of a camera's ROIs: two streamed passes over its videos.

1. **Fit.** Decode the frames of each fit segment only (seeking to it); the binned ROI of
   those frames gives the segment's motion frames (absolute difference with the previous
   frame), which :class:`~w2t_bkin.facemotion.svd.SegmentedSVD` reduces segment by segment.
2. **Project.** Decode every frame again; each batch gives the motion energy and the
   projections of its motion frames on the components, written into the output arrays.

Nothing but the current batch, one fit segment and the outputs (``n_frames x (k + 1)``
float32 per ROI) is held in memory. Decoding the fit segments, then every frame, costs less
than holding or spilling the binned video, and it is what Facemap does too.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from w2t_bkin.facemotion.errors import FaceMotionDecodeError
from w2t_bkin.facemotion.frames import iter_frame_batches, iter_frame_ranges
from w2t_bkin.facemotion.result import CameraMotion, ROIMotion
from w2t_bkin.facemotion.roi import ROI, bin_frames, bounding_box
from w2t_bkin.facemotion.svd import MotionSVD, SegmentedSVD

log = logging.getLogger(__name__)

__all__ = ["MotionParams", "compute_camera_motion", "fit_segments"]

ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class MotionParams:
    """How the motion SVD is fitted and the video streamed.

    Attributes
    ----------
    fit_frames
        Motion frames the SVD is fitted on (all of them in shorter videos).
    segment_frames
        Longest run of consecutive frames in one fit segment; the segments are spread evenly
        over the video. Bounds the fit's memory: ``segment_frames x n_pixels`` float32.
    batch_frames
        Frames decoded and processed together.
    """

    fit_frames: int = 4000
    segment_frames: int = 500
    batch_frames: int = 64


def fit_segments(n_frames: int, fit_frames: int, segment_frames: int) -> list[tuple[int, int]]:
    """Motion frames to fit on: ``[start, stop)`` frame index ranges, sorted, disjoint.

    Motion frame ``t`` (``t >= 1``) is the difference of frames ``t - 1`` and ``t``. The
    segments hold ``min(fit_frames, n_frames - 1)`` motion frames in runs of at most
    ``segment_frames``, spread evenly from the start to the end of the video.

    Parameters
    ----------
    n_frames
        Frames of the camera.
    fit_frames, segment_frames
        See :class:`MotionParams` (both >= 1).

    Returns
    -------
    list of tuple of int
        Empty when the video has fewer than 2 frames.
    """
    n_motion = n_frames - 1
    if n_motion < 1:
        return []
    n_fit = min(fit_frames, n_motion)
    n_segments = math.ceil(n_fit / segment_frames)
    length = math.ceil(n_fit / n_segments)
    if n_segments * length >= n_motion:  # the whole video: contiguous runs
        return [(s, min(s + length, n_frames)) for s in range(1, n_frames, length)]
    last_start = n_frames - length
    starts = np.round(np.linspace(1, last_start, n_segments)).astype(np.int64)
    return [(int(s), int(s) + length) for s in starts]


@dataclass
class _ROIState:
    """Per-ROI running state of one pass."""

    roi: ROI
    offset: tuple[int, int]  # (row, col) of the ROI inside the decoded box
    previous: np.ndarray | None = None  # (n_pixels,) binned previous frame
    previous_idx: int = -2

    def binned(self, crops: np.ndarray) -> np.ndarray:
        """``(n, n_pixels) float32`` binned ROI of a batch of box crops."""
        row, col = self.offset
        assert self.roi.width_px is not None and self.roi.height_px is not None
        window = crops[:, row : row + self.roi.height_px, col : col + self.roi.width_px]
        return bin_frames(window, self.roi.bin_px)

    def motion(self, first_idx: int, binned: np.ndarray) -> tuple[int, np.ndarray]:
        """Motion frames of a batch: ``(first motion frame index, (m, n_pixels) float32)``.

        The batch's first frame has a motion frame only when the previous batch ended just
        before it (always in the projection pass; in the fit pass when it was binned too).
        """
        if self.previous is not None and self.previous_idx == first_idx - 1:
            stacked = np.concatenate([self.previous[None, :], binned], axis=0)
            start = first_idx
        else:
            stacked, start = binned, first_idx + 1
        self.previous = binned[-1].copy()
        self.previous_idx = first_idx + binned.shape[0] - 1
        return start, np.abs(np.diff(stacked, axis=0))


def compute_camera_motion(
    camera_id: str,
    paths: Sequence[Path],
    rois: tuple[ROI, ...],
    *,
    n_frames: int,
    frame_width_px: int,
    frame_height_px: int,
    params: MotionParams | None = None,
    progress: ProgressFn | None = None,
    key: str = "",
) -> CameraMotion:
    """Motion energy and motion SVD of each ROI of one camera.

    Parameters
    ----------
    camera_id
        Named in errors and logs.
    paths
        The camera's video chunks in recording order.
    rois
        Resolved, checked ROIs (:func:`~w2t_bkin.facemotion.roi.check_rois`).
    n_frames
        Frames the probe counted in all chunks; decoding must give exactly as many.
    frame_width_px, frame_height_px
        Frame size the ROIs were checked against.
    params
        Fit and streaming parameters (defaults: :class:`MotionParams`).
    progress
        Called with a short text at each pass (e.g. to report to a batch coordinator).
    key
        Stored in the result (the cache key of what produced it).

    Returns
    -------
    CameraMotion
        One :class:`~w2t_bkin.facemotion.result.ROIMotion` per ROI; values of frame 0 are NaN.

    Raises
    ------
    FaceMotionDecodeError
        A video cannot be decoded, or decoding gives another frame count than ``n_frames``.
    """
    params = params or MotionParams()
    say = progress or (lambda text: None)
    box = bounding_box(rois)
    started = time.perf_counter()
    with _one_blas_thread():
        say(f"facial motion {camera_id}: fitting motion SVD")
        fits = _fit_pass(camera_id, paths, rois, box, n_frames, params)
        say(f"facial motion {camera_id}: projecting {n_frames} frames")
        energies, projections = _project_pass(camera_id, paths, rois, box, n_frames, fits, params)
    log.info(
        "camera %s: facial motion of %d ROI(s) over %d frames in %.1f s",
        camera_id,
        len(rois),
        n_frames,
        time.perf_counter() - started,
    )
    results = []
    for roi, fit, energy, projection in zip(rois, fits, energies, projections, strict=True):
        rows, cols = roi.binned_shape
        k = fit.components.shape[1]
        results.append(
            ROIMotion(
                roi=roi,
                motion_energy=energy,
                projections=projection,
                components=np.ascontiguousarray(fit.components.T.reshape(k, rows, cols)),
                singular_values=fit.singular_values,
                mean_motion=fit.mean_motion.reshape(rows, cols),
                n_fit_frames=fit.n_fit_frames,
            )
        )
    return CameraMotion(camera_id, n_frames, frame_width_px, frame_height_px, tuple(results), key)


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread while computing (when threadpoolctl is installed).

    The decoder already runs in a thread of its own beside the NumPy work, and sessions of a
    batch run side by side: extra BLAS threads only compete for the same cores. Measured on
    a shared 2-core machine, OpenBLAS's spinning threads made the fit 7x and the projection
    4x slower than one thread.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _states(rois: tuple[ROI, ...], box: tuple[int, int, int, int]) -> list[_ROIState]:
    return [_ROIState(roi, (roi.y_px - box[1], roi.x_px - box[0])) for roi in rois]


def _fit_pass(
    camera_id: str,
    paths: Sequence[Path],
    rois: tuple[ROI, ...],
    box: tuple[int, int, int, int],
    n_frames: int,
    params: MotionParams,
) -> list[MotionSVD]:
    """Fit one SVD per ROI on the motion frames of :func:`fit_segments`."""
    segments = fit_segments(n_frames, params.fit_frames, params.segment_frames)
    accumulators = [SegmentedSVD(roi.n_pixels, roi.n_components) for roi in rois]
    if not segments or all(roi.n_components == 0 for roi in rois):
        return [_empty_fit(roi) for roi in rois]
    # frames needed: t - 1 .. t for each motion frame t of a segment
    needed = [(start - 1, stop) for start, stop in segments]
    states = _states(rois, box)
    collectors = [_SegmentCollector(segments, acc) for acc in accumulators]
    seen = 0
    for batch in iter_frame_ranges(
        paths,
        box,
        needed,
        camera_id=camera_id,
        batch_frames=params.batch_frames,
        n_frames=n_frames,
    ):
        first, n = batch.first_frame_idx, batch.crops.shape[0]
        seen = first + n
        for state, collector in zip(states, collectors, strict=True):
            if state.roi.n_components > 0:
                collector.add(*state.motion(first, state.binned(batch.crops)))
    if seen < needed[-1][1]:
        raise _count_error(camera_id, paths, n_frames, seen)
    return [
        acc.fit() if roi.n_components > 0 else _empty_fit(roi)
        for roi, acc in zip(rois, accumulators, strict=True)
    ]


@dataclass
class _SegmentCollector:
    """Gathers the motion frames of each fit segment and hands complete segments to the SVD."""

    segments: list[tuple[int, int]]
    accumulator: SegmentedSVD
    next_segment: int = 0
    parts: list[np.ndarray] | None = None

    def add(self, start: int, motion: np.ndarray) -> None:
        """Motion frames ``start .. start + len(motion) - 1`` (consecutive)."""
        stop = start + motion.shape[0]
        while self.next_segment < len(self.segments):
            lo, hi = self.segments[self.next_segment]
            if lo >= stop:
                return
            take_lo, take_hi = max(lo, start), min(hi, stop)
            if take_lo < take_hi:
                self.parts = (self.parts or []) + [motion[take_lo - start : take_hi - start]]
            if hi > stop:
                return  # the segment goes on in the next batch
            if self.parts:
                segment = np.concatenate(self.parts, axis=0)
                self.parts = None  # free the batch views before the SVD's own arrays
                self.accumulator.add_segment(segment, overwrite=True)
            self.parts = None
            self.next_segment += 1


def _empty_fit(roi: ROI) -> MotionSVD:
    return MotionSVD(
        components=np.zeros((roi.n_pixels, 0), dtype=np.float32),
        singular_values=np.zeros(0, dtype=np.float32),
        mean_motion=np.zeros(roi.n_pixels, dtype=np.float32),
        n_fit_frames=0,
    )


def _project_pass(
    camera_id: str,
    paths: Sequence[Path],
    rois: tuple[ROI, ...],
    box: tuple[int, int, int, int],
    n_frames: int,
    fits: list[MotionSVD],
    params: MotionParams,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Motion energy ``(n_frames,)`` and projections ``(n_frames, k)`` of every ROI."""
    states = _states(rois, box)
    energies = [np.full(n_frames, np.nan, dtype=np.float32) for _ in rois]
    projections = [
        np.full((n_frames, fit.components.shape[1]), np.nan, dtype=np.float32) for fit in fits
    ]
    seen = 0
    for batch in iter_frame_batches(
        paths, box, camera_id=camera_id, batch_frames=params.batch_frames
    ):
        first, n = batch.first_frame_idx, batch.crops.shape[0]
        seen = first + n
        if seen > n_frames:
            raise _count_error(camera_id, paths, n_frames, None)
        for state, fit, energy, projection in zip(states, fits, energies, projections, strict=True):
            start, motion = state.motion(first, state.binned(batch.crops))
            stop = start + motion.shape[0]
            energy[start:stop] = motion.mean(axis=1)
            if fit.components.shape[1]:
                projection[start:stop] = fit.project(motion)
    if seen != n_frames:
        raise _count_error(camera_id, paths, n_frames, seen)
    return energies, projections


def _count_error(
    camera_id: str, paths: Sequence[Path], n_frames: int, decoded: int | None
) -> FaceMotionDecodeError:
    found = "more frames" if decoded is None else f"{decoded} frames"
    names = ", ".join(p.name for p in paths)
    return FaceMotionDecodeError(
        f"camera '{camera_id}': decoding {names} gave {found}, but probing counted {n_frames}; "
        "the motion signals would not line up with the frame times",
        hint="the video is damaged or was replaced while running; check it with "
        "`w2t-bkin inspect` and re-copy it from the rig",
        path=paths[0] if paths else None,
    )
