"""Choose the pose reader for a file: :func:`read_pose`."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import h5py

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.pose import PoseData
from w2t_bkin.sources.pose.dlc import read_dlc_table
from w2t_bkin.sources.pose.lightning import SOURCE_SOFTWARE as LIGHTNING
from w2t_bkin.sources.pose.lightning import is_lightning_scorer, read_lightning_pose
from w2t_bkin.sources.pose.sleap import read_sleap_analysis_h5, read_sleap_slp

log = logging.getLogger(__name__)

#: Accepted spellings of ``source`` and the software each one means.
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
        DeepLabCut ``.h5``/``.csv``, Lightning Pose ``.csv``, SLEAP ``.slp`` or SLEAP
        ``.analysis.h5``.
    source
        ``"dlc"``, ``"sleap"`` or ``"lightning"`` (case-insensitive) to state the software;
        ``None`` detects it from the file: ``.slp`` is SLEAP; an HDF5 file with ``tracks`` and
        ``node_names`` datasets is a SLEAP analysis export, any other HDF5 a pandas DLC table; a
        CSV whose scorer starts with ``heatmap``/``regression`` is Lightning Pose, else DLC.
    n_video_frames
        Frame count of the video, used by SLEAP ``.slp`` files to size the frame axis (saves
        opening the video, which sleap-io does otherwise).

    Raises
    ------
    IngestError
        Unsupported extension or source, a file that is not what its extension says, or any
        reader error.
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
        if software == "SLEAP" or (software is None and _is_sleap_analysis(path)):
            return read_sleap_analysis_h5(path)
        return read_dlc_table(path, source_software=software or "DeepLabCut")
    if software == "SLEAP":
        raise IngestError(
            "SLEAP CSV exports are not supported",
            path=path,
            hint="read the .slp file or export an analysis HDF5 (.analysis.h5) instead",
        )
    if software is None:
        software = LIGHTNING if is_lightning_scorer(_csv_scorer(path)) else "DeepLabCut"
    if software == LIGHTNING:
        return read_lightning_pose(path)
    return read_dlc_table(path)


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


def _is_sleap_analysis(path: Path) -> bool:
    with h5py.File(path, "r") as h5:
        return "tracks" in h5 and "node_names" in h5 and isinstance(h5["tracks"], h5py.Dataset)


def _csv_scorer(path: Path) -> str | None:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            first = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise IngestError(f"cannot read CSV: {exc}", path=path) from exc
    if first and first[0].strip().lower() == "track":
        raise IngestError(
            "this is a SLEAP analysis CSV export, which is not supported",
            path=path,
            hint="read the .slp file or export an analysis HDF5 (.analysis.h5) instead",
        )
    return next((cell for cell in first[1:] if cell.strip()), None)
