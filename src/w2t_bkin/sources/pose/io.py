"""Choose the pose reader for a file: :func:`read_pose`."""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import h5py

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.pose import PoseData
from w2t_bkin.sources.pose.dlc import read_dlc_table
from w2t_bkin.sources.pose.lightning import SOURCE_SOFTWARE as LIGHTNING
from w2t_bkin.sources.pose.lightning import is_lightning_labels, read_lightning_pose
from w2t_bkin.sources.pose.sleap import (
    is_sleap_analysis_csv,
    read_sleap_analysis_csv,
    read_sleap_analysis_h5,
    read_sleap_slp,
)

log = logging.getLogger(__name__)

#: Accepted spellings of ``source`` and the software each one means.
# A DeepLabCut output names its scorer: <video>DLC_<network>... (DeepCut_ in old versions)
_DLC_SCORER = re.compile(r"(DLC|DeepCut)_", re.IGNORECASE)

SOURCES = {
    "dlc": "DeepLabCut",
    "deeplabcut": "DeepLabCut",
    "sleap": "SLEAP",
    "lightning": LIGHTNING,
    "lightning_pose": LIGHTNING,
    "lightning pose": LIGHTNING,
    "lp": LIGHTNING,
}
SUFFIXES = (".h5", ".hdf5", ".csv", ".slp")


def read_pose(
    path: str | Path, source: str | None = None, *, n_video_frames: int | None = None
) -> PoseData:
    """Read any supported pose file into :class:`PoseData`.

    Parameters
    ----------
    path
        DeepLabCut ``.h5``/``.csv``, Lightning Pose ``.csv``, SLEAP ``.slp``, SLEAP
        ``.analysis.h5`` or SLEAP ``.analysis.csv``.
    source
        ``"dlc"``, ``"sleap"`` or ``"lightning"`` (case-insensitive) to state the software;
        ``None`` detects it from the file: ``.slp`` is SLEAP; an HDF5 file with ``tracks`` and
        ``node_names`` datasets is a SLEAP analysis export, any other HDF5 a pandas DLC table; a
        CSV whose header starts ``track,frame_idx`` is a SLEAP analysis CSV; a CSV whose scorer
        starts with ``heatmap``/``regression`` is Lightning Pose predictions, and a labelled-data
        ``CollectedData*.csv`` not named ``CollectedData_<its scorer>`` (DeepLabCut's naming;
        Lightning Pose writes ``CollectedData.csv``) Lightning Pose labels; else DLC.
    n_video_frames
        Frame count of the video, used by SLEAP ``.slp`` and ``.analysis.csv`` files to size the
        frame axis (``.slp`` would otherwise open the video through sleap-io; the CSV lists only
        frames with instances).

    Raises
    ------
    IngestError
        Unsupported extension or source, a file that is not what its extension says (including
        sleap-anipose 3-D ``points3d.h5``, which is not supported), or any reader error.
    MissingExtraError
        A SLEAP ``.slp`` file without the ``pose`` extra (sleap-io) installed.
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError("pose file not found", path=path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise IngestError(
            f"unsupported pose file extension '{path.suffix}'",
            path=path,
            hint=f"supported: {', '.join(SUFFIXES)}",
        )
    software = _software(path, source)
    if suffix == ".slp":
        if software != "SLEAP":
            raise IngestError(f".slp files are SLEAP files, not {software}", path=path)
        return read_sleap_slp(path, n_video_frames=n_video_frames)
    if suffix in (".h5", ".hdf5"):
        if not h5py.is_hdf5(path):
            raise IngestError("not an HDF5 file", path=path, hint="the file may be truncated")
        kind = _hdf5_kind(path)
        if kind == "anipose_points3d":
            raise IngestError(
                "this is sleap-anipose 3-D triangulated output ('tracks' of shape (n_frames, "
                "n_tracks, n_nodes, 3) without node names), which is not supported",
                path=path,
                hint="ingest each camera's 2-D SLEAP file (.slp or .analysis.h5) instead",
            )
        if software == "SLEAP" or (software is None and kind == "sleap_analysis"):
            return read_sleap_analysis_h5(path)
        return read_dlc_table(path, source_software=software or "DeepLabCut")
    header = _csv_header(path)
    if is_sleap_analysis_csv(header):
        if software not in (None, "SLEAP"):
            raise IngestError(
                f"this is a SLEAP analysis CSV, not a {software} file",
                path=path,
                hint="declare source = 'sleap' for it",
            )
        return read_sleap_analysis_csv(path, n_video_frames=n_video_frames)
    if software == "SLEAP":
        raise IngestError(
            f"not a SLEAP analysis CSV: the header starts {header[:3]}",
            path=path,
            hint="SLEAP files are .slp, .analysis.h5, or .analysis.csv with the columns "
            "track, frame_idx, instance.score, <node>.x, <node>.y, <node>.score",
        )
    if software is None:
        software = LIGHTNING if _csv_is_lightning(path, header) else "DeepLabCut"
    if software == LIGHTNING:
        return read_lightning_pose(path)
    return read_dlc_table(path)


def detect_pose_source(path: str | Path) -> str | None:
    """``"dlc"``, ``"sleap"`` or ``"lightning_pose"`` when ``path`` is a 2-D pose output, else None.

    The same rules :func:`read_pose` applies without a declared source: SLEAP by ``.slp``,
    ``.analysis.h5``/HDF5 layout or analysis-CSV columns; DeepLabCut ``.h5`` by its scorer in the
    name; a DLC-layout CSV (``scorer`` first row) is Lightning Pose's or DeepLabCut's by
    :func:`~w2t_bkin.sources.pose.lightning.is_lightning_labels`. Unreadable files are None.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".slp" or path.name.lower().endswith(".analysis.h5"):
        return "sleap"
    try:
        if suffix in (".h5", ".hdf5"):
            if not h5py.is_hdf5(path):
                return None
            kind = _hdf5_kind(path)
            if kind == "sleap_analysis":
                return "sleap"
            return "dlc" if kind == "other" and _DLC_SCORER.search(path.name) else None
        if suffix == ".csv":
            header = _csv_header(path)
            if is_sleap_analysis_csv(header):
                return "sleap"
            if not header or header[0].strip().lower() != "scorer":
                return None
            return "lightning_pose" if _csv_is_lightning(path, header) else "dlc"
    except (IngestError, OSError):
        return None
    return None


def _csv_is_lightning(path: Path, header: list[str]) -> bool:
    """A DLC-layout CSV (header = its scorer row) written by Lightning Pose."""
    scorer = next((cell for cell in header[1:] if cell.strip()), None)
    return is_lightning_labels(path, scorer)


def _software(path: Path, source: str | None) -> str | None:
    if source is None:
        return "SLEAP" if path.suffix.lower() == ".slp" else None
    try:
        return SOURCES[source.strip().lower()]
    except KeyError:
        raise IngestError(
            f"unknown pose source '{source}'",
            path=path,
            hint=f"use one of {sorted(set(SOURCES))}",
        ) from None


def _hdf5_kind(path: Path) -> str:
    """``"sleap_analysis"``, ``"anipose_points3d"`` or ``"other"`` (a pandas table, maybe)."""
    with h5py.File(path, "r") as h5:
        tracks = h5.get("tracks")
        if not isinstance(tracks, h5py.Dataset):
            return "other"
        if "node_names" in h5:
            return "sleap_analysis"
        if tracks.ndim == 4 and tracks.shape[-1] == 3:
            return "anipose_points3d"
    return "other"


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise IngestError(f"cannot read CSV: {exc}", path=path) from exc
