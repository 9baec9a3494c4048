"""Creating workspaces, subjects and sessions (``w2t-bkin data init|add-subject|add-session``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from w2t_bkin.config import render_config_template
from w2t_bkin.errors import AlreadyExistsError, MetadataError, WorkspaceError
from w2t_bkin.io_utils import atomic_write_text
from w2t_bkin.metadata import SubjectMeta
from w2t_bkin.tomlerrors import format_loc
from w2t_bkin.workspace.layout import SESSION_SUBDIRS, Workspace, check_id, open_workspace

DEFAULT_KEYWORDS = ["behavior", "pose estimation", "synchronization"]


@dataclass(frozen=True)
class ExperimentInfo:
    lab: str = ""
    institution: str = ""
    experimenters: tuple[str, ...] = ()
    protocol: str = ""
    description: str = "Behavioural experiment"


def split_names(text: str) -> list[str]:
    """Names separated by commas, or by semicolons when any is present ("Doe, J; Roe, R")."""
    return [name.strip() for name in text.split(";" if ";" in text else ",") if name.strip()]


def _toml(data: dict[str, Any]) -> str:
    return tomli_w.dumps({key: value for key, value in data.items() if value not in (None, "")})


def init_workspace(root: Path, info: ExperimentInfo, *, force: bool = False) -> Workspace:
    """Create the layout, ``data/raw/metadata.toml`` and ``configuration.toml``.

    A non-empty folder that is not already a workspace is refused unless ``force``. Existing
    metadata and configuration files are never overwritten.
    """
    workspace = Workspace(root)
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a folder")
    if root.exists() and any(root.iterdir()) and not workspace.raw.is_dir() and not force:
        raise WorkspaceError(
            f"folder is not empty and is not a w2t-bkin workspace: {root}",
            hint="choose an empty folder, or pass --force to create the layout inside it",
        )
    for folder in workspace.layout_dirs():
        folder.mkdir(parents=True, exist_ok=True)
    if not workspace.root_metadata.exists():
        metadata: dict[str, Any] = {
            "experiment_description": info.description,
            "experimenter": list(info.experimenters),
            "lab": info.lab,
            "institution": info.institution,
            "protocol": info.protocol,
            "keywords": DEFAULT_KEYWORDS,
        }
        atomic_write_text(workspace.root_metadata, _toml(metadata))
    if not workspace.config_path.exists():
        atomic_write_text(workspace.config_path, render_config_template())
    return workspace


def add_subject(
    root: Path, subject_id: str, fields: dict[str, Any], *, overwrite: bool = False
) -> Path:
    """Write ``data/raw/<subject>/subject.toml``; fields are validated with the run-time schema."""
    workspace = open_workspace(root)
    check_id(subject_id, "subject")
    values = {key: value for key, value in fields.items() if value not in (None, "")}
    if isinstance(values.get("date_of_birth"), str):
        values["date_of_birth"] = _aware_datetime(values["date_of_birth"])
    try:
        SubjectMeta.model_validate({"subject_id": subject_id, **values})
    except ValidationError as exc:
        problems = "; ".join(
            f"{format_loc(tuple(error['loc']))}: {error['msg']}" for error in exc.errors()
        )
        raise MetadataError(
            f"invalid subject field: {problems}",
            hint="sex is one of F, M, U, O; species is a Latin binomial such as 'Mus musculus'; "
            "age is an ISO-8601 duration such as P90D (90 days) or P12W (12 weeks); weight is a "
            "number and a unit such as '25 g'; date_of_birth is a date such as 2026-01-31",
        ) from None
    path = workspace.subject_dir(subject_id) / "subject.toml"
    if path.exists() and not overwrite:
        raise AlreadyExistsError(
            f"subject already exists: {path}", hint="pass --force to overwrite its subject.toml"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, _toml({"subject": {"subject_id": subject_id, **values}}))
    return path


def add_session(
    root: Path,
    subject_id: str,
    session_id: str,
    *,
    session_date: date | None = None,
    start_time: str | None = None,
    description: str = "Behavioral session",
    experimenter: str | None = None,
    subdirs: bool = True,
    overwrite: bool = False,
) -> Path:
    """Create a session folder with ``session.toml`` (and ``Video/ TTLs/ Bpod/ Pose/``)."""
    workspace = open_workspace(root)
    subject_dir = workspace.subject_dir(subject_id)
    if not (subject_dir / "subject.toml").is_file():
        raise WorkspaceError(
            f"subject {subject_id!r} does not exist in {workspace.raw}",
            hint=f"add it first: w2t-bkin data add-subject {root} {subject_id}",
        )
    session_dir = workspace.session_dir(subject_id, session_id)
    path = session_dir / "session.toml"
    if path.exists() and not overwrite:
        raise AlreadyExistsError(
            f"session already exists: {path}", hint="pass --force to overwrite its session.toml"
        )
    start = _session_start(session_date or date.today(), start_time)
    session_dir.mkdir(parents=True, exist_ok=True)
    if subdirs:
        for name in SESSION_SUBDIRS:
            (session_dir / name).mkdir(exist_ok=True)
    data: dict[str, Any] = {
        "session_description": description,
        "identifier": f"{subject_id}-{session_id}",
        "session_id": session_id,
        "session_start_time": start,
    }
    if experimenter:
        data["experimenter"] = split_names(experimenter)
    atomic_write_text(path, _toml(data))
    return path


def _aware_datetime(text: str) -> datetime | str:
    """An ISO-8601 date or date-time; naive ones get the machine's time zone (as start times).

    Text that is not ISO-8601 is returned unchanged for the schema to report.
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    return parsed if parsed.tzinfo else parsed.astimezone()


def _session_start(day: date, start_time: str | None) -> datetime:
    # Naive times are the lab's local wall-clock time: attach the machine's time zone.
    if not start_time:
        return datetime.combine(day, time(0, 0)).astimezone()
    try:
        parsed = datetime.fromisoformat(start_time)
    except ValueError:
        try:
            clock = time.fromisoformat(start_time)
        except ValueError:
            raise MetadataError(
                f"invalid --start-time {start_time!r}: expected HH:MM[:SS] or an ISO-8601 "
                "date-time",
                hint="use HH:MM[:SS] or an ISO-8601 date-time like 2026-11-21T13:45:00+01:00",
            ) from None
        parsed = datetime.combine(day, clock)
    return parsed if parsed.tzinfo else parsed.astimezone()
