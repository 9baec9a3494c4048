"""Benchmark an estimator on a video: per-frame latency and throughput, with and without decoding.

Each pass runs :func:`~w2t_bkin.pose.process.process_video` (decoding included, in its thread)
and then the estimator alone over the same frames decoded beforehand into memory (so the
"without decoding" figure is inference plus our per-frame bookkeeping). The first pass is a
warm-up and is discarded (caches, lazy graph initialisation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from w2t_bkin.pose.errors import UnknownPoseBackendError
from w2t_bkin.pose.estimators.base import FrameBuffers, FramePoseEstimator, PoseEstimator
from w2t_bkin.pose.process import decoded_frames, peak_rss_bytes, process_video

__all__ = ["BenchmarkResult", "benchmark_video"]


@dataclass(frozen=True, eq=False)
class BenchmarkResult:
    """Measured passes of one estimator over one video.

    Attributes
    ----------
    backend, model, device
        What ran, and where.
    n_frames
        Frames per pass.
    passes
        Measured passes (the warm-up excluded).
    frame_latency_s
        ``(passes * n_frames,) float64``: inference seconds per frame, all measured passes.
    throughput_fps
        ``(passes,) float64``: frames per second of each pass through ``process_video``.
    throughput_no_decode_fps
        ``(passes,) float64``: frames per second of each pass over pre-decoded frames.
    model_load_s
        Seconds to load the model (first pass).
    peak_rss_bytes
        Peak resident memory of the process after the last pass.
    versions
        Package versions.
    """

    backend: str
    model: str
    device: str
    n_frames: int
    passes: int
    frame_latency_s: np.ndarray
    throughput_fps: np.ndarray
    throughput_no_decode_fps: np.ndarray
    model_load_s: float
    peak_rss_bytes: int
    versions: dict[str, str]

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures: mean/p50/p95/p99 latency (ms), mean throughputs, RSS (MiB)."""
        latency_ms = self.frame_latency_s * 1000.0
        if latency_ms.size:
            p50, p95, p99 = np.percentile(latency_ms, [50, 95, 99])
            mean = float(latency_ms.mean())
        else:
            p50 = p95 = p99 = mean = float("nan")
        return {
            "backend": self.backend,
            "model": self.model,
            "device": self.device,
            "frames_per_pass": self.n_frames,
            "passes": self.passes,
            "latency_ms": {"mean": mean, "p50": float(p50), "p95": float(p95), "p99": float(p99)},
            "throughput_fps": float(self.throughput_fps.mean()),
            "throughput_no_decode_fps": float(self.throughput_no_decode_fps.mean()),
            "model_load_s": self.model_load_s,
            "peak_rss_mib": self.peak_rss_bytes / 2**20,
            "versions": self.versions,
        }


def benchmark_video(
    video_path: str | Path,
    estimator: PoseEstimator,
    *,
    passes: int = 3,
    max_frames: int | None = 300,
) -> BenchmarkResult:
    """Run ``passes + 1`` passes of ``estimator`` over ``video_path`` (the first discarded).

    Parameters
    ----------
    video_path
        The video.
    estimator
        A frame estimator (worker backends report only whole-video wall time).
    passes
        Measured passes, at least 1.
    max_frames
        Frames per pass (the first ones); ``None`` for the whole video. The "without decoding"
        pass holds these frames in memory, so keep it bounded for large videos.

    Raises
    ------
    UnknownPoseBackendError
        ``passes < 1``, or the estimator is not a frame estimator.
    """
    if passes < 1:
        raise UnknownPoseBackendError(
            f"passes must be at least 1, not {passes}", hint="pass --passes 3 (the default)"
        )
    if not isinstance(estimator, FramePoseEstimator):
        raise UnknownPoseBackendError(
            f"pose backend {estimator.info.backend!r} runs whole videos in a worker; only "
            "frame backends (mediapipe, synthetic) are benchmarked per frame",
            hint="time it with `w2t-bkin pose process` instead",
        )
    model_load_s = estimator.load()
    frames = [rgb for rgb, _ in decoded_frames(video_path, max_frames)]
    latencies: list[np.ndarray] = []
    with_decode: list[float] = []
    without_decode: list[float] = []
    n_frames = len(frames)
    for pass_idx in range(passes + 1):
        predictions = process_video(video_path, estimator, max_frames=max_frames)
        fps_no_decode = _infer_in_memory(estimator, frames)
        if pass_idx == 0:
            continue  # warm-up
        latencies.append(predictions.metrics.frame_latency_s.astype(np.float64))
        with_decode.append(predictions.metrics.throughput_fps)
        without_decode.append(fps_no_decode)
        n_frames = predictions.n_frames
    info = estimator.info
    return BenchmarkResult(
        backend=info.backend,
        model=info.model,
        device=info.device,
        n_frames=n_frames,
        passes=passes,
        frame_latency_s=np.concatenate(latencies),
        throughput_fps=np.array(with_decode),
        throughput_no_decode_fps=np.array(without_decode),
        model_load_s=model_load_s,
        peak_rss_bytes=peak_rss_bytes(),
        versions=dict(info.versions),
    )


def _infer_in_memory(estimator: FramePoseEstimator, frames: list[np.ndarray]) -> float:
    """Frames per second of the estimator over frames already decoded."""
    if not frames:
        return float("nan")
    height, width = frames[0].shape[:2]
    estimator.start_video(width, height, None)
    buffers = FrameBuffers(estimator.info, len(frames))
    started = time.perf_counter()
    for frame_idx, rgb in enumerate(frames):
        estimator.infer(rgb, frame_idx, frame_idx * 33, buffers)
    return len(frames) / (time.perf_counter() - started)
