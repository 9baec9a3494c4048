"""``w2t-bkin data init|add-subject|add-session`` and the ``data`` command group."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import typer

from w2t_bkin.cli import app, stdout
from w2t_bkin.errors import AlreadyExistsError, MetadataError
from w2t_bkin.workspace.help_texts import NAMES_RULE, START_EXAMPLE

# The workspace code (pydantic schemas, NumPy) is imported inside each command, not here:
# `w2t-bkin --help` imports every command module.

data_app = typer.Typer(help="Create and check the experiment workspace.", no_args_is_help=True)
app.add_typer(data_app, name="data")


NAMES_HELP = NAMES_RULE
NAMES_PROMPT = "Experimenters, each 'Last, First', people separated by ';'"
OFFSET_HELP = "UTC offset of the lab on that day, e.g. +01:00 (never taken from this machine)."


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
    from w2t_bkin.workspace.create import ExperimentInfo, init_workspace, split_names

    if interactive(yes):
        lab = lab or typer.prompt("Lab", default="")
        institution = institution or typer.prompt("Institution", default="")
        experimenters = experimenters or typer.prompt(NAMES_PROMPT, default="")
    names = tuple(split_names(experimenters, "--experimenters"))
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
        "",
        help="ISO-8601 date-time with the lab's UTC offset, e.g. 2026-01-31T00:00+01:00, or a "
        "date with --utc-offset.",
    ),
    utc_offset: str = typer.Option("", help=OFFSET_HELP),
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
    from w2t_bkin.workspace.create import add_subject

    try:
        path = add_subject(root, subject, fields, utc_offset=utc_offset or None, overwrite=force)
    except AlreadyExistsError as exc:
        if interactive(yes):
            if not typer.confirm(f"{exc.message}. Overwrite?"):
                raise typer.Exit(1) from None
            path = add_subject(root, subject, fields, utc_offset=utc_offset or None, overwrite=True)
        else:
            raise
    stdout.print(f"subject written: {path}")


@data_app.command("add-session")
def data_add_session(
    root: Path = typer.Argument(..., help="Experiment folder."),
    subject: str = typer.Argument(..., help="Existing subject ID."),
    session: str = typer.Argument(..., help="Session ID (letters, digits, _ and -)."),
    session_date: str = typer.Option(
        "", "--date", help="YYYY-MM-DD of the recording (asked for, or required with --yes)."
    ),
    start_time: str = typer.Option(
        "",
        help="Wall-clock time of DAQ t=0: HH:MM[:SS] with its UTC offset (13:45+01:00), or a "
        "full ISO date-time (asked for, or required with --yes).",
    ),
    utc_offset: str = typer.Option("", help=OFFSET_HELP),
    description: str = typer.Option("Behavioral session", help="Session description."),
    experimenter: str = typer.Option("", help=NAMES_HELP),
    no_subdirs: bool = typer.Option(False, "--no-subdirs", help="Do not create Video/ TTLs/ ..."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Never prompt."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing session.toml."),
) -> None:
    """Add a session folder with session.toml and Video/ TTLs/ Bpod/ Pose/.

    The session start is never guessed: without --date and --start-time it is asked for, and
    with --yes (or no terminal) the command stops and names the missing options.
    """
    from w2t_bkin.workspace.create import add_session, carries_utc_offset, needs_date

    if interactive(yes):
        if not session_date and (not start_time or needs_date(start_time)):
            session_date = typer.prompt("Session date (YYYY-MM-DD)")
        start_time = start_time or typer.prompt("Start time of DAQ t=0 (HH:MM[:SS])")
        if not utc_offset and not carries_utc_offset(start_time):
            utc_offset = typer.prompt("UTC offset of the lab on that day (e.g. +01:00)")
    missing = [
        *(["--date"] if not session_date and (not start_time or needs_date(start_time)) else []),
        *(["--start-time"] if not start_time else []),
    ]
    if missing:
        raise MetadataError(
            f"add-session needs {' and '.join(missing)}: the session start (the wall-clock time "
            "of DAQ t=0) is never guessed",
            hint=START_EXAMPLE,
        )
    day = _parse_date(session_date) if session_date else None
    path = add_session(
        root,
        subject,
        session,
        session_date=day,
        start_time=start_time,
        utc_offset=utc_offset or None,
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
