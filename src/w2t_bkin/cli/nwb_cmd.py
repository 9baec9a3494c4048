"""``w2t-bkin validate`` and ``w2t-bkin inspect``: read NWB files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from w2t_bkin.cli import app, stderr, stdout
from w2t_bkin.errors import OutputError, W2TError

if TYPE_CHECKING:
    from w2t_bkin.nwb.validation import ValidationReport


@app.command("validate")
def validate(
    nwb_paths: list[Path] = typer.Argument(..., help="NWB files."),
    config: str = typer.Option(
        "dandi", "--config", help="nwbinspector configuration: dandi or default."
    ),
    output: Path | None = typer.Option(
        None, "--output", help="Write the findings as JSON (the folder must exist)."
    ),
) -> None:
    """Run pynwb validation and nwbinspector on every file.

    Exit 0 when every file is clean, 1 when any has CRITICAL or ERROR findings, 4 when any
    cannot be read (each file is still checked and reported).
    """
    from w2t_bkin.io_utils import atomic_write_json
    from w2t_bkin.nwb.validation import validate_nwb

    if config not in {"dandi", "default"}:
        raise typer.BadParameter("use dandi or default", param_hint="--config")
    if output is not None and not output.parent.is_dir():
        raise OutputError(
            f"--output {output}: folder {output.parent} does not exist",
            hint="create the folder first, or write the JSON to an existing folder",
            path=output,
        )
    entries: list[dict[str, Any]] = []
    exit_code = 0
    for path in nwb_paths:
        try:
            report = validate_nwb(path, config=config)  # type: ignore[arg-type]
        except W2TError as exc:  # unreadable: report it and check the other files
            stderr.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
            if exc.hint:
                stderr.print(f"  [yellow]hint:[/] {escape(exc.hint)}", highlight=False)
            entries.append({"path": str(path), "error": exc.message, "is_clean": False})
            exit_code = max(exit_code, exc.exit_code)
            continue
        _print_report(report)
        entries.append(report.to_dict())
        exit_code = max(exit_code, report.exit_code)
    if output is not None:
        atomic_write_json(output, entries)
    if exit_code:
        raise typer.Exit(exit_code)


def _print_report(report: ValidationReport) -> None:
    table = Table(title=f"{report.path}")
    for column in ("importance", "check", "object", "message"):
        table.add_column(column)
    for finding in report.findings:
        table.add_row(
            str(finding["importance"]),
            str(finding["check_name"]),
            f"{finding['object_type']} {finding['object_name']}",
            str(finding["message"]),
        )
    stdout.print(table)
    counts = ", ".join(f"{k}: {v}" for k, v in report.counts.items() if v)
    stdout.print(f"{'clean' if report.is_clean else 'NOT clean'} ({counts or 'no findings'})")


@app.command("inspect")
def inspect(nwb_path: Path = typer.Argument(..., help="NWB file.")) -> None:
    """Identifier, times, subject, devices, acquisition, processing, pose and trials."""
    from w2t_bkin.nwb.inspection import format_summary, summarize_nwb

    print(format_summary(summarize_nwb(nwb_path)))
