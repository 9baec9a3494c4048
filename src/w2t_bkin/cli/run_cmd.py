"""``w2t-bkin run`` and ``w2t-bkin demo``: process sessions into NWB files."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from w2t_bkin.cli import app, invocation, owns_process, stderr, stdout
from w2t_bkin.cli._options import check_choice
from w2t_bkin.errors import W2TError
from w2t_bkin.model.results import SessionResult, SessionStatus

if TYPE_CHECKING:
    from w2t_bkin.batch import BatchEvent


def run_sessions(
    root: Path, subject: str, session: str, config: Path | None, **options: Any
) -> list[SessionResult]:
    """Process the selected sessions (:func:`w2t_bkin.batch.run_batch`), printing each outcome.

    ``options`` go to :func:`~w2t_bkin.batch.run_batch` (jobs, executor, scheduler, force,
    dry_run, retries).
    """
    # Imported here: the session pipeline loads SciPy and PyAV, which --help need not wait for.
    from w2t_bkin.batch import run_batch

    with _Progress(enabled=stdout.is_terminal and not options.get("dry_run")) as progress:
        batch = run_batch(
            root,
            subject=subject,
            session=session,
            config_path=config,
            invocation=invocation(),
            on_event=progress.handle,
            own_process=owns_process(),
            **options,
        )
    return batch.results


class _Progress:
    """Shows batch events: a live view of running sessions on a terminal, else plain lines.

    The live view is redrawn by a thread of its own that stops while a session forks a child
    process beside it (:mod:`w2t_bkin.runtime.beside` forks single-threaded processes only).
    """

    REFRESH_S = 0.25

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.live: Any = None
        self.tasks: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.live = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=stdout,
                transient=True,
                auto_refresh=False,
            )
            from w2t_bkin.runtime.beside import register_pausable

            self.live.start()
            self.resume()
            register_pausable(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            from w2t_bkin.runtime.beside import unregister_pausable

            unregister_pausable(self)
            self.pause()
            self.live.stop()

    def pause(self) -> None:
        """Stop the redrawing thread (joined)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def resume(self) -> None:
        """Start the redrawing thread."""
        if self.live is not None and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._redraw, name="w2t-progress", daemon=True)
            self._thread.start()

    def _redraw(self) -> None:
        while not self._stop.wait(self.REFRESH_S):
            self.live.refresh()

    def handle(self, event: BatchEvent) -> None:
        from w2t_bkin.batch import SessionPlanned, SessionProgress

        if isinstance(event, SessionPlanned):
            _print_plan(event)
        elif isinstance(event, SessionProgress):
            key = f"{event.ref.subject}/{event.ref.session}"
            where = f" on {event.worker}" if event.worker else ""
            if self.live is None:
                stdout.print(f"  {key}: {event.detail}{where}", highlight=False)
            elif key in self.tasks:
                self.live.update(self.tasks[key], description=f"{key}: {event.detail}")
            else:
                self.tasks[key] = self.live.add_task(f"{key}: {event.detail}", total=None)
        else:
            if self.live is not None and hasattr(event, "result"):
                key = f"{event.result.subject}/{event.result.session}"
                if key in self.tasks:
                    self.live.remove_task(self.tasks.pop(key))
            _print_event(event)


def _print_plan(event: Any) -> None:
    """``run`` / ``cached`` / ``stale`` of one session, with the reasons."""
    key = f"{event.ref.subject}/{event.ref.session}"
    state = event.decision.state
    colour = {"run": "cyan", "cached": "green", "stale": "yellow"}[state]
    reasons = "; ".join(event.decision.reasons)
    stdout.print(
        f"[{colour}]{state}[/] {escape(key)}" + (f": {escape(reasons)}" if reasons else ""),
        highlight=False,
    )


def _print_event(event: BatchEvent) -> None:
    from w2t_bkin.batch import BatchStopped, PreflightProblems, SessionFinished, SessionStarted

    if isinstance(event, PreflightProblems):
        n_errors = sum(p.severity == "error" for p in event.problems)
        stderr.print(
            f"preflight: {n_errors} error(s), {len(event.problems) - n_errors} warning(s) "
            "found before processing (a session with an error fails at it)",
            highlight=False,
        )
        for problem in event.problems:
            error = problem.severity == "error"
            label = "[red]error[/]" if error else "[yellow]warning[/]"
            text = label + escape(problem.render())[len(problem.severity) :]
            (stderr if error else stdout).print(text, highlight=False)
    elif isinstance(event, SessionStarted):
        stdout.print(f"processing {event.ref.subject}/{event.ref.session} ...", highlight=False)
    elif isinstance(event, SessionFinished):
        _print_result(event.result)
    elif isinstance(event, BatchStopped) and event.skipped:
        failed = event.failed
        stderr.print(
            f"stopping after {failed.subject}/{failed.session} failed: "
            f"execution.continue_on_error is false in {escape(str(event.config_path))}; "
            f"{len(event.skipped)} remaining session(s) skipped",
            highlight=False,
        )
        for result in event.skipped:
            stderr.print(f"  [yellow]skipped[/] {result.subject}/{result.session}", highlight=False)


def _print_result(result: SessionResult) -> None:
    if result.status == SessionStatus.BUSY:
        stderr.print(
            f"  [yellow]busy[/] {result.subject}/{result.session}: {escape(result.error or '')}",
            highlight=False,
        )
        return
    if result.status == SessionStatus.CACHED:
        stdout.print(
            f"  [green]cached[/] {result.subject}/{result.session}: outputs are current",
            highlight=False,
        )
        return
    if result.ok:
        flagged = f" with {_count(len(result.warnings), 'warning')}" if result.warnings else ""
        stdout.print(
            f"  [green]succeeded[/]{flagged} {result.subject}/{result.session}", highlight=False
        )
        for name, path in sorted(result.outputs.items()):
            stdout.print(f"    {name:16s} {escape(str(path))}", highlight=False)
    else:
        stderr.print(
            f"  [red]failed[/] {result.subject}/{result.session} in phase "
            f"{result.failed_phase}: {escape(result.error or '')}",
            highlight=False,
        )
        for label, key in (("log", "pipeline_log"), ("QC report", "qc_report")):
            if key in result.outputs:
                stderr.print(f"    {label}: {escape(str(result.outputs[key]))}", highlight=False)
        if result.previous_outputs is not None:
            stderr.print(
                f"    the earlier run's outputs were moved to "
                f"{escape(str(result.previous_outputs))}",
                highlight=False,
            )
    for text in result.warnings:
        stdout.print(f"    [yellow]warning[/] {escape(text)}", highlight=False)
    if result.other_warnings:
        stdout.print(
            f"    {len(result.other_warnings)} other warning(s) from libraries: see pipeline.log",
            highlight=False,
        )


def _summary(results: list[SessionResult]) -> int:
    """Print one row per session; return the exit code (the worst failure's, 0 with warnings).

    Paths and errors fold onto more lines rather than being cut: a scientist copies them.
    """
    table = Table(title="sessions")
    # Session and status stay on a row's first line (whole): the long cells fold beside them.
    labels = [f"{r.subject}/{r.session}" for r in results]
    table.add_column("session", min_width=max(map(len, labels), default=7), overflow="fold")
    table.add_column("status", min_width=max((len(r.status) for r in results), default=6))
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("warnings", overflow="fold")
    table.add_column("output", overflow="fold")
    table.add_column("error", overflow="fold")
    for r in results:
        error = (r.error or "").strip().splitlines()
        table.add_row(
            escape(f"{r.subject}/{r.session}"),
            str(r.status),
            f"{sum(r.phase_durations_s.values()):.1f} s",
            escape(_warnings_cell(r.warnings)),
            escape(str(r.outputs.get("nwb", ""))),
            escape(error[0] if error else ""),
        )
    stdout.print(table)
    failed = [r for r in results if not r.ok]
    return max((max(r.exit_code, 1) for r in failed), default=0)


FIRST_WARNING_CHARS = 60


def _warnings_cell(warnings: list[str]) -> str:
    """The count and the first data-quality warning, cut at a word after ~60 characters."""
    if not warnings:
        return "0"
    first = " ".join(warnings[0].split())
    if len(first) > FIRST_WARNING_CHARS:
        first = first[:FIRST_WARNING_CHARS].rsplit(" ", 1)[0] + " …"
    return f"{len(warnings)}: {first}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@app.command("run")
def run(
    root: Path = typer.Argument(..., help="Experiment folder."),
    subject: str = typer.Option("*", "--subject", "-s", help="Subject glob."),
    session: str = typer.Option("*", "--session", "-x", help="Session glob."),
    config: Path | None = typer.Option(None, "--config", help="Use this configuration file."),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", min=1, help="Sessions processed at once [execution.jobs: 1]."
    ),
    executor: str | None = typer.Option(
        None,
        "--executor",
        help="local (this machine) or dask (a Dask cluster) [execution.executor: local].",
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Address of a running Dask scheduler (tcp://HOST:PORT)."
    ),
    force: bool = typer.Option(False, "--force", help="Process cached sessions again."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Say what would run and why; process nothing."
    ),
    retries: int | None = typer.Option(
        None,
        "--retries",
        min=0,
        help="Retries of transient failures (I/O errors, lost workers) [execution.retries: 0].",
    ),
) -> None:
    """Process sessions into NWB; cached sessions (unchanged inputs, settings and outputs) are
    skipped. Exit 0 only when every selected session succeeded or was cached."""
    if executor is not None:
        check_choice(executor, ("local", "dask"), option="--executor")
    if scheduler is not None and executor == "local":
        raise W2TError(
            "--scheduler needs --executor dask", hint=f"add --executor dask --scheduler {scheduler}"
        )
    results = run_sessions(
        root,
        subject,
        session,
        config,
        jobs=jobs,
        executor=executor,
        scheduler=scheduler,
        force=force,
        dry_run=dry_run,
        retries=retries,
    )
    if dry_run:
        stdout.print("dry run: nothing processed")
        return
    code = _summary(results)
    if code:
        raise typer.Exit(code)


@app.command("demo")
def demo(
    root: Path = typer.Argument(Path("demo-experiment"), help="Where to build the example."),
    force: bool = typer.Option(False, "--force", help="Replace an existing demo folder."),
    duration_s: float = typer.Option(20.0, help="Seconds of recording per session."),
) -> None:
    """Build a synthetic example experiment and process it end to end."""
    import shutil

    from w2t_bkin.testing import ExperimentSpec, write_experiment

    if root.exists():
        if not force:
            raise W2TError(f"{root} exists", hint="pass --force to rebuild the demo there")
        if not (root / ".w2t").is_dir():
            raise W2TError(
                f"{root} exists and is not a w2t-bkin workspace; refusing to delete it",
                hint="choose another folder",
            )
        shutil.rmtree(root)
    spec = ExperimentSpec(
        n_subjects=1,
        n_sessions=2,
        duration_s=duration_s,
        rate_hz=60.0,
        n_keypoints=6,
        n_video_chunks=2,
        camera_drift_ppm=15.0,
        bpod_drift_ppm=40.0,
        jitter_s=1e-4,
        dropped_frame_fraction=0.005,
        missing_sync_fraction=0.1,
        spurious_sync_fraction=0.1,
    )
    stdout.print(f"building the synthetic example experiment in {escape(str(root))} ...")
    write_experiment(root, spec)
    results = run_sessions(root, "*", "*", None)
    code = _summary(results)
    for r in results:
        if "qc_report" in r.outputs:
            stdout.print(f"QC report: {escape(str(r.outputs['qc_report']))}", highlight=False)
    if code:
        raise typer.Exit(code)
