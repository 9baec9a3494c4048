"""Declaring imported files in ``session.toml`` with tomlkit: the user's text survives.

Comments, key order, quoting and array layout of everything already there are kept; a value is
only assigned when it changes, so a re-import that links nothing new leaves the file
byte-identical. New entries are appended; proposals (sync rules) are appended as comments only.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.items import AoT, Array, Table

from w2t_bkin.errors import MetadataError
from w2t_bkin.metadata import check_metadata_file
from w2t_bkin.workspace.import_raw.plan import ImportPlan
from w2t_bkin.workspace.import_raw.rules import SNIPPET_MARK
from w2t_bkin.workspace.layout import sort_paths


def declared_session_toml(plan: ImportPlan) -> tuple[str, str]:
    """Old and new text of ``session.toml``, the new one checked like ``data validate`` would.

    Raises
    ------
    MetadataError
        ``session.toml`` is invalid TOML or fails the schema (its lines named), or the entries
        would make it invalid.
    """
    path = plan.session_dir / "session.toml"
    _, problems = check_metadata_file(path)
    if problems:
        raise MetadataError(
            "session.toml has problems; fix them before importing (nothing was linked):\n  "
            + "\n  ".join(problems),
            path=path,
        )
    # bytes, not read_text: a CRLF file must come back byte-identical when nothing changes
    old = path.read_bytes().decode("utf-8")
    new = _with_snippet(_declare(plan, old), plan.snippet)
    _, problems = check_metadata_file(path, text=new)
    if problems:
        raise MetadataError(
            "the entries import-raw would write are invalid (nothing was linked):\n  "
            + "\n  ".join(problems),
            path=path,
            hint="please report this; declare the files by hand meanwhile",
        )
    return old, new


def _declare(plan: ImportPlan, text: str) -> str:
    """``text`` with entries for the imported files; entries with the same id are updated."""
    doc = tomlkit.parse(text)
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item in plan.items:
        grouped[(item.category, item.entry_id)].append(item.target.as_posix())
    pose_source = {item.entry_id: item.pose_source for item in plan.items if item.pose_source}
    frame_ttls = dict(plan.frame_ttls)

    camera_ids = sorted({entry_id for cat, entry_id in grouped if cat in {"video", "pose"}})
    for camera in camera_ids:
        values: dict[str, Any] = {}
        if ("video", camera) in grouped:
            values["paths"] = _natural(grouped[("video", camera)])
        if camera in frame_ttls:
            values["ttl_id"] = frame_ttls[camera]
        if camera in plan.video_clocks:
            values["frame_clock"] = "video"
        _upsert(doc, "cameras", camera, values)
    for (category, entry_id), targets in sorted(grouped.items()):
        if category == "ttl":
            _upsert(doc, "TTLs", entry_id, {"paths": _natural(targets)})
        elif category == "bpod":
            _update(_table(doc, "bpod"), {"path": _natural(targets)})
        elif category == "pose":
            cameras = _table(_table(doc, "pose", super_table=True), "cameras", super_table=True)
            values = {"source": pose_source[entry_id], "paths": _natural(targets)}
            _update(_table(cameras, entry_id), values)
    return doc.as_string()


def _upsert(doc: Container | Table, key: str, entry_id: str, values: dict[str, Any]) -> None:
    """Update the ``[[key]]`` entry with this id, or append a new one."""
    entries = doc.get(key)
    if entries is None:
        entries = tomlkit.aot()
        doc.add(key, entries)
    for entry in entries:
        if entry.get("id") == entry_id:
            _update(entry, values)
            return
    if isinstance(entries, AoT):
        table = tomlkit.table()
        table.update({"id": entry_id, **values})
        entries.append(table)
    else:  # cameras = [{...}] written inline by the user: the new entry is inline too
        entries.append({"id": entry_id, **values})


def _update(table: Any, values: dict[str, Any]) -> None:
    """Assign only the values that change, so untouched keys keep their layout and comments.

    A list that only grows at its end (new chunks) is appended to in place: the array keeps its
    layout and the comments between its items.
    """
    for key, value in values.items():
        current = table.get(key)
        plain = current.unwrap() if hasattr(current, "unwrap") else current
        if plain == value:
            continue
        if isinstance(current, Array) and isinstance(value, list) and value[: len(plain)] == plain:
            for extra in value[len(plain) :]:
                current.append(extra)
        else:
            table[key] = value


def _table(parent: Any, key: str, *, super_table: bool = False) -> Any:
    """``parent[key]``, created as a (super) table when missing."""
    if key not in parent:
        parent.add(key, tomlkit.table(is_super_table=super_table))
    return parent[key]


def _with_snippet(text: str, snippet: str) -> str:
    """``text`` with the proposal appended as comments, unless one was proposed before."""
    if not snippet or SNIPPET_MARK in text:
        return text
    separator = (
        "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    )
    header = (
        "# Proposed by `w2t-bkin data import-raw`: run needs one rule per Bpod trial type.\n"
        "# Replace each <...> by one of the names listed, then uncomment the rules.\n"
    )
    return text + separator + header + snippet


def _natural(paths: list[str]) -> list[str]:
    """The order run reads chunks in (``name_asc``: natural order, x_2 before x_10)."""
    return [path.as_posix() for path in sort_paths([Path(p) for p in set(paths)])]
