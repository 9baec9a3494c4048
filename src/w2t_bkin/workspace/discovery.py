"""Finding sessions in a workspace and the files each session's metadata declares."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from w2t_bkin.errors import DiscoveryError
from w2t_bkin.metadata import SessionMetadata
from w2t_bkin.workspace.layout import ID_RE, Workspace, resolve_glob


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
    """Sessions whose folder holds a ``session.toml``, sorted by subject then session."""
    found: list[SessionRef] = []
    if not workspace.raw.is_dir():
        return found
    for subject_dir in sorted(p for p in workspace.raw.iterdir() if p.is_dir()):
        if not ID_RE.match(subject_dir.name) or not fnmatch.fnmatchcase(
            subject_dir.name, subject_glob
        ):
            continue
        has_subject = (subject_dir / "subject.toml").is_file()
        for session_dir in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
            if not (session_dir / "session.toml").is_file():
                continue
            if not fnmatch.fnmatchcase(session_dir.name, session_glob):
                continue
            found.append(SessionRef(subject_dir.name, session_dir.name, session_dir, has_subject))
    return found


@dataclass(frozen=True)
class SessionFiles:
    """Files of one session, resolved from its metadata globs (each list ordered)."""

    session_dir: Path
    cameras: dict[str, list[Path]] = field(default_factory=dict)
    ttls: dict[str, list[Path]] = field(default_factory=dict)
    bpod: list[Path] = field(default_factory=list)
    pose: dict[str, list[Path]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def all_inputs(self) -> list[Path]:
        paths = [p for files in self.cameras.values() for p in files]
        paths += [p for files in self.ttls.values() for p in files]
        paths += self.bpod
        paths += [p for files in self.pose.values() for p in files]
        return paths


def _resolve_all(session_dir: Path, patterns: list[str], order: str) -> list[Path]:
    seen: dict[Path, None] = {}
    for pattern in patterns:
        for path in resolve_glob(session_dir, pattern, order):
            seen.setdefault(path, None)
    return list(seen)


def find_session_files(session_dir: Path, metadata: SessionMetadata) -> SessionFiles:
    """Resolve every glob of the metadata; problems (non-optional globs without match) are listed.

    Use :func:`require_session_files` to turn problems into one error.
    """
    problems: list[str] = []
    cameras: dict[str, list[Path]] = {}
    for camera in metadata.cameras:
        files = _resolve_all(session_dir, camera.paths, camera.order)
        if camera.paths and not files and not camera.optional:
            problems.append(
                f"camera {camera.id!r}: paths {camera.paths} match no file in {session_dir}"
            )
        cameras[camera.id] = files
    ttls: dict[str, list[Path]] = {}
    for ttl in metadata.TTLs:
        files = _resolve_all(session_dir, ttl.paths, ttl.order)
        if not files and not ttl.optional:
            problems.append(f"TTL {ttl.id!r}: paths {ttl.paths} match no file in {session_dir}")
        ttls[ttl.id] = files
    bpod: list[Path] = []
    if metadata.bpod is not None:
        bpod = _resolve_all(session_dir, metadata.bpod.path, metadata.bpod.order)
        if not bpod:
            problems.append(f"bpod: path {metadata.bpod.path} matches no file in {session_dir}")
    pose: dict[str, list[Path]] = {}
    for camera_id, pose_camera in metadata.pose.cameras.items():
        files = _resolve_all(session_dir, pose_camera.paths, "name_asc")
        if pose_camera.paths and not files:
            problems.append(
                f"pose.cameras.{camera_id}: paths {pose_camera.paths} match no file in "
                f"{session_dir}"
            )
        pose[camera_id] = files
    for camera in metadata.cameras:
        if not camera.paths and camera.id not in metadata.pose.cameras:
            problems.append(
                f"camera {camera.id!r} has neither video paths nor pose outputs "
                "(declare paths, or [pose.cameras.<id>] with paths)"
            )
    return SessionFiles(session_dir, cameras, ttls, bpod, pose, tuple(problems))


def require_session_files(session_dir: Path, metadata: SessionMetadata) -> SessionFiles:
    """Like :func:`find_session_files`, but every problem at once becomes a DiscoveryError."""
    files = find_session_files(session_dir, metadata)
    if files.problems:
        raise DiscoveryError(
            "declared files are missing:\n  " + "\n  ".join(files.problems),
            hint="fix the globs in session.toml (relative to the session folder), mark the "
            "entry optional = true, or import the files with `w2t-bkin data import-raw`",
        )
    return files
