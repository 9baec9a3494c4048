"""pandas DataFrames stored in HDF5 (``DataFrame.to_hdf``), read with h5py: no PyTables, nothing
unpickled.

DeepLabCut (and Lightning Pose, and tools re-saving their tables) store pose tables with
``DataFrame.to_hdf``. Reading them back through pandas goes through PyTables, which runs
``pickle.loads`` on every string attribute that ends in ``"."``: a crafted ``.h5`` executes code
when opened. pandas keeps its column labels in such pickled attributes (table format), so this
module reads both of pandas' layouts with h5py and decodes those attributes with
:func:`~w2t_bkin.sources.plain_pickle.plain_loads` (plain values only):

- **table** (``format="table"``, what DeepLabCut writes for its outputs): one compound dataset
  ``<key>/table`` with the index field(s) and one field per block of same-typed columns
  (``values_block_0``, ...); the labels of each block are the pickled attribute
  ``values_block_<i>_kind``, the column order the group's ``non_index_axes``.
- **fixed** (pandas' default, e.g. DeepLabCut's ``CollectedData_*.h5``): the columns as
  ``axis0`` (or ``axis0_level<j>`` / ``axis0_label<j>`` for a MultiIndex), the index as
  ``axis1`` (likewise), and per block ``block<i>_items`` and ``block<i>_values``.

Values are numeric (a block of Python objects, which pandas would unpickle, is refused), read a
block of rows at a time so a 1-hour table never sits in memory as float64 twice; reading the
whole ``table`` compound dataset in h5py is a memory copy (no per-row Python objects).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.plain_pickle import plain_loads

#: ``pandas_type`` of the two DataFrame layouts.
TABLE_FORMAT, FIXED_FORMAT = "frame_table", "frame"
_FIX_HINT = "re-export the table as CSV (DataFrame.to_csv) or with DataFrame.to_hdf(format='table')"


def pandas_keys(handle: h5py.File) -> list[str]:
    """HDF keys of the pandas objects in a file (groups with a ``pandas_type``), file order."""
    keys: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and "pandas_type" in obj.attrs:
            keys.append(name)

    handle.visititems(visit)
    return keys


@dataclass(frozen=True)
class _Block:
    """One block of same-typed columns: where its values are and which columns they are."""

    read: Any  # callable (start, stop) -> (n_rows, n_items) array
    columns: np.ndarray  # (n_items,) int64 positions in the frame's columns


@dataclass(frozen=True)
class PandasFrame:
    """A DataFrame stored in an open HDF5 file: its labels, and its values read on demand.

    Attributes
    ----------
    columns, index
        The labels as pandas indexes (``MultiIndex`` for several levels); one row per entry
        of ``index``.
    """

    path: Path
    key: str
    columns: pd.Index
    index: pd.Index
    _blocks: tuple[_Block, ...]

    def value_blocks(self, rows_per_block: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(start, stop, values)`` for consecutive row ranges; ``values`` is
        ``(stop - start, n_columns) float64`` in the order of :attr:`columns`."""
        n_rows, n_columns = len(self.index), len(self.columns)
        # one block already in column order (DeepLabCut's tables) is used as it is read
        in_order = len(self._blocks) == 1 and np.array_equal(
            self._blocks[0].columns, np.arange(n_columns)
        )
        for start in range(0, n_rows, rows_per_block):
            stop = min(start + rows_per_block, n_rows)
            if in_order:
                yield start, stop, self._numeric(self._blocks[0].read(start, stop))
                continue
            values = np.empty((stop - start, n_columns), dtype=np.float64)
            for block in self._blocks:
                values[:, block.columns] = self._numeric(block.read(start, stop))
            yield start, stop, values

    def _numeric(self, values: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(values, dtype=np.float64).reshape(values.shape[0], -1)
        except (TypeError, ValueError) as exc:
            raise IngestError(
                f"pandas table '{self.key}' holds non-numeric values: {exc}", path=self.path
            ) from exc


def open_pandas_frame(path: Path, handle: h5py.File, key: str) -> PandasFrame:
    """The DataFrame stored under ``key`` of the open ``handle`` (either pandas layout).

    Raises
    ------
    IngestError
        Not a DataFrame (a Series, a panel), labels that are not plain text or numbers (a
        pickled attribute naming a class), a block of Python objects or strings, pandas data
        columns, a compression filter this HDF5 cannot decode, or labels that disagree with
        the values.
    """
    group = handle[key]
    kind = _text(group.attrs.get("pandas_type"))
    try:
        if kind == TABLE_FORMAT:
            return _table_frame(path, key, group)
        if kind == FIXED_FORMAT:
            return _fixed_frame(path, key, group)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise IngestError(
            f"HDF key '{key}' is not a readable pandas DataFrame ({type(exc).__name__}: {exc})",
            path=path,
            hint=_FIX_HINT,
        ) from exc
    raise IngestError(
        f"HDF key '{key}' holds a pandas '{kind}', not a DataFrame",
        path=path,
        hint="pose tables are DataFrames saved with DataFrame.to_hdf",
    )


# --- table format ---------------------------------------------------------------------------


def _table_frame(path: Path, key: str, group: h5py.Group) -> PandasFrame:
    table = group["table"]
    _check_filters(path, key, table)
    if _attr(group, "data_columns"):
        raise IngestError(
            f"HDF key '{key}' stores columns as pandas data columns "
            f"{_attr(group, 'data_columns')}, which this reader does not support",
            path=path,
            hint=_FIX_HINT,
        )
    (axis, labels), *rest = _attr(group, "non_index_axes")
    if axis != 1 or rest:
        raise ValueError(f"non_index_axes {[(axis, '...'), *rest]} is not a DataFrame's")
    info = _attr(group, "info") or {}
    level_names = (info.get(1) or {}).get("names") if isinstance(info, dict) else None
    columns = _labels_index(labels, level_names)
    position = {label: i for i, label in enumerate(_label_keys(labels))}
    if len(position) != len(labels):
        raise ValueError("repeated column labels")
    blocks: list[_Block] = []
    for name in _attr(group, "values_cols"):
        items = _attr(table, f"{name}_kind")
        blocks.append(
            _Block(
                read=_field_reader(table, name),
                columns=np.array([position[k] for k in _label_keys(items)], dtype=np.int64),
            )
        )
    _check_cover(blocks, len(labels))
    index_fields = [field for _, field in _attr(group, "index_cols")]
    index_values = [table.fields(field)[()] for field in index_fields]
    index = (
        _index_of(index_values[0], _text(table.attrs.get(f"{index_fields[0]}_kind")), group)
        if len(index_values) == 1
        else pd.MultiIndex.from_arrays([_decoded(v, group) for v in index_values])
    )
    return PandasFrame(path, key, columns, index, tuple(blocks))


def _field_reader(table: h5py.Dataset, field: str) -> Any:
    fields = table.fields(field)
    return lambda start, stop: fields[start:stop]


# --- fixed format ---------------------------------------------------------------------------


def _fixed_frame(path: Path, key: str, group: h5py.Group) -> PandasFrame:
    if int(group.attrs.get("ndim", 2)) != 2:
        raise ValueError(f"ndim {group.attrs.get('ndim')} is not a DataFrame's")
    columns = _fixed_axis(group, "axis0")
    index = _fixed_axis(group, "axis1")
    position = {label: i for i, label in enumerate(_label_keys(list(columns)))}
    blocks: list[_Block] = []
    for i in range(int(group.attrs["nblocks"])):
        values = group[f"block{i}_values"]
        if not isinstance(values, h5py.Dataset) or _text(values.attrs.get("CLASS")) == "VLARRAY":
            raise IngestError(
                f"HDF key '{key}' block {i} holds Python objects (pickled by pandas), not numbers",
                path=path,
                hint="pose values must be numeric; " + _FIX_HINT,
            )
        _check_filters(path, key, values)
        items = list(_fixed_axis(group, f"block{i}_items"))
        transposed = bool(values.attrs.get("transposed", False))
        n_rows, n_items = values.shape if transposed else values.shape[::-1]
        if values.ndim != 2 or (n_rows, n_items) != (len(index), len(items)):
            raise ValueError(
                f"block{i}_values {values.shape} does not match {len(index)} rows of "
                f"{len(items)} items"
            )
        blocks.append(
            _Block(
                read=_rows_reader(values, transposed),
                columns=np.array([position[k] for k in _label_keys(items)], dtype=np.int64),
            )
        )
    _check_cover(blocks, len(columns))
    return PandasFrame(path, key, columns, index, tuple(blocks))


def _rows_reader(values: h5py.Dataset, rows_first: bool) -> Any:
    # pandas writes a C-ordered block transposed (rows first) and flags it; otherwise items first
    if rows_first:
        return lambda start, stop: values[start:stop]
    return lambda start, stop: values[:, start:stop].T


def _fixed_axis(group: h5py.Group, name: str) -> pd.Index:
    variety = _text(group.attrs.get(f"{name}_variety"))
    if variety == "multi":
        n_levels = int(group.attrs[f"{name}_nlevels"])
        levels, codes, names = [], [], []
        for j in range(n_levels):
            level = group[f"{name}_level{j}"]
            levels.append(_decoded(level[()], group))
            codes.append(group[f"{name}_label{j}"][()])
            names.append(_attr(level, "name"))
        return pd.MultiIndex(levels=levels, codes=codes, names=names)
    if variety == "regular":
        dataset = group[name]
        return _index_of(dataset[()], _text(dataset.attrs.get("kind")), group)
    raise ValueError(f"{name} is a '{variety}' index")


# --- shared ---------------------------------------------------------------------------------

#: Registered HDF5 filters pandas offers (``complib``) beyond the built-in zlib.
_FILTER_NAMES = {307: "bzip2", 32001: "Blosc", 32004: "LZ4", 32008: "bitshuffle", 32015: "Zstd"}


def _check_filters(path: Path, key: str, dataset: h5py.Dataset) -> None:
    """A value dataset compressed with a filter this HDF5 library cannot decode is named now,
    not as a chunk read error. ``hdf5plugin``, where installed, registers the usual ones."""
    plist = dataset.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        filter_id = plist.get_filter(i)[0]
        if h5py.h5z.filter_avail(filter_id):
            continue
        with contextlib.suppress(ImportError):
            import hdf5plugin  # noqa: F401  (registers Blosc, LZ4, Zstd, ... on import)
        if not h5py.h5z.filter_avail(filter_id):
            name = _FILTER_NAMES.get(filter_id, f"HDF5 filter {filter_id}")
            raise IngestError(
                f"HDF key '{key}' is compressed with {name} (filter {filter_id}), which this "
                "HDF5 library cannot decode",
                path=path,
                hint="`pip install hdf5plugin` adds it; or re-save the table without complib",
            )


def _check_cover(blocks: Sequence[_Block], n_columns: int) -> None:
    covered = np.concatenate([b.columns for b in blocks]) if blocks else np.array([], np.int64)
    if covered.size != n_columns or not np.array_equal(np.sort(covered), np.arange(n_columns)):
        raise ValueError(f"value blocks hold {covered.size} columns, the labels {n_columns}")


def _label_keys(labels: Sequence[Any]) -> list[Any]:
    # MultiIndex labels are tuples (lists once unpickled from some writers): hashable keys
    return [tuple(label) if isinstance(label, list) else label for label in labels]


def _labels_index(labels: Sequence[Any], names: Any) -> pd.Index:
    keys = _label_keys(labels)
    for key in keys:
        for part in key if isinstance(key, tuple) else (key,):
            _plain_label(part)
    if keys and all(isinstance(k, tuple) for k in keys):
        return pd.MultiIndex.from_tuples(keys, names=names if isinstance(names, list) else None)
    return pd.Index(keys)


def _plain_label(part: Any) -> None:
    if not isinstance(part, str | int | float) or isinstance(part, bool):
        raise TypeError(f"a column label is a {type(part).__name__}, not text or a number")


def _index_of(values: np.ndarray, kind: str, group: h5py.Group) -> pd.Index:
    if kind in ("integer", "float") or values.dtype.kind in "iuf":
        return pd.Index(values)
    return pd.Index(_decoded(values, group))


def _decoded(values: np.ndarray, group: h5py.Group) -> np.ndarray:
    if values.dtype.kind != "S":
        if values.dtype.kind == "O":
            raise TypeError("labels stored as Python objects")
        return values
    encoding = _text(group.attrs.get("encoding")) or "UTF-8"
    return np.array([v.decode(encoding) for v in values.tolist()], dtype=object)


def _text(value: Any) -> str:
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def _attr(node: h5py.Group | h5py.Dataset, name: str) -> Any:
    """An attribute as PyTables would give it, with pickled values decoded as plain data:
    classes and functions a pickle names stay inert (labels made of them are refused by
    :func:`_plain_label`); a string that is no pickle stays text."""
    value = node.attrs[name]
    if isinstance(value, np.generic) and not isinstance(value, np.bytes_):
        return value.item()
    if not isinstance(value, bytes | np.bytes_):
        return value
    raw = bytes(value)
    if not raw.endswith(b".") or raw in (b"0", b"0."):
        return raw.decode("utf-8", "replace")
    try:
        return plain_loads(raw)
    except Exception:  # not a pickle after all (PyTables too keeps such a string as it is)
        return raw.decode("utf-8", "replace")


__all__ = ["FIXED_FORMAT", "TABLE_FORMAT", "PandasFrame", "open_pandas_frame", "pandas_keys"]
