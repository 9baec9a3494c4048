"""Read a large chunked HDF5 dataset in blocks along one axis, inflating chunks in threads.

Pose exports (SLEAP analysis files, among others) store hundreds of megabytes of float64 as
gzip-compressed chunks. ``dataset[()]`` inflates every chunk with zlib in one thread while holding
the whole float64 array, then the reader converts it to float32: twice the memory and one core.
:func:`read_by_blocks` instead reads the raw chunks of one block of an axis at a time
(``read_direct_chunk``, under h5py's lock: a memory copy), inflates them in a thread pool with
ISA-L's zlib-compatible decoder (which releases the GIL), undoes the shuffle filter when the
dataset has it, and hands each block to a consumer in the same thread (numpy's conversions
release the GIL too): memory is one block per worker, not the whole dataset.

Only the filters this module can undo exactly are decoded here (deflate, optionally with shuffle);
any other layout (contiguous, LZF, Blosc, Fletcher-32, scale-offset, …) is read through h5py's
slicing, block by block, so every file reads the same values either way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import h5py
import numpy as np

H5Z_FILTER_DEFLATE = 1
H5Z_FILTER_SHUFFLE = 2
_DECODABLE = {H5Z_FILTER_DEFLATE, H5Z_FILTER_SHUFFLE}
BLOCK_BYTES = 8 << 20
"""Bytes of a block (rounded to whole chunks along the axis; at least one chunk or row)."""


def read_transposed(
    dataset: h5py.Dataset, order: tuple[int, ...], dtype: np.dtype[Any] | type = np.float32
) -> np.ndarray:
    """``dataset[()].transpose(order)`` as a contiguous array of ``dtype``, read in blocks.

    Blocks run along the output's first axis (``order[0]`` of the dataset); each worker thread
    reads, inflates, transposes and converts its block straight into the result, so the
    file's values never sit in memory whole next to their converted copy.

    Parameters
    ----------
    dataset
        An open numeric HDF5 dataset, e.g. SLEAP ``tracks`` ``(n_tracks, n_space, n_nodes,
        n_frames) float64``.
    order
        The axes permutation, first the axis to cut into blocks (frames).
    dtype
        Result dtype (values are cast as numpy ``astype`` does).

    Returns
    -------
    numpy.ndarray
        Shape ``tuple(dataset.shape[d] for d in order)``.
    """
    out = np.empty(tuple(dataset.shape[d] for d in order), dtype=dtype)

    def consume(block: slice, values: np.ndarray) -> None:
        out[block] = values.transpose(order)

    read_by_blocks(dataset, order[0], consume)
    return out


def read_by_blocks(
    dataset: h5py.Dataset,
    axis: int,
    consume: Callable[[slice, np.ndarray], None],
    max_workers: int | None = None,
) -> None:
    """Call ``consume(index_slice, block)`` for blocks covering ``dataset`` along ``axis``.

    Parameters
    ----------
    dataset
        An open HDF5 dataset of a numeric dtype.
    axis
        The axis to cut into blocks (the frame axis of a pose array).
    consume
        Receives ``slice(start, stop)`` of ``axis`` and ``dataset[..., start:stop, ...]`` (the
        dataset's dtype). With decodable chunks it runs in worker threads, blocks in any order
        and concurrently, so it must only write disjoint parts of shared arrays.
    max_workers
        Inflating threads; default the CPUs this process may use (at most 8).

    Blocks follow the chunking along ``axis`` (several chunks per block, about
    :data:`BLOCK_BYTES` each); a dataset that is not chunked comes in blocks of about that size
    too. An exception in a worker is
    raised here.
    """
    shape = dataset.shape
    n = shape[axis] if shape else 0
    if n == 0:
        return
    chunks = dataset.chunks
    row_bytes = dataset.dtype.itemsize * int(np.prod(shape)) // n
    step_rows = max(1, BLOCK_BYTES // max(row_bytes, 1))
    if chunks is not None:
        step_rows = max(chunks[axis], step_rows // chunks[axis] * chunks[axis])
    blocks = [slice(start, min(start + step_rows, n)) for start in range(0, n, step_rows)]
    if not _decodable(dataset):
        for block in blocks:
            consume(block, _sliced(dataset, axis, block))
        return
    workers = max_workers or min(8, len(os.sched_getaffinity(0)))
    with _ChunkFile.of(dataset) as chunk_file:

        def task(block: slice) -> None:
            consume(block, _read_block(dataset, axis, block, chunk_file))

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="h5-inflate") as pool:
            for _ in pool.map(task, blocks):
                pass


class _ChunkFile:
    """The stored bytes of a dataset's chunks, read straight from its file where that is safe.

    ``read_direct_chunk`` holds h5py's lock (and the GIL) for each chunk: with pose exports'
    small chunks (67 kB; 3,456 in a 1-hour SLEAP file) that serialises the workers. The
    chunk index is listed once (``chunk_iter``, HDF5 >= 1.12.3) and each chunk is read with
    ``os.pread``, which releases the GIL. Only for a plain local file (``sec2`` driver) whose
    first chunk reads the same both ways; otherwise :attr:`index` is ``None`` and chunks come
    through ``read_direct_chunk``.
    """

    def __init__(
        self,
        dataset: h5py.Dataset,
        fd: int | None = None,
        index: dict[tuple[int, ...], tuple[int, int, int]] | None = None,
    ) -> None:
        self._dataset = dataset
        self._fd = fd
        #: chunk origin -> (file address, stored bytes, filter mask), written chunks only
        self.index = index

    @classmethod
    def of(cls, dataset: h5py.Dataset) -> _ChunkFile:
        through_hdf5 = cls(dataset)
        if dataset.file.driver != "sec2" or not hasattr(dataset.id, "chunk_iter"):
            return through_hdf5
        index: dict[tuple[int, ...], tuple[int, int, int]] = {}

        def note(info: Any) -> None:
            index[tuple(info.chunk_offset)] = (info.byte_offset, info.size, info.filter_mask)

        try:
            dataset.id.chunk_iter(note)
            fd = os.open(dataset.file.filename, os.O_RDONLY)
        except (OSError, RuntimeError, ValueError):
            return through_hdf5
        from_file = cls(dataset, fd, index)
        if index:
            origin = next(iter(index))
            if from_file.stored(origin) != through_hdf5.stored(origin):
                from_file.close()  # addresses not what they seem: read through HDF5
                return through_hdf5
        return from_file

    def stored(self, origin: tuple[int, ...]) -> tuple[int, bytes] | None:
        """``(filter mask, stored bytes)`` of the chunk at ``origin``; ``None``: never written."""
        if self.index is None:
            try:
                filter_mask, raw = self._dataset.id.read_direct_chunk(origin)
            except (KeyError, RuntimeError, OSError):
                return None
            return int(filter_mask), bytes(raw)
        entry = self.index.get(origin)
        if entry is None or self._fd is None:
            return None
        address, size, filter_mask = entry
        data = os.pread(self._fd, size, address)
        if len(data) != size:
            raise OSError(f"chunk at byte {address}: {len(data)} of {size} bytes (truncated file)")
        return filter_mask, data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self.index = None, None

    def __enter__(self) -> _ChunkFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decodable(dataset: h5py.Dataset) -> bool:
    if dataset.chunks is None or dataset.dtype.kind not in "iuf":
        return False
    plist = dataset.id.get_create_plist()
    filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
    return H5Z_FILTER_DEFLATE in filters and filters <= _DECODABLE


def _sliced(dataset: h5py.Dataset, axis: int, block: slice) -> np.ndarray:
    index: list[Any] = [slice(None)] * dataset.ndim
    index[axis] = block
    return np.asarray(dataset[tuple(index)])


def _read_block(
    dataset: h5py.Dataset, axis: int, block: slice, chunk_file: _ChunkFile
) -> np.ndarray:
    """``dataset`` restricted to ``block`` along ``axis``, from its raw chunks."""
    from isal import isal_zlib

    chunks = dataset.chunks
    assert chunks is not None
    shape = list(dataset.shape)
    shape[axis] = block.stop - block.start
    out = np.empty(shape, dtype=dataset.dtype)
    fill = dataset.fillvalue
    plist = dataset.id.get_create_plist()
    order = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    dtype = dataset.dtype
    chunk_items = int(np.prod(chunks))
    starts = [range(0, dataset.shape[d], chunks[d]) for d in range(dataset.ndim)]
    starts[axis] = range(block.start, block.stop, chunks[axis])
    for origin in np.ndindex(*(len(r) for r in starts)):
        offset = tuple(starts[d][k] for d, k in enumerate(origin))
        stored = tuple(min(chunks[d], dataset.shape[d] - offset[d]) for d in range(dataset.ndim))
        target = tuple(
            slice(offset[d] - (block.start if d == axis else 0), None) for d in range(dataset.ndim)
        )
        target = tuple(slice(t.start, t.start + stored[d]) for d, t in enumerate(target))
        chunk = chunk_file.stored(offset)
        if chunk is None:  # never written: the fill value
            out[target] = fill
            continue
        filter_mask, data = chunk
        # Filters were applied in pipeline order; undo them in reverse, skipping any a bit in
        # filter_mask says was not applied to this chunk (deflate is optional in HDF5).
        for position in reversed(range(len(order))):
            if filter_mask & (1 << position):
                continue
            if order[position] == H5Z_FILTER_DEFLATE:
                data = isal_zlib.decompress(data)
            else:
                data = (
                    np.frombuffer(data, np.uint8).reshape(dtype.itemsize, chunk_items).T.tobytes()
                )
        values = np.frombuffer(data, dtype=dtype, count=chunk_items).reshape(chunks)
        out[target] = values[tuple(slice(0, s) for s in stored)]
    return out
