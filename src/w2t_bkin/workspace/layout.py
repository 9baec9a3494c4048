"""The experiment workspace layout (DESIGN.md §3) and safe path handling inside it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from w2t_bkin.errors import DiscoveryError, MetadataError, WorkspaceError

# Not from w2t_bkin.config / w2t_bkin.metadata: those load pydantic, and `w2t-bkin status`
# must find sessions without it.
from w2t_bkin.layout_constants import CONFIG_FILENAME as CONFIG_FILENAME
from w2t_bkin.layout_constants import ID_PATTERN as ID_PATTERN

ID_RE = re.compile(ID_PATTERN)  # used with fullmatch: "$" alone would accept a final "\n"
SESSION_SUBDIRS = ("Video", "TTLs", "Bpod", "Pose")


@dataclass(frozen=True)
class Workspace:
    """Paths of one experiment workspace rooted at ``root``."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILENAME

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def interim(self) -> Path:
        return self.root / "data" / "interim"

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def state(self) -> Path:
        """ROOT/.w2t: run registry, locks, caches."""
        return self.root / ".w2t"

    @property
    def cache(self) -> Path:
        return self.state / "cache"

    @property
    def root_metadata(self) -> Path:
        return self.raw / "metadata.toml"

    def subject_dir(self, subject: str) -> Path:
        return self.raw / check_id(subject, "subject")

    def session_dir(self, subject: str, session: str) -> Path:
        return self.subject_dir(subject) / check_id(session, "session")

    def processed_dir(self, subject: str, session: str) -> Path:
        return self.processed / check_id(subject, "subject") / check_id(session, "session")

    def layout_dirs(self) -> tuple[Path, ...]:
        return (self.raw, self.interim, self.processed, self.models, self.state)


def check_id(value: str, kind: str) -> str:
    """Validate a subject/session ID (``^[A-Za-z0-9_-]+$``); it becomes a folder name."""
    if not ID_RE.fullmatch(value):
        example = re.sub(r"[^A-Za-z0-9_-]+", "-", _ascii(value)).strip("-") or "S1"
        raise MetadataError(
            f"invalid {kind} ID {value!r}: only letters, digits, '_' and '-' are allowed",
            hint=f"rename the {kind}, e.g. {example!r}",
        )
    return value


def _ascii(text: str) -> str:
    """``text`` with accents dropped (``día3`` -> ``dia3``): NFKD splits off the marks."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def open_workspace(root: Path) -> Workspace:
    """A workspace that must already exist (made by ``w2t-bkin data init``)."""
    if root.is_file():
        # e.g. ROOT/configuration.toml: the experiment folder is meant, not a file in it.
        folder = root.parent if Workspace(root.parent).raw.is_dir() else None
        raise WorkspaceError(
            f"{root} is a file; commands take the experiment folder (the one holding "
            "configuration.toml and data/)",
            hint=f"pass the folder instead: {folder}"
            if folder is not None
            else "pass the experiment folder, or create one with: w2t-bkin data init FOLDER",
        )
    if not root.exists():
        raise WorkspaceError(
            f"experiment root does not exist: {root}",
            hint=f"create it with: w2t-bkin data init {root}",
        )
    workspace = Workspace(root)
    if not workspace.raw.is_dir():
        raise WorkspaceError(
            f"not a w2t-bkin workspace (no data/raw folder): {root}",
            hint=f"create the layout with: w2t-bkin data init {root}",
        )
    return workspace


def natural_key(name: str) -> tuple[tuple[str, int], ...]:
    """Sort key that orders the digit runs of ``name`` by value: ``x_2`` before ``x_10``.

    Text runs compare as text, digit runs as integers; equal values with different padding
    (``x_01``, ``x_1``) fall back to the plain name so the order stays total.
    """
    parts = re.split(r"(\d+)", name)
    # Even indices are text, odd indices digits: position i always holds the same kind.
    key = tuple((part, 0) if i % 2 == 0 else ("", int(part)) for i, part in enumerate(parts))
    return (*key, (name, 0))


def check_glob(session_dir: Path, pattern: str) -> None:
    """Refuse a metadata glob that is absolute or contains ``..``."""
    if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise DiscoveryError(
            f"glob {pattern!r} leaves the session folder {session_dir}",
            hint="metadata paths are globs relative to the session folder (no '..', not absolute)",
        )


def sort_paths(paths: list[Path], order: str = "name_asc") -> list[Path]:
    """``paths`` in natural order of their names (``name_desc``: reversed), then by full path."""
    return sorted(
        paths,
        key=lambda path: (natural_key(path.name), natural_key(path.as_posix())),
        reverse=(order == "name_desc"),
    )


def resolve_glob(session_dir: Path, pattern: str, order: str = "name_asc") -> list[Path]:
    """Files matching a metadata glob, relative to the session folder, in natural name order.

    Digit runs in file names compare by value (``cam0_2`` before ``cam0_10``), see
    :func:`natural_key`. Patterns must stay inside the session folder: absolute patterns and
    ``..`` are refused. Symlinks inside the session folder are followed (imported raw data is
    linked).
    """
    check_glob(session_dir, pattern)
    matches = [path for path in session_dir.glob(pattern) if path.is_file() or path.is_dir()]
    return sort_paths(matches, order)
