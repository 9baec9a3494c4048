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
that builds plain containers only and never imports or calls anything,
:mod:`~w2t_bkin.sources.pose.dlc_pickle`) into
:attr:`PoseData.model_description`. DeepLabCut records its own version nowhere in its outputs,
so :attr:`PoseData.source_software_version` stays ``None`` unless metadata gives it.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from w2t_bkin.errors import IngestError, warn_data_quality
from w2t_bkin.model.pose import PoseData
from w2t_bkin.sources.pandas_h5 import open_pandas_frame, pandas_keys
from w2t_bkin.sources.pose._checks import check_nan
from w2t_bkin.sources.pose.dlc_pickle import META_PICKLE_MAX_BYTES, dlc_meta_path, read_dlc_meta

# The project reader's names stay importable from here (re-exported).
from w2t_bkin.sources.pose.dlc_project import DLC_CONFIG_NAME as DLC_CONFIG_NAME
from w2t_bkin.sources.pose.dlc_project import DLCProject as DLCProject
from w2t_bkin.sources.pose.dlc_project import dlc_project_config_of as dlc_project_config_of
from w2t_bkin.sources.pose.dlc_project import is_dlc_project_config as is_dlc_project_config
from w2t_bkin.sources.pose.dlc_project import read_dlc_project as read_dlc_project
from w2t_bkin.sources.pose.dlc_project import read_dlc_skeleton as read_dlc_skeleton
from w2t_bkin.sources.pose.dlc_project import read_yaml as read_yaml
from w2t_bkin.sources.pose.registry import PoseFile, register_pose_reader

log = logging.getLogger(__name__)

HEADER_LEVELS = ("scorer", "individuals", "bodyparts", "coords")
SINGLE_INDIVIDUAL = "individual_0"
#: HDF keys DLC writes, in order of preference (``tracks`` holds raw multi-animal tracklets).
PREFERRED_HDF_KEYS = ("df_with_missing", "tracks", "df")
#: Rows per block when copying an HDF table into the arrays, bounding the float64 temporary
#: (3.5 MB for 18 keypoints; larger blocks read no faster).
CHUNK_ROWS = 8_192
_AXIS_OF_COORD = {"x": 0, "y": 1, "z": 2}
_PANDAS_DEDUP_SUFFIX = re.compile(r"\.\d+$")


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


#: A DeepLabCut output names its scorer: <video>DLC_<network>... (DeepCut_ in old versions)
_DLC_SCORER = re.compile(r"(DLC|DeepCut)_", re.IGNORECASE)


def _claims_dlc(file: PoseFile) -> bool:
    """An HDF5 table named after a DLC scorer, or a CSV whose first row is ``scorer``."""
    if file.hdf5_kind is not None:
        return file.hdf5_kind == "other" and _DLC_SCORER.search(file.path.name) is not None
    header = file.csv_header or []
    return bool(header) and header[0].strip().lower() == "scorer"


# The fallback: read_pose gives it every .h5/.csv no other reader claims.
@register_pose_reader(
    "dlc",
    software="DeepLabCut",
    aliases=("deeplabcut",),
    suffixes=(".h5", ".hdf5", ".csv"),
    claims=_claims_dlc,
    fallback=True,
)
def _read_dlc(file: PoseFile, n_video_frames: int | None) -> PoseData:
    return read_dlc_table(file.path)


def _read_h5(path: Path) -> tuple[_ColumnLayout, np.ndarray, np.ndarray]:
    if not h5py.is_hdf5(path):
        raise IngestError(
            "not an HDF5 file",
            path=path,
            hint="DeepLabCut .h5 outputs are pandas/PyTables HDF5 files; the file may be truncated",
        )
    # h5py, not pandas.HDFStore: PyTables unpickles string attributes, so opening a crafted
    # table would run code (sources.pandas_h5 decodes them as plain values only)
    try:
        with h5py.File(path, "r") as handle:
            frame = open_pandas_frame(path, handle, _choose_key(path, pandas_keys(handle)))
            layout = _layout_from_columns(path, frame.columns)
            rows, n_frames = _frame_rows(path, frame.index)
            positions, confidence = _allocate(layout, n_frames)
            for start, stop, block in frame.value_blocks(CHUNK_ROWS):
                target = slice(start, stop) if rows is None else rows[start:stop]
                _scatter(layout, block, target, positions, confidence)
                del block
    except OSError as exc:  # HDF5 could not read a chunk: a damaged or truncated file
        raise IngestError(
            f"cannot read the pandas table: {exc}",
            path=path,
            hint="the file is damaged or truncated; copy it again or re-export it from DeepLabCut",
        ) from exc
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
    warn_data_quality(
        f"{path}: frame index skips {n_frames - n_rows} of {n_frames} frames; missing frames "
        "are NaN",
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

    A table in DeepLabCut's own column order (every individual, keypoint, coordinates then
    likelihood) is copied in two reshaped assignments; any other order one strided copy per
    column (tens of columns), never a loop over frames.
    """
    n_ind, n_kp = confidence.shape[1:]
    stride = layout.n_space + 1
    if _is_regular(layout, n_ind, n_kp, values.shape[1]):
        grouped = values.reshape(values.shape[0], n_ind, n_kp, stride)
        positions[rows] = grouped[..., : layout.n_space]
        confidence[rows] = grouped[..., layout.n_space]
        return
    for col, i, k, a in zip(
        layout.pos_col, layout.pos_ind, layout.pos_kp, layout.pos_axis, strict=True
    ):
        positions[rows, i, k, a] = values[:, col]
    for col, i, k in zip(layout.conf_col, layout.conf_ind, layout.conf_kp, strict=True):
        confidence[rows, i, k] = values[:, col]


def _is_regular(layout: _ColumnLayout, n_ind: int, n_kp: int, n_columns: int) -> bool:
    """Column ``c`` holds individual, keypoint, axis ``divmod`` of ``c`` (likelihood last)."""
    stride = layout.n_space + 1
    if n_columns != n_ind * n_kp * stride or layout.conf_col.size != n_ind * n_kp:
        return False
    pos_expected = (layout.pos_ind * n_kp + layout.pos_kp) * stride + layout.pos_axis
    conf_expected = (layout.conf_ind * n_kp + layout.conf_kp) * stride + layout.n_space
    return (
        layout.pos_col.size == n_ind * n_kp * layout.n_space
        and np.array_equal(layout.pos_col, pos_expected)
        and np.array_equal(layout.conf_col, conf_expected)
    )


__all__ = [
    "CHUNK_ROWS",
    "HEADER_LEVELS",
    "META_PICKLE_MAX_BYTES",
    "PREFERRED_HDF_KEYS",
    "SINGLE_INDIVIDUAL",
    "DLCProject",
    "dlc_meta_path",
    "is_dlc_project_config",
    "read_dlc_meta",
    "read_dlc_project",
    "read_dlc_skeleton",
    "read_dlc_table",
    "read_yaml",
]
