"""``w2t-bkin status`` and ``w2t-bkin runs list|show``: what ran, and what would run next.

Nothing here writes: the run registry (``ROOT/.w2t/registry.sqlite``) is read. A session whose
files all stat as its last run recorded them is decided from that record (only its outputs'
digests are checked, and neither pydantic nor NumPy is imported); any other is decided from its
current fingerprint (metadata and inputs, digests cached), which also gives the reasons.
The session pipeline is imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from w2t_bkin.cli import app, stdout
from w2t_bkin.cli._options import check_choice
from w2t_bkin.errors import W2TError

if TYPE_CHECKING:
    from w2t_bkin.runtime.registry import RunRecord, TaskRecord

runs_app = typer.Typer(help="The recorded runs of a workspace.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

FORMATS = ("table", "json")


def session_state(
    root: Path, subject: str, session: str, config: Path | None, *, fast: bool = True
) -> dict[str, Any]:
    """One session's latest state: ``done`` / ``cached`` (up to date), ``stale``, ``failed``,
    ``never run`` (or the last task status: ``skipped``, ``busy``, ``cancelled``), with reasons.

    First from the stat snapshot the last run recorded (nothing read but its outputs' digests,
    no schema imported); when that cannot say (``fast`` false, or anything stats differently),
    from the content: configuration, merged metadata and input digests, which give the reasons.
    """
    from w2t_bkin.runtime.registry import Registry, registry_path
    from w2t_bkin.session.cache import recorded_decision

    key = f"{subject}/{session}"
    latest = Registry(registry_path(root)).latest_task(key)
    row: dict[str, Any] = {
        "session": key,
        "state": "never run",
        "reasons": [],
        "run_id": latest.run_id if latest else None,
        "finished_at": latest.finished_at if latest else None,
    }
    if latest is None:
        return row
    if latest.status == "failed":
        return {**row, "state": "failed", "reasons": [_first_line(latest.error)]}
    if not latest.succeeded:
        reasons = [_first_line(latest.error)] if latest.error else []
        return {**row, "state": latest.status, "reasons": reasons}
    decision = recorded_decision(root, subject, session, config, latest) if fast else None
    if decision is None:
        from w2t_bkin.session.cache import decide, session_cache_inputs

        try:
            current, sections, metadata = session_cache_inputs(root, subject, session, config)
        except W2TError as exc:
            reason = f"cannot check: {_first_line(str(exc))}"
            return {**row, "state": "stale", "reasons": [reason]}
        outputs_dir = Path(root) / "data" / "processed" / subject / session
        decision = decide(key, current, sections, metadata, latest, outputs_dir)
    state = latest.status if decision.state == "cached" else decision.state
    return {**row, "state": state, "reasons": list(decision.reasons)}


@app.command("status")
def status(
    root: Path = typer.Argument(..., help="Experiment folder."),
    subject: str = typer.Option("*", "--subject", "-s", help="Subject glob."),
    session: str = typer.Option("*", "--session", "-x", help="Session glob."),
    config: Path | None = typer.Option(None, "--config", help="Use this configuration file."),
    output_format: str = typer.Option("table", "--format", help="table or json."),
    snapshot: bool = typer.Option(
        True,
        "--snapshot/--no-snapshot",
        help="Trust the file stats (size, mtime, inode) the last run recorded: a session whose "
        "files all stat the same is decided without reading them. --no-snapshot reads every "
        "session's metadata and digests its inputs.",
    ),
) -> None:
    """Each selected session's latest state, and why it would run again."""
    check_choice(output_format, FORMATS)
    from w2t_bkin.workspace.discovery import discover_sessions
    from w2t_bkin.workspace.layout import open_workspace

    refs = discover_sessions(open_workspace(root), subject, session)
    if not refs:
        raise W2TError(
            f"no session matches --subject {subject!r} --session {session!r} in {root}",
            hint="list the sessions with: w2t-bkin discover ROOT --format plain",
        )
    rows = [session_state(root, r.subject, r.session, config, fast=snapshot) for r in refs]
    if output_format == "json":
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="sessions")
    for name in ("session", "state", "run", "finished", "reasons"):
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(
            escape(row["session"]),
            row["state"],
            (row["run_id"] or "")[:8],
            row["finished_at"] or "",
            escape("\n".join(row["reasons"])),
        )
    stdout.print(table)


@runs_app.command("list")
def runs_list(
    root: Path = typer.Argument(Path("."), help="Experiment folder."),
    limit: int = typer.Option(20, "--limit", min=1, help="Show this many runs, newest first."),
    output_format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """The latest runs, newest first."""
    check_choice(output_format, FORMATS)
    from w2t_bkin.runtime.registry import Registry, registry_path

    runs = Registry(registry_path(root)).list_runs(limit)
    if output_format == "json":
        print(json.dumps([_run_json(run) for run in runs], indent=2))
        return
    if not runs:
        stdout.print(f"no runs recorded in {escape(str(root))}", highlight=False)
        return
    table = Table(title="runs")
    for name in ("run", "started", "finished", "status", "sessions", "command"):
        table.add_column(name, overflow="fold")
    for run in runs:
        table.add_row(
            run.run_id[:8],
            run.started_at,
            run.finished_at or "",
            run.status,
            _counts(run.task_counts),
            escape(" ".join(run.command)),
        )
    stdout.print(table)


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="A run id, or its first characters."),
    root: Path = typer.Option(Path("."), "--root", help="Experiment folder."),
    output_format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """One run: its sessions, their status, phase timings and errors."""
    check_choice(output_format, FORMATS)
    from w2t_bkin.runtime.registry import Registry, registry_path

    run = Registry(registry_path(root)).get_run(run_id)
    if output_format == "json":
        print(json.dumps(_run_json(run), indent=2))
        return
    for label, value in (
        ("run", run.run_id),
        ("status", run.status),
        ("started", run.started_at),
        ("finished", run.finished_at or ""),
        ("command", " ".join(run.command)),
        ("host", f"{run.user}@{run.host} (pid {run.pid})"),
        ("w2t-bkin", run.version),
    ):
        stdout.print(f"{label + ':':10s}{escape(value)}", highlight=False)
    table = Table(title="sessions")
    for name in ("session", "status", "attempts", "duration", "phases", "error"):
        table.add_column(name, overflow="fold")
    for task in run.tasks:
        table.add_row(
            escape(task.task_key),
            task.status,
            str(task.attempts),
            f"{sum(task.phase_durations_s.values()):.1f} s",
            "\n".join(f"{k} {v:.1f} s" for k, v in task.phase_durations_s.items()),
            escape(_first_line(task.error)),
        )
    stdout.print(table)


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def _counts(counts: dict[str, int] | Any) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items()) or "0"


def _task_json(task: TaskRecord) -> dict[str, Any]:
    return {
        "session": task.task_key,
        "status": task.status,
        "cache_key": task.cache_key,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "attempts": task.attempts,
        "phase_durations_s": dict(task.phase_durations_s),
        "outputs": {name: out.to_dict() for name, out in task.outputs.items()},
        "warnings": list(task.warnings),
        "error": task.error,
    }


def _run_json(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "command": list(run.command),
        "host": run.host,
        "user": run.user,
        "pid": run.pid,
        "w2t_bkin_version": run.version,
        "task_counts": dict(run.task_counts),
        "tasks": [_task_json(task) for task in run.tasks],
    }
