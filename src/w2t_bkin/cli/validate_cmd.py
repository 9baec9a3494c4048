"""``w2t-bkin data validate`` and ``w2t-bkin discover``: check and list the sessions."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from w2t_bkin.cli import app, stderr, stdout
from w2t_bkin.cli._options import check_choice
from w2t_bkin.cli.data_cmd import data_app


@data_app.command("validate")
def data_validate(
    root: Path = typer.Argument(..., help="Experiment folder."),
    subject: str = typer.Option("*", "--subject", "-s", help="Subject glob."),
    session: str = typer.Option("*", "--session", "-x", help="Session glob."),
    config: Path | None = typer.Option(None, "--config", help="Check with this configuration."),
    probe_videos: bool = typer.Option(
        True, "--probe-videos/--no-probe-videos", help="Open each video (headers, frame counts)."
    ),
) -> None:
    """Every problem that would stop `run` before expensive work, in every selected session.

    Layout, configuration, metadata, globs, readable TTL and Bpod files, Bpod state names and
    sync rules, frame clocks, videos, pose models and pose files: the checks `run` makes first.
    """
    # Imported here: the session checks load the readers, which --help need not wait for.
    from w2t_bkin.session.preflight import preflight_workspace

    problems = preflight_workspace(root, subject, session, config, probe_videos=probe_videos)
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        colour = "red" if problem.severity == "error" else "yellow"
        stdout.print(
            f"[{colour}]{problem.severity}[/] {escape(problem.where)}: {escape(problem.message)}",
            highlight=False,
        )
        if problem.hint:
            stdout.print(f"  hint: {escape(problem.hint)}", highlight=False)
    if errors:
        stderr.print(f"{len(errors)} error(s)")
        raise typer.Exit(1)
    stdout.print("workspace is valid")


@app.command("discover")
def discover(
    root: Path = typer.Argument(..., help="Experiment folder."),
    subject: str = typer.Option("*", "--subject", "-s", help="Subject glob."),
    session: str = typer.Option("*", "--session", "-x", help="Session glob."),
    output_format: str = typer.Option("json", "--format", "-f", help="json, tsv or plain."),
) -> None:
    """List the sessions of a workspace."""
    check_choice(output_format, ("json", "tsv", "plain"))
    from w2t_bkin.workspace.discovery import (
        check_experiment_metadata,
        discover_sessions,
        invalid_session_folders,
    )
    from w2t_bkin.workspace.layout import open_workspace

    workspace = open_workspace(root)
    check_experiment_metadata(workspace)  # a broken metadata.toml breaks every session
    for error in invalid_session_folders(workspace, subject, session):
        stderr.print(f"[yellow]warning[/] {escape(str(error))}", highlight=False)
    sessions = discover_sessions(workspace, subject, session)
    if output_format == "json":
        print(json.dumps([ref.to_dict() for ref in sessions], indent=2))
    elif output_format == "tsv":
        for ref in sessions:
            print(f"{ref.subject}\t{ref.session}")
    else:
        table = Table(title=f"{len(sessions)} session(s) in {root}")
        table.add_column("subject")
        table.add_column("session")
        table.add_column("path")
        for ref in sessions:
            table.add_row(ref.subject, ref.session, str(ref.path))
        stdout.print(table)
