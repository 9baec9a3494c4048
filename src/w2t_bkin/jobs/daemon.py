"""The pose job daemon: watches ``DIR/in/``, runs each job's videos, never loses finished work.

Lifecycle of a job folder ``DIR/in/<job>/``::

    incoming --(.ready marker, or unchanged across two polls and settled)--> queued
    queued --(first video starts)--> processing --> completed   (every video has a result)
                                                \\-> failed     (inputs moved to DIR/failed/)

- **Disk is the truth.** A video is done when its completion record matches the source file
  (:func:`~w2t_bkin.jobs.layout.video_is_done`); status.json is rebuilt from that when missing
  or corrupt, and finished videos are never recomputed.
- **Stopping** (SIGINT/SIGTERM): the video in progress finishes and keeps its result; videos not
  started stay pending and the job is ``queued`` again, to resume on the next start. A second
  signal abandons the video in progress (it leaves no result) and exits with code 130.
- **Crash** (``kill -9``, power loss): the job found ``processing`` at start is requeued once;
  when that happens again it fails, with the video it was on as the reason.
- **Single instance**: an ``flock`` on ``DIR/.w2t-jobs.lock`` (holding the PID), released by
  the kernel when the process dies.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from w2t_bkin.errors import ConfigError
from w2t_bkin.io_utils import fsync_dir
from w2t_bkin.jobs.errors import DaemonRunningError
from w2t_bkin.jobs.layout import (
    JOB_SUMMARY_NAME,
    FolderSnapshot,
    JobsLayout,
    job_folders,
    snapshot_folder,
)
from w2t_bkin.jobs.status import (
    HEARTBEAT_S,
    JobStatus,
    StatusFile,
    StatusUnreadable,
    VideoStatus,
    job_from_disk,
    keep_corrupt_copy,
    load_status_file,
    rebuild_status,
    utc_now,
    write_status,
)
from w2t_bkin.jobs.worker import (
    TASK_FUNCTION,
    close_estimators,
    parse_progress,
    write_json_unsynced,
)
from w2t_bkin.runtime.locks import LockHeldError, exclusive_lock
from w2t_bkin.runtime.tasks import Executor, SerialExecutor, TaskEvent, TaskOutcome, TaskSpec

log = logging.getLogger(__name__)

ExecutorName = Literal["local", "dask"]


@dataclass(frozen=True)
class DaemonConfig:
    """How the daemon runs.

    Attributes
    ----------
    backend, model, options
        The pose estimator (:func:`w2t_bkin.pose.estimators.make_estimator`).
    poll_s
        Seconds between scans of ``in/``.
    settle_s
        A folder without ``.ready`` is taken once unchanged across two polls and no file in
        it changed in the last ``settle_s`` seconds.
    checkpoint_every_frames
        Progress of the video in progress is written to status.json every this many frames;
        the estimator reports progress every ``pose.process.PROGRESS_EVERY_FRAMES`` (100)
        frames, so smaller values act as that.
    max_crash_requeues
        A job found ``processing`` after a crash is requeued this many times, then failed.
    jobs
        Videos run in parallel (1: in this process; more: a pool of worker processes).
    executor, scheduler
        ``"local"`` or ``"dask"`` (with an optional scheduler address) for ``jobs`` > 1, or
        for Dask at any ``jobs``.
    incoming_wait_s
        Drain mode (``once``) only: how long to wait for folders still being copied before
        exiting without them.
    """

    backend: str = "mediapipe"
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    poll_s: float = 2.0
    settle_s: float = 2.0
    checkpoint_every_frames: int = 250
    max_crash_requeues: int = 1
    jobs: int = 1
    executor: ExecutorName = "local"
    scheduler: str | None = None
    incoming_wait_s: float = 60.0

    def check(self) -> None:
        """Raise :class:`~w2t_bkin.errors.ConfigError` for a value out of range."""
        problems = []
        if self.poll_s <= 0:
            problems.append(f"poll_s must be > 0, got {self.poll_s}")
        if self.settle_s < 0:
            problems.append(f"settle_s must be >= 0, got {self.settle_s}")
        if self.checkpoint_every_frames < 1:
            problems.append(
                f"checkpoint_every_frames must be >= 1, got {self.checkpoint_every_frames}"
            )
        if self.max_crash_requeues < 0:
            problems.append(f"max_crash_requeues must be >= 0, got {self.max_crash_requeues}")
        if self.jobs < 1:
            problems.append(f"jobs must be >= 1, got {self.jobs}")
        if problems:
            raise ConfigError(
                "invalid job daemon settings: " + "; ".join(problems),
                hint="fix the option values (see `w2t-bkin jobs watch --help`)",
            )


@dataclass
class DaemonReport:
    """What one :meth:`JobDaemon.run` did."""

    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    videos_done: int = 0
    left_incoming: list[str] = field(default_factory=list)
    stopped_by_signal: bool = False
    aborted: bool = False
    rebuilt_status: str | None = None
    """Why status.json was rebuilt from disk (``None``: it was read)."""


class JobDaemon:
    """Watches one data folder and processes its jobs (see the module docstring).

    Parameters
    ----------
    data_dir
        The data folder (``in/``, ``out/`` and ``failed/`` are created when missing).
    config
        How to run.
    """

    def __init__(
        self, data_dir: str | os.PathLike[str], config: DaemonConfig | None = None
    ) -> None:
        self.layout = JobsLayout(Path(data_dir).resolve())
        self.config = config or DaemonConfig()
        self.config.check()
        self.status = StatusFile()
        self.report = DaemonReport()
        self._stop = threading.Event()
        self._signals = 0
        self._seen: dict[str, FolderSnapshot] = {}
        self._last_write_s = 0.0
        # Unique per daemon object: a stale file must never stop another daemon's tasks.
        self._stop_file = self.layout.data_dir / f".stop-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._running = False
        self._ended = 0  # videos that ended (done or failed) in this run

    # ---------------------------------------------------------------------------- public

    def request_stop(self) -> None:
        """Finish the video in progress, keep every result, then return from :meth:`run`."""
        self._stop.set()
        if not self._running:
            return
        try:
            self._stop_file.touch()  # tasks queued in worker processes read it
        except OSError:
            log.warning(
                "cannot create %s: queued tasks in workers may still start", self._stop_file
            )

    def run(self, *, once: bool = False) -> DaemonReport:
        """Process jobs until stopped, or (``once``) until nothing is left to do.

        Raises
        ------
        DaemonRunningError
            Another daemon (or a ``jobs reset``/``retry``) holds the data folder's lock.
        StatusVersionError
            status.json was written by a newer w2t-bkin.
        """
        self.layout.ensure()
        try:
            with exclusive_lock(self.layout.lock_path), self._signal_handlers():
                self._running = True
                try:
                    self._run_locked(once)
                finally:
                    self._running = False
                    self._stop_file.unlink(missing_ok=True)
        except LockHeldError as exc:
            raise DaemonRunningError(
                f"another job daemon already works on {self.layout.data_dir}: {exc.holder}",
                holder=exc.holder,
                hint="one daemon per data folder; stop that one first (kill -TERM <pid>), or "
                "pass another --data-dir",
                path=self.layout.lock_path,
            ) from None
        return self.report

    # ---------------------------------------------------------------------------- main loop

    def _run_locked(self, once: bool) -> None:
        self._check_estimator()
        for stale in self.layout.data_dir.glob(".stop-*"):  # left by a daemon that was killed
            if stale != self._stop_file:
                stale.unlink(missing_ok=True)
        self._load_status()
        self._recover_crashed()
        info = self.status.daemon
        info.pid, info.state, info.started_at = os.getpid(), "running", utc_now()
        info.heartbeat_at, info.backend, info.model = (
            utc_now(),
            self.config.backend,
            self.config.model,
        )
        self._save()
        executor: Executor | None = None
        incoming_since = time.monotonic()
        last_scan_s = -float("inf")
        try:
            while not self._stop.is_set():
                queued = self._runnable_jobs()
                # Scan in/ once per poll interval while there is work, at once when there is none.
                if not queued or time.monotonic() - last_scan_s >= self.config.poll_s:
                    self._reconcile()
                    last_scan_s = time.monotonic()
                    queued = self._runnable_jobs()
                if queued:
                    if executor is None:
                        executor = self._make_executor()
                    if self._run_wave(executor, queued) == 0:
                        self._idle(self.config.poll_s)  # every task skipped: never spin
                    incoming_since = time.monotonic()
                    continue
                incoming = [j for j, e in self.status.jobs.items() if e.state == "incoming"]
                if once and (
                    not incoming or time.monotonic() - incoming_since > self.config.incoming_wait_s
                ):
                    self.report.left_incoming = sorted(incoming)
                    break
                self._idle(self.config.poll_s)
        except KeyboardInterrupt:  # the second stop signal
            self.report.aborted = True
            log.warning("second stop signal: the video in progress was abandoned")
        finally:
            if executor is not None:
                executor.close()
            close_estimators()
            self._requeue_interrupted()
            self.status.daemon.state = "stopped"
            self.status.daemon.heartbeat_at = utc_now()
            self._save()
        self.report.stopped_by_signal = self._signals > 0

    def _check_estimator(self) -> None:
        """Make and load the estimator once before taking any job, so that a missing model or
        backend stops the daemon with its own error instead of failing every job."""
        from w2t_bkin.jobs.worker import shared_estimator

        shared_estimator(self.config.backend, self.config.model, dict(self.config.options)).load()

    def _idle(self, seconds: float) -> None:
        if time.monotonic() - self._last_write_s >= HEARTBEAT_S:
            self.status.daemon.heartbeat_at = utc_now()
            self._save(durable=False)
        self._stop.wait(seconds)

    # ---------------------------------------------------------------------------- status

    def _load_status(self) -> None:
        path = self.layout.status_path
        try:
            previous: StatusFile | None = load_status_file(path)
        except StatusUnreadable as exc:
            previous = None
            kept = keep_corrupt_copy(path) if path.exists() else None
            # A new data folder has no status yet and nothing to rebuild it from: not news.
            fresh = kept is None and not (
                job_folders(self.layout.out_dir) or job_folders(self.layout.failed_dir)
            )
            self.report.rebuilt_status = None if fresh else f"status.json {exc}"
            if kept is not None:
                log.warning("%s is corrupt (%s); kept as %s, rebuilt from disk", path, exc, kept)
        self.status = rebuild_status(self.layout, previous)
        if previous is not None and previous.daemon.state in ("running", "stopping"):
            log.warning("the previous daemon (pid %s) did not stop cleanly", previous.daemon.pid)
        for job, entry in self.status.jobs.items():
            old = previous.jobs.get(job) if previous is not None else None
            if previous is None:
                entry.note("status rebuilt", self.report.rebuilt_status or "")
            if entry.state != "queued":
                continue
            if old is not None and old.state == "processing":
                # Not on disk: the job the daemon was on when it died (see _recover_crashed).
                entry.state, entry.current_video = "processing", old.current_video
            elif old is None or old.state != "queued":
                entry.state = "incoming"  # checked for completeness before it is taken
                if old is not None and old.state == "failed":
                    entry.crash_requeues = 0
                    entry.note("requeued", "its inputs were moved back to in/ (retry)")

    def _recover_crashed(self) -> None:
        for job, entry in self.status.jobs.items():
            if entry.state != "processing":
                continue
            entry.crash_requeues += 1
            video = entry.current_video or "(before its first video)"
            if entry.crash_requeues > self.config.max_crash_requeues:
                reason = (
                    f"interrupted {entry.crash_requeues} times while processing (daemon killed "
                    f"or crashed), last on video {video}; finished videos are kept"
                )
                self._fail_job(job, entry, reason)
            else:
                entry.state, entry.current_video = "queued", None
                for video_status in entry.videos.values():
                    if video_status.state == "processing":
                        video_status.state, video_status.frames_done = "pending", 0
                entry.refresh_progress()
                entry.note("requeued", f"the daemon died while processing {video}")
                log.warning("job %s was interrupted by a crash on %s; requeued", job, video)

    def _save(self, *, durable: bool = True) -> None:
        write_status(self.layout, self.status, durable=durable)
        self._last_write_s = time.monotonic()

    # ---------------------------------------------------------------------------- discovery

    def _reconcile(self) -> None:
        """Bring the status in line with the folders: new, settled, moved back, removed."""
        changed = False
        present = set(job_folders(self.layout.in_dir))
        snapshots: dict[str, FolderSnapshot] = {}
        for job in present:
            try:
                snapshots[job] = snapshot_folder(self.layout.job_in(job))
            except OSError:
                continue  # moved away between listing and reading
        # Folders found in the same poll queue in the order their last file arrived.
        for job in sorted(snapshots, key=lambda j: (snapshots[j].newest_ctime_s, j)):
            changed |= self._reconcile_job(job, snapshots[job])
        for job in job_folders(self.layout.failed_dir):
            if job not in self.status.jobs and job not in present:
                entry = job_from_disk(self.layout, job, self.layout.job_failed(job), "failed")
                entry.inputs_dir = f"failed/{job}"
                self.status.jobs[job] = entry
                changed = True
        for job, entry in list(self.status.jobs.items()):
            gone = job not in present and entry.state in ("incoming", "queued")
            if gone:
                del self.status.jobs[job]
                self._seen.pop(job, None)
                changed = True
        if changed:
            self._save()

    def _reconcile_job(self, job: str, snap: FolderSnapshot) -> bool:
        entry = self.status.jobs.get(job)
        if entry is not None and entry.state == "processing":
            return False
        if entry is not None and entry.state == "failed" and entry.inputs_dir == f"in/{job}":
            return False  # its move to failed/ did not happen; only `jobs retry` requeues it
        folder = self.layout.job_in(job)
        previous, self._seen[job] = self._seen.get(job), snap
        if entry is not None and entry.state == "completed":
            summary = self.layout.job_out(job) / JOB_SUMMARY_NAME
            if previous is not None and previous.entries == snap.entries and summary.exists():
                return False
            if not snap.partial and self._still_complete(job, folder):
                if not summary.exists():  # completed by a run that died before writing it
                    self._write_summary(job, entry, entry.finished_at or utc_now())
                return False
        if not (snap.ready or self._settled(snap, previous)):
            if entry is None:
                entry = self.status.jobs[job] = JobStatus(state="incoming", inputs_dir=f"in/{job}")
                entry.note("incoming", "waiting for the folder to be complete")
                return True
            return False
        fresh = job_from_disk(self.layout, job, folder, "queued")
        if (
            entry is not None
            and entry.state == "queued"
            and entry.videos.keys() == fresh.videos.keys()
        ):
            return False
        return self._take(job, entry, fresh, snap)

    def _take(
        self, job: str, entry: JobStatus | None, fresh: JobStatus, snap: FolderSnapshot
    ) -> bool:
        was = entry.state if entry is not None else None
        if entry is None:
            entry = self.status.jobs[job] = JobStatus()
        entry.videos, entry.inputs_dir = fresh.videos, f"in/{job}"
        entry.refresh_progress()
        entry.error, entry.finished_at = None, None
        if was == "failed":
            entry.crash_requeues = 0
            entry.note("requeued", "its inputs were moved back to in/ (retry)")
        elif was == "completed":
            entry.note("requeued", "its videos changed since it completed")
        if not snap.videos:
            others = ", ".join(snap.others[:10]) or "nothing"
            self._fail_job(
                job,
                entry,
                f"no video files in in/{job} (found: {others}); expected files "
                "ending in .mp4, .avi, .mov, .mkv, .m4v, .webm, .mpg or .mpeg",
            )
            return True
        if entry.videos_done == entry.videos_total:
            self._complete_job(job, entry)
            return True
        entry.state, entry.queued_at = "queued", utc_now()
        if snap.others:
            entry.note(
                "queued", f"ignoring files that are not videos: {', '.join(snap.others[:10])}"
            )
        else:
            entry.note("queued", f"{entry.videos_total - entry.videos_done} video(s) to process")
        return True

    def _still_complete(self, job: str, folder: Path) -> bool:
        fresh = job_from_disk(self.layout, job, folder, "queued")
        return fresh.state == "completed"

    def _settled(self, snap: FolderSnapshot, previous: FolderSnapshot | None) -> bool:
        if not snap.entries or snap.partial or previous is None:
            return False
        settled_s = time.time() - snap.newest_ctime_s
        return previous.entries == snap.entries and settled_s >= self.config.settle_s

    def _runnable_jobs(self) -> list[str]:
        """Jobs with videos to run, in arrival order (not name order)."""
        runnable = [
            (entry.queued_at or "", job)
            for job, entry in self.status.jobs.items()
            if entry.state in ("queued", "processing")
            and any(v.state == "pending" for v in entry.videos.values())
        ]
        return [job for _, job in sorted(runnable)]

    # ---------------------------------------------------------------------------- running

    def _make_executor(self) -> Executor:
        if self.config.jobs == 1 and self.config.executor == "local":
            return SerialExecutor()
        from w2t_bkin.runtime.executors import make_executor

        return make_executor(self.config.executor, self.config.jobs, self.config.scheduler)

    def _run_wave(self, executor: Executor, queued: list[str]) -> int:
        """Run pending videos of the queued jobs, oldest job first (a few per worker).

        Returns how many videos ended (done or failed), not counting skipped ones.
        """
        wave_size = 4 * self.config.jobs
        tasks: list[TaskSpec] = []
        for job in queued:
            entry = self.status.jobs[job]
            for video, video_status in entry.videos.items():
                if video_status.state == "pending" and len(tasks) < wave_size:
                    tasks.append(self._task(job, video))
        ended_before = self._ended
        executor.run(tasks, on_event=self._on_event, on_outcome=self._on_outcome)
        for job in queued:
            after = self.status.jobs.get(job)
            if after is not None and after.state == "processing":
                self._finish_if_done(job, after)
        return self._ended - ended_before

    def _task(self, job: str, video: str) -> TaskSpec:
        return TaskSpec(
            key=f"{job}/{video}",
            function=TASK_FUNCTION,
            kwargs={
                "data_dir": str(self.layout.data_dir),
                "job": job,
                "video": video,
                "backend": self.config.backend,
                "model": self.config.model,
                "options": dict(self.config.options),
                "checkpoint_every_frames": self.config.checkpoint_every_frames,
                "stop_file": str(self._stop_file),
            },
        )

    def _video_of(self, key: str) -> tuple[str, str, JobStatus, VideoStatus] | None:
        """Job, video and their status entries named by a task key ``<job>/<video>``.

        ``None`` when the status does not hold that video (any more): the caller ignores the
        event or outcome.
        """
        job, _, video = key.partition("/")
        entry = self.status.jobs.get(job)
        if entry is None or video not in entry.videos:
            return None
        return job, video, entry, entry.videos[video]

    def _on_event(self, event: TaskEvent) -> None:
        found = self._video_of(event.key)
        if found is None:
            return
        _, video, entry, video_status = found
        if event.kind == "started" and not self._stop.is_set():
            if entry.state != "processing":
                entry.state, entry.attempts = "processing", entry.attempts + 1
                entry.started_at = entry.started_at or utc_now()
                entry.note("processing", f"attempt {entry.attempts} on {event.worker}")
            video_status.state, video_status.frames_done, video_status.error = "processing", 0, None
            entry.current_video = video
        elif event.kind == "progress":
            frames = parse_progress(event.detail)
            if frames is None or video_status.state != "processing":
                return
            video_status.frames_done, video_status.frames_total = frames
            if frames[0] == 0:
                return  # the total alone: written with the next checkpoint
        else:
            return
        entry.refresh_progress()
        entry.updated_at = utc_now()
        self.status.daemon.heartbeat_at = entry.updated_at
        self._save(durable=False)  # a checkpoint (see write_status)

    def _on_outcome(self, outcome: TaskOutcome) -> None:
        found = self._video_of(outcome.key)
        if found is None:
            return
        job, video, entry, video_status = found
        value = outcome.value if isinstance(outcome.value, dict) else {}
        if outcome.error is None and not value.get("skipped"):
            n_frames = int(value["n_frames"])
            video_status.state, video_status.error = "done", None
            video_status.frames_done = video_status.frames_total = n_frames
            video_status.result, video_status.duration_s = value["result"], value["duration_s"]
            self.report.videos_done += 1
            self._ended += 1
        elif outcome.error is not None and not outcome.cancelled:
            self._ended += 1
            video_status.state, video_status.error = "failed", outcome.error
            entry.note("video failed", f"{video}: {outcome.error}")
            log.error("job %s, video %s failed: %s", job, video, outcome.error)
        else:
            video_status.state, video_status.frames_done = "pending", 0
        if entry.current_video == video:
            entry.current_video = None
        entry.refresh_progress()
        if not self._finish_if_done(job, entry):
            # A video's end is on disk already (its result and record): a checkpoint.
            self._save(durable=False)

    def _finish_if_done(self, job: str, entry: JobStatus) -> bool:
        states = {v.state for v in entry.videos.values()}
        if entry.state != "processing" or states & {"pending", "processing"}:
            return False
        failed = sorted(name for name, v in entry.videos.items() if v.state == "failed")
        if failed:
            first = entry.videos[failed[0]].error
            reason = f"{len(failed)} of {len(entry.videos)} videos failed; {failed[0]}: {first}"
            self._fail_job(job, entry, reason)
        else:
            self._complete_job(job, entry)
        return True

    # ---------------------------------------------------------------------------- endings

    def _write_summary(self, job: str, entry: JobStatus, finished_at: str) -> None:
        """``out/<job>/job.json``: what the job produced (derived from the status: unsynced)."""
        summary = {
            "job": job,
            "finished_at": finished_at,
            "backend": self.config.backend,
            "model": self.config.model,
            "videos": {
                name: {"result": v.result, "n_frames": v.frames_done, "duration_s": v.duration_s}
                for name, v in sorted(entry.videos.items())
            },
        }
        write_json_unsynced(self.layout.job_out(job) / JOB_SUMMARY_NAME, summary)

    def _complete_job(self, job: str, entry: JobStatus) -> None:
        finished_at = utc_now()
        self._write_summary(job, entry, finished_at)
        entry.state, entry.finished_at, entry.current_video = "completed", finished_at, None
        entry.results_dir = self.layout.relative(self.layout.job_out(job))
        entry.refresh_progress()
        entry.note("completed", f"{entry.videos_total} video(s)")
        self.report.completed.append(job)
        log.info("job %s completed (%d videos)", job, entry.videos_total)
        self._save()

    def _fail_job(self, job: str, entry: JobStatus, reason: str) -> None:
        entry.state, entry.error, entry.finished_at = "failed", reason, utc_now()
        entry.current_video = None
        for video_status in entry.videos.values():
            if video_status.state == "processing":
                video_status.state = "pending"
        entry.refresh_progress()
        entry.inputs_dir = self._quarantine(job)
        entry.note("failed", reason)
        self.report.failed.append(job)
        log.error("job %s failed: %s", job, reason)
        self._seen.pop(job, None)
        self._save()

    def _quarantine(self, job: str) -> str:
        """Move the job's inputs to ``failed/`` (finished results stay in ``out/``)."""
        source = self.layout.job_in(job)
        target = self.layout.job_failed(job)
        if target.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            target = target.with_name(f"{job}.failed-{stamp}")
        try:
            os.rename(source, target)
        except OSError as exc:
            log.error("cannot move %s to %s: %s; the inputs stay in in/", source, target, exc)
            return f"in/{job}"
        fsync_dir(self.layout.failed_dir)
        return self.layout.relative(target)

    def _requeue_interrupted(self) -> None:
        """On the way out: a job still processing keeps its finished videos and waits again."""
        for _job, entry in self.status.jobs.items():
            if entry.state != "processing":
                continue
            for video_status in entry.videos.values():
                if video_status.state == "processing":
                    video_status.state, video_status.frames_done = "pending", 0
            entry.state, entry.current_video = "queued", None
            entry.refresh_progress()
            entry.note(
                "stopped",
                f"daemon stopped; {entry.videos_done} of {entry.videos_total} videos kept, "
                "the rest resume on the next start",
            )

    # ---------------------------------------------------------------------------- signals

    def _signal_handlers(self) -> _SignalHandlers:
        return _SignalHandlers(self)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals == 1:
            log.warning(
                "%s: finishing the video in progress, then stopping (again to abandon it)",
                signal.Signals(signum).name,
            )
            self.status.daemon.state = "stopping"  # written with the next save, not from here
            self.request_stop()
            return
        raise KeyboardInterrupt


class _SignalHandlers:
    """SIGINT/SIGTERM request a stop while the daemon runs (main thread only)."""

    def __init__(self, daemon: JobDaemon) -> None:
        self.daemon = daemon
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set there; request_stop() still works
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.previous[signum] = signal.signal(signum, self.daemon._on_signal)

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
