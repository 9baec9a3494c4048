"""pandas DataFrames in HDF5 read with h5py: equal to pandas' own reader, and nothing unpickled."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.pandas_h5 import open_pandas_frame, pandas_keys
from w2t_bkin.sources.pose import read_pose


def read_with_h5py(path: Path, key: str, rows_per_block: int = 7) -> pd.DataFrame:
    """The frame under ``key`` rebuilt from our reader (small blocks: the seams are crossed)."""
    with h5py.File(path, "r") as handle:
        frame = open_pandas_frame(path, handle, key)
        parts = [values for _, _, values in frame.value_blocks(rows_per_block)]
        values = np.concatenate(parts) if parts else np.empty((0, len(frame.columns)))
        return pd.DataFrame(values, index=frame.index, columns=frame.columns)


def assert_same_frame(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert list(ours.columns) == list(theirs.columns)
    assert list(ours.columns.names) == list(theirs.columns.names)
    assert list(ours.index) == list(theirs.index)
    np.testing.assert_array_equal(ours.to_numpy(), theirs.to_numpy(np.float64))


def test_every_pandas_table_of_the_sample_data_reads_as_pandas_reads_it(real_data: Path) -> None:
    checked: list[str] = []
    for path in sorted(real_data.rglob("*.h5")):
        with h5py.File(path, "r") as handle:
            keys = pandas_keys(handle)
        for key in keys:
            assert_same_frame(read_with_h5py(path, key), pd.read_hdf(path, key))
            checked.append(f"{path.name}:{key}")
    # table and fixed layouts, integer and string (labelled-image) indexes, 3 and 4 levels
    assert len(checked) >= 13, checked


def dlc_like(n_rows: int = 40) -> pd.DataFrame:
    columns = pd.MultiIndex.from_product(
        [["DLC_net"], ["nose", "tail"], ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )
    values = np.random.default_rng(3).random((n_rows, len(columns)))
    values[::5, 1] = np.nan
    return pd.DataFrame(values, columns=columns)


@pytest.mark.parametrize("fmt", ["table", "fixed"])
def test_layouts_and_blocks_of_several_types(tmp_path: Path, fmt: str) -> None:
    frame = dlc_like()
    frame[("DLC_net", "tail", "likelihood")] = np.arange(40, dtype=np.int64)  # a second block
    frame = frame[frame.columns[[5, 0, 3, 1, 4, 2]]]  # blocks interleaved in column order
    path = tmp_path / f"{fmt}.h5"
    frame.to_hdf(path, key="df_with_missing", format=fmt)
    with h5py.File(path, "r") as handle:
        assert pandas_keys(handle) == ["df_with_missing"]
    assert_same_frame(read_with_h5py(path, "df_with_missing"), pd.read_hdf(path))


@pytest.mark.parametrize("fmt", ["table", "fixed"])
def test_string_and_multilevel_indexes(tmp_path: Path, fmt: str) -> None:
    frame = dlc_like(6)
    frame.index = [f"labeled-data/v/img{i:03d}.png" for i in range(6)]
    frame.to_hdf(tmp_path / "s.h5", key="df", format=fmt)
    assert_same_frame(read_with_h5py(tmp_path / "s.h5", "df"), pd.read_hdf(tmp_path / "s.h5"))
    if fmt == "table":
        return  # pandas cannot store a MultiIndex index with MultiIndex columns as a table
    frame.index = pd.MultiIndex.from_tuples(
        [("labeled-data", "v", f"img{i}.png") for i in range(6)]
    )
    frame.to_hdf(tmp_path / "m.h5", key="df", format=fmt)
    ours = read_with_h5py(tmp_path / "m.h5", "df")
    assert ours.index.nlevels == 3
    assert_same_frame(ours, pd.read_hdf(tmp_path / "m.h5"))


def test_a_crafted_pickle_in_an_attribute_is_never_run(tmp_path: Path) -> None:
    # PyTables unpickles string attributes ending in "."; this one calls open(marker, "w").
    frame = dlc_like()
    path = tmp_path / "craftedDLC_resnet50_x.h5"
    frame.to_hdf(path, key="df_with_missing", format="table")
    marker = tmp_path / "ran"
    payload = f"c__builtin__\nopen\n(V{marker}\nVw\ntR.".encode()
    with h5py.File(path, "r+") as handle:
        handle["df_with_missing"].attrs["info"] = np.bytes_(payload)

    pose = read_pose(path)

    assert not marker.exists()
    np.testing.assert_array_equal(pose.positions[:, 0, 0, 0], frame.iloc[:, 0].to_numpy(np.float32))
    # the same file through pandas runs the payload: what the h5py reader protects from
    with pytest.raises(AttributeError):  # it then trips over the file object it got
        pd.read_hdf(path)
    assert marker.exists()


def test_a_crafted_pickle_where_the_labels_are_is_an_ingest_error(tmp_path: Path) -> None:
    frame = dlc_like()
    path = tmp_path / "v.h5"
    frame.to_hdf(path, key="df_with_missing", format="table")
    marker = tmp_path / "ran"
    with h5py.File(path, "r+") as handle:
        handle["df_with_missing"].attrs["non_index_axes"] = np.bytes_(
            f"c__builtin__\nopen\n(V{marker}\nVw\ntR.".encode()
        )
    with pytest.raises(IngestError, match=r"v\.h5: HDF key 'df_with_missing' is not a readable"):
        read_pose(path, source="dlc")
    assert not marker.exists()


def test_a_block_of_python_objects_is_refused(tmp_path: Path) -> None:
    frame = dlc_like(4)
    frame[("DLC_net", "tail", "likelihood")] = ["a", "b", "c", "d"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas: "your performance may suffer" (pickled block)
        frame.to_hdf(tmp_path / "o.h5", key="df", format="fixed")
    with pytest.raises(IngestError, match=r"o\.h5: HDF key 'df' block \d holds Python objects"):
        read_pose(tmp_path / "o.h5", source="dlc")


def test_data_columns_and_series_are_named_not_misread(tmp_path: Path) -> None:
    flat = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]})
    flat.to_hdf(tmp_path / "d.h5", key="df", format="table", data_columns=True)
    with pytest.raises(IngestError, match=r"d\.h5: HDF key 'df' stores columns as pandas data"):
        read_pose(tmp_path / "d.h5", source="dlc")
    pd.Series(np.arange(3.0)).to_hdf(tmp_path / "s.h5", key="df")
    with pytest.raises(IngestError, match=r"s\.h5: HDF key 'df' holds a pandas 'series'"):
        read_pose(tmp_path / "s.h5", source="dlc")


def test_a_truncated_table_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "vDLC_resnet50_x.h5"
    dlc_like(5000).to_hdf(path, key="df_with_missing", format="table")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 60_000])
    with pytest.raises(
        IngestError, match=r"vDLC_resnet50_x\.h5: cannot open the HDF5 file: .*trunc"
    ):
        read_pose(path)


def test_a_filter_h5py_lacks_is_named_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "vDLC_resnet50_x.h5"
    dlc_like().to_hdf(path, key="df_with_missing", format="table", complib="blosc", complevel=5)
    if importlib.util.find_spec("hdf5plugin") is not None:  # it registers Blosc: the file reads
        np.testing.assert_array_equal(
            read_pose(path).positions[:, 0, 0, 0], dlc_like().iloc[:, 0].to_numpy(np.float32)
        )
        return
    with pytest.raises(IngestError, match=r"compressed with Blosc \(filter 32001\)") as info:
        read_pose(path)
    assert str(path) in str(info.value) and "pip install hdf5plugin" in str(info.value)


def test_a_damaged_chunk_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "vDLC_resnet50_x.h5"
    dlc_like(5000).to_hdf(path, key="df_with_missing", format="table", complib="zlib", complevel=5)
    with h5py.File(path, "r") as handle:
        chunk = handle["df_with_missing/table"].id.get_chunk_info(1)
    with path.open("r+b") as raw:  # garbage where the second compressed chunk starts
        raw.seek(chunk.byte_offset)
        raw.write(b"\xff" * 64)
    with pytest.raises(IngestError, match=r"vDLC_resnet50_x\.h5: cannot read the pandas table"):
        read_pose(path)


def test_an_index_that_disagrees_with_the_values_is_named(tmp_path: Path) -> None:
    path = tmp_path / "v.h5"
    dlc_like(10).to_hdf(path, key="df", format="fixed")
    with h5py.File(path, "r+") as handle:  # nine index entries for ten rows of values
        group = handle["df"]
        attrs = dict(group["axis1"].attrs)
        del group["axis1"]
        group.create_dataset("axis1", data=np.arange(9))
        group["axis1"].attrs.update(attrs)
    with pytest.raises(IngestError, match=r"v\.h5: .*does not match 9 rows of 6 items"):
        read_pose(path, source="dlc")
