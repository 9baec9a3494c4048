"""Finding sessions in a workspace and the files each session's metadata declares."""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from w2t_bkin.errors import DiscoveryError, MetadataError
from w2t_bkin.layout_constants import ROOT_METADATA_ENV as ROOT_METADATA_ENV
from w2t_bkin.workspace.layout import ID_RE, Workspace, check_glob, resolve_glob, sort_paths

if TYPE_CHECKING:
    from w2t_bkin.metadata import SessionMetadata

# The metadata schema (pydantic) loads on first use: finding sessions (`w2t-bkin status`,
# `discover`) must not pay for it. These names stay importable from here.
_FROM_METADATA = ("SessionMetadata", "check_metadata_file")


def __getattr__(name: str) -> Any:
    if name in _FROM_METADATA:
        import w2t_bkin.metadata

        return getattr(w2t_bkin.metadata, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class SessionRef:
    """One session folder: ``data/raw/<subject>/<session>/session.toml``."""

    subject: str
    session: str
    path: Path
    has_subject_metadata: bool

    @property
    def metadata_file(self) -> Path:
        return self.path / "session.toml"

    def to_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "session": self.session,
            "path": str(self.path),
            "has_subject_metadata": self.has_subject_metadata,
            "metadata_file": str(self.metadata_file),
        }


def discover_sessions(
    workspace: Workspace, subject_glob: str = "*", session_glob: str = "*"
) -> list[SessionRef]:
    """Sessions whose folder holds a ``session.toml``, sorted by subject then session.

    Folders whose subject or session name is not a valid ID are not sessions (their names
    become NWB file names and identifiers); :func:`invalid_session_folders` lists them.
    """
    return [
        SessionRef(subject_dir.name, session_dir.name, session_dir, has_subject)
        for subject_dir, session_dir, has_subject in _session_folders(
            workspace, subject_glob, session_glob
        )
        if ID_RE.fullmatch(subject_dir.name) and ID_RE.fullmatch(session_dir.name)
    ]


def invalid_session_folders(
    workspace: Workspace, subject_glob: str = "*", session_glob: str = "*"
) -> list[MetadataError]:
    """One error per folder that holds a ``session.toml`` but has an invalid subject or session
    name (``day 2``, ``día3``): :func:`discover_sessions` skips it, so nothing processes it.

    Each error names the folder and suggests a valid name.
    """
    errors: list[MetadataError] = []
    for subject_dir, session_dir, _ in _session_folders(workspace, subject_glob, session_glob):
        for kind, folder in (("subject", subject_dir), ("session", session_dir)):
            if ID_RE.fullmatch(folder.name):
                continue
            errors.append(
                MetadataError(
                    f"{kind} folder name {folder.name!r} is not a valid {kind} "
                    "ID (only ASCII letters, digits, '_' and '-' are allowed), so this session "
                    "is not discovered or processed",
                    hint=f"rename the folder {folder} to e.g. {suggest_id(folder.name)!r} "
                    "(the ID becomes part of the NWB file name)",
                    path=session_dir,
                )
            )
            break  # one error per session folder: the subject's name, else the session's
    return errors


def suggest_id(name: str) -> str:
    """A valid ID close to ``name``: accents dropped, other runs of characters made ``-``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_name).strip("-") or "S1"


def _session_folders(
    workspace: Workspace, subject_glob: str, session_glob: str
) -> list[tuple[Path, Path, bool]]:
    """``(subject folder, session folder, has subject.toml)`` of every folder holding a
    ``session.toml`` whose names match the globs, valid IDs or not."""
    found: list[tuple[Path, Path, bool]] = []
    if not workspace.raw.is_dir():
        return found
    for subject_dir in sorted(p for p in workspace.raw.iterdir() if p.is_dir()):
        if not fnmatch.fnmatchcase(subject_dir.name, subject_glob):
            continue
        has_subject = (subject_dir / "subject.toml").is_file()
        for session_dir in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
            if not (session_dir / "session.toml").is_file():
                continue
            if not fnmatch.fnmatchcase(session_dir.name, session_glob):
                continue
            found.append((subject_dir, session_dir, has_subject))
    return found


def experiment_metadata_files(workspace: Workspace) -> list[Path]:
    """The metadata files every session merges: ``$W2T_ROOT_METADATA`` and ``metadata.toml``."""
    env = os.environ.get(ROOT_METADATA_ENV)
    candidates = [Path(env)] if env else []
    return [p for p in (*candidates, workspace.root_metadata) if p.is_file()]


def check_experiment_metadata(workspace: Workspace) -> None:
    """Raise when a metadata file every session merges cannot be parsed.

    Raises
    ------
    MetadataError
        The file is not TOML (the message names the file, line and column) or not UTF-8.
    """
    from w2t_bkin.metadata import check_metadata_file

    for path in experiment_metadata_files(workspace):
        check_metadata_file(path)


@dataclass(frozen=True)
class SessionFiles:
    """Files of one session, resolved from its metadata globs (each list ordered)."""

    session_dir: Path
    cameras: dict[str, list[Path]] = field(default_factory=dict)
    ttls: dict[str, list[Path]] = field(default_factory=dict)
    bpod: list[Path] = field(default_factory=list)
    pose: dict[str, list[Path]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    #: embedded frame counter files per camera (``[[cameras]].frame_counter``)
    frame_counters: dict[str, list[Path]] = field(default_factory=dict)

    def all_inputs(self) -> list[Path]:
        paths = [p for files in self.cameras.values() for p in files]
        paths += [p for files in self.frame_counters.values() for p in files]
        paths += [p for files in self.ttls.values() for p in files]
        paths += self.bpod
        paths += [p for files in self.pose.values() for p in files]
        return paths


def _resolve_all(
    session_dir: Path, what: str, patterns: list[str], order: str, problems: list[str]
) -> list[Path]:
    """Union of the files every pattern matches, in natural ``order`` of their names.

    A pattern that leaves the session folder is added to ``problems`` (and matches nothing),
    so that one bad glob does not hide the other problems of the session.
    """
    seen: dict[Path, None] = {}
    for pattern in patterns:
        try:
            check_glob(session_dir, pattern)
        except DiscoveryError as exc:
            problems.append(f"{what}: {exc.message} ({exc.hint})")
            continue
        for path in resolve_glob(session_dir, pattern, order):
            seen.setdefault(path, None)
        problems += [dangling_link_problem(what, link) for link in _dangling(session_dir, pattern)]
    return sort_paths(list(seen), order)


def _no_match(problem: str) -> bool:
    return "match no file" in problem or "matches no file" in problem


def _dangling(session_dir: Path, pattern: str) -> list[Path]:
    # glob.glob, not Path.glob: Python 3.11's Path.glob skips a dangling link named literally
    root = glob.escape(str(session_dir))  # a folder name may hold [ or *
    matches = (Path(m) for m in glob.glob(f"{root}/{pattern}", recursive=True))
    return sorted(p for p in matches if p.is_symlink() and not p.exists())


def dangling_link_problem(what: str, link: Path) -> str:
    """The one report of a declared file whose symlink points nowhere, with the fix."""
    return (
        f"{what}: {link} is a link to {os.readlink(link)}, which does not exist (a workspace "
        "copied or moved without the raw files its relative links point to?); import the raw "
        "folder again with w2t-bkin data import-raw SOURCE -e ROOT -s SUBJECT -x SESSION "
        "--confirm, or import with --copy so the workspace holds the files"
    )


def find_session_files(session_dir: Path, metadata: SessionMetadata) -> SessionFiles:
    """Resolve every glob of the metadata; problems (globs without match, globs leaving the
    session folder) are listed.

    Use :func:`require_session_files` to turn problems into one error.
    """
    problems: list[str] = []
    cameras: dict[str, list[Path]] = {}
    for camera in metadata.cameras:
        what = f"camera {camera.id!r}"
        files = _resolve_all(session_dir, what, camera.paths, camera.order, problems)
        if camera.paths and not files and not camera.optional:
            problems.append(f"{what}: paths {camera.paths} match no file in {session_dir}")
        cameras[camera.id] = files
    frame_counters: dict[str, list[Path]] = {}
    for camera in metadata.cameras:
        if not camera.frame_counter:
            continue
        what = f"camera {camera.id!r} frame_counter"
        files = _resolve_all(session_dir, what, camera.frame_counter, camera.order, problems)
        if not files and not camera.optional:
            problems.append(f"{what}: {camera.frame_counter} match no file in {session_dir}")
        frame_counters[camera.id] = files
    ttls: dict[str, list[Path]] = {}
    for ttl in metadata.TTLs:
        what = f"TTL {ttl.id!r}"
        files = _resolve_all(session_dir, what, ttl.paths, ttl.order, problems)
        if not files and not ttl.optional:
            problems.append(f"{what}: paths {ttl.paths} match no file in {session_dir}")
        ttls[ttl.id] = files
    bpod: list[Path] = []
    if metadata.bpod is not None:
        bpod = _resolve_all(session_dir, "bpod", metadata.bpod.path, metadata.bpod.order, problems)
        if not bpod:
            problems.append(f"bpod: path {metadata.bpod.path} matches no file in {session_dir}")
    pose: dict[str, list[Path]] = {}
    for camera_id, pose_camera in metadata.pose.cameras.items():
        what = f"pose.cameras.{camera_id}"
        files = _resolve_all(session_dir, what, pose_camera.paths, "name_asc", problems)
        if pose_camera.paths and not files:
            problems.append(f"{what}: paths {pose_camera.paths} match no file in {session_dir}")
        pose[camera_id] = files
    for camera in metadata.cameras:
        if not camera.paths and camera.id not in metadata.pose.cameras:
            problems.append(
                f"camera {camera.id!r} has neither video paths nor pose outputs "
                "(declare paths, or [pose.cameras.<id>] with paths)"
            )
    # A glob whose only matches are dangling links was reported as such, with the fix: saying
    # also that it "matches no file" would report the same file twice.
    dangling = {p.split(": ", 1)[0] for p in problems if " is a link to " in p}
    problems = [
        p
        for p in problems
        if not (
            p.split(": ", 1)[0] in dangling and ("match no file" in p or "matches no file" in p)
        )
    ]
    return SessionFiles(
        session_dir, cameras, ttls, bpod, pose, tuple(problems), frame_counters=frame_counters
    )


def require_session_files(session_dir: Path, metadata: SessionMetadata) -> SessionFiles:
    """Like :func:`find_session_files`, but every problem at once becomes a DiscoveryError."""
    files = find_session_files(session_dir, metadata)
    error = discovery_error(files)
    if error is not None:
        raise error
    return files


def discovery_error(files: SessionFiles) -> DiscoveryError | None:
    """Every problem of ``files`` as one error (``None`` when there is none)."""
    if not files.problems:
        return None
    return DiscoveryError(
        "declared files are missing or their globs are invalid:\n  " + "\n  ".join(files.problems),
        hint="fix the globs in session.toml (relative to the session folder), mark the "
        "entry optional = true, or import the files with `w2t-bkin data import-raw`",
    )
