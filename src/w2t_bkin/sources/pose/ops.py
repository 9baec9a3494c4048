"""Operations on :class:`PoseData`: keypoint renaming, skeletons, video matching, frame checks."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from w2t_bkin.errors import VerificationError
from w2t_bkin.model.pose import PoseData

log = logging.getLogger(__name__)

#: Where a DLC scorer starts in an output name (``<video>DLC_resnet50_...``, old ``DeepCut_``).
_SCORER = re.compile(r"(?:DLC|DeepCut)_")
#: SLEAP analysis exports are named ``<labels>.<video index:03d>_<video stem>``.
_SLEAP_EXPORT = re.compile(r"^.*\.\d{3}_(?P<video>.+)$")
_SUFFIXES = (".predictions", ".analysis", ".labels", "_filtered", "_labeled", ".pkg")
_SEPARATORS = ("_", ".", "-", " ")


def rename_keypoints(
    pose: PoseData, mapping: Mapping[str, str], *, keep_unmapped: bool = False
) -> PoseData:
    """Rename keypoints and drop the ones the mapping does not name.

    Parameters
    ----------
    pose
        Tracks to rename.
    mapping
        ``{name in the file: new name}``.
    keep_unmapped
        Keep keypoints absent from ``mapping`` under their own name instead of dropping them.

    Returns
    -------
    PoseData
        Keypoints in their original order; skeleton edges re-indexed, edges touching a dropped
        keypoint removed.

    Raises
    ------
    VerificationError
        ``mapping`` names a keypoint the file does not have, or two keypoints get one name.
    """
    unknown = [name for name in mapping if name not in pose.keypoint_names]
    if unknown:
        raise VerificationError(
            f"keypoint mapping names {unknown}, which the pose file does not have "
            f"(it has {list(pose.keypoint_names)})",
            path=pose.source_file,
            hint="fix the source names of the mapping",
        )
    kept = [k for k, name in enumerate(pose.keypoint_names) if name in mapping or keep_unmapped]
    new_names = tuple(mapping.get(pose.keypoint_names[k], pose.keypoint_names[k]) for k in kept)
    duplicates = sorted({n for n in new_names if new_names.count(n) > 1})
    if duplicates:
        raise VerificationError(
            f"keypoint mapping gives several keypoints the names {duplicates}",
            path=pose.source_file,
        )
    dropped = [n for n in pose.keypoint_names if n not in mapping and not keep_unmapped]
    if dropped:
        log.info("%s: dropping unmapped keypoints %s", pose.source_file, dropped)
    new_index = {old: new for new, old in enumerate(kept)}
    edges = tuple(
        (new_index[a], new_index[b])
        for a, b in pose.skeleton_edges
        if a in new_index and b in new_index
    )
    take = np.asarray(kept, dtype=np.int64)
    return dataclasses.replace(
        pose,
        positions=pose.positions[:, :, take],
        confidence=pose.confidence[:, :, take],
        keypoint_names=new_names,
        skeleton_edges=edges,
    )


def apply_skeleton(
    pose: PoseData,
    nodes: Sequence[str],
    edges: Iterable[Sequence[str] | Mapping[str, str]],
) -> PoseData:
    """Attach a skeleton declared in metadata.

    Parameters
    ----------
    pose
        Tracks whose keypoints the skeleton refers to (after any renaming).
    nodes
        Skeleton node names; each must be a keypoint of ``pose``.
    edges
        ``(source, target)`` name pairs or ``{"source": ..., "target": ...}`` tables; both
        names must be ``nodes``.

    Returns
    -------
    PoseData
        ``pose`` with ``skeleton_edges`` replaced by the index pairs of ``edges``.

    Raises
    ------
    VerificationError
        A node is not a keypoint of the file, or an edge names something that is not a node.
    """
    index = {name: k for k, name in enumerate(pose.keypoint_names)}
    missing = [name for name in nodes if name not in index]
    if missing:
        raise VerificationError(
            f"skeleton names keypoints {missing} that the pose file does not have "
            f"(it has {list(pose.keypoint_names)})",
            path=pose.source_file,
            hint="rename the skeleton nodes, or map the file's keypoints onto them",
        )
    pairs: list[tuple[int, int]] = []
    for edge in edges:
        source, target = (
            (edge["source"], edge["target"]) if isinstance(edge, Mapping) else tuple(edge)
        )
        for name in (source, target):
            if name not in nodes:
                raise VerificationError(
                    f"skeleton edge ({source}, {target}) names '{name}', which is not one of "
                    f"the skeleton nodes {list(nodes)}",
                    path=pose.source_file,
                )
        pairs.append((index[source], index[target]))
    return dataclasses.replace(pose, skeleton_edges=tuple(pairs))


def pose_video_stem(pose_path: str | Path) -> str:
    """The video stem a pose file name implies.

    Removes the extension, a DLC scorer (``DLC_resnet50_...``/``DeepCut_...`` and anything after
    it, such as ``_filtered``), SLEAP's ``.predictions``/``.analysis`` and
    ``<labels>.000_<video>`` export naming, ``_filtered`` and ``_labeled``.
    """
    stem = Path(pose_path).name
    stem = stem[: -len(Path(stem).suffix)] if Path(stem).suffix else stem
    scorer = list(_SCORER.finditer(stem))
    if scorer:
        stem = stem[: scorer[-1].start()]
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if stem.endswith(suffix) and len(stem) > len(suffix):
                stem, changed = stem[: -len(suffix)], True
    export = _SLEAP_EXPORT.match(stem)
    return export.group("video") if export else stem


def match_pose_to_videos(
    pose_paths: Iterable[str | Path], video_paths: Iterable[str | Path]
) -> dict[Path, Path]:
    """Pair each pose file with the video it was computed from, by file name.

    A pose file matches a video when :func:`pose_video_stem` equals the video stem, or starts
    with it followed by a separator (``_ . -``); with several candidates the longest video stem
    wins. ``m3v1mp4shortDLC_...`` therefore matches ``m3v1mp4short.mp4``, never
    ``m3v1mp4.mp4``. Several pose files may match one video (e.g. raw and filtered outputs).

    Returns
    -------
    dict
        ``{pose path: video path}`` for every pose file.

    Raises
    ------
    VerificationError
        Listing every pose file that matches no video, or matches two videos equally well.
        There is no fallback to the first video.
    """
    videos = [Path(v) for v in video_paths]
    matches: dict[Path, Path] = {}
    problems: list[str] = []
    for pose_path in map(Path, pose_paths):
        stem = pose_video_stem(pose_path)
        candidates = [
            v
            for v in videos
            if stem == v.stem or (stem.startswith(v.stem) and stem[len(v.stem)] in _SEPARATORS)
        ]
        if not candidates:
            problems.append(f"{pose_path} (video stem '{stem}') matches no video")
            continue
        longest = max(len(v.stem) for v in candidates)
        best = [v for v in candidates if len(v.stem) == longest]
        if len(best) > 1:
            problems.append(f"{pose_path} matches several videos: {[str(v) for v in best]}")
            continue
        matches[pose_path] = best[0]
    if problems:
        raise VerificationError(
            "pose files without a unique video:\n  "
            + "\n  ".join(problems)
            + f"\n  videos: {[v.name for v in videos]}",
            hint="pose files must be named after their video (as DLC and SLEAP name them)",
        )
    return matches


def check_pose_frames(pose: PoseData, n_video_frames: int, path: str | Path | None = None) -> None:
    """Raise when a pose file and its video disagree on the frame count.

    Parameters
    ----------
    pose
        Tracks of one video.
    n_video_frames
        Frames counted in the video.
    path
        The video (named in the message); the pose file is always named.

    Raises
    ------
    VerificationError
        ``pose.n_frames != n_video_frames``.
    """
    if pose.n_frames == n_video_frames:
        return
    video = f" video {path}" if path is not None else " video"
    raise VerificationError(
        f"pose file {pose.source_file} has {pose.n_frames} frames but the{video} has "
        f"{n_video_frames} frames",
        path=path if path is not None else pose.source_file,
        hint="the pose file was computed on another video or a trimmed copy; re-run pose "
        "estimation on this video or pair the right files",
    )
