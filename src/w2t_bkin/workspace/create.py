"""Creating workspaces, subjects and sessions (``w2t-bkin data init|add-subject|add-session``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from w2t_bkin.config import render_config_template
from w2t_bkin.errors import AlreadyExistsError, MetadataError, WorkspaceError
from w2t_bkin.io_utils import atomic_write_text
from w2t_bkin.metadata import SubjectMeta
from w2t_bkin.tomlerrors import format_loc
from w2t_bkin.workspace.help_texts import START_EXAMPLE
from w2t_bkin.workspace.layout import SESSION_SUBDIRS, Workspace, check_id, open_workspace

DEFAULT_KEYWORDS = ["behavior", "pose estimation", "synchronization"]


@dataclass(frozen=True)
class ExperimentInfo:
    lab: str = ""
    institution: str = ""
    experimenters: tuple[str, ...] = ()
    protocol: str = ""
    description: str = "Behavioural experiment"


def split_names(text: str, option: str = "--experimenters") -> list[str]:
    """The people named in ``text``, by :data:`w2t_bkin.workspace.help_texts.NAMES_RULE`.

    - ``;`` always separates people; inside one person, a comma is NWB's "Last, First" form.
    - Without ``;``: no comma, or one comma between two one-word parts ("Doe, Jane",
      "Doe, J."), is one person.
    - Without ``;``: commas separate people when every part has two or more words
      ("Jane Doe, Rick Roe").
    - Anything else ("Doe, Jane, Roe, Rick", "Alice, Bob", "van der Berg, Anna") could be read
      both ways and is refused, with the value written the unambiguous way.

    Raises
    ------
    MetadataError
        The value is ambiguous, or one person holds more than one comma; ``option`` names it.
    """
    if ";" in text:
        people = [_last_first(part) for part in text.split(";") if part.strip()]
        for person in people:
            if person.count(",") > 1:
                raise MetadataError(
                    f"{option} {text!r}: {person!r} holds more than one comma; a person is "
                    "written 'Last, First'",
                    hint="separate people with ';', e.g. 'Doe, Jane; Roe, Rick'",
                )
        return people
    parts = [part.strip() for part in text.split(",") if part.strip()]
    words = [len(part.split()) for part in parts]
    if len(parts) <= 1:
        return parts
    if words == [1, 1]:
        return [", ".join(parts)]
    if min(words) >= 2:
        return parts
    raise MetadataError(
        f"ambiguous {option} {text!r}: its commas could separate people or a last name from a "
        "first name",
        hint=_names_hint(parts),
    )


def _last_first(person: str) -> str:
    return ", ".join(part.strip() for part in person.split(","))


def _names_hint(parts: list[str]) -> str:
    """How to write ``parts`` without ambiguity: ';' between people, one ';' for one person."""
    if len(parts) % 2 == 0 and all(len(part.split()) == 1 for part in parts):
        pairs = [f"{parts[i]}, {parts[i + 1]}" for i in range(0, len(parts), 2)]
        several = "; ".join(pairs)
    else:
        several = "; ".join(parts)
    if len(parts) == 2:
        one = ", ".join(parts) + ";"
        return (
            f"write one person in 'Last, First' form with a final ';': {one!r}, or separate two "
            f"people with ';': {several!r}"
        )
    return f"separate people with ';', each written 'Last, First', e.g. {several!r}"


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
    root: Path,
    subject_id: str,
    fields: dict[str, Any],
    *,
    utc_offset: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``data/raw/<subject>/subject.toml``; fields are validated with the run-time schema.

    A ``date_of_birth`` given as text is ISO-8601; without its own UTC offset it takes
    ``utc_offset`` (``+01:00``), and with neither it is refused: the zone is never guessed.
    """
    workspace = open_workspace(root)
    check_id(subject_id, "subject")
    values = {key: value for key, value in fields.items() if value not in (None, "")}
    if isinstance(values.get("date_of_birth"), str):
        values["date_of_birth"] = _date_of_birth(values["date_of_birth"], utc_offset)
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
            "number and a unit such as '25 g'; date_of_birth is a date-time with a UTC offset "
            "such as 2026-01-31T00:00+01:00",
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
    utc_offset: str | None = None,
    description: str = "Behavioral session",
    experimenter: str | None = None,
    subdirs: bool = True,
    overwrite: bool = False,
) -> Path:
    """Create a session folder with ``session.toml`` (and ``Video/ TTLs/ Bpod/ Pose/``).

    ``session_start_time`` comes from :func:`session_start_time`; without a date and a time the
    key is left out (``w2t-bkin run`` then asks for it), never filled with a guess.
    """
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
    start = session_start_time(session_date, start_time, utc_offset)
    experimenters = split_names(experimenter, "--experimenter") if experimenter else []
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
    if experimenters:
        data["experimenter"] = experimenters
    atomic_write_text(path, _toml(data))
    return path


def session_start_time(
    session_date: date | None, start_time: str | None, utc_offset: str | None
) -> datetime | None:
    """The session start from ``--date``, ``--start-time`` and ``--utc-offset``.

    ``start_time`` is ``HH:MM[:SS]`` (with or without an offset such as ``+01:00``) on
    ``session_date``, or a full ISO-8601 date-time. ``None`` when neither date nor time is
    given. Nothing is guessed: a date without a time (00:00 would be invented), a clock time
    without a date, and a time without a UTC offset (the machine's zone would be used) are
    refused.

    Raises
    ------
    MetadataError
        Naming the option, what is missing or malformed, and an example.
    """
    if session_date is None and not start_time:
        return None
    if not start_time:
        raise MetadataError(
            f"--date {session_date} has no --start-time: w2t-bkin does not invent the time of day",
            hint=START_EXAMPLE,
        )
    if _is_date(start_time):
        raise MetadataError(
            f"--start-time {start_time!r} is a date without a time of day",
            hint=START_EXAMPLE,
        )
    start = _parse_datetime(start_time)
    if start is None:
        clock = _parse_clock(start_time)
        if session_date is None:
            raise MetadataError(
                f"--start-time {start_time!r} has no date",
                hint=f"add --date YYYY-MM-DD, or give a full date-time; {START_EXAMPLE}",
            )
        start = datetime.combine(session_date, clock)
    elif session_date is not None and start.date() != session_date:
        raise MetadataError(
            f"--start-time {start_time!r} is on {start.date()}, but --date is {session_date}",
            hint="give the date once: drop --date, or give --start-time as HH:MM[:SS]",
        )
    return with_utc_offset(start, utc_offset, f"--start-time {start_time!r}", START_EXAMPLE)


def needs_date(start_time: str) -> bool:
    """Whether ``start_time`` is a clock time that needs ``--date`` (not a full date-time)."""
    return _is_date(start_time) or _parse_datetime(start_time) is None


def carries_utc_offset(start_time: str) -> bool:
    """Whether ``start_time`` (a clock time or a date-time) states its own UTC offset."""
    parsed: datetime | time | None = _parse_datetime(start_time)
    if parsed is None:
        try:
            parsed = time.fromisoformat(start_time)
        except ValueError:
            return False
    return parsed.tzinfo is not None


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def with_utc_offset(value: datetime, utc_offset: str | None, what: str, example: str) -> datetime:
    """``value`` with the UTC offset it carries or ``utc_offset``; neither is an error."""
    if utc_offset:
        offset = parse_utc_offset(utc_offset)
        if value.utcoffset() is not None and value.utcoffset() != offset.utcoffset(None):
            raise MetadataError(
                f"{what} carries its own UTC offset, which differs from --utc-offset {utc_offset}",
                hint="give the offset once",
            )
        return value.replace(tzinfo=offset)
    if value.utcoffset() is None:
        raise MetadataError(
            f"{what} has no UTC offset; w2t-bkin does not guess the time zone (this machine's "
            "zone would make the file depend on where it was made)",
            hint=example,
        )
    return value


def parse_utc_offset(text: str) -> timezone:
    """``+01:00``, ``-05:00``, ``+0530`` or ``Z`` as a fixed offset."""
    parsed = None
    if text == "Z" or text[:1] in ("+", "-"):
        parsed = _parse_datetime(f"2000-01-01T00:00:00{text}")
    offset = parsed.utcoffset() if parsed is not None else None
    if offset is None:
        raise MetadataError(
            f"invalid --utc-offset {text!r}: expected +HH:MM, -HH:MM or Z",
            hint="e.g. --utc-offset +01:00 (Berlin in winter) or --utc-offset -05:00",
        )
    return timezone(offset)


def _date_of_birth(text: str, utc_offset: str | None) -> datetime | str:
    """An ISO-8601 date or date-time with a UTC offset; other text is left for the schema."""
    born = _parse_datetime(text)
    if born is None:
        return text
    example = (
        "give the lab's offset, e.g. --date-of-birth 2026-01-31T00:00+01:00, or add "
        "--utc-offset +01:00"
    )
    return with_utc_offset(born, utc_offset, f"--date-of-birth {text!r}", example)


def _parse_datetime(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _parse_clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise MetadataError(
            f"invalid --start-time {text!r}: expected HH:MM[:SS] or an ISO-8601 date-time",
            hint="use HH:MM[:SS] with its UTC offset, e.g. 13:45+01:00, or an ISO-8601 "
            "date-time like 2026-11-21T13:45:00+01:00",
        ) from None
