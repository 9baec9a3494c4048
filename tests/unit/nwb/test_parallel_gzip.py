"""Numeric arrays are gzip-compressed chunk by chunk in threads: the file is standard HDF5.

Each test writes through :func:`write_nwbfile_staged` (the pipeline's writer) and reads back with
plain h5py, and once more chunk by chunk with Python's own ``zlib`` and a hand-written unshuffle,
so a chunk that HDF5's standard deflate + shuffle filters would decode differently fails here.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
from pynwb import NWBFile, TimeSeries

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.nwb.io import ChunkedGzipIO, wrap_dataset, write_nwbfile_staged


def _nwbfile() -> NWBFile:
    return NWBFile(
        session_description="parallel gzip test",
        identifier="parallel-gzip",
        session_start_time=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _write(tmp_path: Path, arrays: dict[str, np.ndarray], config: AssemblyConfig) -> Path:
    nwbfile = _nwbfile()
    for name, data in arrays.items():
        nwbfile.add_acquisition(
            TimeSeries(
                name=name,
                data=wrap_dataset(data, config),
                unit="a.u.",
                timestamps=wrap_dataset(np.arange(data.shape[0], dtype=np.float64) / 150.0, config),
            )
        )
    return write_nwbfile_staged(nwbfile, tmp_path / "out.nwb")


def _unshuffle(raw: bytes, itemsize: int) -> bytes:
    return np.frombuffer(raw, np.uint8).reshape(itemsize, -1).T.tobytes()


@pytest.mark.parametrize("level", [1, 4, 9])
def test_large_arrays_round_trip_through_standard_gzip_and_shuffle(
    tmp_path: Path, level: int
) -> None:
    rng = np.random.default_rng(7)
    n_rows = 300_001  # not a multiple of the chunk: the last chunk is an edge chunk
    positions = rng.normal(300.0, 50.0, size=(n_rows, 2)).astype(np.float32)
    positions[rng.random(n_rows) < 0.1] = np.nan
    counts = rng.integers(-5, 5, size=n_rows, dtype=np.int64)
    pulses = (rng.random(2_000_000) < 0.5).astype(np.uint8)
    # One keypoint of a (frames, individuals, keypoints, xy) array: a strided view, not a copy.
    keypoint = rng.normal(size=(n_rows, 1, 3, 2)).astype(np.float32)[:, 0, 1, :]
    assert not keypoint.flags.c_contiguous
    config = AssemblyConfig(compression_level=level, chunk_rows=65536)
    assert isinstance(wrap_dataset(positions, config), ChunkedGzipIO)

    arrays = {"positions": positions, "counts": counts, "pulses": pulses, "keypoint": keypoint}
    path = _write(tmp_path, arrays, config)

    with h5py.File(path, "r") as f:
        for name, expected in arrays.items():
            dataset = f[f"acquisition/{name}/data"]
            assert dataset.compression == "gzip"
            assert dataset.compression_opts == level
            assert dataset.shuffle is True
            assert dataset.chunks == (65536, *expected.shape[1:])
            np.testing.assert_array_equal(dataset[()], expected)
            # Chunk by chunk with zlib itself: what any HDF5 reader's filters would do.
            itemsize = expected.dtype.itemsize
            for start in range(0, expected.shape[0], 65536):
                offset = (start,) + (0,) * (expected.ndim - 1)
                filter_mask, payload = dataset.id.read_direct_chunk(offset)
                assert filter_mask == 0
                raw = zlib.decompress(payload)
                if itemsize > 1:
                    raw = _unshuffle(raw, itemsize)
                chunk = np.frombuffer(raw, expected.dtype).reshape(65536, *expected.shape[1:])
                stop = min(start + 65536, expected.shape[0])
                np.testing.assert_array_equal(chunk[: stop - start], expected[start:stop])
        timestamps = f["acquisition/positions/timestamps"][()]
        np.testing.assert_array_equal(timestamps, np.arange(n_rows) / 150.0)


def test_small_arrays_go_through_the_threads_and_no_compression_keeps_the_hdf5_path(
    tmp_path: Path,
) -> None:
    single = np.array([2.5], dtype=np.float64)  # one row: one edge chunk of 1 row
    small = np.arange(1000, dtype=np.float32)
    assert isinstance(wrap_dataset(single, AssemblyConfig()), ChunkedGzipIO)
    assert isinstance(wrap_dataset(small, AssemblyConfig()), ChunkedGzipIO)
    plain = wrap_dataset(small, AssemblyConfig(compression="none"))
    assert not isinstance(plain, ChunkedGzipIO)
    names = np.array(["nose", "tail"], dtype=object)  # not numeric: HDF5's own filter
    assert not isinstance(wrap_dataset(names, AssemblyConfig()), ChunkedGzipIO)

    path = _write(tmp_path, {"small": small, "single": single}, AssemblyConfig())
    with h5py.File(path, "r") as f:
        for name, expected in (("small", small), ("single", single)):
            dataset = f[f"acquisition/{name}/data"]
            np.testing.assert_array_equal(dataset[()], expected)
            assert dataset.compression == "gzip" and dataset.shuffle
            offset = (0,) * dataset.ndim
            _, payload = dataset.id.read_direct_chunk(offset)
            raw = _unshuffle(zlib.decompress(payload), expected.dtype.itemsize)
            np.testing.assert_array_equal(np.frombuffer(raw, expected.dtype), expected)


def test_table_columns_are_written_through_the_threads(tmp_path: Path) -> None:
    # A table column is an hdmf Data object, whose array is not among its container fields:
    # the TTL table of a 1-hour session (1M pulses) once read back as zeros.
    from w2t_bkin.model.ttl import TTLChannel
    from w2t_bkin.nwb.ttl import add_ttl_events

    n = 300_001  # 2 channels: 4.8 MB of float64 times and 600 kB of uint8 codes
    frames = TTLChannel(channel_id="cam", times_s=np.arange(n) / 150.0, source_files=())
    shifted = TTLChannel(channel_id="cue", times_s=np.arange(n) / 150.0 + 1e-3, source_files=())
    nwbfile = _nwbfile()
    add_ttl_events(nwbfile, [frames, shifted], AssemblyConfig(), "test clock")
    path = write_nwbfile_staged(nwbfile, tmp_path / "ttl.nwb")

    with h5py.File(path, "r") as handle:
        table = handle["acquisition/TTLEvents"]
        times_s, codes = table["timestamp"][:], table["channel"][:]
        ids = table["id"]
        # the row ids are compressed like the columns (hdmf alone stores them raw)
        assert ids.compression == "gzip"
        assert ids.id.get_storage_size() < ids.size * 8 / 20
        np.testing.assert_array_equal(ids[:], np.arange(2 * n))
    expected = np.sort(np.concatenate([np.arange(n) / 150.0, np.arange(n) / 150.0 + 1e-3]))
    np.testing.assert_array_equal(times_s, expected)
    np.testing.assert_array_equal(codes, np.tile([0, 1], n))


def test_a_dataset_left_unwritten_fails_the_write_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from w2t_bkin.errors import OutputError
    from w2t_bkin.nwb import io as nwb_io

    # The safety net behind the deferred writes: were one ever missed, the file must not pass.
    monkeypatch.setattr(nwb_io, "deferred_datasets", lambda nwbfile: [])
    big = np.arange(1000, dtype=np.float64)
    with pytest.raises(OutputError, match=r"2 dataset\(s\) were created but never written") as err:
        _write(tmp_path, {"signal": big[:, None]}, AssemblyConfig())
    assert err.value.message.endswith("acquisition/signal/data, acquisition/signal/timestamps")
    assert err.value.path == tmp_path / "out.nwb"
    assert list(tmp_path.iterdir()) == []


def test_views_of_a_file_backed_array_are_written_together_then_leave_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A camera's pose waits on disk (spill_array); its keypoints are views of one mapping and
    # must be written one after another, the mapping's pages dropped once, after the last one.
    from w2t_bkin.io_utils import file_mapping_of, spill_array
    from w2t_bkin.nwb import io as nwb_io

    rng = np.random.default_rng(5)
    n = 100_000
    cam0 = rng.random((n, 3, 2), dtype=np.float32) * 640
    cam1 = rng.random((n, 3, 2), dtype=np.float32) * 480
    spilled = {"cam0": spill_array(cam0, tmp_path), "cam1": spill_array(cam1, tmp_path)}
    heap = rng.random((n, 2), dtype=np.float32)  # not file-backed
    order: list[str] = []
    real_compress, real_drop = nwb_io._compress_chunk, nwb_io.drop_resident_pages

    def compress(dataio: ChunkedGzipIO, start: int, rows: int) -> bytes:
        if start == 0:
            order.append(getattr(dataio, "label", "?"))
        return real_compress(dataio, start, rows)

    def drop(array: np.ndarray) -> bool:
        is_cam0 = file_mapping_of(array) is file_mapping_of(spilled["cam0"])
        order.append(f"drop {'cam0' if is_cam0 else 'cam1'}")
        return real_drop(array)

    monkeypatch.setattr(nwb_io, "_compress_chunk", compress)
    monkeypatch.setattr(nwb_io, "drop_resident_pages", drop)
    config = AssemblyConfig(chunk_rows=n)  # one chunk per dataset: one compress call each
    nwbfile = _nwbfile()
    expected: dict[str, np.ndarray] = {}
    # interleaved as the pose builder adds them, keypoint by keypoint across cameras
    for k in range(3):
        for camera_id in ("cam0", "cam1"):
            name = f"{camera_id}_kp{k}"
            data = wrap_dataset(spilled[camera_id][:, k, :], config)
            data.label = name  # type: ignore[union-attr]
            expected[name] = (cam0 if camera_id == "cam0" else cam1)[:, k, :]
            nwbfile.add_acquisition(TimeSeries(name=name, data=data, unit="px", rate=150.0))
    other = wrap_dataset(heap, config)
    other.label = "heap"  # type: ignore[union-attr]
    expected["heap"] = heap
    nwbfile.add_acquisition(TimeSeries(name="heap", data=other, unit="a.u.", rate=150.0))
    path = write_nwbfile_staged(nwbfile, tmp_path / "out.nwb")

    with h5py.File(path, "r") as handle:
        for name, values in expected.items():
            np.testing.assert_array_equal(handle[f"acquisition/{name}/data"][()], values)
    spilled_order = [x for x in order if x != "heap"]
    assert len(spilled_order) == 8 and order.count("heap") == 1
    for block in (spilled_order[:4], spilled_order[4:]):  # one camera, then the other
        camera_id = block[-1].removeprefix("drop ")
        assert block[-1].startswith("drop ")
        assert sorted(block[:3]) == [f"{camera_id}_kp{k}" for k in range(3)]
    assert {spilled_order[3], spilled_order[7]} == {"drop cam0", "drop cam1"}


def test_a_file_written_by_plain_pynwb_holds_every_array(tmp_path: Path) -> None:
    # The builders' arrays (wrap_dataset) are also written by other writers than ours: a user's
    # own NWBHDF5IO.write. hdmf creates each dataset empty; it must be filled there and then
    # (it once read back as zeros, the chunks never written).
    from pynwb import NWBHDF5IO

    rng = np.random.default_rng(11)
    config = AssemblyConfig(chunk_rows=1024)
    multi = rng.normal(size=(5000, 2)).astype(np.float32)  # 5 chunks, the last an edge chunk
    single = np.arange(7, dtype=np.int64)
    nwbfile = _nwbfile()
    for name, data in (("multi", multi), ("single", single)):
        nwbfile.add_acquisition(
            TimeSeries(name=name, data=wrap_dataset(data, config), unit="a.u.", rate=30.0)
        )
    path = tmp_path / "plain.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)

    with h5py.File(path, "r") as f:
        for name, expected in (("multi", multi), ("single", single)):
            dataset = f[f"acquisition/{name}/data"]
            assert dataset.compression == "gzip"
            np.testing.assert_array_equal(dataset[()], expected)
