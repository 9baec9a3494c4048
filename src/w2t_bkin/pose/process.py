"""Run a pose estimator over every frame of a video, streaming.

:func:`process_video` decodes the video with PyAV in a background thread (RGB conversion
included) and hands frames through a small bounded queue to the estimator in the calling
thread, so decoding overlaps inference and memory holds a few frames, never the video. No
temporary images are written. Each frame's result goes straight into preallocated arrays
(:class:`~w2t_bkin.pose.estimators.base.FrameBuffers`).
"""

from __future__ import annotations

import logging
import math
import queue
import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.pose.errors import PoseInferenceError, UnknownPoseBackendError
from w2t_bkin.pose.estimators.base import (
    FrameBuffers,
    FramePoseEstimator,
    PoseEstimator,
    Progress,
    VideoPoseEstimator,
)
from w2t_bkin.pose.results import PerformanceMetrics, PosePredictions

if TYPE_CHECKING:
    import av.container

log = logging.getLogger(__name__)

__all__ = ["PROGRESS_EVERY_FRAMES", "VideoStream", "decoded_frames", "process_video"]

PROGRESS_EVERY_FRAMES = 100
"""``progress`` is called after every this many frames (and at the start and the end)."""

_QUEUE_FRAMES = 8  # enough to absorb decode jitter; 8 full-HD RGB frames are ~50 MB
_DEFAULT_RATE_HZ = 30.0  # only for timestamps of frames that carry no PTS at all


@dataclass(frozen=True)
class VideoStream:
    """What is known of a video before decoding it.

    Attributes
    ----------
    path
        The video file.
    width, height
        Frame size in pixels.
    rate_hz
        Average frame rate from the container; ``None`` when it declares none.
    n_frames
        Frame count from the container header; ``None`` when it declares none (it can be
        wrong: the decoded count wins).
    """

    path: Path
    width: int
    height: int
    rate_hz: float | None
    n_frames: int | None


def process_video(
    video_path: str | Path,
    estimator: PoseEstimator,
    *,
    progress: Progress | None = None,
    max_frames: int | None = None,
) -> PosePredictions:
    """Estimate poses in every frame of a video.

    Parameters
    ----------
    video_path
        Any video PyAV decodes.
    estimator
        A :class:`~w2t_bkin.pose.estimators.FramePoseEstimator` (fed decoded frames) or a
        :class:`~w2t_bkin.pose.estimators.VideoPoseEstimator` (handed the file). It is loaded
        when not loaded yet; it is not closed (one estimator serves many videos).
    progress
        ``progress(frames_done, frames_total_or_None)``, called at the start, after every
        :data:`PROGRESS_EVERY_FRAMES` frames and at the end. An exception it raises stops the
        run (the decoding thread is stopped) and propagates: a way to cancel.
    max_frames
        Process only the first ``max_frames`` frames (frame estimators only); ``None`` for all.

    Returns
    -------
    PosePredictions
        One row per decoded frame; an empty (0-frame) video gives 0 rows.

    Raises
    ------
    IngestError
        The video is missing, unreadable or has no video stream.
    PoseInferenceError
        The estimator failed on a frame (the message names the frame).
    """
    path = Path(video_path)
    if max_frames is not None and max_frames < 0:
        raise UnknownPoseBackendError(
            f"max_frames must be >= 0 or None, not {max_frames}",
            hint="leave it out to process the whole video",
        )
    started = time.perf_counter()
    model_load_s = estimator.load()
    if isinstance(estimator, VideoPoseEstimator) and not isinstance(estimator, FramePoseEstimator):
        return estimator.estimate_video(path, progress)
    if not isinstance(estimator, FramePoseEstimator):
        raise TypeError(f"{type(estimator).__name__} is neither a frame nor a video estimator")
    return _process_frames(path, estimator, progress, max_frames, started, model_load_s)


def _process_frames(
    path: Path,
    estimator: FramePoseEstimator,
    progress: Progress | None,
    max_frames: int | None,
    started: float,
    model_load_s: float,
) -> PosePredictions:
    info = estimator.info
    with _open_video(path) as container:
        stream = _video_stream(path, container)
        total = stream.n_frames
        if max_frames is not None:
            total = max_frames if total is None else min(total, max_frames)
        estimator.start_video(stream.width, stream.height, stream.rate_hz)
        buffers = FrameBuffers(info, total if total is not None else 1024)
        latency_s = np.zeros(buffers.capacity, dtype=np.float32)
        times_s = np.full(buffers.capacity, np.nan, dtype=np.float64)
        if progress is not None:
            progress(0, total)
        decoder = _Decoder(container, max_frames)
        n_done = 0
        previous_ms = -1
        try:
            for rgb, pts_s in decoder:
                if n_done >= buffers.capacity:
                    buffers.reserve(n_done + 1)
                    latency_s = _grow_1d(latency_s, buffers.capacity, 0.0)
                    times_s = _grow_1d(times_s, buffers.capacity, np.nan)
                t_s = (
                    pts_s if math.isfinite(pts_s) else n_done / (stream.rate_hz or _DEFAULT_RATE_HZ)
                )
                # MediaPipe's VIDEO mode needs strictly increasing integer milliseconds.
                t_ms = max(previous_ms + 1, round(t_s * 1000.0))
                previous_ms = t_ms
                times_s[n_done] = t_s
                t0 = time.perf_counter()
                try:
                    estimator.infer(rgb, n_done, t_ms, buffers)
                except Exception as exc:
                    raise PoseInferenceError(
                        f"pose backend {info.backend!r} failed on frame {n_done} "
                        f"(t = {t_s:.3f} s): {type(exc).__name__}: {exc}",
                        path=path,
                        hint="check that the model suits the video; rerun with -v for details",
                    ) from exc
                latency_s[n_done] = time.perf_counter() - t0
                n_done += 1
                if progress is not None and n_done % PROGRESS_EVERY_FRAMES == 0:
                    progress(n_done, total)
        finally:
            decoder.stop()
    if progress is not None:
        progress(n_done, n_done)
    wall_s = time.perf_counter() - started
    arrays = buffers.trimmed(n_done)
    metrics = PerformanceMetrics(
        frame_latency_s=latency_s[:n_done].copy(),
        model_load_s=model_load_s,
        wall_s=wall_s,
        decode_s=decoder.decode_s,
        peak_rss_bytes=peak_rss_bytes(),
        device=info.device,
        versions=dict(info.versions),
    )
    log.info(
        "%s: %d frames with %s in %.2f s (%.1f frames/s)",
        path.name,
        n_done,
        info.backend,
        wall_s,
        n_done / wall_s if wall_s > 0 else float("nan"),
    )
    return PosePredictions(
        keypoints_px=_required(arrays["keypoints_px"]),
        scores=_required(arrays["scores"]),
        boxes_px=_required(arrays["boxes_px"]),
        detected=_required(arrays["detected"]),
        frame_times_s=times_s[:n_done].copy(),
        keypoint_names=info.keypoint_names,
        skeleton_edges=info.skeleton_edges,
        individual_names=info.individual_names,
        backend=info.backend,
        backend_version=info.backend_version,
        model=info.model,
        model_sha256=info.model_sha256,
        video_path=path,
        frame_size_px=(stream.width, stream.height),
        metrics=metrics,
        keypoints_3d=arrays["keypoints_3d"],
        keypoints_3d_units=info.keypoints_3d_units,
    )


def _required(array: np.ndarray | None) -> np.ndarray:
    assert array is not None  # only keypoints_3d may be absent
    return array


def _grow_1d(array: np.ndarray, capacity: int, fill: float) -> np.ndarray:
    grown = np.full(capacity, fill, dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown


def peak_rss_bytes() -> int:
    """Peak resident memory of this process image so far, in bytes.

    ``VmHWM`` from ``/proc/self/status`` where there is one: ``ru_maxrss`` survives ``exec``,
    so a worker forked from a large parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # "VmHWM:  123456 kB"
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux


def _open_video(path: Path) -> av.container.InputContainer:
    import av

    if not path.is_file():
        raise IngestError(
            "video not found",
            path=path,
            hint="check the path (pose estimation reads the video file itself)",
        )
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise IngestError(
            f"cannot open the video: {exc}",
            path=path,
            hint="check that the file is a complete video PyAV/FFmpeg can read",
        ) from exc


def _video_stream(path: Path, container: av.container.InputContainer) -> VideoStream:
    if not container.streams.video:
        raise IngestError(
            "the file has no video stream (expected one to estimate poses on)",
            path=path,
            hint="pass the camera's video file, not an audio or data file",
        )
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame-parallel decoding: decode must outpace inference
    rate = stream.average_rate
    return VideoStream(
        path=path,
        width=int(stream.codec_context.width),
        height=int(stream.codec_context.height),
        rate_hz=float(rate) if rate else None,
        n_frames=int(stream.frames) or None,
    )


def decoded_frames(
    video_path: str | Path, max_frames: int | None = None
) -> Iterator[tuple[np.ndarray, float]]:
    """Decode a video's frames as ``((height, width, 3) uint8 RGB, pts_s)`` in a thread.

    The generator stops the decoding thread when closed early.

    Raises
    ------
    IngestError
        The video is missing, unreadable or has no video stream, or decoding fails.
    """
    path = Path(video_path)
    with _open_video(path) as container:
        _video_stream(path, container)
        decoder = _Decoder(container, max_frames)
        try:
            yield from decoder
        finally:
            decoder.stop()


class _Decoder:
    """Decodes the first video stream of ``container`` in a daemon thread into a bounded queue.

    Iterating yields ``(rgb, pts_s)`` (``pts_s`` NaN when the frame has none) and re-raises a
    decoding error in the consuming thread.
    """

    _END = object()

    def __init__(self, container: av.container.InputContainer, max_frames: int | None) -> None:
        self._container = container
        self._max_frames = max_frames
        self._queue: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_FRAMES)
        self._stop = threading.Event()
        self.decode_s = 0.0
        self._thread = threading.Thread(target=self._run, name="pose-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            stream = self._container.streams.video[0]
            clock = time.perf_counter()
            for n, frame in enumerate(self._container.decode(stream)):
                if self._stop.is_set() or (self._max_frames is not None and n >= self._max_frames):
                    break
                # PyAV pads rows to the line size (406 px wide -> 1248-byte rows): the view is
                # not C-contiguous, and MediaPipe's Image silently misreads such buffers.
                rgb = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
                pts_s = float(frame.time) if frame.time is not None else math.nan
                self.decode_s += time.perf_counter() - clock
                if not self._put((rgb, pts_s)):
                    return
                clock = time.perf_counter()
        except Exception as exc:  # handed to the consumer, which raises it
            self._put(exc)
            return
        self._put(self._END)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise IngestError(
                    f"decoding failed: {item}",
                    path=self._container.name,
                    hint="the video may be truncated or corrupt; re-encode or recopy it",
                ) from item
            yield item  # type: ignore[misc]

    def stop(self) -> None:
        """Stop the thread (it may be blocked on a full queue) and wait for it."""
        self._stop.set()
        self._thread.join(timeout=10.0)
