"""``w2t-bkin data import-raw``: link a rig's raw files into a session and declare them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from w2t_bkin.cli import stdout
from w2t_bkin.cli.data_cmd import data_app


@data_app.command("import-raw")
def data_import_raw(
    source: Path = typer.Argument(..., help="Folder with the raw files of one session."),
    experiment: Path = typer.Option(..., "--experiment", "-e", help="Experiment folder."),
    subject: str = typer.Option(..., "--subject", "-s"),
    session: str = typer.Option(..., "--session", "-x"),
    confirm: bool = typer.Option(False, "--confirm", help="Apply (default is a dry run)."),
    copy: bool = typer.Option(False, "--copy", help="Copy instead of relative symlinks."),
    pose_source: list[str] = typer.Option(
        [],
        "--pose-source",
        help="CAMERA=SOURCE (dlc, sleap, lightning_pose): the pose files to keep when a camera "
        "has outputs of several tools. Repeatable.",
    ),
    frame_clock: list[str] = typer.Option(
        [],
        "--frame-clock",
        help="CAMERA=TTL_ID (the channel with one pulse per frame) or CAMERA=video (frame times "
        "from the video file): the frame clock of a camera no TTL file names. Repeatable.",
    ),
    exclude: list[str] = typer.Option(
        [],
        "--exclude",
        help="GLOB: leave out the files whose name or path inside SOURCE matches (e.g. "
        "'*.slp' when the .analysis.h5 files are the ones to use). Repeatable.",
    ),
) -> None:
    """Link raw files into a session by category and declare them in session.toml.

    Camera ids come from video file stems (chunk suffixes such as _chunk00, _000, -1 grouped);
    each TTL file is its own channel, the frame clock of the camera its name contains. The dry
    run lists as conflicts what `run` would refuse; --confirm refuses while there are any.
    session.toml keeps its comments and layout; proposals are added as comments only.
    """
    # Imported here: the pose readers it asks load h5py and pandas, which --help need not wait for
    from w2t_bkin.workspace.import_raw import apply_import, check_import, plan_import

    plan = plan_import(
        source,
        experiment,
        subject,
        session,
        _choices(pose_source, "--pose-source", "cam1=sleap"),
        frame_clocks=_choices(frame_clock, "--frame-clock", "cam1=video"),
        exclude=exclude,
    )
    table = Table(title=f"import into {plan.session_dir}")
    for column in ("category", "id", "source", "target"):
        table.add_column(column, overflow="fold")
    for item in plan.items:
        category = f"pose ({item.pose_source})" if item.pose_source else item.category
        table.add_row(category, item.entry_id, str(item.source), str(item.target))
    stdout.print(table)
    for note in plan.notes:
        stdout.print(f"note: {escape(note)}", highlight=False)
    if plan.skipped:
        stdout.print(f"{len(plan.skipped)} file(s) not recognised or not chosen, left out:")
        for path in plan.skipped:
            stdout.print(f"  {escape(str(path))}", highlight=False)
    for conflict in plan.conflicts:
        stdout.print(f"[red]conflict[/] {escape(conflict)}", highlight=False)
    for todo in plan.todo:
        stdout.print(f"[yellow]needed by run[/] {escape(todo)}", highlight=False)
    if plan.snippet:
        # markup off: the snippet's [[tables]] and <names> must print as written
        stdout.print(plan.snippet, markup=False, highlight=False, end="")
    if not confirm:
        if plan.conflicts:
            stdout.print(f"{len(plan.conflicts)} conflict(s): --confirm refuses until resolved")
        else:
            check_import(plan)  # session.toml and existing targets: fail now, not at --confirm
        stdout.print("dry run: nothing written (pass --confirm to apply)")
        return
    session_toml = plan.session_dir / "session.toml"
    before = session_toml.read_bytes()
    created = apply_import(plan, copy=copy)
    changed = "updated" if session_toml.read_bytes() != before else "unchanged"
    stdout.print(f"{'copied' if copy else 'linked'} {len(created)} file(s); session.toml {changed}")


def _choices(values: list[str], option: str, example: str) -> dict[str, str]:
    choices: dict[str, str] = {}
    for value in values:
        camera, sep, choice = value.partition("=")
        if not sep or not camera.strip() or not choice.strip():
            raise typer.BadParameter(
                f"{value!r} is not CAMERA=VALUE (e.g. {example})", param_hint=option
            )
        choices[camera.strip()] = choice.strip()
    return choices
