"""Writing NWB files: dataset chunking/compression and an atomic, fsync'ed file write."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.common import ElementIdentifiers
from hdmf.container import Data
from pynwb import NWBHDF5IO, NWBFile

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.errors import OutputError
from w2t_bkin.io_utils import current_umask, drop_resident_pages, file_mapping_of, fsync_dir

log = logging.getLogger(__name__)


_DEFERRED_FILL: ContextVar[bool] = ContextVar("w2t_deferred_fill", default=False)
"""True while :func:`write_nwbfile_staged` has hdmf write a file: the ChunkedGzipIO datasets
are filled after hdmf is done, all together (:func:`fill_deferred_datasets`)."""


class ChunkedGzipIO(H5DataIO):
    """An HDF5 gzip (+ shuffle) dataset whose chunks are compressed by us, in parallel threads.

    hdmf creates the dataset (empty, with the same chunking and filter pipeline it would give
    ``data``) and hands it over (the ``dataset`` attribute); its chunks are then written
    already compressed with ``write_direct_chunk``: at once, whoever writes the file (plain
    ``NWBHDF5IO.write`` gives a complete file too), or, in :func:`write_nwbfile_staged`, after
    hdmf is done, by :func:`fill_deferred_datasets` for every dataset of the file together.

    The file is byte-for-byte what HDF5's filters describe: each chunk is a zlib stream of the
    shuffled chunk, so every HDF5 reader decodes it with its standard ``deflate`` and
    ``shuffle`` filters. HDF5 itself compresses on one thread with zlib, about
    30 MB/s on pose arrays; ISA-L's zlib-compatible encoder (``isal``) does ~10x that per core.
    """

    def __init__(self, data: np.ndarray, chunks: tuple[int, ...], level: int, shuffle: bool):
        super().__init__(
            shape=data.shape,
            dtype=data.dtype,
            chunks=chunks,
            compression="gzip",
            compression_opts=level,
            shuffle=shuffle,
        )
        self.source = data
        self.level = level
        self.use_shuffle = shuffle

    @property
    def dataset(self) -> Any:
        """The h5py dataset hdmf created for this array (``None`` before)."""
        return H5DataIO.dataset.fget(self)  # type: ignore[attr-defined]

    @dataset.setter
    def dataset(self, created: Any) -> None:
        H5DataIO.dataset.fset(self, created)  # type: ignore[attr-defined]
        if not _DEFERRED_FILL.get():
            fill_deferred_datasets([self])

    def __len__(self) -> int:
        return int(self.source.shape[0])

    # pynwb's constructors check lengths and shapes, and in-memory readers index the data:
    # they see the array, as with any other DataIO.
    def __getitem__(self, item: Any) -> Any:
        return self.source[item]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.source, dtype=dtype)


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
    shuffle = config.shuffle and data.dtype.kind in "iufb"
    if config.compression == "gzip" and data.dtype.kind in "iufb":
        # Every numeric array, however small: writing a 128-byte one this way costs no more
        # than HDF5's filter, a 256-kB one 2.3 instead of 6.1 ms (the keypoints of a 10-min
        # session are 0.7 MB each). A view stays a view (one keypoint of a pose array).
        return ChunkedGzipIO(data, chunks, config.compression_level, shuffle)
    if config.compression == "gzip":  # strings and other non-numeric arrays
        return H5DataIO(
            data,
            chunks=chunks,
            compression="gzip",
            compression_opts=config.compression_level,
            shuffle=shuffle,
        )
    return H5DataIO(data, chunks=chunks)


def deferred_datasets(nwbfile: NWBFile) -> list[ChunkedGzipIO]:
    """Every :class:`ChunkedGzipIO` the objects of ``nwbfile`` hold (each once).

    A container holds its arrays in ``fields`` (a TimeSeries' ``data``, ``timestamps``); a
    ``Data`` object (a table column: ``VectorData``, ``TimestampVectorData``, ``id``) holds
    its array as ``data``, outside ``fields``: both are searched.
    """
    found: dict[int, ChunkedGzipIO] = {}
    for obj in nwbfile.objects.values():
        values = list(obj.fields.values())
        if isinstance(obj, Data):
            values.append(obj.data)
        for value in values:
            if isinstance(value, ChunkedGzipIO):
                found.setdefault(id(value), value)
    return list(found.values())


def check_all_written(handle: Any, path: Path) -> None:
    """Raise when a chunked dataset of the open HDF5 file ``handle`` has no chunk written.

    Such a dataset reads back as its fill value (zeros) everywhere: data that were meant to be
    written and were not. It costs one metadata query per dataset, no data read.

    Raises
    ------
    OutputError
        Naming every such dataset.
    """
    import h5py

    empty: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if (
            isinstance(obj, h5py.Dataset)
            and obj.chunks is not None
            and obj.size > 0
            and obj.id.get_storage_size() == 0
        ):
            empty.append(name)

    handle.visititems(visit)
    if empty:
        raise OutputError(
            f"NWB file {path}: {len(empty)} dataset(s) were created but never written "
            f"(they would read as zeros): {', '.join(empty[:10])}",
            hint="this is a w2t-bkin bug; please report it with the log",
            path=path,
        )


def fill_deferred_datasets(datasets: list[ChunkedGzipIO], max_workers: int | None = None) -> None:
    """Write each dataset's chunks, compressed in a thread pool, in order, with bounded memory.

    At most ``2 * max_workers`` compressed chunks wait in memory; the HDF5 writes stay on this
    thread (h5py serialises them anyway). Datasets whose arrays are views of one file-backed
    array (:func:`~w2t_bkin.io_utils.spill_array`: the keypoints of one camera) are written one
    after another, and that array's pages leave memory once the last of them is written: only
    one such array is in memory at a time.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    ordered = _grouped_by_mapping(datasets)
    last_of_mapping = {id(m): i for i, (_, m) in enumerate(ordered) if m is not None}
    workers = max_workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="w2t-gzip") as pool:
        for index, (dataio, mapping) in enumerate(ordered):
            dataset = dataio.dataset
            rows = dataset.chunks[0]
            n_rows = dataio.source.shape[0]
            pending: list[tuple[int, Future[bytes]]] = []
            for start in range(0, n_rows, rows):
                pending.append((start, pool.submit(_compress_chunk, dataio, start, rows)))
                if len(pending) >= 2 * workers:
                    _write_chunk(dataset, *pending.pop(0))
            for item in pending:
                _write_chunk(dataset, *item)
            if mapping is not None and last_of_mapping[id(mapping)] == index:
                drop_resident_pages(dataio.source)


def _grouped_by_mapping(datasets: list[ChunkedGzipIO]) -> list[tuple[ChunkedGzipIO, Any]]:
    """``datasets`` with the file mapping behind each (or None), those of one mapping together
    (where its first one was), the order otherwise kept."""
    groups: dict[int, list[tuple[ChunkedGzipIO, Any]]] = {}
    for position, dataio in enumerate(datasets):
        mapping = file_mapping_of(dataio.source)
        key = id(mapping) if mapping is not None else -1 - position
        groups.setdefault(key, []).append((dataio, mapping))
    return [item for group in groups.values() for item in group]


def _write_chunk(dataset: object, start: int, future: object) -> None:
    offset = (start,) + (0,) * (len(dataset.shape) - 1)  # type: ignore[attr-defined]
    dataset.id.write_direct_chunk(offset, future.result())  # type: ignore[attr-defined]


def _compress_chunk(dataio: ChunkedGzipIO, start: int, rows: int) -> bytes:
    """One chunk as HDF5 stores it: padded to the full chunk shape, shuffled, zlib-compressed."""
    block = dataio.source[start : start + rows]
    if block.shape[0] < rows:  # HDF5 stores edge chunks whole; the padding is never read
        padded = np.zeros((rows, *block.shape[1:]), dtype=block.dtype)
        padded[: block.shape[0]] = block
        block = padded
    raw = np.ascontiguousarray(block).view(np.uint8)
    if dataio.use_shuffle and block.dtype.itemsize > 1:
        # HDF5's shuffle filter: byte 0 of every element, then byte 1, ... (element = itemsize).
        raw = raw.reshape(-1, block.dtype.itemsize).T
    return _zlib_compress(np.ascontiguousarray(raw).tobytes(), dataio.level)


def _zlib_compress(data: bytes, level: int) -> bytes:
    """A zlib stream (what HDF5's deflate filter reads), by ISA-L when installed, else zlib.

    ISA-L has levels 0-3; zlib's 0-9 map onto them as 0 -> 0, 1-3 -> 1, 4-6 -> 2, 7-9 -> 3.
    Both release the GIL, so chunks compress on every core.
    """
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - isal is a dependency; zlib keeps files identical
        import zlib

        return zlib.compress(data, level)
    return isal_zlib.compress(data, 0 if level == 0 else min(3, 1 + (level - 1) // 3))


def row_ids(n_rows: int, config: AssemblyConfig | None = None) -> ElementIdentifiers:
    """The ``id`` column of a table built from whole columns: ``(n_rows,) int64`` 0..n_rows-1.

    Without it hdmf fills ``id`` with a Python list and converts it element by element when
    writing (about 12 s per million rows); an array is written in one call. With ``config``
    it is chunked and compressed like the table's other columns (:func:`wrap_dataset`); hdmf
    would store it uncompressed (a 1-hour TTL table's ids: 12.6 MB of its 17 MB).
    """
    ids = np.arange(n_rows, dtype=np.int64)
    return ElementIdentifiers(name="id", data=ids if config is None else wrap_dataset(ids, config))


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
            deferring = _DEFERRED_FILL.set(True)
            try:
                io.write(nwbfile)
            finally:
                _DEFERRED_FILL.reset(deferring)
            fill_deferred_datasets(deferred_datasets(nwbfile))
            check_all_written(io._file, path)  # hdmf's open h5py.File
        _fsync_path(tmp)
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~current_umask())
    except OutputError:
        tmp.unlink(missing_ok=True)
        raise
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
