"""The workspace part of the preflight: layout, configuration, session folders, metadata files.

:func:`check_workspace` finds every problem that needs no session processing code; the session
checks that ``run`` makes before expensive work are added by
:func:`w2t_bkin.session.preflight.preflight_workspace`, which ``data validate`` and ``run`` call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from w2t_bkin.config import load_workspace_config
from w2t_bkin.errors import W2TError
from w2t_bkin.metadata import check_metadata_file, load_session_metadata, metadata_files
from w2t_bkin.workspace.discovery import SessionRef, discover_sessions, invalid_session_folders
from w2t_bkin.workspace.layout import Workspace, open_workspace


@dataclass(frozen=True)
class Problem:
    """One finding of the preflight.

    ``where`` is a file or ``subject/session``; ``message`` the text ``run`` would show (with
    the file it names), ``hint`` the fix, ``exit_code`` that of the error ``run`` would raise.
    """

    where: str
    message: str
    severity: str = "error"  # error | warning
    hint: str | None = None
    exit_code: int = 1

    @classmethod
    def from_error(cls, where: str, error: W2TError) -> Problem:
        """``error`` as an error-severity problem, its message prefixed by its path as
        :class:`W2TError` shows it (unless ``where`` is that path)."""
        message = error.message
        path = str(error.path) if error.path is not None else None
        if path is not None and path != where and path not in message:
            message = f"{path}: {message}"
        return cls(where, message, "error", error.hint, error.exit_code)

    def render(self) -> str:
        """``<severity> <where>: <message>`` and, when there is one, ``  hint: <hint>``."""
        text = f"{self.severity} {self.where}: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


@dataclass
class WorkspaceCheck:
    """What :func:`check_workspace` found.

    ``selected`` are the sessions the globs select; ``sessions`` those of them whose metadata
    files have no problem of their own: their merged metadata can be checked without repeating
    a file's problems per session.
    """

    problems: list[Problem] = field(default_factory=list)
    sessions: list[SessionRef] = field(default_factory=list)
    selected: list[SessionRef] = field(default_factory=list)


def check_workspace(
    root: Path, subject_glob: str = "*", session_glob: str = "*", config_path: Path | None = None
) -> WorkspaceCheck:
    """Layout, configuration, session folder names, selection, and each metadata file once.

    Raises
    ------
    WorkspaceError
        ``root`` is not a workspace (nothing else can be checked).
    """
    workspace = open_workspace(root)
    check = WorkspaceCheck(_layout_problems(workspace) + _config_problems(workspace, config_path))
    check.problems += [
        Problem.from_error(str(error.path), error)
        for error in invalid_session_folders(workspace, subject_glob, session_glob)
    ]
    sessions = check.selected = discover_sessions(workspace, subject_glob, session_glob)
    if not sessions:
        check.problems.append(_empty_selection(workspace, subject_glob, session_glob))
    file_problems: dict[Path, list[Problem]] = {}
    for ref in sessions:
        session_has_file_problems = False
        for path in metadata_files(workspace.raw, ref.subject, ref.session):
            if path not in file_problems:
                file_problems[path] = _file_problems(path)
                check.problems += file_problems[path]
            session_has_file_problems |= bool(file_problems[path])
        if not session_has_file_problems:  # else its merged metadata would only repeat them
            check.sessions.append(ref)
    return check


def validate_workspace(
    root: Path, subject_glob: str = "*", session_glob: str = "*", config_path: Path | None = None
) -> list[Problem]:
    """:func:`check_workspace` and each selected session's merged metadata.

    ``data validate`` and ``run`` use :func:`w2t_bkin.session.preflight.preflight_workspace`,
    which also makes every session check of ``run``.
    """
    check = check_workspace(root, subject_glob, session_glob, config_path)
    raw = open_workspace(root).raw
    for ref in check.sessions:
        try:
            load_session_metadata(raw, ref.subject, ref.session)
        except W2TError as exc:
            check.problems.append(Problem.from_error(f"{ref.subject}/{ref.session}", exc))
    return check.problems


def _config_problems(workspace: Workspace, config_path: Path | None) -> list[Problem]:
    path = config_path if config_path is not None else workspace.config_path
    if config_path is None and not path.is_file():
        return [Problem(str(path), "missing: defaults will be used", "warning")]
    try:
        load_workspace_config(workspace.root, config_path)
    except W2TError as exc:
        return [Problem(str(path), exc.message, hint=exc.hint, exit_code=exc.exit_code)]
    return []


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


def _file_problems(path: Path) -> list[Problem]:
    try:
        _, lines = check_metadata_file(path)
    except W2TError as exc:
        return [Problem(str(path), exc.message, hint=exc.hint, exit_code=exc.exit_code)]
    return [Problem(str(path), line, exit_code=2) for line in lines]


def _layout_problems(workspace: Workspace) -> list[Problem]:
    return [
        Problem(
            str(folder),
            "missing folder (run `w2t-bkin data init` again to create it)",
            exit_code=3,
        )
        for folder in (workspace.raw, workspace.interim, workspace.processed)
        if not folder.is_dir()
    ]
