"""Atomic file writes and streamed checksums used across the package.

Every output a user may read while a run is in progress (JSON sidecars, the QC report,
provenance) is written to a temporary file in the destination folder, flushed and fsynced, then
moved over the destination with :func:`os.replace`. A reader therefore sees the old file or the
new one, never half of one, and a failed write leaves the old file untouched and no temporary
file behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import hashlib
import json
import logging
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from w2t_bkin.errors import IngestError, OutputError

log = logging.getLogger(__name__)

DEFAULT_CHUNK_BYTES = 1 << 20
"""Read size of :func:`sha256_file` (1 MiB): large enough to be fast, small enough to stream."""

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "current_umask",
    "fsync_dir",
    "sha256_file",
    "to_jsonable",
]


@functools.cache
def current_umask() -> int:
    # os.umask can only be read by setting it; do it once, not on every write.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically.

    The parent folder is created when missing. A new file gets the default permissions
    (``0o666`` minus the umask); an existing file keeps its permissions.

    Parameters
    ----------
    path
        Destination file.
    data
        Complete file content.

    Returns
    -------
    Path
        The destination path.

    Raises
    ------
    OutputError
        The folder cannot be created or written, or the final rename fails. The destination is
        unchanged and no temporary file remains.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(
            f"cannot create a file in {path.parent} to write {path.name}: {exc.strerror or exc}",
            hint="check that the folder exists, is writable and the disk is not full",
            path=path,
        ) from exc

    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, _target_mode(path))
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="check free disk space and write permission; the previous file is unchanged",
            path=path,
        ) from exc
    fsync_dir(path.parent)
    log.debug("wrote %s (%d bytes)", path, len(data))
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as JSON (sorted keys, indent 2, trailing newline) atomically.

    NumPy scalars and arrays, paths, datetimes and enums are converted by :func:`to_jsonable`;
    NaN and infinities become ``null`` (strict JSON has no such numbers).

    Raises
    ------
    OutputError
        ``obj`` holds a value that has no JSON form, or the file cannot be written.
    """
    path = Path(path)
    try:
        text = json.dumps(to_jsonable(obj), sort_keys=True, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OutputError(
            f"cannot write {path}: the content is not JSON serialisable ({exc})",
            hint="convert the value to numbers, strings, lists or dicts before writing",
            path=path,
        ) from exc
    return atomic_write_text(path, text + "\n")


def to_jsonable(obj: Any) -> Any:
    """A copy of ``obj`` made only of JSON types.

    NumPy arrays become nested lists, NumPy scalars Python numbers, non-finite floats ``None``,
    paths strings, datetimes/dates ISO-8601 strings, enums their value, tuples and sets lists
    (sets sorted), and mapping keys strings.

    Raises
    ------
    TypeError
        A value has no JSON form.
    """
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    # NumPy is looked up, not imported: an object cannot be a NumPy value unless NumPy is
    # loaded already, and commands that never touch arrays should not pay for the import.
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if np is not None and isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, Mapping):
        return {str(to_jsonable(key)): to_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(item) for item in obj]
    if isinstance(obj, set | frozenset):
        return sorted(to_jsonable(item) for item in obj)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> str:
    """SHA-256 (lowercase hex) of a file, read in chunks so memory stays flat.

    Symbolic links are followed: the checksum is of the content the link points to.

    Raises
    ------
    IngestError
        The file is missing or unreadable.
    ValueError
        ``chunk_bytes`` is not positive.
    """
    if chunk_bytes <= 0:
        raise ValueError(f"chunk_bytes must be positive, not {chunk_bytes}")
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(chunk_bytes):
                digest.update(chunk)
    except OSError as exc:
        raise IngestError(
            f"cannot read {path} to compute its checksum: {exc.strerror or exc}",
            hint="check that the file exists and is readable",
            path=path,
        ) from exc
    return digest.hexdigest()


def _target_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; not possible (nor needed) everywhere.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def spill_array(array: Any, folder: str | os.PathLike[str]) -> Any:
    """A read-only copy of a numpy ``array`` whose memory is a file on disk, not the heap.

    The copy is written to a file in ``folder`` that has no name (removed as soon as it is
    created: nothing is left behind, whatever happens to this process) and mapped back. Its
    pages are read from the page cache when used and count in this process's memory only while
    they are in use (see :func:`drop_resident_pages`), so large arrays that wait for a later
    step (a session's pose tracks, from ingestion to assembly) do not hold memory meanwhile.

    Returns ``array`` itself when it is empty or the file cannot be written (e.g. a full disk:
    the data stay in memory, which costs memory and loses nothing).
    """
    import mmap

    import numpy as np

    data = np.ascontiguousarray(array)
    if data.nbytes == 0:
        return array
    try:
        with tempfile.TemporaryFile(dir=folder) as stream:
            stream.write(data.reshape(-1).view(np.uint8).data)
            stream.flush()
            # the mapping holds its own reference to the file's data
            mapping = mmap.mmap(stream.fileno(), data.nbytes, access=mmap.ACCESS_READ)
    except OSError as exc:
        log.info(
            "kept a %d-byte array in memory: cannot write it to %s (%s)", data.nbytes, folder, exc
        )
        return array
    return np.frombuffer(mapping, dtype=data.dtype).reshape(data.shape)


def file_mapping_of(array: Any) -> Any:
    """The ``mmap.mmap`` behind a numpy array (a view of one, at any depth), else ``None``."""
    import mmap

    base = array
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return None


def drop_resident_pages(array: Any) -> bool:
    """Release the pages of the file mapping behind ``array`` (:func:`spill_array`) from this
    process's memory; the data stay on disk and are read again if used. ``False`` when the
    array is not file-backed or the platform cannot do it."""
    import mmap

    mapping = file_mapping_of(array)
    if mapping is None or not hasattr(mmap, "MADV_DONTNEED"):
        return False
    mapping.madvise(mmap.MADV_DONTNEED)
    return True
