"""The session rules ``run`` enforces, checked on an import plan before anything is written.

Each function mirrors one refusal of ``run`` (see ``session.pose``, ``session.verify`` and
``session.synchronize``) for what import-raw can know from file names, the Bpod files and the
metadata already declared, and says how to resolve it with import-raw's own options.
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from w2t_bkin.errors import VerificationError, W2TError
from w2t_bkin.sources.bpod import read_bpod_session
from w2t_bkin.sources.pose.ops import match_pose_to_videos, pose_video_stem
from w2t_bkin.workspace.import_raw.names import ImportItem

#: First line of every sync-rule snippet; its presence in session.toml means "already proposed".
SNIPPET_MARK = "# [[bpod.sync.trial_types]]"
# As many state names as verify's hint shows; a Bpod protocol rarely has more.
MAX_LISTED_NAMES = 40


# --------------------------------------------------------------------------------------------
# pose: exactly one file per video, each named after its video


def pose_conflicts(
    pose_items: Sequence[ImportItem],
    video_items: Sequence[ImportItem],
    skip_cameras: Iterable[str] = (),
) -> list[str]:
    """Pose files ``run`` would refuse: unmatched, several for one video, chunks without any.

    Parameters
    ----------
    pose_items, video_items
        The plan's pose and video items (all cameras).
    skip_cameras
        Cameras already in conflict for another reason (several pose sources).
    """
    skip = set(skip_cameras)
    poses: dict[str, list[Path]] = defaultdict(list)
    for item in pose_items:
        if item.entry_id not in skip:
            poses[item.entry_id].append(item.source)
    videos: dict[str, list[Path]] = defaultdict(list)
    for item in video_items:
        videos[item.entry_id].append(item.source)
    conflicts: list[str] = []
    for camera, files in sorted(poses.items()):
        chunks = videos.get(camera, [])
        if chunks:
            conflicts += _pose_video_conflicts(camera, files, chunks)
        else:  # pose outputs of videos kept elsewhere: run groups them by the stem they imply
            by_stem: dict[str, list[Path]] = defaultdict(list)
            for path in files:
                by_stem[pose_video_stem(path)].append(path)
            conflicts += _several_per_video(
                camera, {f"{s} (video stem)": f for s, f in by_stem.items()}
            )
    return conflicts


def _pose_video_conflicts(camera: str, files: list[Path], chunks: list[Path]) -> list[str]:
    conflicts: list[str] = []
    by_video: dict[Path, list[Path]] = {chunk: [] for chunk in chunks}
    unmatched: list[Path] = []
    for path in files:
        try:
            by_video[match_pose_to_videos([path], chunks)[path]].append(path)
        except VerificationError:
            unmatched.append(path)
    if unmatched:
        names = ", ".join(path.name for path in unmatched)
        excludes = " ".join(f"--exclude '{path.name}'" for path in unmatched)
        conflicts.append(
            f"camera {camera!r}: pose file(s) {names} match none of its videos "
            f"({', '.join(chunk.name for chunk in chunks)}); run pairs each pose file with the "
            f"video whose stem starts its name: rename them after their video, or pass {excludes}"
        )
    conflicts += _several_per_video(camera, {v.name: f for v, f in by_video.items()})
    missing = [video.name for video, found in by_video.items() if not found]
    if missing and any(by_video.values()):
        conflicts.append(
            f"camera {camera!r}: no pose file for video chunk(s) {', '.join(missing)}; run "
            "needs one per chunk: add their pose outputs to the import folder, or leave the "
            "camera's pose files out with --exclude"
        )
    return conflicts


def _several_per_video(camera: str, by_video: Mapping[str, list[Path]]) -> list[str]:
    several = {video: files for video, files in by_video.items() if len(files) > 1}
    if not several:
        return []
    listing = "; ".join(
        f"{video}: {', '.join(sorted(path.name for path in files))}"
        for video, files in sorted(several.items())
    )
    tails = sorted({_tail(path) for files in several.values() for path in files})
    options = " or ".join(f"--exclude '*{tail}'" for tail in tails)
    return [
        f"camera {camera!r}: several pose files for one video ({listing}); run takes exactly "
        f"one per video and does not guess which: keep one kind, e.g. pass {options}"
    ]


def _tail(path: Path) -> str:
    """What a pose file's name adds to its video stem (``.analysis.h5``, ``DLC_..._f.h5``)."""
    stem = pose_video_stem(path)
    return path.name[len(stem) :] if path.name.startswith(stem) else path.name


# --------------------------------------------------------------------------------------------
# frame clocks


def frame_clock_conflicts(
    camera_ids: Sequence[str],
    clocked: Iterable[str],
    declared_cameras: Mapping[str, Mapping[str, Any]],
    ttl_ids: Sequence[str],
) -> list[str]:
    """Cameras that would have neither ``ttl_id`` nor ``frame_clock`` (verify refuses them).

    Parameters
    ----------
    clocked
        Cameras the plan gives a clock (a TTL file naming them, or ``--frame-clock``).
    declared_cameras
        ``[[cameras]]`` entries of the merged metadata, by id.
    ttl_ids
        TTL channel ids imported or declared (offered as ``--frame-clock`` values).
    """
    done = set(clocked)
    conflicts = []
    for camera in camera_ids:
        entry = declared_cameras.get(camera, {})
        if camera in done or entry.get("ttl_id") or entry.get("frame_clock"):
            continue
        offered = f" (channels: {', '.join(ttl_ids)})" if ttl_ids else ""
        conflicts.append(
            f"camera {camera!r} has no frame clock: no TTL file names it and the metadata "
            "declares neither ttl_id nor frame_clock, so run would refuse it; pass "
            f"--frame-clock {camera}=TTL_ID for the channel with one pulse per frame{offered}, "
            f"or --frame-clock {camera}=video to time frames by the video file (not aligned to "
            "the DAQ)"
        )
    return conflicts


# --------------------------------------------------------------------------------------------
# Bpod


@dataclass(frozen=True)
class BpodFindings:
    """What the Bpod files say about the metadata ``run`` needs.

    Attributes
    ----------
    conflicts
        Refusals of ``run``: unreadable files, state names the files do not have.
    todo
        What ``run`` needs that import-raw cannot decide (the sync rule).
    snippet
        Commented TOML proposing the missing rules with the real names ('' when none needed).
    """

    conflicts: tuple[str, ...] = ()
    todo: tuple[str, ...] = ()
    snippet: str = ""


def bpod_findings(
    bpod_paths: Sequence[Path], bpod_meta: Mapping[str, Any], sync_ttl_ids: Sequence[str]
) -> BpodFindings:
    """Read the Bpod files; check the state names the metadata uses; propose missing rules.

    Parameters
    ----------
    bpod_paths
        The imported Bpod files, in the order run reads them.
    bpod_meta
        ``[bpod]`` of the merged metadata (raw TOML data; may be empty).
    sync_ttl_ids
        TTL channels that may receive the sync pulse (imported or declared, frame clocks left
        out).
    """
    try:
        bpod = read_bpod_session(bpod_paths)
    except W2TError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        return BpodFindings(
            conflicts=(
                f"Bpod file(s) {', '.join(p.name for p in bpod_paths)} cannot be read, so run "
                f"would fail on them: {exc.message}{hint}; leave them out with --exclude",
            )
        )
    states = list(bpod.state_names)
    conflicts = _unknown_states(bpod_meta, states, [p.name for p in bpod_paths])
    sync = bpod_meta.get("sync")
    rules = sync.get("trial_types") if isinstance(sync, Mapping) else None
    if rules:
        return BpodFindings(conflicts=tuple(conflicts))
    trial_types = [int(t) for t in np.unique(bpod.trial_types)]
    todo = [
        "Bpod files are imported but no [[bpod.sync.trial_types]] rule says which Bpod state "
        "emits the sync pulse on which TTL channel, so run would refuse the session (trial "
        f"types in the Bpod files: {', '.join(map(str, trial_types))}); fill in the rules "
        "below and uncomment them (--confirm adds them to session.toml as comments only)"
    ]
    if not sync_ttl_ids:
        todo.append(
            "no TTL channel is imported or declared that could receive the Bpod sync pulse: "
            "run aligns trials to one; import the TTL file that records it"
        )
    return BpodFindings(
        tuple(conflicts), tuple(todo), sync_snippet(trial_types, states, sync_ttl_ids)
    )


def sync_snippet(trial_types: Sequence[int], states: Sequence[str], ttl_ids: Sequence[str]) -> str:
    """Commented ``[[bpod.sync.trial_types]]`` tables, one per trial type, with the real names."""
    signal = f"<one of: {_listed(states)}>" if states else "<the Bpod state emitting the pulse>"
    ttl = f"<one of: {_listed(ttl_ids)}>" if ttl_ids else "<the TTL channel id receiving it>"
    blocks = [
        f"{SNIPPET_MARK}   # which Bpod state emits the sync pulse, per trial type\n"
        f"# trial_type = {trial_type}\n"
        f'# sync_signal = "{signal}"\n'
        f'# sync_ttl = "{ttl}"\n'
        for trial_type in trial_types
    ]
    return "#\n".join(blocks)


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED_NAMES])
    return shown + (", ..." if len(names) > MAX_LISTED_NAMES else "")


def _unknown_states(bpod_meta: Mapping[str, Any], states: list[str], files: list[str]) -> list[str]:
    """State names in sync rules, outcomes and actions that the Bpod files lack (as verify)."""
    named: list[tuple[str, str]] = []
    sync = bpod_meta.get("sync")
    for rule in sync.get("trial_types", []) if isinstance(sync, Mapping) else []:
        if isinstance(rule, Mapping) and isinstance(rule.get("sync_signal"), str):
            what = f"bpod.sync.trial_types (trial_type {rule.get('trial_type')}) sync_signal"
            named.append((what, rule["sync_signal"]))
    for rule in bpod_meta.get("outcomes", []) or []:
        if isinstance(rule, Mapping) and isinstance(rule.get("state"), str):
            named.append((f"bpod.outcomes (outcome {rule.get('outcome')!r}) state", rule["state"]))
    actions = bpod_meta.get("actions")
    named += [("bpod.actions key", state) for state in actions or {}]
    problems = []
    for what, name in named:
        if name in states:
            continue
        folded = [s for s in states if s.lower() == name.lower()]
        close = folded or difflib.get_close_matches(name, states, n=1, cutoff=0.5)
        fix = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(f"{what} = {name!r}{fix}")
    if not problems:
        return []
    return [
        f"the metadata names Bpod state(s) that the Bpod file(s) {', '.join(files)} do not have, "
        f"so run would refuse them: {'; '.join(problems)}; use the exact state names "
        f"(states: {_listed(states)})"
    ]


# --------------------------------------------------------------------------------------------
# links


def broken_links(session_dir: Path) -> list[Path]:
    """Symlinks under ``session_dir`` whose target does not exist, sorted."""
    return sorted(
        path for path in session_dir.rglob("*") if path.is_symlink() and not path.exists()
    )


def broken_link_notes(
    session_dir: Path, links: Sequence[Path], relinked: Iterable[Path]
) -> list[str]:
    """One note for the links this import makes again, one for the rest (with the fix).

    A workspace copied or moved away from the raw files keeps import-raw's relative links,
    which then point nowhere: every file would otherwise be reported once per check.
    """
    again = set(relinked)
    notes = []
    for fixed, group in (
        (True, [p for p in links if p in again]),
        (False, [p for p in links if p not in again]),
    ):
        if not group:
            continue
        shown = ", ".join(
            f"{p.relative_to(session_dir).as_posix()} -> {os.readlink(p)}" for p in group[:5]
        )
        more = f" and {len(group) - 5} more" if len(group) > 5 else ""
        what = (
            f"{len(group)} link(s) in {session_dir} point to files that do not exist "
            f"({shown}{more}); the workspace was probably copied or moved without the raw files "
            "its relative links point to"
        )
        fix = (
            "--confirm links them again to this import's files"
            if fixed
            else "this import does not provide them: import their raw folder again "
            "(w2t-bkin data import-raw SOURCE ... --confirm), or import with --copy so the "
            "workspace holds the files"
        )
        notes.append(f"{what}; {fix}")
    return notes
