"""``w2t-bkin data validate`` and ``w2t-bkin discover``: check and list the sessions."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from w2t_bkin.cli import app, stderr, stdout
from w2t_bkin.cli.data_cmd import data_app
from w2t_bkin.errors import W2TError
from w2t_bkin.workspace.discovery import discover_sessions
from w2t_bkin.workspace.layout import open_workspace
from w2t_bkin.workspace.validate import validate_workspace


@data_app.command("validate")
def data_validate(
    root: Path = typer.Argument(..., help="Experiment folder."),
    subject: str = typer.Option("*", help="Subject glob."),
    session: str = typer.Option("*", help="Session glob."),
) -> None:
    """Check layout, configuration and every session's merged metadata and globs."""
    problems = validate_workspace(root, subject, session)
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        colour = "red" if problem.severity == "error" else "yellow"
        stdout.print(
            f"[{colour}]{problem.severity}[/] {problem.where}: {problem.message}", highlight=False
        )
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
    if output_format not in {"json", "tsv", "plain"}:
        raise W2TError(f"unknown --format {output_format!r}", hint="use json, tsv or plain")
    sessions = discover_sessions(open_workspace(root), subject, session)
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
