"""``w2t-bkin data ...``, ``discover`` and ``config ...`` commands."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from w2t_bkin.cli import app, stderr, stdout
from w2t_bkin.config import config_json_schema, load_workspace_config, render_config_template
from w2t_bkin.errors import AlreadyExistsError, MetadataError, W2TError
from w2t_bkin.workspace.create import (
    ExperimentInfo,
    add_session,
    add_subject,
    init_workspace,
    split_names,
)
from w2t_bkin.workspace.discovery import discover_sessions
from w2t_bkin.workspace.layout import open_workspace
from w2t_bkin.workspace.validate import validate_workspace

data_app = typer.Typer(help="Create and check the experiment workspace.", no_args_is_help=True)
config_app = typer.Typer(help="Show the configuration and its schema.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")


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


@data_app.command("import-raw")
def data_import_raw(
    source: Path = typer.Argument(..., help="Folder with the raw files of one session."),
    experiment: Path = typer.Option(..., "--experiment", "-e", help="Experiment folder."),
    subject: str = typer.Option(..., "--subject", "-s"),
    session: str = typer.Option(..., "--session"),
    confirm: bool = typer.Option(False, "--confirm", help="Apply (default is a dry run)."),
    copy: bool = typer.Option(False, "--copy", help="Copy instead of relative symlinks."),
    pose_source: list[str] = typer.Option(
        [],
        "--pose-source",
        help="CAMERA=SOURCE (dlc, sleap, lightning_pose): the pose files to keep when a camera "
        "has outputs of several tools. Repeatable.",
    ),
) -> None:
    """Link raw files into a session by category and declare them in session.toml.

    Camera ids come from video file stems (chunk suffixes such as _chunk00, _000, -1 grouped);
    each TTL file is its own channel, the frame clock of the camera its name contains.
    """
    # Imported here: the pose readers it asks load h5py and pandas, which --help need not wait for
    from w2t_bkin.workspace.import_raw import apply_import, check_import, plan_import

    plan = plan_import(source, experiment, subject, session, _pose_choices(pose_source))
    table = Table(title=f"import into {plan.session_dir}")
    for column in ("category", "id", "source", "target"):
        table.add_column(column, overflow="fold")
    for item in plan.items:
        category = f"pose ({item.pose_source})" if item.pose_source else item.category
        table.add_row(category, item.entry_id, str(item.source), str(item.target))
    stdout.print(table)
    for note in plan.notes:
        stdout.print(f"note: {note}", highlight=False)
    if plan.skipped:
        stdout.print(f"{len(plan.skipped)} file(s) not recognised or not chosen, left out:")
        for path in plan.skipped:
            stdout.print(f"  {path}", highlight=False)
    for conflict in plan.conflicts:
        stdout.print(f"[red]conflict[/] {escape(conflict)}", highlight=False)
    if not confirm:
        if plan.conflicts:
            stdout.print(f"{len(plan.conflicts)} conflict(s): --confirm refuses until resolved")
        else:
            check_import(plan)  # session.toml and existing targets: fail now, not at --confirm
        stdout.print("dry run: nothing written (pass --confirm to apply)")
        return
    created = apply_import(plan, copy=copy)
    stdout.print(f"{'copied' if copy else 'linked'} {len(created)} file(s); session.toml updated")


def _pose_choices(values: list[str]) -> dict[str, str]:
    choices: dict[str, str] = {}
    for value in values:
        camera, sep, source = value.partition("=")
        if not sep or not camera.strip() or not source.strip():
            raise typer.BadParameter(
                f"{value!r} is not CAMERA=SOURCE (e.g. cam1=sleap)", param_hint="--pose-source"
            )
        choices[camera.strip()] = source.strip()
    return choices


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


@config_app.command("show")
def config_show(
    root: Path = typer.Argument(Path("."), help="Experiment folder."),
    config: Path | None = typer.Option(None, "--config", help="Another configuration file."),
) -> None:
    """Print the effective configuration (defaults filled in)."""
    if config is None:
        open_workspace(root)  # ROOT must be a workspace: defaults for a typo'd path would mislead
    print(render_config_template(load_workspace_config(root, config)), end="")


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON schema of configuration.toml."""
    print(json.dumps(config_json_schema(), indent=2))
