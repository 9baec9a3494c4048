"""Motion SVD (Facemap method) over a 640x480 camera: throughput, and memory bounded in length.

Workload: one ROI covering the whole 640x480 frame, binned 4x4 (160x120 = 19,200 pixels, the
Facemap default ``sbin``), 100 components fitted on 4,000 motion frames in segments of 500,
then motion energy and projections of every frame. Videos: a 10-second H.264 clip of moving
blobs (rendered once by :mod:`w2t_bkin.testing.blobs`) repeated by remuxing, with shifted
timestamps, to 1 hour (108,000 frames at 30 fps) and 10 minutes (18,000 frames). They are
generated once into a cache folder (``$W2T_BENCH_CACHE``, default
``/tmp/w2t-bench-cache/facemotion``) and reused.

Each measurement runs in a fresh process so its peak resident memory (``VmHWM``, FFmpeg's
buffers included) is that measurement's alone. Memory is bounded when the 1-hour peak equals
the 10-minute peak plus the difference of the outputs (``n_frames x 101`` float32: motion
energy and 100 projections), which every method must hold or write.

The peer row is PyAV decoding every frame of the same video with nothing else: the floor of
any method that reads every frame (ratio = decode-only time / our time; 1.0 would mean the
motion SVD adds nothing to decoding).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import av

from benchmarks._memory import peak_rss_mib
from benchmarks.bench_video import tile_video
from w2t_bkin.facemotion.compute import MotionParams, compute_camera_motion
from w2t_bkin.facemotion.roi import ROI, check_rois
from w2t_bkin.testing.blobs import Blob, write_blob_video

RATE_HZ = 30.0
WIDTH, HEIGHT = 640, 480
SEGMENT_FRAMES = 300  # 10 s: starts with a key frame (x264 key frames every 250 frames)
LENGTHS = {
    "full": (("1 hour", 108_000), ("10 minutes", 18_000)),
    "small": (("5 minutes", 9_000), ("1 minute", 1_800)),
}
N_COMPONENTS = 100
BLOBS = (
    Blob(200.0, 220.0, sigma_px=25.0, amplitude_px=30.0, frequency_hz=3.0, seed=1),
    Blob(430.0, 260.0, sigma_px=18.0, amplitude_px=20.0, frequency_hz=1.1, direction_y=1, seed=2),
)


def _cache_dir() -> Path:
    default = Path("/tmp/w2t-bench-cache/facemotion")
    folder = Path(os.environ.get("W2T_BENCH_CACHE", default))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _video(n_frames: int) -> Path:
    """The cached ``n_frames`` video (generated on first use)."""
    folder = _cache_dir()
    segment = folder / f"blobs_{WIDTH}x{HEIGHT}_{SEGMENT_FRAMES}.mp4"
    if not segment.is_file():
        partial = segment.with_suffix(".partial.mp4")
        write_blob_video(partial, BLOBS, SEGMENT_FRAMES, RATE_HZ, width=WIDTH, height=HEIGHT)
        partial.replace(segment)
    target = folder / f"blobs_{WIDTH}x{HEIGHT}_{n_frames}.mp4"
    if not target.is_file():
        partial = target.with_suffix(".partial.mp4")
        tile_video(segment, partial, n_frames)
        partial.replace(target)
    return target


def _motion_svd(path: str, n_frames: int) -> tuple[float, float, int]:
    """In a fresh process: (seconds, peak RSS MiB, components fitted)."""
    rois = check_rois("face", (ROI("frame", bin_px=4, n_components=N_COMPONENTS),), WIDTH, HEIGHT)
    started = time.perf_counter()
    motion = compute_camera_motion(
        "face",
        [Path(path)],
        rois,
        n_frames=n_frames,
        frame_width_px=WIDTH,
        frame_height_px=HEIGHT,
        params=MotionParams(fit_frames=4000, segment_frames=500),
    )
    elapsed_s = time.perf_counter() - started
    return elapsed_s, peak_rss_mib(), int(motion.rois[0].projections.shape[1])


def _decode_only(path: str, n_frames: int) -> tuple[float, float, int]:
    """In a fresh process: (seconds, peak RSS MiB, frames) of decoding every frame."""
    started = time.perf_counter()
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # the same decoder threading as ours
        count = sum(1 for _ in container.decode(stream))
    if count != n_frames:
        raise AssertionError(f"decoded {count} frames, expected {n_frames}")
    return time.perf_counter() - started, peak_rss_mib(), count


def _in_child(func: Any, path: Path, n_frames: int) -> tuple[float, float, int]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(func, str(path), n_frames).result()


def run(scale: str = "full") -> list[dict[str, Any]]:
    """One row per video length: motion SVD throughput and peak memory, decode-only peer."""
    rows: list[dict[str, Any]] = []
    peaks: dict[str, tuple[int, float]] = {}
    for label, n_frames in LENGTHS[scale]:
        path = _video(n_frames)
        ours_s, ours_mb, k = _in_child(_motion_svd, path, n_frames)
        peer_s, peer_mb, _ = _in_child(_decode_only, path, n_frames)
        output_mib = n_frames * (k + 1) * 4 / 2**20
        peaks[label] = (n_frames, ours_mb - output_mib)
        rows.append(
            {
                "name": f"motion SVD, {label} {WIDTH}x{HEIGHT} @30 fps ({n_frames} frames)",
                "value": round(n_frames / ours_s, 1),
                "unit": "frames/s",
                "peer": "PyAV decode only (every frame)",
                "peer_value": round(n_frames / peer_s, 1),
                "ratio": round(peer_s / ours_s, 2),
                "peak_mem_mb": round(ours_mb, 1),
                "note": f"{ours_s:.1f} s; 1 ROI 640x480 bin 4 (19200 px), {k} components, "
                f"fit on 4000 frames; outputs {output_mib:.1f} MiB; peak less outputs "
                f"{ours_mb - output_mib:.1f} MiB; peer peak {peer_mb:.0f} MiB",
            }
        )
    (long_label, _), (short_label, _) = LENGTHS[scale]
    long_peak, short_peak = peaks[long_label][1], peaks[short_label][1]
    rows.append(
        {
            "name": f"motion SVD working memory, {long_label} vs {short_label}",
            "value": round(long_peak, 1),
            "unit": "MiB",
            "peer": f"{short_label} video",
            "peer_value": round(short_peak, 1),
            "ratio": round(short_peak / long_peak, 3),
            "note": "peak RSS less the output arrays; ratio 1.0 = memory independent of length",
        }
    )
    return rows


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "full"):
        print(row)
