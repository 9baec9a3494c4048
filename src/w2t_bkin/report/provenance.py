"""``provenance.json``: what produced an NWB file, from which inputs, with which software.

The record answers "can I trust and reproduce this file?": the exact configuration (and its
hash), the merged metadata, a SHA-256 of every input (streamed, so multi-GB videos do not fill
memory), the versions of every library that touches the data, the git commit of the w2t-bkin
source tree when it runs from a checkout, the command line, the host and the run times.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import w2t_bkin
from w2t_bkin.config import Config
from w2t_bkin.errors import IngestError
from w2t_bkin.io_utils import atomic_write_json
from w2t_bkin.metadata import SessionMetadata
from w2t_bkin.runtime.fingerprint import DigestCache, file_digest

log = logging.getLogger(__name__)

PROVENANCE_SCHEMA_VERSION = 1
GIT_TIMEOUT_S = 5.0

TRACKED_DISTRIBUTIONS: tuple[str, ...] = (
    "numpy",
    "scipy",
    "pandas",
    "tables",
    "h5py",
    "pynwb",
    "hdmf",
    "ndx-pose",
    "ndx-structured-behavior",
    "nwbinspector",
    "sleap-io",
    "av",
    "pydantic",
    "matplotlib",
)
"""Distributions whose versions are recorded (they read, transform or write the data)."""

__all__ = [
    "PROVENANCE_SCHEMA_VERSION",
    "TRACKED_DISTRIBUTIONS",
    "build_provenance",
    "describe_file",
    "package_versions",
    "source_git_commit",
    "write_provenance",
]


def build_provenance(
    *,
    config: Config | None,
    metadata: SessionMetadata | None,
    inputs: Sequence[str | os.PathLike[str]],
    outputs: Sequence[str | os.PathLike[str]] = (),
    command_line: list[str] | None = None,
    checksum_inputs: bool = True,
    checksum_outputs: bool = True,
    started_at: dt.datetime,
    finished_at: dt.datetime | None = None,
    status: Mapping[str, Any] | None = None,
    digest_cache: DigestCache | None = None,
) -> dict[str, Any]:
    """Build the provenance record of one session run.

    Parameters
    ----------
    config
        The effective configuration; None when it could not be loaded (a failed run).
    metadata
        The merged session metadata; None when it could not be loaded (a failed run).
    inputs
        Raw files read by the run (videos, TTL files, Bpod files, pose outputs ...).
    outputs
        Files written by the run (the NWB file, sidecars).
    command_line
        The command that started the run; ``sys.argv`` when ``None``.
    checksum_inputs, checksum_outputs
        Stream a SHA-256 of each input / output file (``sha256`` is ``None`` when false).
    started_at, finished_at
        Run times; naive datetimes are taken as local time. ``finished_at`` defaults to now.
    status
        How the run ended, e.g. ``{"status": "failed", "failed_phase": ..., "error": ...}``;
        recorded as given (``{"status": "succeeded"}`` when None).
    digest_cache
        Where known content digests are kept (:class:`~w2t_bkin.runtime.fingerprint.DigestCache`,
        keyed by path, size, mtime and inode): an unchanged input is hashed once, not per run.

    Returns
    -------
    dict
        JSON-serialisable record; see :func:`describe_file` for the entries of ``inputs`` and
        ``outputs``.

    Raises
    ------
    IngestError
        An input or output file is missing or unreadable.
    """
    started = _aware(started_at)
    finished = _aware(finished_at) if finished_at is not None else dt.datetime.now(dt.UTC)
    return {
        "schema_version": PROVENANCE_SCHEMA_VERSION,
        "pipeline": "w2t-bkin",
        "w2t_bkin_version": w2t_bkin.__version__,
        "git_commit": source_git_commit(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "packages": package_versions(),
        "status": dict(status) if status is not None else {"status": "succeeded"},
        "config": config.model_dump(mode="json") if config is not None else None,
        "config_hash": config.config_hash() if config is not None else None,
        "metadata": metadata.model_dump(mode="json") if metadata is not None else None,
        "inputs": [
            describe_file(path, checksum=checksum_inputs, digest_cache=digest_cache)
            for path in inputs
        ],
        "outputs": [describe_file(path, checksum=checksum_outputs) for path in outputs],
        "command_line": list(sys.argv if command_line is None else command_line),
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "duration_s": (finished - started).total_seconds(),
    }


def write_provenance(prov: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a provenance record atomically as JSON (sorted keys, indent 2)."""
    return atomic_write_json(path, prov)


def describe_file(
    path: str | os.PathLike[str], *, checksum: bool = True, digest_cache: DigestCache | None = None
) -> dict[str, Any]:
    """Identity of one file: where it is, its size, modification time and content hash.

    Returns
    -------
    dict
        ``path`` (as given), ``resolved_path`` (absolute, symlinks resolved),
        ``symlink_target`` (the link's own target text, ``None`` when not a link),
        ``size_bytes``, ``mtime`` (ISO-8601, UTC) and ``sha256`` (of the content the link
        points to; ``None`` when ``checksum`` is false).

    Raises
    ------
    IngestError
        The file (or a link's target) is missing or unreadable.
    """
    path = Path(path)
    symlink_target = str(os.readlink(path)) if path.is_symlink() else None
    try:
        resolved = path.resolve(strict=True)
        stat = resolved.stat()
    except (OSError, RuntimeError) as exc:
        raise IngestError(
            f"cannot record provenance of {path}: file not found or unreadable"
            + (f" (symlink to {symlink_target})" if symlink_target else ""),
            hint="inputs must stay in place until the run finishes",
            path=path,
        ) from exc
    return {
        "path": str(path),
        "resolved_path": str(resolved),
        "symlink_target": symlink_target,
        "size_bytes": stat.st_size,
        "mtime": dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).isoformat(),
        "sha256": file_digest(resolved, digest_cache) if checksum else None,
    }


def package_versions(distributions: Iterable[str] = TRACKED_DISTRIBUTIONS) -> dict[str, str | None]:
    """Installed version of each distribution (``None`` when not installed)."""
    versions: dict[str, str | None] = {}
    for name in distributions:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def source_git_commit(source_dir: str | os.PathLike[str] | None = None) -> str | None:
    """Commit (40 hex) of the git checkout holding the w2t-bkin sources, or ``None``.

    ``None`` when git is missing, times out, or the package is not tracked by a checkout (an
    installed wheel inside some other repository must not report that repository's commit).
    Never raises.
    """
    folder = Path(source_dir) if source_dir is not None else Path(w2t_bkin.__file__).parent
    tracked = _git(folder, "ls-files", "--error-unmatch", "__init__.py")
    if tracked is None:
        return None
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None or len(commit) != 40:
        return None
    return commit


def _git(folder: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("git %s in %s failed: %s", " ".join(args), folder, exc)
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip()


def _aware(moment: dt.datetime) -> dt.datetime:
    # A naive datetime is local wall-clock time; attach the local zone so ISO text is explicit.
    return moment if moment.tzinfo is not None else moment.astimezone()
