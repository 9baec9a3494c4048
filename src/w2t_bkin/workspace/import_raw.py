"""``w2t-bkin data import-raw``: link (or copy) raw files into a session and declare them.

The plan is computed first (dry run by default); it says what goes where, which TTL channel is
each camera's frame clock, and lists conflicts that block applying it. Applying it first checks
everything (conflicts, ``session.toml`` syntax and schema, existing targets), then creates
relative symlinks (or atomic copies) by category and writes ``[[cameras]]``, ``[[TTLs]]``,
``[bpod]`` and ``[pose.cameras]`` entries whose paths are exactly the linked files. When a step
fails, what was already created is removed again. Source files are never modified.

Naming rules
------------
- A camera id is the video's file stem without chunk suffixes (``_chunk00``, ``_000``,
  ``-1``, ``_part2``): ``cam0_chunk00.mp4`` and ``cam0_chunk01.mp4`` are one camera ``cam0``;
  ``top.mp4`` and ``side.mp4`` are two. A number after a bare ``cam``/``camera`` is a camera
  number, not a chunk (``cam_1.avi`` is camera ``cam_1``).
- A pose file belongs to the camera whose video stem starts its name (DeepLabCut, SLEAP and
  Lightning Pose all name outputs ``<video stem><suffix>``); otherwise its own stem without the
  tool's suffix names the camera. Its source is read from the name or content: a DeepLabCut
  scorer (``DLC_``) in the name, ``.slp``/``.analysis.h5`` (SLEAP), a CSV whose scorer row names
  a Lightning Pose model.
- Each TTL file is its own channel, ``ttl_<stem>``. A TTL file whose name contains a camera id
  is that camera's frame clock (``ttl_id``).
"""

from __future__ import annotations

import contextlib
import copy
import filecmp
import os
import re
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from w2t_bkin.errors import MetadataError, WorkspaceError
from w2t_bkin.io_utils import atomic_write_text, fsync_dir
from w2t_bkin.metadata import check_metadata_file
from w2t_bkin.sources.pose.io import detect_pose_source
from w2t_bkin.sources.pose.ops import pose_video_stem
from w2t_bkin.tomlerrors import read_toml
from w2t_bkin.workspace.layout import natural_key, open_workspace, sort_paths

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


@dataclass(frozen=True)
class ImportPlan:
    """What :func:`apply_import` would do.

    Attributes
    ----------
    frame_ttls
        ``(camera id, TTL id)`` pairs: the TTL channel declared as each camera's ``ttl_id``.
    notes
        What was decided and why (links made, files left out by ``--pose-source``, cameras
        left without a frame clock); informational.
    conflicts
        Problems that make :func:`apply_import` refuse (nothing is written).
    """

    session_dir: Path
    items: tuple[ImportItem, ...]
    skipped: tuple[Path, ...]
    frame_ttls: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# names


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


def _pose_stem(name: str) -> str:
    """The video stem a pose file was computed from, without a video extension."""
    base = VIDEO_SUFFIX.sub("", pose_video_stem(name)).rstrip("._-")
    return base or Path(name).stem


def _names_camera(stem: str, camera_id: str) -> bool:
    """Whether ``camera_id`` occurs in ``stem`` as a whole word (not inside ``cam01``)."""
    pattern = rf"(?<![A-Za-z0-9]){re.escape(camera_id)}(?![A-Za-z0-9])"
    return re.search(pattern, stem, re.IGNORECASE) is not None


def _has_frame_word(stem: str) -> bool:
    return any(word in stem.lower() for word in FRAME_WORDS)


# --------------------------------------------------------------------------------------------
# categories


def pose_source_of(path: Path) -> str | None:
    """``dlc``, ``sleap`` or ``lightning_pose`` when ``path`` is a pose output, else None."""
    return detect_pose_source(path)


def _category(path: Path, relative: Path) -> tuple[str, str | None] | None:
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


# --------------------------------------------------------------------------------------------
# plan


def plan_import(
    source: Path,
    root: Path,
    subject: str,
    session: str,
    pose_sources: Mapping[str, str] | None = None,
) -> ImportPlan:
    """What would be linked where, and how it would be declared (nothing is written).

    Parameters
    ----------
    pose_sources
        Camera id -> pose source (``dlc``, ``sleap``, ``lightning_pose``) to keep when a
        camera has pose files from several sources; the other files are left out.
    """
    workspace = open_workspace(root)
    session_dir = workspace.session_dir(subject, session)
    if not (session_dir / "session.toml").is_file():
        raise WorkspaceError(
            f"session {subject}/{session} does not exist",
            hint=f"create it first: w2t-bkin data add-session {root} {subject} {session}",
        )
    if not source.is_dir():
        raise WorkspaceError(f"import source is not a folder: {source}")
    files = sorted((p for p in source.rglob("*") if p.is_file()), key=lambda p: natural_key(str(p)))
    found: dict[str, list[tuple[Path, str | None]]] = defaultdict(list)
    skipped: list[Path] = []
    for path in files:
        category = _category(path, path.relative_to(source))
        if category is None:
            skipped.append(path)
        else:
            found[category[0]].append((path, category[1]))

    video_camera = {path.stem: camera_id_from_stem(path.stem) for path, _ in found["video"]}
    items: list[ImportItem] = []
    for path, _ in found["video"]:
        camera = video_camera[path.stem]
        items.append(ImportItem(path, Path("Video", camera, path.name), "video", camera))
    notes: list[str] = []
    conflicts: list[str] = []
    pose_items = [_pose_item(path, tool, video_camera) for path, tool in found["pose"] if tool]
    pose_items, left_out = _choose_pose_sources(pose_items, pose_sources or {}, notes, conflicts)
    items += pose_items
    skipped += left_out
    ttl_items = [
        ImportItem(path, Path("TTLs", path.name), "ttl", ttl_id_from_stem(path.stem))
        for path, _ in found["ttl"]
    ]
    items += ttl_items
    items += [ImportItem(p, Path("Bpod", p.name), "bpod", "bpod") for p, _ in found["bpod"]]

    camera_ids = sorted({item.entry_id for item in items if item.category in {"video", "pose"}})
    frame_ttls = _link_frame_ttls(camera_ids, ttl_items, notes)
    conflicts += _duplicate_targets(items) + _duplicate_ttl_ids(ttl_items)
    return ImportPlan(
        session_dir,
        tuple(items),
        tuple(skipped),
        tuple(sorted(frame_ttls.items())),
        tuple(notes),
        tuple(conflicts),
    )


def _pose_item(path: Path, source: str, video_camera: Mapping[str, str]) -> ImportItem:
    camera = _video_camera_of(path.name, video_camera)
    if camera is None:
        camera = camera_id_from_stem(_pose_stem(path.name))
    return ImportItem(path, Path("Pose", camera, path.name), "pose", camera, source)


def _video_camera_of(name: str, video_camera: Mapping[str, str]) -> str | None:
    """Camera of the video with the longest stem that starts ``name`` (not before a digit)."""
    lowered = name.lower()
    matches = [
        stem
        for stem in video_camera
        if lowered.startswith(stem.lower())
        and (len(name) == len(stem) or not name[len(stem)].isdigit())
    ]
    return video_camera[max(matches, key=len)] if matches else None


def _choose_pose_sources(
    items: list[ImportItem],
    chosen: Mapping[str, str],
    notes: list[str],
    conflicts: list[str],
) -> tuple[list[ImportItem], list[Path]]:
    """One pose source per camera: the only one found, or the one ``chosen`` names.

    A camera with files from several sources and no choice is a conflict: the plan cannot be
    applied, because guessing which tracking to trust is the user's decision.
    """
    by_camera: dict[str, dict[str, list[ImportItem]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        assert item.pose_source is not None
        by_camera[item.entry_id][item.pose_source].append(item)
    for camera, source in chosen.items():
        if source not in POSE_SOURCES:
            conflicts.append(
                f"--pose-source {camera}={source}: unknown source (use {', '.join(POSE_SOURCES)})"
            )
        elif source not in by_camera.get(camera, {}):
            found = {c: sorted(s) for c, s in by_camera.items()}
            conflicts.append(
                f"--pose-source {camera}={source}: no {source} pose files for camera "
                f"{camera!r} (pose files found: {found or 'none'})"
            )
    kept: list[ImportItem] = []
    left_out: list[Path] = []
    for camera, sources in sorted(by_camera.items()):
        if len(sources) == 1:
            kept += next(iter(sources.values()))
            continue
        choice = chosen.get(camera)
        if choice in sources:
            kept += sources[choice]
            dropped = [item for s, group in sources.items() if s != choice for item in group]
            left_out += [item.source for item in dropped]
            notes.append(
                f"camera {camera!r}: pose files from {', '.join(sorted(sources))}; "
                f"--pose-source chose {choice}, {len(dropped)} other file(s) left out"
            )
            continue
        listing = "; ".join(
            f"{source}: {', '.join(item.source.name for item in group)}"
            for source, group in sorted(sources.items())
        )
        options = " or ".join(f"--pose-source {camera}={source}" for source in sorted(sources))
        conflicts.append(
            f"camera {camera!r} has pose files from {len(sources)} sources ({listing}); "
            f"one camera takes one source: pass {options}"
        )
        kept += [item for group in sources.values() for item in group]
    return kept, left_out


def _link_frame_ttls(
    camera_ids: list[str], ttl_items: list[ImportItem], notes: list[str]
) -> dict[str, str]:
    """Camera id -> the TTL channel that clocks its frames.

    A TTL file whose name contains a camera id (as a whole word; the longest id wins) belongs to
    that camera. A camera named by several TTL files takes the one with a frame word in its name
    when exactly one has it. A TTL file that names no camera but has a frame word is linked
    only when exactly one camera is still without a TTL; otherwise nothing is guessed.
    """
    named: dict[str, list[ImportItem]] = defaultdict(list)
    generic: list[ImportItem] = []
    for item in ttl_items:
        stem = item.source.stem
        cameras = [c for c in camera_ids if _names_camera(stem, c)]
        # cam0 and cam0_top both occur in "cam0_top_frame": the longer id is meant
        cameras = [c for c in cameras if not any(c != o and c in o for o in cameras)]
        if len(cameras) == 1:
            named[cameras[0]].append(item)
        elif cameras:
            notes.append(
                f"TTL {item.entry_id!r} names several cameras ({', '.join(cameras)}): "
                "linked to none"
            )
        elif _has_frame_word(stem):
            generic.append(item)
    links: dict[str, str] = {}
    for camera in camera_ids:
        candidates = named.get(camera, [])
        if len(candidates) > 1:
            framed = [item for item in candidates if _has_frame_word(item.source.stem)]
            candidates = framed if len(framed) == 1 else candidates
        if len(candidates) == 1:
            links[camera] = candidates[0].entry_id
        elif candidates:
            ids = ", ".join(item.entry_id for item in candidates)
            notes.append(f"camera {camera!r}: several TTL files name it ({ids}); none linked")
    unlinked = [camera for camera in camera_ids if camera not in links]
    if len(generic) == 1 and len(unlinked) == 1:
        links[unlinked[0]] = generic[0].entry_id
        notes.append(
            f"camera {unlinked[0]!r}: TTL {generic[0].entry_id!r} names no camera; linked as "
            "the only frame TTL left for the only camera left"
        )
        unlinked = []
    elif generic and unlinked:
        notes.append(
            f"TTL {', '.join(repr(item.entry_id) for item in generic)} names no camera and "
            f"{len(unlinked)} camera(s) have no frame TTL: which pulses clock which camera is "
            "not guessed"
        )
    for camera in unlinked:
        notes.append(
            f"camera {camera!r}: no TTL file names it, so no ttl_id is declared; set ttl_id "
            "(one pulse per frame) or frame_clock = 'video' | 'rate' in session.toml"
        )
    for camera, ttl_id in sorted(links.items()):
        notes.append(f"camera {camera!r}: frame clock ttl_id = {ttl_id!r}")
    return links


def _duplicate_targets(items: list[ImportItem]) -> list[str]:
    sources: dict[Path, list[Path]] = defaultdict(list)
    for item in items:
        sources[item.target].append(item.source)
    return [
        f"{len(paths)} files would be linked to the same {target}: "
        f"{', '.join(str(p) for p in paths)} (import them into separate sessions)"
        for target, paths in sources.items()
        if len(paths) > 1
    ]


def _duplicate_ttl_ids(items: list[ImportItem]) -> list[str]:
    names: dict[str, list[str]] = defaultdict(list)
    for item in items:
        names[item.entry_id].append(item.source.name)
    return [
        f"TTL files {', '.join(files)} would share the channel id {ttl_id!r} "
        "(rename one of them or declare them by hand)"
        for ttl_id, files in names.items()
        if len(set(files)) > 1
    ]


# --------------------------------------------------------------------------------------------
# apply


def check_import(plan: ImportPlan) -> tuple[str, list[ImportItem]]:
    """Everything :func:`apply_import` checks before it creates a file (nothing is written).

    Returns
    -------
    session_toml, pending
        The new text of ``session.toml`` and the items whose target does not exist yet.

    Raises
    ------
    WorkspaceError
        The plan has conflicts, or a target exists as a different file.
    MetadataError
        ``session.toml`` is unreadable or invalid, or the declared entries would be.
    """
    if plan.conflicts:
        raise WorkspaceError(
            f"the import plan has {len(plan.conflicts)} conflict(s); nothing was linked:\n  "
            + "\n  ".join(plan.conflicts),
            hint="resolve them (see the dry run without --confirm) and run the import again",
        )
    return _declared_session_toml(plan), _pending_items(plan)


def apply_import(plan: ImportPlan, *, copy: bool = False) -> list[Path]:
    """Link (relative symlinks) or copy the files, then declare them in ``session.toml``.

    Everything is checked first (:func:`check_import`): the plan's conflicts, ``session.toml``
    (syntax and schema, with its lines) and the entries it will get, and targets that exist as
    different files. A failure while creating files removes the files and folders created so
    far; ``session.toml`` is written last, atomically. Copies are written to a temporary file
    next to the target, fsynced and renamed into place.

    Returns
    -------
    list of Path
        The links or copies created (targets that already held the source are kept and not
        listed).

    Raises
    ------
    WorkspaceError
        A check of :func:`check_import` fails, or a file cannot be created (nothing is left
        behind).
    MetadataError
        As :func:`check_import`.
    """
    session_toml, pending = check_import(plan)
    created: list[Path] = []
    created_dirs: list[Path] = []
    try:
        for item in pending:
            target = plan.session_dir / item.target
            created_dirs += _make_parents(target.parent)
            if copy:
                _copy_atomic(item.source, target)
            else:
                target.symlink_to(os.path.relpath(item.source.resolve(), target.parent.resolve()))
            created.append(target)
        atomic_write_text(plan.session_dir / "session.toml", session_toml)
    except OSError as exc:
        _remove(created, created_dirs)
        raise WorkspaceError(
            f"import failed, nothing was kept: {exc}",
            hint="check free disk space and write permission on the session folder",
        ) from exc
    return created


def _pending_items(plan: ImportPlan) -> list[ImportItem]:
    """Items whose target does not exist yet; a target that is another file is an error."""
    pending: list[ImportItem] = []
    clashes: list[str] = []
    for item in plan.items:
        target = plan.session_dir / item.target
        if not (target.exists() or target.is_symlink()):
            pending.append(item)
        elif not _same_file(item.source, target):
            clashes.append(f"{target} (importing {item.source})")
    if clashes:
        raise WorkspaceError(
            "targets already exist and are different files; nothing was linked:\n  "
            + "\n  ".join(clashes),
            hint="remove them or import into another session",
        )
    return pending


def _same_file(source: Path, target: Path) -> bool:
    if not target.exists():
        return False  # a broken link
    if target.resolve() == source.resolve():
        return True
    # an earlier --copy: same size and modification time (copy2 keeps it), or same bytes
    return filecmp.cmp(source, target, shallow=True)


def _declared_session_toml(plan: ImportPlan) -> str:
    """Text of ``session.toml`` with the plan's entries, checked like ``data validate`` would."""
    path = plan.session_dir / "session.toml"
    data, _ = read_toml(path, MetadataError)
    _, problems = check_metadata_file(path)
    if problems:
        raise MetadataError(
            "session.toml has problems; fix them before importing (nothing was linked):\n  "
            + "\n  ".join(problems),
            path=path,
        )
    text = tomli_w.dumps(_declare(plan, data))
    _, problems = check_metadata_file(path, text=text)
    if problems:
        raise MetadataError(
            "the entries import-raw would write are invalid (nothing was linked):\n  "
            + "\n  ".join(problems),
            path=path,
            hint="please report this; declare the files by hand meanwhile",
        )
    return text


def _declare(plan: ImportPlan, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with entries for the imported files; entries with the same id are updated."""
    data = copy.deepcopy(data)
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item in plan.items:
        grouped[(item.category, item.entry_id)].append(item.target.as_posix())
    pose_source = {item.entry_id: item.pose_source for item in plan.items if item.pose_source}
    frame_ttls = dict(plan.frame_ttls)

    def upsert(key: str, entry_id: str, values: dict[str, Any]) -> None:
        entries = data.setdefault(key, [])
        for entry in entries:
            if entry.get("id") == entry_id:
                entry.update(values)
                return
        entries.append({"id": entry_id, **values})

    camera_ids = sorted({entry_id for cat, entry_id in grouped if cat in {"video", "pose"}})
    for camera in camera_ids:
        values: dict[str, Any] = {}
        if ("video", camera) in grouped:
            values["paths"] = _natural(grouped[("video", camera)])
        if camera in frame_ttls:
            values["ttl_id"] = frame_ttls[camera]
        upsert("cameras", camera, values)
    for (category, entry_id), targets in sorted(grouped.items()):
        if category == "ttl":
            upsert("TTLs", entry_id, {"paths": _natural(targets)})
        elif category == "bpod":
            data.setdefault("bpod", {})["path"] = _natural(targets)
        elif category == "pose":
            pose = data.setdefault("pose", {}).setdefault("cameras", {})
            pose[entry_id] = {
                **pose.get(entry_id, {}),
                "source": pose_source[entry_id],
                "paths": _natural(targets),
            }
    return data


def _natural(paths: list[str]) -> list[str]:
    """The order run reads chunks in (``name_asc``: natural order, x_2 before x_10)."""
    return [path.as_posix() for path in sort_paths([Path(p) for p in set(paths)])]


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return the folders created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _copy_atomic(source: Path, target: Path) -> None:
    """Copy to a temporary file next to ``target``, fsync, then rename it into place."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(source, tmp)  # mode and times, as copy2 would
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent)


def _remove(files: list[Path], folders: list[Path]) -> None:
    for path in reversed(files):
        with contextlib.suppress(OSError):
            path.unlink()
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty
