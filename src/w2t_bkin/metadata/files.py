"""The metadata files of a session: found, parsed, checked, merged and validated."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from w2t_bkin.errors import MetadataError
from w2t_bkin.metadata.schema import ROOT_METADATA_ENV, SessionMetadata
from w2t_bkin.tomlerrors import (
    find_key_line,
    format_loc,
    format_validation_error,
    loads_toml,
    read_toml,
)

# --------------------------------------------------------------------------------------------
# merging


def _merge_key(items: list[Any]) -> str | None:
    for key in ("id", "name"):
        if items and all(isinstance(item, dict) and key in item for item in items):
            return key
    return None


def merge_metadata(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into ``base`` (new dict) with the rules of the module docstring."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merged[key] = merge_metadata(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            id_key = _merge_key(old + value)
            if id_key is None:
                merged[key] = copy.deepcopy(value)
                continue
            by_id = {item[id_key]: item for item in old}
            order = [item[id_key] for item in old]
            for item in value:
                if item[id_key] in by_id:
                    by_id[item[id_key]] = merge_metadata(by_id[item[id_key]], item)
                else:
                    by_id[item[id_key]] = copy.deepcopy(item)
                    order.append(item[id_key])
            merged[key] = [by_id[i] for i in order]
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass(frozen=True)
class MetadataSource:
    """One metadata file and its parsed content."""

    path: Path
    data: dict[str, Any]
    text: str


def metadata_files(raw_root: Path, subject: str, session: str) -> list[Path]:
    """Existing metadata files of a session, lowest precedence first."""
    candidates: list[Path] = []
    env = os.environ.get(ROOT_METADATA_ENV)
    if env:
        candidates.append(Path(env))
    candidates += [
        raw_root / "metadata.toml",
        raw_root / subject / "subject.toml",
        raw_root / subject / session / "session.toml",
    ]
    return [path for path in candidates if path.is_file()]


# Locations of the validators that check references between entries (camera -> TTL id, pose
# camera -> model/skeleton): another file of the hierarchy may define the referenced entry.
_CROSS_REFERENCE_LOCS = {(), ("pose",)}


def _resolvable_by_merge(error: Any) -> bool:
    """A missing key, or a dangling reference, that another metadata file may supply."""
    if error["type"] == "missing":
        return True
    return error["type"] == "value_error" and tuple(error["loc"]) in _CROSS_REFERENCE_LOCS


def check_metadata_file(path: Path, text: str | None = None) -> tuple[MetadataSource, list[str]]:
    """Parse one metadata file and list schema problems that cannot be fixed by merging.

    Unknown keys, wrong types and duplicate ids are reported with the line; missing required
    keys are not, because another file in the hierarchy may provide them. ``text`` checks that
    content as if it were the file (e.g. before writing it); by default the file is read.
    """
    if text is None:
        data, text = read_toml(path, MetadataError)
    else:
        data = loads_toml(text, path, MetadataError)
    source = MetadataSource(path=path, data=data, text=text)
    problems = _duplicate_ids(path, data, text)
    try:
        SessionMetadata.model_validate(data)
    except ValidationError as exc:
        message = format_validation_error(
            exc, SessionMetadata, source=path, text=text, skip=_resolvable_by_merge
        )
        problems += [line for line in message.splitlines() if line]
    return source, problems


def _duplicate_ids(path: Path, data: dict[str, Any], text: str) -> list[str]:
    """Entries of one file that repeat an id: named with the line of the repeat.

    The schema's own check reports them without a place (its validator sees the whole
    document), and merging would silently fold them into one entry.
    """
    problems: list[str] = []
    for kind, key in (("cameras", "id"), ("TTLs", "id"), ("devices", "name")):
        entries = data.get(kind)
        if not isinstance(entries, list):
            continue
        first: dict[str, int] = {}
        for index, entry in enumerate(entries):
            value = entry.get(key) if isinstance(entry, dict) else None
            if not isinstance(value, str):
                continue  # a missing or mistyped id is the schema's to report
            if value not in first:
                first[value] = index
                continue
            # Lines are looked up only for a repeat: scanning the text is the costly part.
            line = find_key_line(text, (kind, index, key))
            first_line = find_key_line(text, (kind, first[value], key))
            where = f"{path}:{line}" if line is not None else str(path)
            problems.append(
                f"{where}: {kind}[{index}].{key}: duplicate {kind} {key} {value!r} "
                f"(first at {kind}[{first[value]}], line {first_line}); "
                f"rename one or merge the two entries"
            )
    return problems


def load_session_metadata(raw_root: Path, subject: str, session: str) -> SessionMetadata:
    """Merge and validate the metadata of one session; every problem is reported at once."""
    return load_session_metadata_sources(raw_root, subject, session)[0]


def defining_file(sources: Sequence[MetadataSource], keys: Sequence[str]) -> Path | None:
    """The file whose value of ``keys`` (a TOML key path) the merged metadata holds.

    Files merge with later ones winning, so this is the last of ``sources`` (lowest precedence
    first) that sets the key; ``None`` when none does.
    """
    for source in reversed(sources):
        node: Any = source.data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return source.path
    return None


def load_session_metadata_sources(
    raw_root: Path, subject: str, session: str
) -> tuple[SessionMetadata, tuple[MetadataSource, ...]]:
    """:func:`load_session_metadata`, and each file it merged (parsed, lowest precedence first).

    Error messages name the file that defines a key (:func:`defining_file`) from the files as
    they were read here, without reading them again.
    """
    files = metadata_files(raw_root, subject, session)
    session_dir = raw_root / subject / session
    if not (session_dir / "session.toml").is_file():
        raise MetadataError(
            f"session metadata not found: {session_dir / 'session.toml'}",
            hint=f"create it with: w2t-bkin data add-session ROOT {subject} {session}",
        )
    problems: list[str] = []
    merged: dict[str, Any] = {}
    sources: list[MetadataSource] = []
    for path in files:
        source, file_problems = check_metadata_file(path)
        problems += file_problems
        sources.append(source)
        merged = merge_metadata(merged, source.data)
    merged.setdefault("session_id", session)
    merged.setdefault("subject", {})
    if isinstance(merged["subject"], dict):
        merged["subject"].setdefault("subject_id", subject)
    if problems:
        raise MetadataError(
            "invalid metadata:\n  " + "\n  ".join(problems),
            hint="fix or remove the keys above; `w2t-bkin data validate ROOT` checks everything",
        )
    try:
        return SessionMetadata.model_validate(merged), tuple(sources)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = format_loc(tuple(error["loc"]))
            lines.append(f"{loc}: {error['msg']}")
        raise MetadataError(
            f"invalid merged metadata of {subject}/{session} (from "
            f"{', '.join(str(p) for p in files)}):\n  " + "\n  ".join(lines),
            hint="fix the keys above in the session, subject or experiment metadata",
        ) from None


DANDI_SUBJECT_FIELDS = ("subject_id", "species", "sex")


def missing_dandi_fields(metadata: SessionMetadata) -> list[str]:
    """Subject and session fields DANDI requires that are missing (empty list when complete)."""
    missing = [
        f"subject.{name}" for name in DANDI_SUBJECT_FIELDS if not getattr(metadata.subject, name)
    ]
    if metadata.subject.age is None and metadata.subject.date_of_birth is None:
        missing.append("subject.age (or subject.date_of_birth)")
    if not metadata.session_description:
        missing.append("session_description")
    return missing
