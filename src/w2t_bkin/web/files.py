"""Files the dashboard serves and reads: confined to the workspace, sidecars parsed once.

Every path a request names goes through :func:`resolve_in_workspace`: no absolute path, no
``..`` (also after URL decoding, which the router has done once already), and the resolved
target, symlinks followed, must lie inside the workspace's ``data/`` folder. A link inside the
workspace that points out of it is refused like a ``..``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from w2t_bkin.web.errors import PathRefusedError
from w2t_bkin.workspace.layout import Workspace

#: Sidecars of a processed session folder, by the name the session page and API use.
SIDECARS = {
    "status": "status.json",
    "alignment_stats": "alignment_stats.json",
    "validation": "validation.json",
    "provenance": "provenance.json",
}

#: Largest sidecar the dashboard parses (a bigger file is named, not read).
MAX_SIDECAR_BYTES = 32 * 1024 * 1024


def resolve_in_workspace(root: Path, relative: str) -> Path:
    """The file ``relative`` (POSIX, relative to the workspace root) names, inside ``data/``.

    Raises
    ------
    PathRefusedError
        Absolute path, a ``..`` part (plain or percent-encoded), a path outside ``data/``, a
        symlink whose target lies outside the workspace, or no such file.
    """
    text = unquote(relative)  # a second decoding: "%2e%2e" must not pass as a name
    parts = PurePosixPath(text.replace("\\", "/")).parts
    if text.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts:
        raise PathRefusedError(
            f"refused path {relative!r}: expected a path relative to the workspace without '..'",
            hint="open files through the links of the dashboard",
        )
    data = (Path(root) / "data").resolve()
    target = (data.parent / Path(*parts)).resolve() if parts else data
    if not target.is_relative_to(data):
        raise PathRefusedError(
            f"refused path {relative!r}: it resolves outside {data}",
            hint="only files under the workspace's data/ folder are served",
        )
    if not target.is_file():
        raise PathRefusedError(
            f"no file {relative!r} in the workspace",
            hint="the session may not have been processed yet",
        )
    return target


@dataclass(frozen=True)
class SessionFilesView:
    """What a processed session folder holds, for the session page.

    ``sidecars`` maps each name of :data:`SIDECARS` to its parsed JSON, or to ``None`` when the
    file is absent; ``problems`` lists sidecars that exist but could not be read.
    """

    folder: Path
    qc_report: str | None
    pipeline_log: str | None
    nwb: str | None
    sidecars: dict[str, Any]
    problems: tuple[str, ...]


def session_files(workspace: Workspace, subject: str, session: str) -> SessionFilesView:
    """Read a session's processed folder (nothing there yet is not an error)."""
    folder = workspace.processed_dir(subject, session)
    base = f"data/processed/{subject}/{session}"
    sidecars: dict[str, Any] = {}
    problems: list[str] = []
    for name, filename in SIDECARS.items():
        path = folder / filename
        sidecars[name] = None
        if not path.is_file():
            continue
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            problems.append(f"{filename} is larger than {MAX_SIDECAR_BYTES >> 20} MiB: not shown")
            continue
        try:
            sidecars[name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{filename} cannot be read: {exc}")
    nwb = f"sub-{subject}_ses-{session}.nwb"
    return SessionFilesView(
        folder=folder,
        qc_report=f"{base}/qc/report.html" if (folder / "qc" / "report.html").is_file() else None,
        pipeline_log=f"{base}/pipeline.log" if (folder / "pipeline.log").is_file() else None,
        nwb=f"{base}/{nwb}" if (folder / nwb).is_file() else None,
        sidecars=sidecars,
        problems=tuple(problems),
    )
