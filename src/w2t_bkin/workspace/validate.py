"""``w2t-bkin data validate``: the run-time schemas over every session, all problems at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from w2t_bkin.config import load_config
from w2t_bkin.errors import W2TError
from w2t_bkin.metadata import (
    SessionMetadata,
    check_metadata_file,
    load_session_metadata,
    metadata_files,
    missing_dandi_fields,
)
from w2t_bkin.workspace.discovery import discover_sessions, find_session_files
from w2t_bkin.workspace.layout import Workspace, open_workspace


@dataclass(frozen=True)
class Problem:
    where: str
    message: str
    severity: str = "error"  # error | warning


def validate_workspace(
    root: Path, subject_glob: str = "*", session_glob: str = "*"
) -> list[Problem]:
    """Every problem of the workspace, its configuration and the selected sessions."""
    workspace = open_workspace(root)
    problems = _layout_problems(workspace)
    if workspace.config_path.is_file():
        try:
            load_config(workspace.config_path)
        except W2TError as exc:
            problems.append(Problem(str(workspace.config_path), exc.message))
    else:
        problems.append(
            Problem(str(workspace.config_path), "missing: defaults will be used", "warning")
        )
    file_problems: dict[Path, list[Problem]] = {}
    sessions = discover_sessions(workspace, subject_glob, session_glob)
    if not sessions:
        problems.append(_empty_selection(workspace, subject_glob, session_glob))
    for ref in sessions:
        where = f"{ref.subject}/{ref.session}"
        session_has_file_problems = False
        for path in metadata_files(workspace.raw, ref.subject, ref.session):
            if path not in file_problems:
                file_problems[path] = _file_problems(path)
                problems += file_problems[path]
            session_has_file_problems |= bool(file_problems[path])
        if session_has_file_problems:
            continue  # the merged metadata would only repeat them
        try:
            metadata = load_session_metadata(workspace.raw, ref.subject, ref.session)
        except W2TError as exc:
            problems.append(Problem(where, exc.message))
            continue
        missing = missing_dandi_fields(metadata)
        if missing:
            problems.append(
                Problem(
                    where,
                    f"metadata lacks fields DANDI requires: {', '.join(missing)} (add them to "
                    'subject.toml / session.toml, e.g. sex = "F", age = "P90D"; `run` stops here)',
                )
            )
        problems += [Problem(where, message) for message in _frame_clock_problems(metadata)]
        session_files = find_session_files(ref.path, metadata)
        problems += [Problem(where, message) for message in session_files.problems]
        problems += [
            Problem(where, f"broken symlink: {link}")
            for link in ref.path.rglob("*")
            if link.is_symlink() and not link.exists()
        ]
    return problems


def _empty_selection(workspace: Workspace, subject_glob: str, session_glob: str) -> Problem:
    """No session selected: a warning for an empty workspace, an error for a filter typo."""
    where = str(workspace.raw)
    if (subject_glob, session_glob) == ("*", "*"):
        return Problem(
            where, "no sessions yet (add one with `w2t-bkin data add-session`)", "warning"
        )
    existing = [f"{ref.subject}/{ref.session}" for ref in discover_sessions(workspace)]
    shown = ", ".join(existing[:10]) + (
        f", ... ({len(existing)} in all)" if len(existing) > 10 else ""
    )
    return Problem(
        where,
        f"no session matches --subject {subject_glob!r} --session {session_glob!r} "
        f"(existing: {shown or 'none'})",
    )


def _frame_clock_problems(metadata: SessionMetadata) -> list[str]:
    # The same rule `run` applies in its verification phase, before any video is opened.
    return [
        f"camera {camera.id!r} has no ttl_id and no frame_clock (set ttl_id to its frame TTL "
        "channel, or declare frame_clock = 'video' or 'rate' (with fps) when no TTL exists)"
        for camera in metadata.cameras
        if camera.resolved_frame_clock is None
    ]


def _file_problems(path: Path) -> list[Problem]:
    try:
        _, lines = check_metadata_file(path)
    except W2TError as exc:
        return [Problem(str(path), exc.message)]
    return [Problem(str(path), line) for line in lines]


def _layout_problems(workspace: Workspace) -> list[Problem]:
    return [
        Problem(str(folder), "missing folder (run `w2t-bkin data init` again to create it)")
        for folder in (workspace.raw, workspace.interim, workspace.processed)
        if not folder.is_dir()
    ]
