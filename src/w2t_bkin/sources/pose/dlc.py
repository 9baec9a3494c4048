"""DeepLabCut tables (``.h5`` and ``.csv``) and DLC project ``config.yaml`` skeletons.

A DLC table has one row per frame (or per labelled image) and a column MultiIndex of
``scorer / [individuals /] bodyparts / coords``. The number of header levels, not the scorer
name, decides whether a file is multi-animal: ``dlcrnet`` networks also write single-animal
tables.

Multi-animal files may hold "unique" bodyparts (arena corners, LEDs) under the individual
``single``. They become an extra individual named ``"single"``: every keypoint name of the file
is one keypoint slot, and slots an individual has no column for stay NaN. Lightning Pose writes
the same table layout and is read through :func:`read_dlc_table` as well.

Next to an output ``<video><scorer>[_el|_filtered...].h5`` DeepLabCut writes
``<video><scorer>_meta.pickle``; the network and snapshot it names are read (by an unpickler
that builds plain containers only and never imports or calls anything) into
:attr:`PoseData.model_description`. DeepLabCut records its own version nowhere in its outputs,
so :attr:`PoseData.source_software_version` stays ``None`` unless metadata gives it.
"""

from __future__ import annotations

import csv
import io
import logging
import pickle
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import h5py
import numpy as np
import pandas as pd

from w2t_bkin.errors import DataQualityWarning, IngestError
from w2t_bkin.sources.pose import PoseData, PoseSkeleton
from w2t_bkin.sources.pose._checks import check_nan

log = logging.getLogger(__name__)

HEADER_LEVELS = ("scorer", "individuals", "bodyparts", "coords")
SINGLE_INDIVIDUAL = "individual_0"
#: HDF keys DLC writes, in order of preference (``tracks`` holds raw multi-animal tracklets).
PREFERRED_HDF_KEYS = ("df_with_missing", "tracks", "df")
#: Rows per block when copying an HDF table into the arrays, bounding the float64 temporary.
CHUNK_ROWS = 65_536
_AXIS_OF_COORD = {"x": 0, "y": 1, "z": 2}
_PANDAS_DEDUP_SUFFIX = re.compile(r"\.\d+$")
#: ``_meta.pickle`` files larger than this are not read (DeepLabCut's are a few kB).
META_PICKLE_MAX_BYTES = 1 << 20
#: What DLC appends after the scorer (which ends in the snapshot's iteration count).
_OUTPUT_SUFFIX = re.compile(r"(?<=\d)(?:_[A-Za-z]+)+$")


@dataclass(frozen=True)
class _ColumnLayout:
    """Where each table column goes in the output arrays.

    ``pos_*`` arrays have one entry per coordinate column, ``conf_*`` one per likelihood column;
    all are ``int64`` indices (column, individual, keypoint, spatial axis).
    """

    scorer: str | None
    individual_names: tuple[str, ...]
    keypoint_names: tuple[str, ...]
    n_space: int
    pos_col: np.ndarray
    pos_ind: np.ndarray
    pos_kp: np.ndarray
    pos_axis: np.ndarray
    conf_col: np.ndarray
    conf_ind: np.ndarray
    conf_kp: np.ndarray
    present: np.ndarray  # (n_individuals, n_keypoints) bool: the file has columns for it


def read_dlc_table(path: str | Path, *, source_software: str = "DeepLabCut") -> PoseData:
    """Read a DeepLabCut-layout pose table (``.h5`` or ``.csv``).

    Parameters
    ----------
    path
        DLC output (``...DLC_<scorer>.h5/.csv``, ``..._filtered``, ``..._el.h5``), labelled data
        (``CollectedData_<scorer>.h5/.csv``) or a Lightning Pose prediction CSV.
    source_software
        Recorded in :attr:`PoseData.source_software`.

    Returns
    -------
    PoseData
        ``positions (n_frames, n_individuals, n_keypoints, 2|3) float32``; ``confidence`` is the
        DLC likelihood, NaN when the table has no likelihood column (labelled data). Rows whose
        integer frame index skips values are placed at their frame index (gaps NaN, with a
        :class:`DataQualityWarning`).

    Raises
    ------
    IngestError
        Unsupported extension, unreadable or ragged file, unknown header layout, or a file in
        which every value is NaN.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        layout, positions, confidence = _read_h5(path)
    elif suffix == ".csv":
        layout, positions, confidence = _read_csv(path)
    else:
        raise IngestError(
            f"unsupported DeepLabCut file extension '{path.suffix}'",
            path=path,
            hint="DeepLabCut tables are .h5 (pandas HDF5) or .csv files",
        )
    check_nan(path, positions, layout.individual_names, layout.keypoint_names, layout.present)
    return PoseData(
        positions=positions,
        confidence=confidence,
        keypoint_names=layout.keypoint_names,
        individual_names=layout.individual_names,
        source_software=source_software,
        source_file=path,
        scorer=layout.scorer,
        model_description=(
            read_dlc_meta(path, layout.scorer) if source_software == "DeepLabCut" else None
        ),
    )


@dataclass(frozen=True)
class DLCProject:
    """What a DeepLabCut project ``config.yaml`` says about the model.

    Attributes
    ----------
    config_path
        The ``config.yaml`` read.
    skeleton
        Bodyparts and skeleton edges.
    task, scorer, date, iteration, net_type
        ``Task``, ``scorer`` (the labeller), ``date``, ``iteration`` and ``default_net_type``;
        ``None`` when the file leaves them out.
    """

    config_path: Path
    skeleton: PoseSkeleton
    task: str | None = None
    scorer: str | None = None
    date: str | None = None
    iteration: int | None = None
    net_type: str | None = None

    def describe(self) -> str:
        """One line naming the project, e.g. ``DeepLabCut project 'openfield' (Pranav, ...)``."""
        details = [
            text
            for text in (
                f"labelled by {self.scorer}" if self.scorer else None,
                self.date,
                f"iteration {self.iteration}" if self.iteration is not None else None,
                f"network {self.net_type}" if self.net_type else None,
            )
            if text
        ]
        name = f"DeepLabCut project {self.task!r}" if self.task else "DeepLabCut project"
        return f"{name} ({', '.join(details)})" if details else name


def is_dlc_project_config(config: Any) -> bool:
    """Whether a parsed YAML document is a DeepLabCut project configuration."""
    return isinstance(config, dict) and ("bodyparts" in config or "multianimalbodyparts" in config)


def read_dlc_project(config_path: str | Path) -> DLCProject:
    """Skeleton and description of a DeepLabCut project ``config.yaml``.

    Parameters
    ----------
    config_path
        The DLC project configuration file.

    Returns
    -------
    DLCProject
        ``skeleton.nodes``: ``bodyparts`` (single-animal) or ``multianimalbodyparts`` followed
        by ``uniquebodyparts``; ``skeleton.edges``: the ``skeleton`` pairs by name (empty when
        unset).

    Raises
    ------
    IngestError
        The YAML is unreadable, has no bodyparts, or an edge names a bodypart it does not list.
    """
    config_path = Path(config_path)
    config = read_yaml(config_path)
    if not isinstance(config, dict):
        raise IngestError("DLC config is not a YAML mapping", path=config_path)
    if config.get("multianimalproject"):
        animal = config.get("multianimalbodyparts") or []
        nodes = [*animal, *(config.get("uniquebodyparts") or [])]
    else:
        nodes = list(config.get("bodyparts") or [])
    if not nodes or not all(isinstance(n, str) for n in nodes):
        raise IngestError(
            "DLC config lists no bodyparts",
            path=config_path,
            hint="expected 'bodyparts:' (or 'multianimalbodyparts:' in multi-animal projects)",
        )
    edges: list[tuple[str, str]] = []
    for number, pair in enumerate(config.get("skeleton") or []):
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise IngestError(
                f"skeleton entry {number} is {pair!r}, expected a [bodypart, bodypart] pair",
                path=config_path,
            )
        for name in pair:
            if name not in nodes:
                raise IngestError(
                    f"skeleton entry {number} names bodypart '{name}', which is not in "
                    f"the bodyparts {nodes}",
                    path=config_path,
                )
        edges.append((str(pair[0]), str(pair[1])))
    iteration = config.get("iteration")
    return DLCProject(
        config_path=config_path,
        skeleton=PoseSkeleton(nodes=tuple(nodes), edges=tuple(edges)),
        task=_text(config.get("Task")),
        scorer=_text(config.get("scorer")),
        date=_text(config.get("date")),
        iteration=iteration if isinstance(iteration, int) else None,
        net_type=_text(config.get("default_net_type")),
    )


def read_dlc_skeleton(config_path: str | Path) -> PoseSkeleton:
    """Bodyparts and skeleton edges of a DeepLabCut project ``config.yaml``.

    See :func:`read_dlc_project`, whose ``skeleton`` this is.
    """
    return read_dlc_project(config_path).skeleton


def read_yaml(path: str | Path) -> Any:
    """A YAML file parsed with ``yaml.safe_load`` (:class:`IngestError` when unreadable)."""
    import yaml  # local: only the config readers need it

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise IngestError(f"cannot read DLC config: {exc}", path=path) from exc


def _text(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict | list) else str(value)


# --- _meta.pickle ---------------------------------------------------------------------------


def dlc_meta_path(path: str | Path) -> Path | None:
    """The ``_meta.pickle`` DeepLabCut writes next to an output table, or ``None``.

    ``<video><scorer>.h5``, ``..._filtered.csv`` and ``..._el.h5`` all share
    ``<video><scorer>_meta.pickle``; the scorer ends in the snapshot's iteration count.
    """
    path = Path(path)
    base = _OUTPUT_SUFFIX.sub("", path.stem)
    if not base or not base[-1].isdigit():
        return None
    meta = path.with_name(f"{base}_meta.pickle")
    return meta if meta.is_file() else None


class _Opaque:
    """Stands in for every class a pickle names: nothing is imported, called or set.

    Keeps the constructor arguments, so a number subclass (ruamel's ``ScalarFloat(0.8)``)
    still gives its value through :func:`_plain`.
    """

    args: tuple[Any, ...] = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> _Opaque:
        obj = super().__new__(cls)
        obj.args = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def _plain(value: Any) -> Any:
    if isinstance(value, _Opaque) and len(value.args) == 1:
        return value.args[0]
    return value


_CHEAP_KEYS = (str, int, float, bool, bytes, type(None))


def _cheap_key(key: Any) -> Any:
    """Dict keys whose hash costs O(1): a nested tuple sharing references can take 2**depth."""
    if not isinstance(key, _CHEAP_KEYS):
        raise pickle.UnpicklingError(f"dict key of type {type(key).__name__} refused")
    return key


class _PlainUnpickler(pickle._Unpickler):
    """Builds dicts, lists, strings and numbers; any class or function becomes ``_Opaque``.

    The pure-Python unpickler, so that every way of filling a dict checks its keys first and
    sets (whose items are hashed) are refused: a 300-byte file must not hang the reader.
    """

    # internals of the pure-Python unpickler (CPython's pickle._Unpickler), untyped in typeshed
    stack: list[Any]
    pop_mark: Callable[[], list[Any]]
    append: Callable[[Any], None]
    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(
        pickle._Unpickler.dispatch  # type: ignore[attr-defined]
    )

    def find_class(self, module: str, name: str) -> Any:
        return _Opaque

    def _load_dict(self) -> None:
        items = self.pop_mark()
        self.append({_cheap_key(k): v for k, v in zip(items[::2], items[1::2], strict=True)})

    def _load_setitem(self) -> None:
        value = self.stack.pop()
        key = _cheap_key(self.stack.pop())
        self.stack[-1][key] = value

    def _load_setitems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        for k, v in zip(items[::2], items[1::2], strict=True):
            target[_cheap_key(k)] = v

    def _refuse(self) -> None:
        raise pickle.UnpicklingError("sets are not part of a DeepLabCut meta file")

    dispatch[pickle.DICT[0]] = _load_dict
    dispatch[pickle.SETITEM[0]] = _load_setitem
    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.ADDITEMS[0]] = _refuse
    dispatch[pickle.FROZENSET[0]] = _refuse


def read_dlc_meta(path: str | Path, scorer: str | None = None) -> str | None:
    """Network and snapshot from the ``_meta.pickle`` next to a DeepLabCut output.

    Parameters
    ----------
    path
        The DLC output table (``.h5``/``.csv``).
    scorer
        The table's scorer; a meta file recording another scorer is ignored.

    Returns
    -------
    str or None
        E.g. ``"network efficientnet-b0, snapshot-5, iteration 0, training fraction 0.8"``;
        ``None`` when there is no meta file or it says nothing usable (a debug log says why).
        A damaged meta file never fails the read: the table is the data.
    """
    meta_path = dlc_meta_path(path)
    if meta_path is None:
        return None
    try:
        if meta_path.stat().st_size > META_PICKLE_MAX_BYTES:
            log.debug("%s: larger than %d bytes, not read", meta_path, META_PICKLE_MAX_BYTES)
            return None
        raw = _PlainUnpickler(io.BytesIO(meta_path.read_bytes())).load()
    except Exception as exc:  # any malformed pickle: the meta file is optional
        log.debug("%s: unreadable (%s)", meta_path, exc)
        return None
    data = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(data, dict):
        return None
    recorded = data.get("Scorer")
    if scorer is not None and isinstance(recorded, str) and recorded != scorer:
        log.debug("%s: scorer %r is not the table's %r; ignored", meta_path, recorded, scorer)
        return None
    model = data.get("DLC-model-config file") or data.get("pytorch-config")
    model = model if isinstance(model, dict) else {}
    weights = model.get("init_weights")
    fraction = _plain(data.get("training set fraction"))
    parts = [
        f"network {model['net_type']}" if isinstance(model.get("net_type"), str) else None,
        Path(weights).name if isinstance(weights, str) and "snapshot" in weights else None,
        f"iteration {data['iteration (active-learning)']}"
        if isinstance(data.get("iteration (active-learning)"), int)
        else None,
        f"training fraction {fraction}"
        if isinstance(fraction, int | float) and not isinstance(fraction, bool)
        else None,
    ]
    text = ", ".join(p for p in parts if p)
    return text or None


# --- HDF5 -----------------------------------------------------------------------------------


def _read_h5(path: Path) -> tuple[_ColumnLayout, np.ndarray, np.ndarray]:
    if not h5py.is_hdf5(path):
        raise IngestError(
            "not an HDF5 file",
            path=path,
            hint="DeepLabCut .h5 outputs are pandas/PyTables HDF5 files; the file may be truncated",
        )
    try:
        store = pd.HDFStore(path, mode="r")
    except Exception as exc:  # PyTables raises several unrelated types
        raise IngestError(
            f"not a pandas HDF5 pose file ({type(exc).__name__})",
            path=path,
            hint="DeepLabCut .h5 outputs are written by pandas/PyTables",
        ) from exc
    with store:
        key = _choose_key(path, [k.lstrip("/") for k in store.keys()])  # noqa: SIM118
        storer = store.get_storer(key)
        if getattr(storer, "is_table", False):
            # Table format: read the frame index alone, then copy values block by block.
            index = pd.Index(store.select_column(key, "index"))
            head = store.select(key, start=0, stop=1)
            layout = _layout_from_columns(path, head.columns)
            rows, n_frames = _frame_rows(path, index)
            positions, confidence = _allocate(layout, n_frames)
            for start in range(0, len(index), CHUNK_ROWS):
                stop = min(start + CHUNK_ROWS, len(index))
                block = store.select(key, start=start, stop=stop).to_numpy(np.float64)
                target = slice(start, stop) if rows is None else rows[start:stop]
                _scatter(layout, block, target, positions, confidence)
                del block
        else:
            frame = store.select(key)
            if not isinstance(frame, pd.DataFrame):
                raise IngestError(f"HDF key '{key}' holds a {type(frame).__name__}", path=path)
            layout = _layout_from_columns(path, frame.columns)
            rows, n_frames = _frame_rows(path, frame.index)
            positions, confidence = _allocate(layout, n_frames)
            values = _numeric_values(path, frame)
            _scatter(layout, values, slice(None) if rows is None else rows, positions, confidence)
    return layout, positions, confidence


def _choose_key(path: Path, keys: list[str]) -> str:
    if not keys:
        raise IngestError(
            f"not a pose file: this HDF5 file holds {_hdf5_datasets(path)} but no pandas table "
            "(the DeepLabCut/Lightning Pose layout) and no SLEAP 'tracks' + 'node_names'",
            path=path,
            hint="pose files are DeepLabCut .h5/.csv tables, Lightning Pose .csv, SLEAP .slp, "
            ".analysis.h5 or .analysis.csv",
        )
    if len(keys) == 1:
        return keys[0]
    for preferred in PREFERRED_HDF_KEYS:
        if preferred in keys:
            return preferred
    raise IngestError(
        f"HDF5 file holds several tables {keys} and none is a DLC key {PREFERRED_HDF_KEYS}",
        path=path,
    )


def _hdf5_datasets(path: Path, limit: int = 8) -> str:
    names: list[str] = []
    with h5py.File(path, "r") as h5:
        h5.visititems(
            lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None
        )
    if not names:
        return "no datasets"
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return f"the datasets {shown}" + (
        f" and {len(names) - limit} more" if len(names) > limit else ""
    )


def _numeric_values(path: Path, frame: pd.DataFrame) -> np.ndarray:
    try:
        return frame.to_numpy(np.float64)
    except (TypeError, ValueError) as exc:
        raise IngestError(f"pose table holds non-numeric values: {exc}", path=path) from exc


# --- CSV ------------------------------------------------------------------------------------


def _read_csv(path: Path) -> tuple[_ColumnLayout, np.ndarray, np.ndarray]:
    header, n_index = _read_csv_header(path)
    n_cols = len(header[0])
    columns = pd.MultiIndex.from_arrays(
        [row[n_index:] for row in header], names=[row[0].strip().lower() for row in header]
    )
    layout = _layout_from_columns(path, columns)
    try:
        frame = pd.read_csv(
            path,
            header=None,
            skiprows=len(header),
            names=list(range(n_cols)),
            index_col=list(range(n_index)),
            dtype={col: np.float64 for col in range(n_index, n_cols)},
            skip_blank_lines=True,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise IngestError(
            f"cannot parse the pose values: {exc}",
            path=path,
            hint=f"every data row must have {n_cols} comma-separated fields, numbers after "
            f"the first {n_index}",
        ) from exc
    index = frame.index.get_level_values(0) if n_index == 1 else frame.index
    rows, n_frames = _frame_rows(path, index)
    positions, confidence = _allocate(layout, n_frames)
    values = frame.to_numpy(np.float64)
    _scatter(layout, values, slice(None) if rows is None else rows, positions, confidence)
    return layout, positions, confidence


def _read_csv_header(path: Path) -> tuple[list[list[str]], int]:
    """Header rows (``scorer`` … ``coords``) and the number of index columns."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header: list[list[str]] = []
            first_cell = "(empty file)"
            for number, row in enumerate(reader):
                if number == 0:
                    first_cell = row[0] if row else ""
                if row and row[0].strip().lower() in HEADER_LEVELS:
                    header.append(row)
                    if row[0].strip().lower() == "coords":
                        break
                else:
                    break
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise IngestError(f"cannot read CSV: {exc}", path=path) from exc
    labels = [row[0].strip().lower() for row in header]
    if not labels or labels[0] != "scorer" or labels[-1] != "coords":
        raise IngestError(
            f"not a DeepLabCut-style pose CSV: the first cell is '{first_cell}'",
            path=path,
            hint="expected header rows 'scorer', ['individuals',] 'bodyparts', 'coords'",
        )
    lengths = [len(row) for row in header]
    if len(set(lengths)) > 1:
        described = ", ".join(
            f"row {n + 1} '{label}' has {length} fields"
            for n, (label, length) in enumerate(zip(labels, lengths, strict=True))
        )
        raise IngestError(
            f"ragged CSV header: {described}",
            path=path,
            hint="every header row must have one field per column; re-export the file from "
            "DeepLabCut or repair the short row",
        )
    coords = header[-1]
    n_index = next((i for i, cell in enumerate(coords[1:], start=1) if cell.strip()), len(coords))
    if n_index == len(coords):
        raise IngestError("CSV header has no coordinate columns", path=path)
    return header, n_index


# --- shared ---------------------------------------------------------------------------------


def _layout_from_columns(path: Path, columns: pd.Index) -> _ColumnLayout:
    """Map a ``scorer/[individuals/]bodyparts/coords`` column index onto array slots."""
    names = [str(n).lower() if n is not None else None for n in (columns.names or [])]
    if columns.nlevels == 4:
        scorers, individuals, bodyparts, coords = (
            columns.get_level_values(i).astype(str) for i in range(4)
        )
    elif columns.nlevels == 3:
        scorers, bodyparts, coords = (columns.get_level_values(i).astype(str) for i in range(3))
        individuals = pd.Index([SINGLE_INDIVIDUAL] * len(columns))
    else:
        raise IngestError(
            f"pose table has {columns.nlevels} column levels {names}, expected 3 "
            "(scorer/bodyparts/coords) or 4 (scorer/individuals/bodyparts/coords)",
            path=path,
        )
    individual_names = tuple(dict.fromkeys(individuals))
    keypoint_names = tuple(dict.fromkeys(bodyparts))
    ind_of = {name: i for i, name in enumerate(individual_names)}
    kp_of = {name: k for k, name in enumerate(keypoint_names)}
    ind = np.array([ind_of[v] for v in individuals], dtype=np.int64)
    kp = np.array([kp_of[v] for v in bodyparts], dtype=np.int64)
    coord = np.array([c.strip().lower() for c in coords])

    is_conf = coord == "likelihood"
    axis = np.array([_AXIS_OF_COORD.get(c, -1) for c in coord], dtype=np.int64)
    unknown = sorted(set(coord[(axis < 0) & ~is_conf]))
    if unknown:
        log.debug("%s: ignoring coordinate columns %s", path, unknown)
    is_pos = axis >= 0
    if not is_pos.any():
        raise IngestError(
            f"pose table has no x/y coordinate columns (coords found: {sorted(set(coord))})",
            path=path,
        )
    n_space = 3 if (axis == 2).any() else 2
    keys = list(zip(ind[is_pos], kp[is_pos], axis[is_pos], strict=True))
    if len(set(keys)) != len(keys):
        raise IngestError(
            "pose table has duplicate (individual, bodypart, coord) columns", path=path
        )
    present = np.zeros((len(individual_names), len(keypoint_names)), dtype=bool)
    present[ind[is_pos], kp[is_pos]] = True
    counts = np.zeros_like(present, dtype=np.int64)
    np.add.at(counts, (ind[is_pos], kp[is_pos]), 1)
    incomplete = np.argwhere(present & (counts != n_space))
    if len(incomplete):
        i, k = incomplete[0]
        raise IngestError(
            f"bodypart '{keypoint_names[k]}' of '{individual_names[i]}' has {counts[i, k]} of "
            f"the {n_space} coordinate columns",
            path=path,
        )
    cols = np.arange(len(columns), dtype=np.int64)
    return _ColumnLayout(
        scorer=_scorer(scorers),
        individual_names=individual_names,
        keypoint_names=keypoint_names,
        n_space=n_space,
        pos_col=cols[is_pos],
        pos_ind=ind[is_pos],
        pos_kp=kp[is_pos],
        pos_axis=axis[is_pos],
        conf_col=cols[is_conf],
        conf_ind=ind[is_conf],
        conf_kp=kp[is_conf],
        present=present,
    )


def _scorer(scorers: pd.Index) -> str | None:
    # CSVs re-saved by pandas carry de-duplication suffixes ("<scorer>.1", ".2", ...).
    unique = dict.fromkeys(_PANDAS_DEDUP_SUFFIX.sub("", s) for s in scorers if s)
    return next(iter(unique), None)


def _frame_rows(path: Path, index: pd.Index) -> tuple[np.ndarray | None, int]:
    """Output row of each table row, or ``None`` when rows are frames 0..n-1 in order."""
    n_rows = len(index)
    if n_rows == 0:
        raise IngestError("pose table has no rows", path=path)
    if index.nlevels > 1 or not pd.api.types.is_numeric_dtype(index.dtype):
        return None, n_rows  # labelled images: one row per image, in file order
    frame_idx = np.asarray(index, dtype=np.float64)
    if not np.all(np.isfinite(frame_idx)) or np.any(frame_idx != np.round(frame_idx)):
        return None, n_rows
    frame_idx = frame_idx.astype(np.int64)
    if np.array_equal(frame_idx, np.arange(n_rows)):
        return None, n_rows
    if frame_idx.min() < 0 or len(np.unique(frame_idx)) != n_rows:
        raise IngestError(
            "frame index column has negative or repeated frame numbers "
            f"(first {frame_idx[:5].tolist()})",
            path=path,
            hint="each row of a DLC output must be one video frame",
        )
    n_frames = int(frame_idx.max()) + 1
    warnings.warn(
        f"{path}: frame index skips {n_frames - n_rows} of {n_frames} frames; missing frames "
        "are NaN",
        DataQualityWarning,
        stacklevel=4,
    )
    return frame_idx, n_frames


def _allocate(layout: _ColumnLayout, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    shape = (n_frames, len(layout.individual_names), len(layout.keypoint_names))
    positions = np.full((*shape, layout.n_space), np.nan, dtype=np.float32)
    confidence = np.full(shape, np.nan, dtype=np.float32)
    return positions, confidence


def _scatter(
    layout: _ColumnLayout,
    values: np.ndarray,
    rows: slice | np.ndarray,
    positions: np.ndarray,
    confidence: np.ndarray,
) -> None:
    """Copy ``values (n_rows, n_columns) float64`` into the output arrays at ``rows``.

    One strided copy per column (tens of columns), never a loop over frames.
    """
    for col, i, k, a in zip(
        layout.pos_col, layout.pos_ind, layout.pos_kp, layout.pos_axis, strict=True
    ):
        positions[rows, i, k, a] = values[:, col]
    for col, i, k in zip(layout.conf_col, layout.conf_ind, layout.conf_kp, strict=True):
        confidence[rows, i, k] = values[:, col]
