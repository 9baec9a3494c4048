"""iter_blocks reads exactly what h5py reads, whatever the chunking and filters."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w2t_bkin.sources import h5_blocks
from w2t_bkin.sources.h5_blocks import _decodable, read_by_blocks, read_transposed


@pytest.fixture(params=[h5_blocks.BLOCK_BYTES, 4096], ids=["8MiB-blocks", "4KiB-blocks"])
def block_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The default block size (test arrays fit one block) and a tiny one (many blocks, each
    several chunks or one), so both ways through the reader are compared with h5py."""
    monkeypatch.setattr(h5_blocks, "BLOCK_BYTES", request.param)
    return int(request.param)


def _joined(dataset: h5py.Dataset, axis: int, **kwargs: int) -> np.ndarray:
    parts: dict[int, tuple[int, np.ndarray]] = {}

    def consume(block: slice, values: np.ndarray) -> None:
        assert values.shape[axis] == block.stop - block.start
        parts[block.start] = (block.stop, values)

    read_by_blocks(dataset, axis, consume, **kwargs)
    starts = sorted(parts)
    # Blocks tile the axis, with no gap or overlap.
    assert starts == [0, *[parts[s][0] for s in starts[:-1]]]
    assert parts[starts[-1]][0] == dataset.shape[axis]
    return np.concatenate([parts[s][1] for s in starts], axis=axis)


@pytest.mark.parametrize(
    ("options", "decoded_here"),
    [
        ({"chunks": (1, 1, 1, 97), "compression": "gzip", "compression_opts": 4}, True),
        ({"chunks": (1, 2, 5, 64), "compression": "gzip", "shuffle": True}, True),
        ({"chunks": (1, 1, 3, 50), "compression": "lzf"}, False),
        ({"chunks": (1, 2, 3, 40), "compression": "gzip", "fletcher32": True}, False),
        ({}, False),  # contiguous
        ({"chunks": (1, 2, 18, 33)}, False),  # chunked, no filter
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16])
def test_blocks_equal_h5py_for_each_layout(
    tmp_path: Path, options: dict, decoded_here: bool, dtype: type, block_bytes: int
) -> None:
    rng = np.random.default_rng(7)
    values = (rng.normal(size=(1, 2, 18, 1001)) * 100).astype(dtype)
    values[0, 1, 4, 10:300] = np.nan if np.dtype(dtype).kind == "f" else 0
    with h5py.File(tmp_path / "a.h5", "w") as h5:
        h5.create_dataset("tracks", data=values, **options)
    with h5py.File(tmp_path / "a.h5", "r") as h5:
        assert _decodable(h5["tracks"]) is decoded_here
        got = _joined(h5["tracks"], axis=3, max_workers=2)
    np.testing.assert_array_equal(got, values)
    assert got.dtype == values.dtype


def test_unwritten_chunks_read_as_the_fill_value(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "a.h5", "w") as h5:
        ds = h5.create_dataset(
            "x", shape=(10, 400), dtype="f8", chunks=(10, 64), compression="gzip", fillvalue=-1.5
        )
        ds[:, 128:192] = 3.0  # only the third chunk column is written
    with h5py.File(tmp_path / "a.h5", "r") as h5:
        got = _joined(h5["x"], axis=1)
    expected = np.full((10, 400), -1.5)
    expected[:, 128:192] = 3.0
    np.testing.assert_array_equal(got, expected)


def test_an_incompressible_chunk_stored_raw_is_read(tmp_path: Path) -> None:
    # HDF5's deflate filter is optional: a chunk it cannot shrink is stored unfiltered and
    # flagged in the chunk's filter mask.
    rng = np.random.default_rng(3)
    values = rng.integers(0, 256, size=(4, 4096), dtype=np.uint8)
    with h5py.File(tmp_path / "a.h5", "w") as h5:
        ds = h5.create_dataset(
            "x", shape=values.shape, dtype="u1", chunks=(4, 1024), compression="gzip"
        )
        ds.id.write_direct_chunk((0, 0), values[:, :1024].tobytes(), filter_mask=1)
        ds[:, 1024:] = values[:, 1024:]
    with h5py.File(tmp_path / "a.h5", "r") as h5:
        np.testing.assert_array_equal(_joined(h5["x"], axis=1), values)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 700),
    chunk=st.integers(1, 300),
    axis=st.integers(0, 1),
    shuffle=st.booleans(),
)
def test_any_chunking_along_either_axis(
    tmp_path_factory: pytest.TempPathFactory, n: int, chunk: int, axis: int, shuffle: bool
) -> None:
    path = tmp_path_factory.mktemp("h5") / "a.h5"
    shape = (n, 3) if axis == 0 else (3, n)
    chunks = (min(chunk, n), 2) if axis == 0 else (2, min(chunk, n))
    values = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / 7
    with h5py.File(path, "w") as h5:
        h5.create_dataset("x", data=values, chunks=chunks, compression="gzip", shuffle=shuffle)
    with h5py.File(path, "r") as h5:
        np.testing.assert_array_equal(_joined(h5["x"], axis=axis), values)


def test_read_transposed_casts_and_transposes(tmp_path: Path, block_bytes: int) -> None:
    values = np.random.default_rng(1).normal(size=(2, 2, 5, 3000))
    with h5py.File(tmp_path / "a.h5", "w") as h5:
        h5.create_dataset("t", data=values, chunks=(1, 1, 1, 512), compression="gzip")
    with h5py.File(tmp_path / "a.h5", "r") as h5:
        got = read_transposed(h5["t"], (3, 0, 2, 1))
    expected = values.transpose(3, 0, 2, 1).astype(np.float32)
    assert got.flags.c_contiguous and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_a_failing_consumer_raises_in_the_caller(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "a.h5", "w") as h5:
        h5.create_dataset("x", data=np.zeros((4, 5000)), chunks=(4, 100), compression="gzip")

    def consume(block: slice, values: np.ndarray) -> None:
        raise ValueError(f"refused block {block.start}")

    with h5py.File(tmp_path / "a.h5", "r") as h5, pytest.raises(ValueError, match="refused block"):
        read_by_blocks(h5["x"], 1, consume)


@pytest.mark.parametrize(
    ("file_options", "read_from_file"),
    [
        ({}, True),  # chunks read with os.pread from the chunk index
        ({"userblock_size": 1024}, True),  # a user block shifts every address
        ({"driver": "core"}, False),  # not a plain file: read_direct_chunk
    ],
)
def test_chunks_read_from_the_file_or_through_hdf5_agree(
    tmp_path: Path, file_options: dict, read_from_file: bool
) -> None:
    values = np.random.default_rng(5).normal(size=(1, 2, 3, 5000))
    values[0, 1, 2, 700:1400] = np.nan
    with h5py.File(
        tmp_path / "a.h5", "w", **{k: v for k, v in file_options.items() if k != "driver"}
    ) as h5:
        h5.create_dataset("t", data=values, chunks=(1, 1, 1, 700), compression="gzip")
    with h5py.File(
        tmp_path / "a.h5", "r", **{k: v for k, v in file_options.items() if k == "driver"}
    ) as h5:
        with h5_blocks._ChunkFile.of(h5["t"]) as chunk_file:
            assert (chunk_file.index is not None) is read_from_file
            if read_from_file:
                assert len(chunk_file.index) == 6 * 8  # every chunk listed
        np.testing.assert_array_equal(_joined(h5["t"], axis=3, max_workers=2), values)
