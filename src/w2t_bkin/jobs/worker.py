"""One video of one job: the task the daemon hands to an executor.

:func:`estimate_video` runs wherever the executor puts it (this process, a worker process, a
Dask worker). It writes the video's result file and then its completion record, both
atomically, and returns a small summary; the coordinating daemon alone records it in the
status file. Progress goes to the coordinator through
:func:`~w2t_bkin.runtime.tasks.report_progress` as ``"frames <done> <total|?>"``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from w2t_bkin.io_utils import to_jsonable
from w2t_bkin.jobs.layout import JobsLayout
from w2t_bkin.runtime.tasks import report_progress

TASK_FUNCTION = "w2t_bkin.jobs.worker:estimate_video"
PROGRESS_PREFIX = "frames "

# One estimator per process and configuration: a model loads once, not once per video.
_ESTIMATORS: dict[str, Any] = {}


def shared_estimator(backend: str, model: str | None, options: dict[str, Any]) -> Any:
    """This process's estimator for that configuration (made once, loaded on first use)."""
    from w2t_bkin.pose.estimators import make_estimator

    key = json.dumps([backend, model, options], sort_keys=True, default=str)
    if key not in _ESTIMATORS:
        _ESTIMATORS[key] = make_estimator(backend, model, **options)
    return _ESTIMATORS[key]


def close_estimators() -> None:
    """Close and forget this process's estimators (the daemon calls it on its way out)."""
    while _ESTIMATORS:
        _, estimator = _ESTIMATORS.popitem()
        estimator.close()


def estimate_video(
    *,
    data_dir: str,
    job: str,
    video: str,
    backend: str,
    model: str | None,
    options: dict[str, Any],
    checkpoint_every_frames: int,
    stop_file: str,
) -> dict[str, Any]:
    """Estimate poses in ``DIR/in/<job>/<video>`` and write its result and completion record.

    Parameters
    ----------
    data_dir, job, video
        Which video.
    backend, model, options
        The estimator (:func:`w2t_bkin.pose.estimators.make_estimator`).
    checkpoint_every_frames
        Report progress after at least this many more frames.
    stop_file
        When this file exists before the video starts, the task does nothing (the daemon was
        asked to stop; tasks already queued in a pool must not start).

    Returns
    -------
    dict
        ``{"skipped": True}`` when stopped before starting, else ``n_frames``, ``duration_s``,
        ``result`` (relative to ``data_dir``).

    Raises
    ------
    IngestError
        The video cannot be read. Any estimator error propagates as well.
    OutputError
        The video changed while it was processed, or the result cannot be written.
    """
    from w2t_bkin.errors import OutputError
    from w2t_bkin.pose.process import process_video
    from w2t_bkin.pose.results import write_predictions

    if os.path.exists(stop_file):
        return {"skipped": True}
    layout = JobsLayout(Path(data_dir))
    source = layout.job_in(job) / video
    before = source.stat()
    estimator = shared_estimator(backend, model, options)
    last_reported = [-checkpoint_every_frames]

    def progress(frames_done: int, frames_total: int | None) -> None:
        # The end is not reported: the outcome follows at once and says it.
        final = frames_total is not None and frames_done >= frames_total and frames_done > 0
        if frames_done == 0 or (
            not final and frames_done - last_reported[0] >= checkpoint_every_frames
        ):
            last_reported[0] = frames_done
            total = "?" if frames_total is None else str(frames_total)
            report_progress(f"{PROGRESS_PREFIX}{frames_done} {total}")

    started = time.perf_counter()
    predictions = process_video(source, estimator, progress=progress)
    after = source.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise OutputError(
            f"{source} changed while it was processed ({before.st_size} -> {after.st_size} "
            "bytes); its poses were not saved",
            hint="let the copy finish (or write a .ready marker when it has), then retry the job",
            path=source,
        )
    result = layout.result_path(job, video)
    write_predictions(predictions, result)
    duration_s = time.perf_counter() - started
    # The record comes after the (fsynced) result: a result without its record is simply
    # redone, so the record needs no fsync of its own.
    write_json_unsynced(
        layout.done_path(job, video),
        {
            "video": video,
            "source_size_bytes": before.st_size,
            "source_mtime_ns": before.st_mtime_ns,
            "result": result.name,
            "n_frames": predictions.n_frames,
            "backend": predictions.backend,
            "model": predictions.model,
            "duration_s": duration_s,
            "finished_at_unix_s": time.time(),
        },
    )
    return {
        "n_frames": predictions.n_frames,
        "duration_s": duration_s,
        "result": layout.relative(result),
    }


def write_json_unsynced(path: Path, obj: Any) -> None:
    """Write JSON atomically (temporary file, rename) without waiting for the disk.

    For files derived from fsynced ones (completion records, job summaries): after a power
    loss such a file may be missing or empty, which only means the work is redone.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(to_jsonable(obj), sort_keys=True, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def parse_progress(detail: str) -> tuple[int, int | None] | None:
    """``(frames_done, frames_total_or_None)`` from a progress event's detail, else ``None``."""
    if not detail.startswith(PROGRESS_PREFIX):
        return None
    done_text, _, total_text = detail[len(PROGRESS_PREFIX) :].partition(" ")
    try:
        return int(done_text), (None if total_text == "?" else int(total_text))
    except ValueError:
        return None
