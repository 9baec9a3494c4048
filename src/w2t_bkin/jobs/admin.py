"""``jobs retry`` and ``jobs reset``: operator actions that respect a running daemon.

Both take the data folder's lock when they change the status file, so they never write it under
a running daemon. ``retry`` works with or without a daemon (it moves the job's inputs back to
``in/`` and the daemon, which reads the disk, requeues it); ``reset`` refuses while a daemon
holds the lock and never signals or kills any process.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from w2t_bkin.io_utils import fsync_dir
from w2t_bkin.jobs.errors import DaemonRunningError, JobNotFoundError, JobStateError
from w2t_bkin.jobs.layout import READY_MARKER, JobsLayout, job_folders
from w2t_bkin.jobs.status import (
    StatusFile,
    StatusUnreadable,
    load_status_file,
    rebuild_status,
    write_status,
)
from w2t_bkin.runtime.locks import LockHeldError, exclusive_lock


@dataclass(frozen=True)
class RetryResult:
    job: str
    inputs: Path
    kept_videos: int
    """Videos whose results were kept (they are not computed again)."""
    daemon_running: bool
    """A daemon holds the folder: it requeues the job on its next poll."""


@dataclass(frozen=True)
class ResetResult:
    removed: tuple[Path, ...]
    bytes_freed: int
    dry_run: bool


@contextmanager
def _lock_if_free(layout: JobsLayout) -> Iterator[bool]:
    """Hold the data folder's lock when no daemon does; yields whether it is held."""
    try:
        with exclusive_lock(layout.lock_path):
            yield True
    except LockHeldError:
        yield False


def retry_job(
    data_dir: str | os.PathLike[str], job: str, *, from_scratch: bool = False
) -> RetryResult:
    """Move failed job ``job`` back to ``in/`` so that it runs again.

    Videos that finished before the failure keep their results and are not recomputed unless
    ``from_scratch``, which also allows rerunning a completed job.

    Raises
    ------
    JobNotFoundError
        No job of that name in ``failed/`` or ``in/``.
    JobStateError
        The job is queued or processing, completed (without ``from_scratch``), or a folder of
        the same name is in ``in/`` already.
    """
    layout = JobsLayout(Path(data_dir).resolve())
    failed, inputs = layout.job_failed(job), layout.job_in(job)
    status = _status_or_rebuilt(layout)
    entry = status.jobs.get(job)
    if failed.is_dir():
        if inputs.exists():
            raise JobStateError(
                f"cannot retry {job}: {inputs} exists too (a newer job of the same name)",
                hint=f"move or remove one of {inputs} and {failed}",
                path=inputs,
            )
    elif inputs.is_dir() and entry is not None and entry.state == "completed" and from_scratch:
        pass
    elif inputs.is_dir():
        state = entry.state if entry is not None else "queued"
        raise JobStateError(
            f"job {job} is {state}, not failed: nothing to retry",
            hint="pass --from-scratch to rerun a completed job"
            if state == "completed"
            else "it will run (or is running): see w2t-bkin jobs status",
            path=inputs,
        )
    else:
        known = ", ".join(job_folders(layout.failed_dir)) or "none"
        raise JobNotFoundError(
            f"no job named {job!r} in {layout.failed_dir} or {layout.in_dir}",
            hint=f"failed jobs: {known}",
            path=layout.failed_dir,
        )

    with _lock_if_free(layout) as locked:
        if from_scratch and layout.job_out(job).exists():
            _remove_atomically(layout, layout.job_out(job))
        if failed.is_dir():
            (failed / READY_MARKER).write_bytes(b"")  # complete already: no settling wait
            os.rename(failed, inputs)
            fsync_dir(layout.in_dir)
        kept = len(list(layout.job_out(job).glob("*.done.json")))
        if locked:
            # No daemon: update the record now (the next daemon would do the same from disk).
            status = _status_or_rebuilt(layout)
            record = status.jobs.get(job)
            if record is not None:
                record.state, record.error, record.crash_requeues = "queued", None, 0
                record.inputs_dir, record.finished_at = f"in/{job}", None
                for video in record.videos.values():
                    if video.state != "done" or from_scratch:
                        video.state, video.error, video.frames_done = "pending", None, 0
                record.refresh_progress()
                record.note(
                    "retry", "requested by the user" + (" from scratch" if from_scratch else "")
                )
                write_status(layout, status)
    return RetryResult(job, inputs, kept, daemon_running=not locked)


def reset_data_dir(
    data_dir: str | os.PathLike[str], *, inputs: bool = False, dry_run: bool = False
) -> ResetResult:
    """Remove the status file, every result and staging leftovers (and with ``inputs`` the job
    folders in ``in/`` and ``failed/`` too).

    Raises
    ------
    DaemonRunningError
        A daemon holds the lock: nothing is removed and no process is touched.
    """
    layout = JobsLayout(Path(data_dir).resolve())
    try:
        with exclusive_lock(layout.lock_path):
            targets = [p for p in [*_children(layout.out_dir), layout.staging_dir] if p.exists()]
            if inputs:
                targets += _children(layout.in_dir) + _children(layout.failed_dir)
            freed = sum(_size(p) for p in targets)
            if not dry_run:
                for path in targets:
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
            return ResetResult(tuple(targets), freed, dry_run)
    except LockHeldError as exc:
        raise DaemonRunningError(
            f"a job daemon is running on {layout.data_dir} ({exc.holder}); nothing was removed",
            holder=exc.holder,
            hint="stop it first: kill -TERM <pid> finishes its current video and exits "
            "(reset never stops processes itself)",
            path=layout.lock_path,
        ) from None


def _status_or_rebuilt(layout: JobsLayout) -> StatusFile:
    try:
        return load_status_file(layout.status_path)
    except StatusUnreadable:
        return rebuild_status(layout)


def _remove_atomically(layout: JobsLayout, folder: Path) -> None:
    """Rename ``folder`` into staging, then delete it: it disappears in one step."""
    trash = layout.staging_dir / f"trash-{uuid.uuid4().hex}"
    trash.parent.mkdir(parents=True, exist_ok=True)
    os.rename(folder, trash)
    shutil.rmtree(trash)


def _children(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
