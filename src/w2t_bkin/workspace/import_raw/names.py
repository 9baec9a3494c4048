"""What an imported file is and what it is called: categories, camera ids, TTL ids."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from w2t_bkin.sources.pose.io import detect_pose_source
from w2t_bkin.sources.pose.ops import pose_video_stem

VIDEO_EXT = {".avi", ".mp4", ".mkv", ".mov"}
TTL_EXT = {".txt", ".csv", ".npy"}
TTL_WORDS = ("ttl", "pulse", "sync", "trigger", "frame", "nidq", "xa_", "xd_")
# Words that make a TTL file that names no camera a candidate frame clock.
FRAME_WORDS = ("frame", "camera", "strobe", "exposure")
POSE_SOURCES = ("dlc", "sleap", "lightning_pose")
VIDEO_SUFFIX = re.compile(r"\.(avi|mp4|mkv|mov)$", re.IGNORECASE)
# One chunk suffix at the end of a stem: _chunk00, _000, -1, _part2.
CHUNK_SUFFIX = re.compile(r"[_-](?:chunk|part|seg|segment)?[_-]?\d+$", re.IGNORECASE)
BARE_CAMERA_WORD = re.compile(r"(?:^|[_-])cam(?:era)?$", re.IGNORECASE)


@dataclass(frozen=True)
class ImportItem:
    """One file to link: ``target`` is relative to the session folder."""

    source: Path
    target: Path
    category: str  # video | ttl | bpod | pose
    entry_id: str  # camera id, TTL id, "bpod"
    pose_source: str | None = None  # dlc | sleap | lightning_pose (category "pose" only)


def _clean_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-")


def camera_id_from_stem(stem: str) -> str:
    """Camera id of a video file stem: the stem without chunk suffixes, as a valid ID.

    ``cam0_chunk00`` -> ``cam0``, ``top_000`` -> ``top``, ``side-1`` -> ``side``, ``cam_1`` ->
    ``cam_1`` (a number after a bare ``cam`` is the camera's number).
    """
    name = _clean_id(stem) or "camera"
    while (match := CHUNK_SUFFIX.search(name)) and match.start() > 0:
        before = name[: match.start()]
        if BARE_CAMERA_WORD.search(before):
            break
        name = before
    return name


def ttl_id_from_stem(stem: str) -> str:
    """Channel id of a TTL file: ``ttl_`` and its stem (``cam0_frame`` -> ``ttl_cam0_frame``)."""
    name = _clean_id(stem) or "channel"
    return name if name.lower().startswith("ttl") else f"ttl_{name}"


def pose_stem(name: str) -> str:
    """The video stem a pose file was computed from, without a video extension."""
    base = VIDEO_SUFFIX.sub("", pose_video_stem(name)).rstrip("._-")
    return base or Path(name).stem


def names_camera(stem: str, camera_id: str) -> bool:
    """Whether ``camera_id`` occurs in ``stem`` as a whole word (not inside ``cam01``)."""
    pattern = rf"(?<![A-Za-z0-9]){re.escape(camera_id)}(?![A-Za-z0-9])"
    return re.search(pattern, stem, re.IGNORECASE) is not None


def has_frame_word(stem: str) -> bool:
    return any(word in stem.lower() for word in FRAME_WORDS)


def pose_source_of(path: Path) -> str | None:
    """``dlc``, ``sleap`` or ``lightning_pose`` when ``path`` is a pose output, else None."""
    return detect_pose_source(path)


def category_of(path: Path, relative: Path) -> tuple[str, str | None] | None:
    """Category of ``path`` and, for pose files, their source; None when not recognised.

    Only folders inside the import source (``relative``) count as TTL words.
    """
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXT:
        return "video", None
    pose_source = pose_source_of(path)
    if pose_source is not None:
        return "pose", pose_source
    if suffix == ".mat":
        return "bpod", None
    if suffix in TTL_EXT and any(word in relative.as_posix().lower() for word in TTL_WORDS):
        return "ttl", None
    return None


def excluded_by(relative: Path, patterns: tuple[str, ...]) -> str | None:
    """The first ``--exclude`` glob matching the file's name or its path inside the source."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(relative.name, pattern) or fnmatch.fnmatchcase(
            relative.as_posix(), pattern
        ):
            return pattern
    return None
