"""``w2t-bkin validate`` and ``w2t-bkin inspect``: read NWB files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from w2t_bkin.cli import app, stdout


@app.command("validate")
def validate(
    nwb_paths: list[Path] = typer.Argument(..., help="NWB files."),
    config: str = typer.Option(
        "dandi", "--config", help="nwbinspector configuration: dandi or default."
    ),
    output: Path | None = typer.Option(None, "--output", help="Write the findings as JSON."),
) -> None:
    """Run pynwb validation and nwbinspector; exit 1 when CRITICAL or ERROR findings exist."""
    from w2t_bkin.io_utils import atomic_write_json
    from w2t_bkin.nwb.validation import validate_nwb

    if config not in {"dandi", "default"}:
        raise typer.BadParameter("use dandi or default", param_hint="--config")
    reports = [validate_nwb(path, config=config) for path in nwb_paths]  # type: ignore[arg-type]
    for report in reports:
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
    if output is not None:
        atomic_write_json(output, [r.to_dict() for r in reports])
    if not all(r.is_clean for r in reports):
        raise typer.Exit(1)


@app.command("inspect")
def inspect(nwb_path: Path = typer.Argument(..., help="NWB file.")) -> None:
    """Identifier, times, subject, devices, acquisition, processing, pose and trials."""
    from w2t_bkin.nwb.inspection import format_summary, summarize_nwb

    print(format_summary(summarize_nwb(nwb_path)))
