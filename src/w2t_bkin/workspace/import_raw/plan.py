"""The import plan: what goes where, how it is declared, and what ``run`` would refuse."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2t_bkin.errors import MetadataError, WorkspaceError
from w2t_bkin.metadata import merge_metadata, metadata_files
from w2t_bkin.tomlerrors import read_toml
from w2t_bkin.workspace.import_raw.names import (
    POSE_SOURCES,
    ImportItem,
    camera_id_from_stem,
    category_of,
    excluded_by,
    has_frame_word,
    names_camera,
    pose_stem,
    ttl_id_from_stem,
)
from w2t_bkin.workspace.import_raw.rules import (
    BpodFindings,
    bpod_findings,
    broken_link_notes,
    broken_links,
    frame_clock_conflicts,
    pose_conflicts,
)
from w2t_bkin.workspace.layout import natural_key, open_workspace, sort_paths

#: ``--frame-clock`` value that times a camera's frames by its video file.
VIDEO_CLOCK = "video"


@dataclass(frozen=True)
class ImportPlan:
    """What :func:`apply_import` would do.

    Attributes
    ----------
    frame_ttls
        ``(camera id, TTL id)`` pairs: the TTL channel declared as each camera's ``ttl_id``.
    video_clocks
        Cameras declared with ``frame_clock = "video"`` (``--frame-clock CAMERA=video``).
    notes
        What was decided and why (links made, files left out, links to make again);
        informational.
    conflicts
        Problems that make :func:`apply_import` refuse (nothing is written): everything
        ``run`` would refuse that import-raw can know.
    todo
        What ``run`` needs that import-raw cannot decide (a Bpod sync rule); applying is allowed.
    snippet
        Commented TOML proposing what ``todo`` asks for, with the names found in the files;
        :func:`apply_import` adds it to ``session.toml`` as comments ('' when nothing is
        proposed).
    relink
        Targets that are links to files that no longer exist; applying replaces them.
    """

    session_dir: Path
    items: tuple[ImportItem, ...]
    skipped: tuple[Path, ...]
    frame_ttls: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    todo: tuple[str, ...] = ()
    snippet: str = ""
    video_clocks: tuple[str, ...] = ()
    relink: tuple[Path, ...] = ()


def plan_import(
    source: Path,
    root: Path,
    subject: str,
    session: str,
    pose_sources: Mapping[str, str] | None = None,
    *,
    frame_clocks: Mapping[str, str] | None = None,
    exclude: Sequence[str] = (),
) -> ImportPlan:
    """What would be linked where, and how it would be declared (nothing is written).

    Parameters
    ----------
    pose_sources
        Camera id -> pose source (``dlc``, ``sleap``, ``lightning_pose``) to keep when a
        camera has pose files from several sources; the other files are left out.
    frame_clocks
        Camera id -> a TTL channel id (its frame clock) or ``"video"``, for cameras no TTL file
        names; overrides the TTL found by name.
    exclude
        Globs of files to leave out, matched against the file name and against its path inside
        ``source``.

    Raises
    ------
    WorkspaceError
        The session does not exist, or ``source`` is not a folder.
    MetadataError
        A metadata file of the session is not valid TOML.
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
    merged = _merged_metadata(workspace.raw, subject, session)
    notes: list[str] = []
    conflicts: list[str] = []
    found, skipped = _found_files(source, tuple(exclude), notes)

    video_camera = {path.stem: camera_id_from_stem(path.stem) for path, _ in found["video"]}
    items = [
        ImportItem(
            path,
            Path("Video", video_camera[path.stem], path.name),
            "video",
            video_camera[path.stem],
        )
        for path, _ in found["video"]
    ]
    pose_items = [_pose_item(path, tool, video_camera) for path, tool in found["pose"] if tool]
    pose_items, left_out, mixed = _choose_pose_sources(
        pose_items, pose_sources or {}, notes, conflicts
    )
    conflicts += pose_conflicts(pose_items, items, skip_cameras=mixed)
    items += pose_items
    skipped += left_out
    ttl_items = [
        ImportItem(path, Path("TTLs", path.name), "ttl", ttl_id_from_stem(path.stem))
        for path, _ in found["ttl"]
    ]
    items += ttl_items
    bpod_items = [ImportItem(p, Path("Bpod", p.name), "bpod", "bpod") for p, _ in found["bpod"]]
    items += bpod_items

    camera_ids = sorted({item.entry_id for item in items if item.category in {"video", "pose"}})
    declared_cameras = _entries(merged, "cameras")
    ttl_ids = sorted({item.entry_id for item in ttl_items} | set(_entries(merged, "TTLs")))
    frame_ttls = _link_frame_ttls(camera_ids, ttl_items, notes)
    video_clocks = _chosen_clocks(
        frame_clocks or {}, camera_ids, ttl_ids, frame_ttls, notes, conflicts
    )
    free_ttls = [t for t in ttl_ids if t not in frame_ttls.values()]  # not another's clock
    conflicts += frame_clock_conflicts(
        camera_ids, [*frame_ttls, *video_clocks], declared_cameras, free_ttls
    )
    conflicts += _duplicate_targets(items) + _duplicate_ttl_ids(ttl_items)
    findings = BpodFindings()
    if bpod_items:
        frame_ids = set(frame_ttls.values()) | {
            str(e["ttl_id"]) for e in declared_cameras.values() if e.get("ttl_id")
        }
        bpod_meta = merged.get("bpod")
        findings = bpod_findings(
            sort_paths([item.source for item in bpod_items]),
            bpod_meta if isinstance(bpod_meta, dict) else {},
            [ttl_id for ttl_id in ttl_ids if ttl_id not in frame_ids],
        )
    conflicts += findings.conflicts
    targets = {session_dir / item.target for item in items}
    links = broken_links(session_dir)
    notes += broken_link_notes(session_dir, links, targets)
    return ImportPlan(
        session_dir,
        tuple(items),
        tuple(skipped),
        tuple(sorted(frame_ttls.items())),
        tuple(notes),
        tuple(conflicts),
        findings.todo,
        findings.snippet,
        tuple(video_clocks),
        tuple(link for link in links if link in targets),
    )


def _merged_metadata(raw: Path, subject: str, session: str) -> dict[str, Any]:
    """The session's metadata files merged as ``run`` merges them (not validated)."""
    merged: dict[str, Any] = {}
    for path in metadata_files(raw, subject, session):
        data, _ = read_toml(path, MetadataError)
        merged = merge_metadata(merged, data)
    return merged


def _entries(merged: Mapping[str, Any], key: str) -> dict[str, Mapping[str, Any]]:
    """``[[key]]`` entries of the merged metadata by id (entries without a string id skipped)."""
    entries = merged.get(key)
    if not isinstance(entries, list):
        return {}
    return {e["id"]: e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)}


def _found_files(
    source: Path, exclude: tuple[str, ...], notes: list[str]
) -> tuple[dict[str, list[tuple[Path, str | None]]], list[Path]]:
    """Files of ``source`` by category, and those left out (unrecognised or ``--exclude``)."""
    files = sorted((p for p in source.rglob("*") if p.is_file()), key=lambda p: natural_key(str(p)))
    found: dict[str, list[tuple[Path, str | None]]] = defaultdict(list)
    skipped: list[Path] = []
    excluded: dict[str, int] = defaultdict(int)
    for path in files:
        relative = path.relative_to(source)
        pattern = excluded_by(relative, exclude)
        category = None if pattern else category_of(path, relative)
        if pattern:
            excluded[pattern] += 1
        if category is None:
            skipped.append(path)
        else:
            found[category[0]].append((path, category[1]))
    for pattern in exclude:
        notes.append(f"--exclude {pattern!r}: {excluded[pattern]} file(s) left out")
    return found, skipped


def _pose_item(path: Path, source: str, video_camera: Mapping[str, str]) -> ImportItem:
    camera = _video_camera_of(path.name, video_camera)
    if camera is None:
        camera = camera_id_from_stem(pose_stem(path.name))
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
) -> tuple[list[ImportItem], list[Path], list[str]]:
    """One pose source per camera: the only one found, or the one ``chosen`` names.

    A camera with files from several sources and no choice is a conflict: the plan cannot be
    applied, because guessing which tracking to trust is the user's decision. Returns the kept
    items, the files left out and the cameras left in conflict.
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
    mixed: list[str] = []
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
        mixed.append(camera)
    return kept, left_out, mixed


def _link_frame_ttls(
    camera_ids: list[str], ttl_items: list[ImportItem], notes: list[str]
) -> dict[str, str]:
    """Camera id -> the TTL channel that clocks its frames.

    A TTL file whose name contains a camera id (as a whole word; the longest id wins) belongs to
    that camera. A camera named by several TTL files takes the one with a frame word in its name
    when exactly one has it. A TTL file that names no camera but has a frame word is linked
    only when exactly one camera is still without a TTL; otherwise nothing is guessed (cameras
    left without a clock are conflicts, see :func:`frame_clock_conflicts`).
    """
    named: dict[str, list[ImportItem]] = defaultdict(list)
    generic: list[ImportItem] = []
    for item in ttl_items:
        stem = item.source.stem
        cameras = [c for c in camera_ids if names_camera(stem, c)]
        # cam0 and cam0_top both occur in "cam0_top_frame": the longer id is meant
        cameras = [c for c in cameras if not any(c != o and c in o for o in cameras)]
        if len(cameras) == 1:
            named[cameras[0]].append(item)
        elif cameras:
            notes.append(
                f"TTL {item.entry_id!r} names several cameras ({', '.join(cameras)}): "
                "linked to none"
            )
        elif has_frame_word(stem):
            generic.append(item)
    links: dict[str, str] = {}
    for camera in camera_ids:
        candidates = named.get(camera, [])
        if len(candidates) > 1:
            framed = [item for item in candidates if has_frame_word(item.source.stem)]
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
    elif generic and unlinked:
        notes.append(
            f"TTL {', '.join(repr(item.entry_id) for item in generic)} names no camera and "
            f"{len(unlinked)} camera(s) have no frame TTL: which pulses clock which camera is "
            "not guessed"
        )
    for camera, ttl_id in sorted(links.items()):
        notes.append(f"camera {camera!r}: frame clock ttl_id = {ttl_id!r}")
    return links


def _chosen_clocks(
    chosen: Mapping[str, str],
    camera_ids: list[str],
    ttl_ids: list[str],
    frame_ttls: dict[str, str],
    notes: list[str],
    conflicts: list[str],
) -> list[str]:
    """Apply ``--frame-clock`` choices to ``frame_ttls``; return the cameras timed by video."""
    video: list[str] = []
    for camera, clock in sorted(chosen.items()):
        if camera not in camera_ids:
            conflicts.append(
                f"--frame-clock {camera}={clock}: no camera {camera!r} in this import "
                f"(cameras: {', '.join(camera_ids) or 'none'})"
            )
        elif clock == VIDEO_CLOCK:
            frame_ttls.pop(camera, None)
            video.append(camera)
            notes.append(f"camera {camera!r}: frame_clock = 'video' (--frame-clock)")
        elif clock in ttl_ids:
            if frame_ttls.get(camera) not in (None, clock):
                notes.append(
                    f"camera {camera!r}: --frame-clock {clock} replaces {frame_ttls[camera]!r}"
                )
            frame_ttls[camera] = clock
        else:
            offered = ", ".join([*ttl_ids, VIDEO_CLOCK])
            rate = (
                "; 'rate' needs fps: declare frame_clock = 'rate' and fps in session.toml"
                if clock == "rate"
                else ""
            )
            conflicts.append(
                f"--frame-clock {camera}={clock}: not a TTL channel id of this session nor "
                f"'video' (use one of: {offered}){rate}"
            )
    return video


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
