"""``DIR/out/status.json``: the daemon's versioned, atomically written lifecycle record.

The file is a cache of what the disk says plus history (attempts, errors, timings): when it is
missing or corrupt it is rebuilt from the job folders and the per-video completion records
(:func:`rebuild_status`), never reset to empty, and a corrupt file is kept beside it for
inspection. Only the process holding the data folder's lock writes it; anyone may read it
(:func:`read_status`), e.g. a dashboard, and sees a whole file (written to a temporary file,
fsynced, renamed).

JSON schema (``schema_version`` 1)
----------------------------------
::

    {
      "format": "w2t-bkin.jobs-status",
      "schema_version": 1,
      "updated_at": "2026-12-06T02:00:00+00:00",       # ISO-8601 UTC
      "daemon": {"pid": 123 | null, "state": "running" | "stopping" | "stopped" | "never",
                 "started_at": ISO | null, "heartbeat_at": ISO | null,
                 "backend": "synthetic" | ..., "model": str | null, "host": str},
      "jobs": {
        "<job>": {
          "state": "incoming" | "queued" | "processing" | "completed" | "failed",
          "attempts": int,              # times processing started
          "crash_requeues": int,        # times a crash left it processing and it was requeued
          "queued_at" | "started_at" | "finished_at" | "updated_at": ISO | null,
          "error": str | null,          # "<ExceptionType>: <message>" or the reason
          "current_video": str | null,
          "videos_done": int, "videos_total": int,
          "percent": float | null,      # 0..100 over videos, the current one by frames
          "results_dir": "out/<job>" | null, "inputs_dir": "in/<job>" | "failed/<job>",
          "videos": {"<name>": {"state": "pending" | "processing" | "done" | "failed",
                                "frames_done": int, "frames_total": int | null,
                                "result": "out/<job>/<name>.pose.npz" | null,
                                "duration_s": float | null, "error": str | null}},
          "history": [{"at": ISO, "event": str, "detail": str}]   # newest last, at most 50
        }
      }
    }

A reader should treat a ``daemon.state`` of ``running`` whose ``heartbeat_at`` is older than
three times ``heartbeat_s`` as a daemon that died (``daemon_alive`` in :class:`StatusView`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from w2t_bkin.io_utils import atomic_write_text
from w2t_bkin.jobs.errors import JobsError, StatusVersionError
from w2t_bkin.jobs.layout import (
    STATUS_NAME,
    JobsLayout,
    job_folders,
    read_done_record,
    snapshot_folder,
    video_is_done,
)

log = logging.getLogger(__name__)

FORMAT = "w2t-bkin.jobs-status"
SCHEMA_VERSION = 1
HISTORY_MAX = 50
HEARTBEAT_S = 10.0
"""How often an idle daemon refreshes ``daemon.heartbeat_at``."""

JobState = Literal["incoming", "queued", "processing", "completed", "failed"]
VideoState = Literal["pending", "processing", "done", "failed"]


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class HistoryEvent(_Model):
    at: str
    event: str
    detail: str = ""


class VideoStatus(_Model):
    state: VideoState = "pending"
    frames_done: int = Field(default=0, ge=0)
    frames_total: int | None = Field(default=None, ge=0)
    result: str | None = None
    duration_s: float | None = Field(default=None, ge=0)
    error: str | None = None


class JobStatus(_Model):
    state: JobState = "queued"
    attempts: int = Field(default=0, ge=0)
    crash_requeues: int = Field(default=0, ge=0)
    queued_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
    error: str | None = None
    current_video: str | None = None
    videos_done: int = Field(default=0, ge=0)
    videos_total: int = Field(default=0, ge=0)
    percent: float | None = Field(default=None, ge=0, le=100)
    results_dir: str | None = None
    inputs_dir: str | None = None
    videos: dict[str, VideoStatus] = Field(default_factory=dict)
    history: list[HistoryEvent] = Field(default_factory=list)

    def note(self, event: str, detail: str = "") -> None:
        """Append a history event (the oldest are dropped beyond :data:`HISTORY_MAX`)."""
        self.history.append(HistoryEvent(at=utc_now(), event=event, detail=detail))
        del self.history[:-HISTORY_MAX]
        self.updated_at = self.history[-1].at

    def refresh_progress(self) -> None:
        """Recompute ``videos_done``, ``videos_total`` and ``percent`` from ``videos``."""
        self.videos_total = len(self.videos)
        self.videos_done = sum(v.state == "done" for v in self.videos.values())
        if not self.videos:
            self.percent = None
            return
        partial = sum(
            v.frames_done / v.frames_total
            for v in self.videos.values()
            if v.state == "processing" and v.frames_total
        )
        self.percent = round(min(100.0, 100.0 * (self.videos_done + partial) / len(self.videos)), 2)


class DaemonInfo(_Model):
    pid: int | None = None
    state: Literal["running", "stopping", "stopped", "never"] = "never"
    started_at: str | None = None
    heartbeat_at: str | None = None
    backend: str | None = None
    model: str | None = None
    host: str = Field(default_factory=socket.gethostname)


class StatusFile(_Model):
    """The whole status file (see the module docstring for the JSON schema)."""

    format: Literal["w2t-bkin.jobs-status"] = "w2t-bkin.jobs-status"
    schema_version: Literal[1] = 1
    updated_at: str = Field(default_factory=utc_now)
    daemon: DaemonInfo = Field(default_factory=DaemonInfo)
    jobs: dict[str, JobStatus] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


class StatusView(_Model):
    """What :func:`read_status` returns: the status plus how it was obtained."""

    status: StatusFile
    source: Literal["file", "rebuilt"]
    problem: str | None = None
    daemon_alive: bool = False


# --------------------------------------------------------------------------------------------
# reading


class StatusUnreadable(Exception):
    """Internal: the file is missing or corrupt (the reason is the message)."""


def load_status_file(path: Path) -> StatusFile:
    """Parse ``path``.

    Raises
    ------
    StatusUnreadable
        Missing, not JSON, or not matching the schema (the message says which).
    StatusVersionError
        Written by a newer w2t-bkin: never overwritten, never rebuilt over.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StatusUnreadable("missing") from None
    except OSError as exc:
        raise StatusUnreadable(f"unreadable ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StatusUnreadable(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise StatusUnreadable(f"not a JSON object (found {type(data).__name__})")
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise StatusVersionError(
            f"{path} has schema_version {version}; this w2t-bkin reads up to {SCHEMA_VERSION}",
            hint="upgrade w2t-bkin, or run the daemon that wrote it",
            path=path,
        )
    try:
        return StatusFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise StatusUnreadable(f"does not match the schema at {where}: {first['msg']}") from None


def rebuild_status(layout: JobsLayout, previous: StatusFile | None = None) -> StatusFile:
    """The status the disk implies: every job folder in ``in/`` and ``failed/`` with its videos.

    A video whose completion record matches its source is ``done``; a job in ``in/`` is
    ``completed`` when every video is done, else ``queued`` (folders without videos that are
    still settling are decided by the daemon); a job in ``failed/`` is ``failed``. Errors and
    attempt counts are not on disk; they are taken from ``previous`` where it has the job.
    """
    status = StatusFile()
    if previous is not None:
        status.daemon = previous.daemon.model_copy()
    for where, folder, state in (
        ("in", layout.in_dir, "queued"),
        ("failed", layout.failed_dir, "failed"),
    ):
        for job in job_folders(folder):
            if job in status.jobs:
                continue  # the same name in in/ and failed/: in/ wins (a retry or a re-ingest)
            entry = job_from_disk(layout, job, folder / job, state)  # type: ignore[arg-type]
            entry.inputs_dir = f"{where}/{job}"
            old = previous.jobs.get(job) if previous is not None else None
            if old is not None:
                entry.attempts, entry.crash_requeues = old.attempts, old.crash_requeues
                entry.history = list(old.history)
                entry.queued_at, entry.started_at = old.queued_at, old.started_at
                if state == "failed":
                    entry.error, entry.finished_at = old.error, old.finished_at
            status.jobs[job] = entry
    return status


def job_from_disk(layout: JobsLayout, job: str, folder: Path, state: JobState) -> JobStatus:
    """One job's entry from its folder and its completion records."""
    snap = snapshot_folder(folder)
    entry = JobStatus(state=state, queued_at=utc_now())
    for video in snap.videos:
        source = snap.size_of(video)
        assert source is not None
        if video_is_done(layout, job, video, source):
            record = read_done_record(layout, job, video) or {}
            frames = int(record.get("n_frames", 0))
            entry.videos[video] = VideoStatus(
                state="done",
                frames_done=frames,
                frames_total=frames,
                result=layout.relative(layout.result_path(job, video)),
                duration_s=record.get("duration_s"),
            )
        else:
            entry.videos[video] = VideoStatus()
    entry.refresh_progress()
    if state == "queued" and entry.videos and entry.videos_done == entry.videos_total:
        entry.state = "completed"
        entry.results_dir = layout.relative(layout.job_out(job))
    elif state == "failed" and entry.error is None:
        entry.error = "failed (the reason was in a status file that was lost)"
    return entry


def keep_corrupt_copy(path: Path) -> Path | None:
    """Move a corrupt status file aside (``status.json.corrupt-<UTC time>``), never delete it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    return target


def write_status(layout: JobsLayout, status: StatusFile, *, durable: bool = True) -> None:
    """Write the status atomically: a temporary file renamed over the old one.

    ``durable`` (state changes: queued, completed, failed, start and stop of the daemon) also
    fsyncs the file and its folder, so the change survives a power loss. Checkpoints (a video
    started, progress, heartbeats) skip the fsyncs: they survive the daemon's own death, which
    is what they record, and after a power loss the status is rebuilt from the disk anyway.
    """
    status.updated_at = utc_now()
    if durable:
        atomic_write_text(layout.status_path, status.to_json())
        return
    tmp = layout.status_path.with_name(f".{STATUS_NAME}.{os.getpid()}.tmp")
    tmp.write_text(status.to_json(), encoding="utf-8")
    os.replace(tmp, layout.status_path)


def daemon_alive(status: StatusFile, *, now: datetime | None = None) -> bool:
    """The status names a running daemon whose heartbeat is recent (3 heartbeats)."""
    info = status.daemon
    if info.state not in ("running", "stopping") or info.heartbeat_at is None:
        return False
    now = now or datetime.now(UTC)
    age_s = (now - datetime.fromisoformat(info.heartbeat_at)).total_seconds()
    return age_s <= 3 * HEARTBEAT_S


def read_status(data_dir: str | os.PathLike[str]) -> StatusView:
    """The job status of a data folder, for a dashboard or ``jobs status``; never writes.

    Lock-free: the daemon replaces the file atomically, so a whole file is read. When the
    file is missing or corrupt, the status the disk implies is returned instead
    (``source="rebuilt"``, ``problem`` says why); the daemon rebuilds it the same way.

    Raises
    ------
    JobsError
        ``data_dir`` is not a folder.
    StatusVersionError
        The file was written by a newer w2t-bkin.
    """
    layout = JobsLayout(Path(data_dir))
    if not layout.data_dir.is_dir():
        raise JobsError(
            f"no job data folder at {layout.data_dir}",
            hint="pass the folder the daemon watches (--data-dir), or start one there with "
            "`w2t-bkin jobs watch --data-dir DIR`",
            path=layout.data_dir,
        )
    try:
        status = load_status_file(layout.status_path)
    except StatusUnreadable as exc:
        rebuilt = rebuild_status(layout)
        return StatusView(status=rebuilt, source="rebuilt", problem=f"status.json {exc}")
    return StatusView(status=status, source="file", daemon_alive=daemon_alive(status))
