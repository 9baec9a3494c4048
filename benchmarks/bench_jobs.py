"""Job daemon overhead per video, side by side with a bare loop doing the same pose work.

Issue goal: daemon overhead per video (empty synthetic video) <= 50 ms.

What each side does
-------------------
- **daemon**: :class:`~w2t_bkin.jobs.daemon.JobDaemon` in drain mode (``run(once=True)``) over a
  data folder of ``n`` one-frame synthetic videos with ``.ready`` markers: lock, status file
  (atomic; fsynced at every job state change), per-video completion records, job summaries,
  discovery scans (default polling, every 2 s); the ``synthetic`` backend, in this process
  (``--jobs 1``).
- **bare loop** (the floor any daemon pays): for each video, ``process_video`` with the same
  estimator and ``write_predictions`` to the same kind of path; nothing else.

Overhead per video = (daemon time - bare loop time) / n. Two layouts: ``n`` jobs of one video
(what ``jobs ingest`` makes from loose videos) and one job of ``n`` videos. Each side runs
three times on fresh folders; the median is reported.

Run ``python -m benchmarks.bench_jobs small`` from the repository root.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import _memory
from w2t_bkin.jobs.daemon import DaemonConfig, JobDaemon
from w2t_bkin.pose.estimators import make_estimator
from w2t_bkin.pose.process import process_video
from w2t_bkin.pose.results import write_predictions
from w2t_bkin.testing.video import write_video

SCALES = {"small": 40, "full": 200}
REPEATS = 3
GOAL_MS = 50.0


def _make_folder(root: Path, template: Path, n: int, one_job: bool) -> list[Path]:
    videos = []
    for i in range(n):
        job = root / "in" / ("all" if one_job else f"job{i:04d}")
        job.mkdir(parents=True, exist_ok=True)
        video = job / f"v{i:04d}.mp4"
        shutil.copyfile(template, video)
        (job / ".ready").write_bytes(b"")
        videos.append(video)
    return videos


def _daemon_s(root: Path) -> float:
    config = DaemonConfig(backend="synthetic")  # default polling: a scan every 2 s
    started = time.perf_counter()
    report = JobDaemon(root, config).run(once=True)
    elapsed = time.perf_counter() - started
    assert not report.failed, report.failed
    return elapsed


def _bare_s(videos: list[Path], out: Path) -> float:
    estimator = make_estimator("synthetic")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for video in videos:
        write_predictions(process_video(video, estimator), out / f"{video.name}.pose.npz")
    return time.perf_counter() - started


def _measure(work: Path, template: Path, n: int, one_job: bool) -> tuple[float, float]:
    daemon, bare = [], []
    for repeat in range(REPEATS):
        for side in ("daemon", "bare"):
            root = work / f"{side}-{one_job}-{repeat}"
            videos = _make_folder(root, template, n, one_job)
            if side == "daemon":
                daemon.append(_daemon_s(root))
            else:
                bare.append(_bare_s(videos, root / "bare-out"))
            shutil.rmtree(root)
    return statistics.median(daemon), statistics.median(bare)


def run(scale: str = "full") -> list[dict[str, Any]]:
    n = SCALES[scale]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        work = Path(tmp)
        template = write_video(work / "one-frame.mp4", 1, 30.0)
        _bare_s([template], work / "warm")  # imports and first-call costs out of the timings
        for one_job, layout in ((False, f"{n} jobs x 1 video"), (True, f"1 job x {n} videos")):
            daemon_s, bare_s = _measure(work, template, n, one_job)
            overhead_ms = 1000.0 * (daemon_s - bare_s) / n
            rows.append(
                {
                    "name": f"daemon overhead per video, {layout} (1 frame each)",
                    "value": overhead_ms,
                    "unit": "ms",
                    "peer": "bare loop: process_video + write_predictions",
                    "peer_value": 1000.0 * bare_s / n,
                    "ratio": None,
                    "peak_mem_mb": _memory.peak_rss_mib(),
                    "note": f"daemon {1000 * daemon_s / n:.1f} ms/video total; goal <= "
                    f"{GOAL_MS:.0f} ms overhead: {'met' if overhead_ms <= GOAL_MS else 'NOT met'}",
                }
            )
    return rows


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "full"):
        print(row)
