"""``w2t-bkin data migrate``: convert upstream w2t-bkin TOML files into this tool's schemas."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from w2t_bkin.cli import stdout
from w2t_bkin.cli.data_cmd import data_app

if TYPE_CHECKING:
    from w2t_bkin.workspace.migrate import FileMigration


@data_app.command("migrate")
def data_migrate(
    targets: list[Path] = typer.Argument(
        ..., help="Workspace root(s), or upstream configuration/metadata/subject/session TOMLs."
    ),
    write: bool = typer.Option(
        False, "--write", help="Write the converted files (default: a dry run that writes nothing)."
    ),
) -> None:
    """Convert upstream w2t-bkin files: old key -> new key, values moved, what is dropped and why.

    A dry run by default. --write rewrites each file atomically and keeps the original as
    <file>.upstream.bak; it refuses to overwrite an existing backup.
    """
    # Imported here: the schemas it loads need not slow down --help.
    from w2t_bkin.workspace.migrate import (
        apply_migration,
        blocked_error,
        find_migration_files,
        plan_migration,
    )

    plan = plan_migration(find_migration_files(targets))
    for item in plan.files:
        _print_file(item)
    if plan.blocked:
        raise blocked_error(plan)
    if not plan.to_write:
        stdout.print("nothing to migrate: every file is already in this tool's schema")
        return
    if not write:
        stdout.print(
            f"dry run: nothing written; pass --write to convert {len(plan.to_write)} file(s) "
            "(each original is kept as <file>.upstream.bak)",
            highlight=False,
        )
        return
    for written in apply_migration(plan):
        stdout.print(f"written {written.path} (backup: {written.backup})", highlight=False)
        for problem in written.problems:
            stdout.print(f"  [red]problem[/] {escape(problem)}", highlight=False)


def _print_file(item: FileMigration) -> None:
    title = f"{item.path} ({item.kind}, {item.generation})"
    if not item.changed and not item.notes:
        stdout.print(f"{escape(title)}: nothing to convert", highlight=False)
        return
    table = Table(title=escape(title), title_justify="left")
    for column in ("old key", "new key", "old value", "new value", "action", "reason"):
        table.add_column(column, overflow="fold")
    shown = [row for row in item.rows if row.action != "kept" or row.reason]
    for row in shown:
        table.add_row(
            escape(row.old_key),
            escape(row.new_key or "-"),
            escape(toml_value(row.old_value)),
            escape("-" if row.action == "dropped" else toml_value(row.new_value)),
            row.action,
            escape(row.reason),
        )
    stdout.print(table)
    kept = len(item.rows) - len(shown)
    if kept:
        stdout.print(f"{kept} other key(s) kept as they are", highlight=False)
    for note in item.notes:
        stdout.print(f"[yellow]note[/] {escape(note)}", highlight=False)
    for problem in item.problems:
        stdout.print(f"[red]problem[/] {escape(problem)}", highlight=False)


def toml_value(value: Any) -> str:
    """A value as it reads in TOML (``true``, ``"text"``, ``["a", "b"]``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {toml_value(v)}" for key, v in value.items()) + "}"
    return repr(value)
