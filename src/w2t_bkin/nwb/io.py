"""Writing NWB files: dataset chunking/compression and an atomic, fsync'ed file write."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.common import ElementIdentifiers
from pynwb import NWBHDF5IO, NWBFile

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.errors import OutputError
from w2t_bkin.io_utils import current_umask, fsync_dir

log = logging.getLogger(__name__)


def wrap_dataset(data: np.ndarray, config: AssemblyConfig) -> np.ndarray | H5DataIO:
    """Chunk (and compress) an array along its first axis as ``config`` asks.

    Parameters
    ----------
    data
        ``(n_rows, ...)`` array; the first axis is time (frames, pulses, events).
    config
        ``compression`` ('gzip' | 'none'), ``compression_level``, ``shuffle`` (numeric arrays
        only, with gzip) and ``chunk_rows`` are honoured.

    Returns
    -------
    numpy.ndarray or H5DataIO
        ``data`` itself when it has no rows (HDF5 chunks cannot be empty), otherwise wrapped.
    """
    data = np.asarray(data)
    if data.ndim == 0 or data.shape[0] == 0:
        return data
    chunks = (min(config.chunk_rows, data.shape[0]), *data.shape[1:])
    if config.compression == "gzip":
        return H5DataIO(
            data,
            chunks=chunks,
            compression="gzip",
            compression_opts=config.compression_level,
            shuffle=config.shuffle and data.dtype.kind in "iufb",
        )
    return H5DataIO(data, chunks=chunks)


def row_ids(n_rows: int) -> ElementIdentifiers:
    """The ``id`` column of a table built from whole columns: ``(n_rows,) int64`` 0..n_rows-1.

    Without it hdmf fills ``id`` with a Python list and converts it element by element when
    writing (about 12 s per million rows); an array is written in one call.
    """
    return ElementIdentifiers(name="id", data=np.arange(n_rows, dtype=np.int64))


def write_nwbfile_atomic(nwbfile: NWBFile, path: Path) -> Path:
    """Write ``nwbfile`` to ``path`` so that ``path`` is either complete or untouched.

    :func:`write_nwbfile_staged` then :func:`publish_file`: the file is written under a hidden
    temporary name in the same folder, flushed and fsync'ed, then renamed over ``path`` with
    :func:`os.replace` (atomic on POSIX file systems). On any failure the temporary file is
    removed and nothing appears at ``path``.

    Raises
    ------
    OutputError
        The folder does not exist or is not writable, or writing failed (e.g. disk full).
    """
    return publish_file(write_nwbfile_staged(nwbfile, path), path)


def staged_name_pattern(path: Path) -> str:
    """Glob (in ``path``'s folder) of the temporary files :func:`write_nwbfile_staged` makes."""
    return f".{Path(path).stem}.*{STAGED_SUFFIX}"


STAGED_SUFFIX = ".partial.nwb"


def write_nwbfile_staged(nwbfile: NWBFile, path: Path) -> Path:
    """Write ``nwbfile`` completely to a hidden temporary file next to ``path``.

    The temporary file (``.<stem>.<random>.partial.nwb``) is flushed and fsync'ed; it can be
    validated before :func:`publish_file` renames it to ``path``. Nothing is written at ``path``.

    Returns
    -------
    Path
        The temporary file.

    Raises
    ------
    OutputError
        The folder does not exist or is not writable, or writing failed (e.g. disk full); no
        temporary file is left behind.
    """
    path = Path(path).absolute()
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(
            f"cannot write NWB file {path}: folder {folder} does not exist",
            hint="create the output folder first, or check that its parent is writable",
            path=path,
        )
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=STAGED_SUFFIX, dir=folder)
    except OSError as exc:
        raise OutputError(
            f"cannot write NWB file {path}: folder {folder} is not writable ({exc.strerror})",
            hint="check the folder permissions or choose another output folder",
            path=path,
        ) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with NWBHDF5IO(str(tmp), mode="w") as io:
            io.write(nwbfile)
        _fsync_path(tmp)
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~current_umask())
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(
            f"could not write NWB file {path}: {_describe(exc)}", hint=_hint(exc), path=path
        ) from exc
    return tmp


def publish_file(tmp: Path, path: Path) -> Path:
    """Rename the complete file ``tmp`` to ``path`` atomically (same folder) and fsync the folder.

    Raises
    ------
    OutputError
        The rename failed; ``tmp`` is removed and ``path`` is untouched.
    """
    path = Path(path).absolute()
    try:
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(
            f"could not write NWB file {path}: {_describe(exc)}", hint=_hint(exc), path=path
        ) from exc
    log.info("wrote %s (%.1f MiB)", path, path.stat().st_size / 2**20)
    return path


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} (errno {exc.errno})"
    return f"{type(exc).__name__}: {exc}"


def _hint(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free disk space in the output folder and run the session again"
    if isinstance(exc, OSError):
        return "check that the output folder is writable and on a healthy file system"
    return "this is likely a bug in the assembled NWB content; please report it with the log"


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
