"""Recording dicts that survive a move: lexical relative paths, no sample arrays, a reload check.

SpikeInterface's ``to_dict(relative_to=...)`` resolves symlinks before relativising, so a data
folder reached through a link (how pipelines stage data) yields ``../../../real/place/...``
paths that break as soon as the job is read from a folder of another depth. Here readers are
given lexically absolute paths (``os.path.abspath``, links kept), and those are made relative
to the data folder by string arithmetic only. A path outside the data folder is an error, not
a silently absolute dict.

SpikeInterface >= 0.105 embeds the whole time vector of a recording whose times were changed
in memory (``times_kwargs``), and repeats the probe group at every nesting level; both are
removed (the reader recomputes the probe; times are never set by the dispatch).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from w2t_bkin.ephys.errors import PortablePathError

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

__all__ = [
    "InputsFingerprint",
    "PortableDict",
    "inputs_fingerprint",
    "lexical_abspath",
    "missing_relative_paths",
    "portable_dict",
    "verify_relocated_reload",
]

_FILE_KEYS = ("folder_path", "file_path", "folder_paths", "file_paths")


def lexical_abspath(path: str | os.PathLike[str]) -> Path:
    """Absolute, normalised path **without** resolving symlinks."""
    return Path(os.path.normpath(os.path.abspath(path)))


def _is_file_key(name: str) -> bool:
    return name.endswith(_FILE_KEYS)


@dataclass(frozen=True)
class PortableDict:
    """A recording dict ready for a job file, and what was removed from it.

    Attributes
    ----------
    spec
        JSON-ready SpikeInterface dict; file paths relative to the data folder.
    dropped_time_vectors
        Segments whose embedded time vector was removed.
    """

    spec: dict[str, Any]
    dropped_time_vectors: int


def portable_dict(recording: BaseRecording, data_dir: str | Path) -> PortableDict:
    """``recording.to_dict(recursive=True)`` with paths relative to ``data_dir``.

    Raises
    ------
    PortablePathError
        A file the recording reads lies outside ``data_dir`` (it could not be moved with it).
    """
    from spikeinterface.core.core_tools import SIJsonEncoder

    root = lexical_abspath(data_dir)
    raw = recording.to_dict(recursive=True)
    # through JSON once: numpy scalars, Paths and arrays become plain JSON values
    spec = json.loads(json.dumps(raw, cls=SIJsonEncoder))
    dropped = _clean(spec, root, depth=0)
    spec["relative_paths"] = True
    return PortableDict(spec, dropped)


def _clean(node: Any, root: Path, depth: int, key: str = "") -> int:
    """Relativise paths, drop nested probe groups and time vectors in place; count the latter."""
    dropped = 0
    if isinstance(node, dict):
        if "class" in node and "kwargs" in node:
            if depth > 0:
                node.pop("probegroup", None)  # the outer dict carries the probe once
            node.pop("relative_paths", None)
            dropped += _drop_time_vectors(node)
            _drop_derived_block_index(node)
            depth += 1
        for name, value in node.items():
            if _is_file_key(name) and isinstance(value, str):
                node[name] = _relative(value, root)
            elif _is_file_key(name) and isinstance(value, list):
                node[name] = [_relative(v, root) if isinstance(v, str) else v for v in value]
            else:
                dropped += _clean(value, root, depth, name)
    elif isinstance(node, list):
        for item in node:
            dropped += _clean(item, root, depth, key)
    return dropped


def _drop_derived_block_index(extractor: dict[str, Any]) -> None:
    # SpikeInterface 0.105 stores the block_index it derived from experiment_name next to it,
    # and then refuses to load a dict that has both.
    kwargs = extractor["kwargs"]
    if str(extractor.get("class", "")).endswith("OpenEphysBinaryRecordingExtractor") and (
        isinstance(kwargs, dict) and kwargs.get("experiment_name") is not None
    ):
        kwargs.pop("block_index", None)


def _drop_time_vectors(extractor: dict[str, Any]) -> int:
    times = extractor.get("times_kwargs")
    if not isinstance(times, list):
        return 0
    n = 0
    for segment in times:
        vector = segment.get("time_vector") if isinstance(segment, dict) else None
        if vector is not None:
            # keep where the segment starts (small); the per-sample vector is not portable
            segment["t_start"] = float(vector[0]) if len(vector) else None
            segment["time_vector"] = None
            n += 1
    return n


def _relative(value: str, root: Path) -> str:
    if not os.path.isabs(value):
        return value
    path = lexical_abspath(value)
    if path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    # some readers (binary folders, zarr) resolve their own path: a data folder reached through
    # a link then shows up as its target, which the link maps back onto the data folder
    real_root = root.resolve()
    if path.is_relative_to(real_root):
        return path.relative_to(real_root).as_posix()
    via_link = _through_links(path, root)
    if via_link is not None:
        return via_link
    raise PortablePathError(
        f"recording file {path} is outside the data folder {root}; the job could not be "
        "read after the data folder moves",
        path=path,
        hint="put every file of the session under the data folder (a symlink inside it "
        "is fine) and dispatch again",
    )


def _through_links(path: Path, root: Path, depth: int = 2) -> str | None:
    """``path`` (resolved by its reader) as seen through a symlink within ``depth`` levels of
    ``root`` (``data/ecephys_session -> /somewhere/session``), or ``None``."""
    level = [root]
    for _ in range(depth):
        children = [c for folder in level if folder.is_dir() for c in sorted(folder.iterdir())]
        for child in children:
            if child.is_symlink():
                target = child.resolve()
                if path.is_relative_to(target):
                    inside = child.relative_to(root) / path.relative_to(target)
                    return inside.as_posix()
        level = [c for c in children if c.is_dir() and not c.is_symlink()]
    return None


def _file_entries(node: Any) -> Iterator[tuple[dict[str, Any] | list[Any], str | int, str]]:
    """``(container, key, value)`` of every file path in the extractor kwargs of ``node``.

    Walks extractor dicts and their kwargs only (never probe groups or properties, which hold
    thousands of values and no paths), so it costs microseconds where SpikeInterface's generic
    dict iterator costs a tenth of a second on a 384-channel probe.
    """
    if isinstance(node, list):
        for item in node:
            yield from _file_entries(item)
        return
    if not isinstance(node, dict):
        return
    kwargs = node.get("kwargs") if "class" in node else node
    if not isinstance(kwargs, dict):
        return
    for name, value in kwargs.items():
        if _is_file_key(name) and isinstance(value, str):
            yield kwargs, name, value
        elif _is_file_key(name) and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    yield value, index, item
        elif isinstance(value, dict | list):
            yield from _file_entries(value)


@dataclass(frozen=True)
class InputsFingerprint:
    """What the files a recording reads look like now, without reading them.

    Attributes
    ----------
    digest
        SHA-256 of the sorted ``(relative path, size, mtime_ns)`` of every file.
    n_files, size_bytes
        How many files, and their total size.
    """

    digest: str
    n_files: int
    size_bytes: int


def inputs_fingerprint(spec: dict[str, Any], data_dir: str | Path) -> InputsFingerprint:
    """Stat every file under the (relative) paths of ``spec``: folders are walked."""
    import hashlib

    base = Path(data_dir)
    rows: list[tuple[str, int, int]] = []
    for _, _, value in _file_entries(spec):
        top = base / value
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for file in files:
            if file.is_file():
                st = file.stat()
                rows.append((file.relative_to(base).as_posix(), st.st_size, st.st_mtime_ns))
    rows = sorted(set(rows))
    digest = hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()
    return InputsFingerprint(digest, len(rows), sum(size for _, size, _ in rows))


def missing_relative_paths(spec: dict[str, Any], data_dir: str | Path) -> list[str]:
    """Relative file paths of ``spec`` that do not exist under ``data_dir``."""
    base = Path(data_dir)
    return [
        value
        for _, _, value in _file_entries(spec)
        if not os.path.isabs(value) and not (base / value).exists()
    ]


def _absolute_copy(spec: dict[str, Any], base: Path) -> dict[str, Any]:
    """``spec`` with relative file paths joined to ``base`` (what ``si.load`` does, faster).

    Only extractor dicts and their kwargs are copied; probe groups and properties are shared
    with ``spec`` (read-only here).
    """

    def absolute(value: Any) -> Any:
        return value if os.path.isabs(value) else str(base / value)

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not (
            isinstance(node, dict) and "class" in node and isinstance(node.get("kwargs"), dict)
        ):
            return node
        kwargs = {}
        for name, value in node["kwargs"].items():
            if _is_file_key(name) and isinstance(value, str):
                kwargs[name] = absolute(value)
            elif _is_file_key(name) and isinstance(value, list):
                kwargs[name] = [absolute(v) if isinstance(v, str) else v for v in value]
            else:
                kwargs[name] = convert(value)
        return {**node, "kwargs": kwargs}

    out: dict[str, Any] = convert(spec)
    out["relative_paths"] = False
    return out


def verify_relocated_reload(
    spec: dict[str, Any], data_dir: str | Path, recording: BaseRecording
) -> str | None:
    """Load ``spec`` from a relocated view of ``data_dir``; ``None`` if it matches ``recording``.

    The data folder is seen through a symlink in a fresh temporary folder (another path, another
    depth), so a path that is absolute, escapes the folder or was resolved would fail here and
    not on the sorting machine. Returns the reason when the reload fails or differs.
    """
    import spikeinterface as si

    with tempfile.TemporaryDirectory(prefix="w2t-ephys-reload-") as tmp:
        moved = Path(tmp) / "relocated" / "data"
        moved.parent.mkdir()
        moved.symlink_to(lexical_abspath(data_dir), target_is_directory=True)
        missing = missing_relative_paths(spec, moved)
        if missing:
            return f"{missing[0]!r} not found under a relocated data folder"
        try:
            loaded = si.load(_absolute_copy(spec, moved))
        except Exception as exc:  # any reader failure is the finding itself
            return f"reload failed: {type(exc).__name__}: {exc}"
        expected = (
            recording.get_num_channels(),
            recording.get_num_segments(),
            float(recording.get_sampling_frequency()),
            [recording.get_num_samples(k) for k in range(recording.get_num_segments())],
            list(map(str, recording.get_channel_ids())),
        )
        found = (
            loaded.get_num_channels(),
            loaded.get_num_segments(),
            float(loaded.get_sampling_frequency()),
            [loaded.get_num_samples(k) for k in range(loaded.get_num_segments())],
            list(map(str, loaded.get_channel_ids())),
        )
        if found != expected:
            names = ("channels", "segments", "rate", "samples", "channel ids")
            diff = [n for n, a, b in zip(names, expected, found, strict=True) if a != b]
            return f"reloaded recording differs in {', '.join(diff)}"
    return None
