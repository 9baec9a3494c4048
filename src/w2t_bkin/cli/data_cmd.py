"""``w2t-bkin data init|add-subject|add-session`` and the ``data`` command group."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import typer

from w2t_bkin.cli import app, stdout
from w2t_bkin.errors import AlreadyExistsError, MetadataError
from w2t_bkin.workspace.create import (
    ExperimentInfo,
    add_session,
    add_subject,
    init_workspace,
    split_names,
)

data_app = typer.Typer(help="Create and check the experiment workspace.", no_args_is_help=True)
app.add_typer(data_app, name="data")


NAMES_HELP = 'Comma-separated; semicolon-separated when names hold commas ("Doe, J; Roe, R").'


def interactive(yes: bool) -> bool:
    """Prompt only when the user did not say --yes and a person is at the terminal."""
    return not yes and sys.stdin.isatty()


@data_app.command("init")
def data_init(
    root: Path = typer.Argument(..., help="Experiment folder to create."),
    lab: str = typer.Option("", help="Lab name."),
    institution: str = typer.Option("", help="Institution name."),
    experimenters: str = typer.Option("", help=NAMES_HELP),
    protocol: str = typer.Option("", help="IACUC / ethics protocol ID."),
    description: str = typer.Option("Behavioural experiment", help="Experiment description."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Never prompt; use defaults."),
    force: bool = typer.Option(False, "--force", help="Create the layout in a non-empty folder."),
) -> None:
    """Create the workspace layout, metadata.toml and a valid configuration.toml."""
    if interactive(yes):
        lab = lab or typer.prompt("Lab", default="")
        institution = institution or typer.prompt("Institution", default="")
        experimenters = experimenters or typer.prompt("Experimenters (comma-separated)", default="")
    names = tuple(split_names(experimenters))
    workspace = init_workspace(
        root, ExperimentInfo(lab, institution, names, protocol, description), force=force
    )
    stdout.print(f"workspace ready: {workspace.root}")
    stdout.print(f"  configuration: {workspace.config_path}")
    stdout.print(f"  metadata:      {workspace.root_metadata}")


@data_app.command("add-subject")
def data_add_subject(
    root: Path = typer.Argument(..., help="Experiment folder."),
    subject: str = typer.Argument(..., help="Subject ID (letters, digits, _ and -)."),
    species: str = typer.Option("Mus musculus", help="Latin binomial."),
    sex: str = typer.Option("U", help="F, M, U (unknown) or O (other)."),
    age: str = typer.Option("", help="ISO-8601 duration, e.g. P90D."),
    genotype: str = typer.Option(""),
    strain: str = typer.Option(""),
    date_of_birth: str = typer.Option(
        "", help="ISO-8601 date, e.g. 2026-01-31 (stored with this machine's time zone)."
    ),
    weight: str = typer.Option("", help="Number and unit of mass, e.g. '25 g' or '0.025 kg'."),
    description: str = typer.Option(""),
    yes: bool = typer.Option(False, "--yes", "-y", help="Never prompt."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing subject.toml."),
) -> None:
    """Add a subject (data/raw/<subject>/subject.toml)."""
    fields = {
        "species": species,
        "sex": sex,
        "age": age,
        "genotype": genotype,
        "strain": strain,
        "date_of_birth": date_of_birth,
        "weight": weight,
        "description": description,
    }
    try:
        path = add_subject(root, subject, fields, overwrite=force)
    except AlreadyExistsError as exc:
        if interactive(yes):
            if not typer.confirm(f"{exc.message}. Overwrite?"):
                raise typer.Exit(1) from None
            path = add_subject(root, subject, fields, overwrite=True)
        else:
            raise
    stdout.print(f"subject written: {path}")


@data_app.command("add-session")
def data_add_session(
    root: Path = typer.Argument(..., help="Experiment folder."),
    subject: str = typer.Argument(..., help="Existing subject ID."),
    session: str = typer.Argument(..., help="Session ID (letters, digits, _ and -)."),
    session_date: str = typer.Option("", "--date", help="YYYY-MM-DD (default: today)."),
    start_time: str = typer.Option("", help="HH:MM[:SS] local time, or a full ISO date-time."),
    description: str = typer.Option("Behavioral session", help="Session description."),
    experimenter: str = typer.Option("", help=NAMES_HELP),
    no_subdirs: bool = typer.Option(False, "--no-subdirs", help="Do not create Video/ TTLs/ ..."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Never prompt."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing session.toml."),
) -> None:
    """Add a session folder with session.toml and Video/ TTLs/ Bpod/ Pose/."""
    day = _parse_date(session_date) if session_date else None
    path = add_session(
        root,
        subject,
        session,
        session_date=day,
        start_time=start_time or None,
        description=description,
        experimenter=experimenter or None,
        subdirs=not no_subdirs,
        overwrite=force,
    )
    stdout.print(f"session written: {path}")


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MetadataError(
            f"invalid --date {text!r}: expected a date as YYYY-MM-DD",
            hint="use YYYY-MM-DD, e.g. 2026-11-21",
        ) from None
