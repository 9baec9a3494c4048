"""The preflight: every problem that would stop ``run`` before expensive work, all at once.

``w2t-bkin data validate`` and the start of ``w2t-bkin run`` call it. It makes the checks of the
configuration, discovery, verification and pose generation phases, and the pose file matching of
ingestion, with the same functions and messages as a run, but collects every problem of every
selected session instead of stopping at the first. It writes nothing (the output folder check,
which creates the folder, is left to the run), reads the TTL and Bpod files, and probes the
videos unless told not to. It never decodes video frames nor reads pose files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from w2t_bkin.config import Config, load_workspace_config
from w2t_bkin.errors import W2TError, reset_data_quality_sink, set_data_quality_sink
from w2t_bkin.metadata import load_session_metadata_sources, metadata_files
from w2t_bkin.session.context import SessionContext
from w2t_bkin.workspace.discovery import SessionFiles, discovery_error, find_session_files
from w2t_bkin.workspace.layout import Workspace, open_workspace
from w2t_bkin.workspace.validate import Problem, check_workspace

if TYPE_CHECKING:
    from w2t_bkin.session.verify import Findings

__all__ = ["Preflight", "Problem", "preflight", "preflight_session", "preflight_workspace"]


@dataclass
class Preflight:
    """What the preflight found.

    Attributes
    ----------
    problems
        Every problem, workspace first, then each session's, in selection order.
    blocking
        ``{(subject, session): errors}`` for each selected session that ``run`` would fail:
        its own errors, or those of a metadata file it merges.
    """

    problems: list[Problem] = field(default_factory=list)
    blocking: dict[tuple[str, str], list[Problem]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def preflight(
    root: Path,
    subject_glob: str = "*",
    session_glob: str = "*",
    config_path: Path | None = None,
    *,
    probe_videos: bool = True,
    only: set[tuple[str, str]] | None = None,
) -> Preflight:
    """Layout, configuration and every selected session's checks (see the module docstring).

    ``only``: the ``(subject, session)`` pairs whose own checks run (a batch skips cached
    sessions: nothing of theirs is read); ``None``: every selected session.

    Raises
    ------
    WorkspaceError
        ``root`` is not a workspace.
    """
    check = check_workspace(root, subject_glob, session_glob, config_path)
    found = Preflight(list(check.problems))
    workspace = open_workspace(root)
    try:
        config = load_workspace_config(root, config_path)
    except W2TError:  # reported above, once; the sessions are checked against the defaults
        config = Config()
    file_errors: dict[str, Problem] = {}  # the first error of each file
    for problem in check.problems:
        if problem.severity == "error":
            file_errors.setdefault(problem.where, problem)
    checked = {(ref.subject, ref.session) for ref in check.sessions}
    for ref in check.selected:
        key = (ref.subject, ref.session)
        if only is not None and key not in only:
            continue
        if key in checked:
            problems = _session_problems(workspace, *key, config, probe_videos)
            found.problems += problems
            errors = [p for p in problems if p.severity == "error"]
        else:  # a metadata file it merges is broken: reported once, above
            paths = metadata_files(workspace.raw, *key)
            errors = [file_errors[str(p)] for p in paths if str(p) in file_errors]
        if errors:
            found.blocking[key] = errors
    return found


def preflight_workspace(
    root: Path,
    subject_glob: str = "*",
    session_glob: str = "*",
    config_path: Path | None = None,
    *,
    probe_videos: bool = True,
) -> list[Problem]:
    """Every problem of the workspace and the selected sessions (:func:`preflight`)."""
    return preflight(
        root, subject_glob, session_glob, config_path, probe_videos=probe_videos
    ).problems


def preflight_session(
    root: Path,
    subject: str,
    session: str,
    config_path: Path | None = None,
    *,
    probe_videos: bool = True,
) -> list[Problem]:
    """Every problem of one session that would stop its run before expensive work.

    Each problem's ``where`` is ``subject/session``; its message is the one the run raises.
    """
    where = f"{subject}/{session}"
    try:
        config = load_workspace_config(root, config_path)
        workspace = open_workspace(root)
    except W2TError as exc:
        return [Problem.from_error(where, exc)]
    return _session_problems(workspace, subject, session, config, probe_videos)


def _session_problems(
    workspace: Workspace, subject: str, session: str, config: Config, probe_videos: bool
) -> list[Problem]:
    """Errors (the run's messages) and data-quality warnings of one session."""
    # The checks import the readers (pandas, SciPy): only when a session is checked at all.
    from w2t_bkin.session.verify import Findings

    where = f"{subject}/{session}"
    findings = Findings(collect=True)
    quality: list[str] = []
    token = set_data_quality_sink(quality.append)
    try:
        _check_session(workspace, subject, session, config, findings, probe_videos)
    finally:
        reset_data_quality_sink(token)
    problems = [Problem.from_error(where, error) for error in findings.errors]
    return problems + [Problem(where, text, "warning") for text in dict.fromkeys(quality)]


def _check_session(
    workspace: Workspace,
    subject: str,
    session: str,
    config: Config,
    findings: Findings,
    probe_videos: bool,
) -> None:
    """The run's phases up to ingestion, every error put in ``findings``."""
    from w2t_bkin.session.pose import pose_files_by_video, resolve_pose_model
    from w2t_bkin.session.verify import check_inputs

    loaded = findings.attempt(load_session_metadata_sources, workspace.raw, subject, session)
    if loaded is None:
        return  # without metadata nothing else can be checked
    ctx = SessionContext(workspace, subject, session, config, *loaded)
    files = find_session_files(ctx.raw_dir, ctx.metadata)
    _report_discovery(files, findings)
    check_inputs(ctx, files, findings, check_outputs=False, probe_videos=probe_videos)
    for model_id, model in ctx.metadata.pose.models.items():
        findings.attempt(resolve_pose_model, model_id, model, workspace.models)
    for camera_id, pose_meta in ctx.metadata.pose.cameras.items():
        paths = files.pose.get(camera_id, [])
        if paths:  # matched to the chunks by file name, as ingestion does
            videos = files.cameras.get(camera_id, [])
            findings.attempt(pose_files_by_video, camera_id, paths, pose_meta, videos)


def _report_discovery(files: SessionFiles, findings: Findings) -> None:
    """Each discovery problem on its own, with the fix the run's error gives."""
    error = discovery_error(files)
    if error is None:
        return
    for problem in files.problems:
        findings.add(type(error)(problem, hint=error.hint))
