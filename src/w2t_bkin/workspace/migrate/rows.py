"""What a migration plans: one row per key, per file, and the document being built."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from w2t_bkin.upstream_keys import SchemaKind

Action = Literal["moved", "converted", "dropped", "kept"]
FileKind = Literal["configuration", "experiment metadata", "subject metadata", "session metadata"]
Loc = tuple[str | int, ...]

BACKUP_SUFFIX: Final = ".upstream.bak"
CURRENT_GENERATION: Final = "already this tool's schema"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""Stands for a key that is absent (``None`` cannot: it is no TOML value, but keep them apart)."""


@dataclass(frozen=True)
class MigrationRow:
    """One key of an upstream file and what the migration does with it.

    Attributes
    ----------
    old_key, new_key
        Dotted key paths (``cameras[0].paths``); ``new_key`` is ``None`` when dropped.
    old_value, new_value
        The values; ``new_value`` is ``None`` when dropped.
    action
        ``moved`` (new key, same value), ``converted`` (value changed), ``dropped`` (no
        counterpart here) or ``kept`` (same key, same value).
    reason
        Why; empty for a key kept without remark.
    """

    old_key: str
    new_key: str | None
    old_value: Any
    new_value: Any
    action: Action
    reason: str = ""


@dataclass(frozen=True)
class FileMigration:
    """The migration of one file.

    Attributes
    ----------
    path
        The file.
    kind
        Which file of the workspace it is.
    generation
        The upstream generation it was recognised as (:data:`CURRENT_GENERATION` when there is
        nothing to convert).
    rows
        One row per key, in file order.
    notes
        Things to do by hand that the migration cannot (e.g. declare pose outputs).
    original_text, converted_text
        The file as read, and as it would be written (equal when nothing changes).
    problems
        Why the file cannot be migrated (``file:line: key: problem`` lines); empty when it can.
    """

    path: Path
    kind: FileKind
    generation: str
    rows: tuple[MigrationRow, ...]
    notes: tuple[str, ...]
    original_text: str
    converted_text: str
    problems: tuple[str, ...]

    @property
    def schema(self) -> SchemaKind:
        return "configuration" if self.kind == "configuration" else "metadata"

    @property
    def changed(self) -> bool:
        """Whether writing it would change the file."""
        return any(row.action != "kept" for row in self.rows)

    @property
    def backup_path(self) -> Path:
        """``<file>.upstream.bak``, where ``--write`` keeps the original."""
        return self.path.with_name(self.path.name + BACKUP_SUFFIX)


@dataclass(frozen=True)
class MigrationPlan:
    """Every file of one ``data migrate`` call."""

    files: tuple[FileMigration, ...]

    @property
    def blocked(self) -> tuple[FileMigration, ...]:
        """Files that cannot be migrated (they have problems)."""
        return tuple(item for item in self.files if item.problems)

    @property
    def to_write(self) -> tuple[FileMigration, ...]:
        """Files that ``--write`` would rewrite."""
        return tuple(item for item in self.files if item.changed)


@dataclass
class Conversion:
    """The document being built from one upstream file, and what was done to each key."""

    path: Path
    source: dict[str, Any]
    out: dict[str, Any] = field(default_factory=dict)
    rows: list[MigrationRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(
        self,
        old: Loc,
        new: Loc | None,
        old_value: Any,
        new_value: Any,
        reason: str = "",
    ) -> None:
        """Record one key; the action follows from the keys and values."""
        if new is None:
            action: Action = "dropped"
            new_value = None
        elif new_value != old_value or type(new_value) is not type(old_value):
            action = "converted"
        elif new != old:
            action = "moved"
        else:
            action = "kept"
        self.rows.append(
            MigrationRow(
                loc_text(old),
                None if new is None else loc_text(new),
                old_value,
                new_value,
                action,
                reason,
            )
        )

    def problem(self, loc: Loc, text: str) -> None:
        self.problems.append(f"{self.path}: {loc_text(loc)}: {text}")


def loc_text(loc: Loc) -> str:
    """``("cameras", 0, "paths")`` as ``cameras[0].paths``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def get_at(doc: Any, loc: Loc) -> Any:
    """The value at ``loc`` in nested tables and arrays, or :data:`MISSING`."""
    node = doc
    for part in loc:
        in_list = isinstance(part, int) and isinstance(node, list) and part < len(node)
        in_table = isinstance(part, str) and isinstance(node, dict) and part in node
        if not (in_list or in_table):
            return MISSING
        node = node[part]
    return node


def set_at(doc: dict[str, Any], loc: Loc, value: Any) -> None:
    """Set ``loc`` in ``doc``, creating tables (and array items) on the way."""
    node: Any = doc
    for part, following in itertools.pairwise(loc):
        node = _child(node, part, list if isinstance(following, int) else dict)
    if isinstance(loc[-1], int):
        _child(node, loc[-1], dict)
    node[loc[-1]] = value


def _child(node: Any, part: str | int, kind: type) -> Any:
    if isinstance(part, int):
        while len(node) <= part:
            node.append(kind())
        return node[part]
    return node.setdefault(part, kind())
