"""The on-disk contract of a job data folder, and what a job folder holds.

::

    DIR/in/<job>/*.mp4 ...          videos of a job (inputs are never modified; a completed
                                    job's inputs stay here, a failed job's move to failed/)
    DIR/in/<job>/.ready             optional marker: the folder is complete, take it now
    DIR/out/status.json             versioned lifecycle state (see :mod:`w2t_bkin.jobs.status`)
    DIR/out/<job>/<video>.pose.npz  one video's predictions (written atomically)
    DIR/out/<job>/<video>.done.json that video's completion record: the source's size and
                                    mtime, frames, backend; a result counts only with it
    DIR/out/<job>/job.json          summary of a completed job
    DIR/failed/<job>/               inputs of a failed job (``jobs retry`` moves them back)
    DIR/.w2t-jobs.lock              single-instance lock; holds the daemon's PID
    DIR/.staging/                   ingest staging (same filesystem, so renames are atomic)

Disk is the truth: a video is done when its completion record matches the source file and its
result file exists, whatever ``status.json`` says.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VIDEO_SUFFIXES: frozenset[str] = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg"}
)
"""Video file suffixes (case-insensitive) a job may hold."""

READY_MARKER = ".ready"
"""A file of this name in a job folder says the folder is complete."""

LOCK_NAME = ".w2t-jobs.lock"
STAGING_NAME = ".staging"
STATUS_NAME = "status.json"
RESULT_SUFFIX = ".pose.npz"
DONE_SUFFIX = ".done.json"
JOB_SUMMARY_NAME = "job.json"

_PARTIAL_NAME = re.compile(r"(\.(part|partial|tmp|temp|crdownload|download|filepart)$)|(~$)", re.I)
"""Names copy tools give a file they are still writing (rsync's are hidden ``.name.XXXXXX``)."""

JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
"""What a job folder may be called: no path separators, no leading dot, at most 200 chars."""


def is_video(name: str) -> bool:
    """The file name has a video suffix (case-insensitive)."""
    return Path(name).suffix.lower() in VIDEO_SUFFIXES


def is_partial(name: str) -> bool:
    """The file looks like one a copy tool is still writing (hidden, ``.part``, ``~``...)."""
    return (name.startswith(".") and name != READY_MARKER) or bool(_PARTIAL_NAME.search(name))


@dataclass(frozen=True)
class JobsLayout:
    """Paths of one job data folder (nothing is created until :meth:`ensure`)."""

    data_dir: Path

    @property
    def in_dir(self) -> Path:
        return self.data_dir / "in"

    @property
    def out_dir(self) -> Path:
        return self.data_dir / "out"

    @property
    def failed_dir(self) -> Path:
        return self.data_dir / "failed"

    @property
    def status_path(self) -> Path:
        return self.out_dir / STATUS_NAME

    @property
    def lock_path(self) -> Path:
        return self.data_dir / LOCK_NAME

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / STAGING_NAME

    def ensure(self) -> None:
        """Create the folders that are missing."""
        for folder in (self.in_dir, self.out_dir, self.failed_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def job_in(self, job: str) -> Path:
        return self.in_dir / job

    def job_out(self, job: str) -> Path:
        return self.out_dir / job

    def job_failed(self, job: str) -> Path:
        return self.failed_dir / job

    def result_path(self, job: str, video: str) -> Path:
        return self.out_dir / job / f"{video}{RESULT_SUFFIX}"

    def done_path(self, job: str, video: str) -> Path:
        return self.out_dir / job / f"{video}{DONE_SUFFIX}"

    def relative(self, path: Path) -> str:
        """``path`` relative to the data folder, POSIX style (as the status file stores it)."""
        return path.relative_to(self.data_dir).as_posix()


def job_folders(folder: Path) -> list[str]:
    """Names of the job folders directly under ``folder`` (hidden entries skipped), sorted."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False) and e.name[0] != ".")


@dataclass(frozen=True)
class FolderSnapshot:
    """What a job folder holds at one poll.

    Attributes
    ----------
    entries
        ``(name, size_bytes, mtime_ns)`` of every regular file, sorted by name.
    newest_ctime_s
        Latest inode change time of any file (copy tools cannot set it back, unlike mtime);
        0.0 when there is no file.
    ready
        The ``.ready`` marker is present.
    partial
        Names that look like files still being written (hidden or ``.part`` names).
    """

    entries: tuple[tuple[str, int, int], ...]
    newest_ctime_s: float
    ready: bool
    partial: tuple[str, ...]

    @property
    def videos(self) -> list[str]:
        return [name for name, _, _ in self.entries if is_video(name)]

    @property
    def others(self) -> list[str]:
        return [
            name
            for name, _, _ in self.entries
            if not is_video(name) and name != READY_MARKER and not is_partial(name)
        ]

    def size_of(self, name: str) -> tuple[int, int] | None:
        """``(size_bytes, mtime_ns)`` of ``name``, ``None`` when absent."""
        for entry_name, size, mtime_ns in self.entries:
            if entry_name == name:
                return size, mtime_ns
        return None


def snapshot_folder(folder: Path) -> FolderSnapshot:
    """Sizes and times of the regular files directly in ``folder``, or that links in it point
    to (one ``scandir``); a dangling link is not a file."""
    entries: list[tuple[str, int, int]] = []
    partial: list[str] = []
    newest_ctime_s = 0.0
    ready = False
    for entry in os.scandir(folder):
        if entry.name == READY_MARKER:
            ready = True
            continue
        # A link to a video (e.g. on the acquisition share) is that video: labs link large
        # files rather than copy them. Results go to out/, never next to the target.
        if not entry.is_file():
            continue
        stat = entry.stat()
        newest_ctime_s = max(newest_ctime_s, stat.st_ctime, stat.st_mtime)
        if is_partial(entry.name):
            partial.append(entry.name)
        entries.append((entry.name, stat.st_size, stat.st_mtime_ns))
    entries.sort()
    return FolderSnapshot(tuple(entries), newest_ctime_s, ready, tuple(sorted(partial)))


def read_done_record(layout: JobsLayout, job: str, video: str) -> dict[str, Any] | None:
    """The completion record of one video, ``None`` when missing or unreadable."""
    try:
        record = json.loads(layout.done_path(job, video).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def video_is_done(layout: JobsLayout, job: str, video: str, source: tuple[int, int]) -> bool:
    """The video has a result whose completion record matches ``source`` (size, mtime_ns).

    A source replaced since (``ingest --force``, a new copy) does not match, so it runs again.
    """
    record = read_done_record(layout, job, video)
    if record is None or not layout.result_path(job, video).is_file():
        return False
    return (record.get("source_size_bytes"), record.get("source_mtime_ns")) == source
