"""``w2t-bkin jobs watch|ingest|status|retry|reset``: the pose job daemon and its folder.

A data folder holds ``in/<job>/`` (videos to process), ``out/`` (results and ``status.json``)
and ``failed/<job>/``; see :mod:`w2t_bkin.jobs`. The library is imported inside each command
so that ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from w2t_bkin.cli import app, stdout
from w2t_bkin.cli._options import check_choice, parse_key_values

jobs_app = typer.Typer(
    help="Pose job daemon: folders of videos in DIR/in/, results in DIR/out/.",
    no_args_is_help=True,
)
app.add_typer(jobs_app, name="jobs")

DATA_DIR_OPTION = typer.Option(
    Path("."), "--data-dir", "-d", help="The daemon's data folder (holds in/, out/, failed/)."
)


@jobs_app.command("watch")
def watch(
    data_dir: Path = DATA_DIR_OPTION,
    backend: str = typer.Option(
        "mediapipe", "--backend", help="Pose backend (mediapipe, deeplabcut, sleap, synthetic)."
    ),
    model: str | None = typer.Option(None, "--model", help="Model file or id for the backend."),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="Backend option KEY=VALUE (repeatable)."
    ),
    once: bool = typer.Option(
        False, "--once", help="Drain: process what is there, then exit (1 if a job failed)."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Videos processed in parallel."),
    executor: str = typer.Option("local", "--executor", help="local or dask (with --jobs)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address."),
    poll_s: float = typer.Option(2.0, "--poll", help="Seconds between scans of in/."),
    settle_s: float = typer.Option(
        2.0, "--settle", help="A folder without .ready is taken once unchanged this long."
    ),
    checkpoint_every: int = typer.Option(
        250,
        "--checkpoint-every",
        min=1,
        help="Write progress every this many frames (at the estimator's progress reports, "
        "every 100 frames).",
    ),
    wait_incoming_s: float = typer.Option(
        60.0, "--wait-incoming", help="--once: how long to wait for folders still being copied."
    ),
) -> None:
    """Process job folders as they arrive. Ctrl-C / SIGTERM finish the current video and stop
    (a second one abandons it); finished videos are kept and the rest resume on restart."""
    check_choice(executor, ("local", "dask"), option="--executor")
    from w2t_bkin.jobs.daemon import DaemonConfig, JobDaemon

    config = DaemonConfig(
        backend=backend,
        model=model,
        options=parse_key_values(option, example="delay_s=0.01"),
        poll_s=poll_s,
        settle_s=settle_s,
        checkpoint_every_frames=checkpoint_every,
        jobs=jobs,
        executor=executor,  # type: ignore[arg-type]
        scheduler=scheduler,
        incoming_wait_s=wait_incoming_s,
    )
    report = JobDaemon(data_dir, config).run(once=once)
    stdout.print(
        f"{len(report.completed)} job(s) completed, {len(report.failed)} failed, "
        f"{report.videos_done} video(s) processed"
        + (f"; still incoming: {', '.join(report.left_incoming)}" if report.left_incoming else "")
        + ("; stopped by signal, the rest resumes on restart" if report.stopped_by_signal else ""),
        highlight=False,
    )
    if report.rebuilt_status:
        stdout.print(f"status rebuilt from disk ({escape(report.rebuilt_status)})", highlight=False)
    if report.aborted:
        raise typer.Exit(130)
    if once and report.failed:
        raise typer.Exit(1)


@jobs_app.command("ingest")
def ingest(
    archive: Path = typer.Argument(..., help="A .zip of videos (folders become jobs)."),
    data_dir: Path = DATA_DIR_OPTION,
    force: bool = typer.Option(False, "--force", help="Replace jobs of the same name."),
    job: str | None = typer.Option(None, "--job", help="Put every video in this one job."),
) -> None:
    """Validate an archive completely, then add its jobs to in/ atomically."""
    from w2t_bkin.jobs.ingest import ingest_zip

    result = ingest_zip(archive, data_dir, force=force, job=job)
    for item in result.jobs:
        stdout.print(
            f"{'replaced' if item.replaced else 'added'} {escape(item.job)}: "
            f"{len(item.videos)} video(s), {item.size_bytes} bytes",
            highlight=False,
        )
    if result.skipped:
        stdout.print(f"skipped system files: {escape(', '.join(result.skipped))}", highlight=False)


@jobs_app.command("status")
def status(
    data_dir: Path = DATA_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the status file's JSON."),
    job: str | None = typer.Option(None, "--job", help="Only this job."),
) -> None:
    """Each job's state and progress (read-only; works while the daemon runs)."""
    from w2t_bkin.jobs.errors import JobNotFoundError
    from w2t_bkin.jobs.status import read_status

    view = read_status(data_dir)
    jobs = view.status.jobs
    if job is not None:
        if job not in jobs:
            raise JobNotFoundError(
                f"no job named {job!r} in {data_dir}",
                hint=f"known jobs: {', '.join(sorted(jobs)) or 'none'}",
            )
        jobs = {job: jobs[job]}
    if as_json:
        payload = view.model_dump(mode="json")
        payload["status"]["jobs"] = {name: e.model_dump(mode="json") for name, e in jobs.items()}
        print(json.dumps(payload, indent=2))
        return
    daemon = view.status.daemon
    alive = "running" if view.daemon_alive else f"not running (last: {daemon.state})"
    stdout.print(f"daemon: {alive}, pid {daemon.pid}, backend {daemon.backend}", highlight=False)
    if view.problem:
        stdout.print(f"status rebuilt from disk: {escape(view.problem)}", highlight=False)
    table = Table(title=f"jobs in {escape(str(data_dir))}")
    for column in ("job", "state", "videos", "progress", "current", "error"):
        table.add_column(column, overflow="fold")
    for name, entry in sorted(jobs.items()):
        table.add_row(
            escape(name),
            entry.state,
            f"{entry.videos_done}/{entry.videos_total}",
            "" if entry.percent is None else f"{entry.percent:.0f}%",
            escape(entry.current_video or ""),
            escape(entry.error or ""),
        )
    stdout.print(table)


@jobs_app.command("retry")
def retry(
    job: str = typer.Argument(..., help="Name of a failed job."),
    data_dir: Path = DATA_DIR_OPTION,
    from_scratch: bool = typer.Option(
        False, "--from-scratch", help="Discard its finished videos too (also for a completed job)."
    ),
) -> None:
    """Move a failed job back to in/ so that it runs again (finished videos are kept)."""
    from w2t_bkin.jobs.admin import retry_job

    result = retry_job(data_dir, job, from_scratch=from_scratch)
    who = "the running daemon picks it up" if result.daemon_running else "it runs on the next watch"
    stdout.print(
        f"job {escape(job)} queued again ({result.kept_videos} finished video(s) kept); {who}",
        highlight=False,
    )


@jobs_app.command("reset")
def reset(
    data_dir: Path = DATA_DIR_OPTION,
    inputs: bool = typer.Option(False, "--inputs", help="Also remove in/ and failed/ job folders."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do it (without: only list)."),
) -> None:
    """Remove status.json and every result (refused while a daemon runs; kills nothing)."""
    from w2t_bkin.jobs.admin import reset_data_dir

    result = reset_data_dir(data_dir, inputs=inputs, dry_run=not yes)
    verb = "would remove" if result.dry_run else "removed"
    for path in result.removed:
        stdout.print(f"{verb} {escape(str(path))}", highlight=False)
    stdout.print(
        f"{verb} {len(result.removed)} item(s), {result.bytes_freed} bytes", highlight=False
    )
    if result.dry_run and result.removed:
        stdout.print("nothing was removed: add --yes to do it", highlight=False)
