"""Choose the pose reader for a file: :func:`read_pose`, :func:`detect_pose_source`.

The readers register themselves (:mod:`w2t_bkin.sources.pose.registry`); importing this module
imports every reader module, so the registry is complete.
"""

from __future__ import annotations

import logging
from pathlib import Path

# Imported for their registrations: each reader module registers its reader on import.
import w2t_bkin.sources.pose.dlc
import w2t_bkin.sources.pose.lightning
import w2t_bkin.sources.pose.predictions
import w2t_bkin.sources.pose.sleap  # noqa: F401
from w2t_bkin.errors import IngestError
from w2t_bkin.model.pose import PoseData
from w2t_bkin.sources.pose.registry import (
    PoseFile,
    PoseReader,
    pose_reader,
    pose_readers,
    pose_sources,
    pose_suffixes,
    probe_pose_file,
)

log = logging.getLogger(__name__)

#: Accepted spellings of ``source`` and the software each one means.
SOURCES = pose_sources()
SUFFIXES = pose_suffixes()


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
    if path.suffix.lower() not in pose_suffixes():
        raise IngestError(
            f"unsupported pose file extension '{path.suffix}'",
            path=path,
            hint=f"supported: {', '.join(pose_suffixes())}",
        )
    declared = None if source is None else pose_reader(source, path)
    file = probe_pose_file(path)
    claimed = _claiming_reader(file)
    if declared is None:
        reader = claimed or _fallback_reader(file)
    else:
        refusal = None
        if claimed is not None and claimed is not declared and claimed.refuse is not None:
            refusal = claimed.refuse(file, declared.software)
        if refusal is not None:
            raise refusal
        reader = declared
    return reader.read(file, n_video_frames)


def detect_pose_source(path: str | Path) -> str | None:
    """``"dlc"``, ``"sleap"`` or ``"lightning_pose"`` when ``path`` is a 2-D pose output, else None.

    The same rules :func:`read_pose` applies without a declared source: SLEAP by ``.slp``,
    ``.analysis.h5``/HDF5 layout or analysis-CSV columns; DeepLabCut ``.h5`` by its scorer in the
    name; a DLC-layout CSV (``scorer`` first row) is Lightning Pose's or DeepLabCut's by
    :func:`~w2t_bkin.sources.pose.lightning.is_lightning_labels`. Unreadable files are None.
    """
    path = Path(path)
    name = path.name.lower()
    for reader in pose_readers():
        if name.endswith(reader.names):
            return reader.source
    if path.suffix.lower() not in pose_suffixes():
        return None
    try:
        file = probe_pose_file(path)
        claimed = _claiming_reader(file)
    except (IngestError, OSError):
        return None
    return None if claimed is None else claimed.source


def _claiming_reader(file: PoseFile) -> PoseReader | None:
    """The reader whose software certainly wrote ``file``, if one does."""
    return next((reader for reader in pose_readers() if reader.claims(file)), None)


def _fallback_reader(file: PoseFile) -> PoseReader:
    """The reader of the files of this suffix that no reader claims."""
    for reader in pose_readers():
        if reader.fallback and file.suffix in reader.suffixes:
            return reader
    raise IngestError(  # pragma: no cover - every suffix has a fallback reader
        f"no pose reader for '{file.path.suffix}' files", path=file.path
    )
