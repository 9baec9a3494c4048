"""MediaPipe pose estimation through our ``process_video`` vs MediaPipe's own minimal loop.

Issue goal: our throughput >= 0.95x of the minimal loop's on the same video in the same run
(our overhead <= 5%), peak RSS reported.

What each side does
-------------------
- **ours**: ``make_estimator("mediapipe")`` + ``process_video``: PyAV decoding and RGB
  conversion in a thread, inference in the caller, results written into float32 arrays,
  per-frame latency recorded.
- **peer**: the loop MediaPipe's documentation shows, written as tightly as we can: PyAV decode,
  ``to_ndarray("rgb24")`` (made contiguous, which MediaPipe needs), ``mp.Image``,
  ``PoseLandmarker.detect_for_video`` in VIDEO mode, one thread; results are not kept.

Both use the same ``.task`` bundle, the same frames (the first ``frames`` of ``dance.mp4`` from
the real sample data) and the same warm-up (30 frames). Each measurement runs in its own child
process (so peak memory is that side's own ``VmHWM``); the two sides alternate, ``rounds``
times, and the median throughput of each side is compared.

Run ``python -m benchmarks.bench_pose_estimation small`` from the repository root.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORK = Path(__file__).resolve().parent / ".work"
VIDEO = Path("sleap/sleap/tests/data/videos/dance.mp4")
SCALES = {"small": {"frames": 150, "rounds": 2}, "full": {"frames": 450, "rounds": 3}}
WARMUP_FRAMES = 30

_PEAK = (REPO / "benchmarks" / "_memory.py").read_text()

OURS_SCRIPT = (
    _PEAK
    + """
import json, sys, time
from w2t_bkin.pose.estimators import make_estimator
from w2t_bkin.pose.process import process_video
model, video, frames, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
estimator = make_estimator("mediapipe", model)
estimator.load()
process_video(video, estimator, max_frames=warmup)
started = time.perf_counter()
predictions = process_video(video, estimator, max_frames=frames)
wall_s = time.perf_counter() - started
print(json.dumps({"fps": predictions.n_frames / wall_s, "frames": predictions.n_frames,
                  "detected": int(predictions.detected.any(axis=1).sum()),
                  "peak_rss_mib": peak_rss_mib()}))
"""
)

PEER_SCRIPT = (
    _PEAK
    + """
import json, sys, time
import av
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision
model, video, frames, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def landmarker():
    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=model), running_mode=vision.RunningMode.VIDEO)
    return vision.PoseLandmarker.create_from_options(options)

def run(marker, limit):
    detected = 0
    n = 0
    with av.open(video) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if n >= limit:
                break
            image = mp.Image(image_format=mp.ImageFormat.SRGB,
                             data=np.ascontiguousarray(frame.to_ndarray(format="rgb24")))
            result = marker.detect_for_video(image, int(round(frame.time * 1000)))
            detected += bool(result.pose_landmarks)
            n += 1
    return n, detected

warm = landmarker()
run(warm, warmup)
warm.close()
marker = landmarker()  # a fresh one: VIDEO mode timestamps restart with the video
started = time.perf_counter()
n, detected = run(marker, frames)
wall_s = time.perf_counter() - started
print(json.dumps({"fps": n / wall_s, "frames": n, "detected": detected,
                  "peak_rss_mib": peak_rss_mib()}))
"""
)


def _data_root() -> Path:
    return Path(os.environ.get("W2T_TEST_DATA", REPO.parent / "shared" / "data"))


def _bundle() -> Path | None:
    from w2t_bkin.pose.estimators.mediapipe_bundle import cached_or_built_bundle

    return cached_or_built_bundle(WORK / "pose_landmarker_full.task")


def _child(script: str, model: Path, video: Path, frames: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script, str(model), str(video), str(frames), str(WARMUP_FRAMES)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(scale: str) -> list[dict[str, Any]]:
    """Rows for ``benchmarks.run``: our throughput vs the minimal loop's, and peak memory."""
    params = SCALES[scale]
    video = _data_root() / VIDEO
    model = _bundle()
    if not video.is_file() or model is None:
        missing = (
            "sample video" if not video.is_file() else "MediaPipe bundle (make mediapipe-model)"
        )
        return [{"name": "pose_mediapipe_throughput", "note": f"skipped: no {missing}"}]
    ours: list[dict[str, Any]] = []
    peer: list[dict[str, Any]] = []
    for _ in range(params["rounds"]):
        ours.append(_child(OURS_SCRIPT, model, video, params["frames"]))
        peer.append(_child(PEER_SCRIPT, model, video, params["frames"]))
    ours_fps = statistics.median(r["fps"] for r in ours)
    peer_fps = statistics.median(r["fps"] for r in peer)
    note = (
        f"{params['frames']} frames of dance.mp4, median of {params['rounds']} alternating "
        f"child runs; detected ours {ours[0]['detected']}, peer {peer[0]['detected']}; "
        f"ratio = our fps / peer fps; peer peak RSS {max(r['peak_rss_mib'] for r in peer):.0f} MiB"
    )
    return [
        {
            "name": "pose_mediapipe_throughput",
            "value": ours_fps,
            "unit": "frames/s",
            "peer": "MediaPipe minimal loop",
            "peer_value": peer_fps,
            "ratio": ours_fps / peer_fps,
            "peak_mem_mb": max(r["peak_rss_mib"] for r in ours),
            "note": note,
        }
    ]


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(json.dumps(row))
