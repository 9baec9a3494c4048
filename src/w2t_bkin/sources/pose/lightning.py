"""Lightning Pose prediction CSVs (the DeepLabCut three-row header layout)."""

from __future__ import annotations

from pathlib import Path

from w2t_bkin.model.pose import PoseData
from w2t_bkin.sources.pose.dlc import read_dlc_table
from w2t_bkin.sources.pose.registry import PoseFile, register_pose_reader

SOURCE_SOFTWARE = "Lightning Pose"
#: Lightning Pose model names written in the scorer row (``heatmap_tracker``,
#: ``heatmap_mhcrnn_tracker``, ...).
SCORER_PREFIXES = ("heatmap", "regression")


def is_lightning_scorer(scorer: str | None) -> bool:
    """Whether a DLC-style scorer name is one Lightning Pose writes."""
    return scorer is not None and scorer.strip().lower().startswith(SCORER_PREFIXES)


def is_lightning_labels(path: str | Path, scorer: str | None) -> bool:
    """Whether a DLC-layout CSV is Lightning Pose's (predictions or labelled data).

    Predictions are told by the scorer (:func:`is_lightning_scorer`). Labelled data share
    DeepLabCut's layout but not its naming: DeepLabCut writes ``CollectedData_<scorer>.csv``,
    Lightning Pose ``CollectedData.csv`` (``CollectedData_<view>.csv`` for multi-view), so a
    ``CollectedData*`` file not named after its own scorer is Lightning Pose's.
    """
    if is_lightning_scorer(scorer):
        return True
    stem = Path(path).stem
    if not stem.startswith("CollectedData"):
        return False
    return scorer is None or stem != f"CollectedData_{scorer.strip()}"


def read_lightning_pose(path: str | Path) -> PoseData:
    """Read a Lightning Pose predictions CSV.

    Parameters
    ----------
    path
        CSV with header rows ``scorer`` / ``bodyparts`` / ``coords`` (x, y, likelihood) and one
        row per frame; multi-view files simply list every view's keypoints (``paw_top``,
        ``paw_bot``).

    Returns
    -------
    PoseData
        One individual; ``confidence`` is the Lightning Pose likelihood.
    """
    return read_dlc_table(path, source_software=SOURCE_SOFTWARE)


def _claims_lightning(file: PoseFile) -> bool:
    """A DLC-layout CSV (first row ``scorer``) written by Lightning Pose."""
    header = file.csv_header
    if not header or header[0].strip().lower() != "scorer":
        return False
    scorer = next((cell for cell in header[1:] if cell.strip()), None)
    return is_lightning_labels(file.path, scorer)


@register_pose_reader(
    "lightning_pose",
    software=SOURCE_SOFTWARE,
    aliases=("lightning", "lightning pose", "lp"),
    suffixes=(".csv",),
    claims=_claims_lightning,
    priority=1,
)
def _read_lightning(file: PoseFile, n_video_frames: int | None) -> PoseData:
    # A declared Lightning Pose .h5 is read as the DLC table layout it shares.
    if file.hdf5_kind is not None:
        return read_dlc_table(file.path, source_software=SOURCE_SOFTWARE)
    return read_lightning_pose(file.path)
