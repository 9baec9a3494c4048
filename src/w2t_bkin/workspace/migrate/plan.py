"""Plan a migration: recognise each file, convert every key, check the result (writes nothing)."""

from __future__ import annotations

import copy
import re
import tomllib
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final, get_args

import tomli_w
from pydantic import BaseModel

from w2t_bkin.config import CONFIG_FILENAME, Config, parse_config
from w2t_bkin.errors import ConfigError, MetadataError, WorkspaceError
from w2t_bkin.metadata import SessionMetadata, check_metadata_file
from w2t_bkin.tomlerrors import key_lines, read_toml
from w2t_bkin.upstream_keys import (
    CONFIG_GENERATIONS,
    META_014,
    META_DICT_TRIAL_TYPES,
    META_LEGACY_SESSION,
    UPSTREAM_KEYS,
    SchemaKind,
    find_enclosing_key,
    find_upstream_key,
    split_key,
)
from w2t_bkin.workspace.migrate.rows import (
    BACKUP_SUFFIX,
    CURRENT_GENERATION,
    MISSING,
    Conversion,
    FileKind,
    FileMigration,
    Loc,
    MigrationPlan,
    get_at,
    set_at,
)
from w2t_bkin.workspace.migrate.rules import (
    VALUE_CONVERTERS,
    migrate_legacy_session,
    migrate_trial_types,
    note_naive_start_time,
    note_pose_generation,
)

KIND_OF_NAME: Final[dict[str, FileKind]] = {
    CONFIG_FILENAME: "configuration",
    "metadata.toml": "experiment metadata",
    "subject.toml": "subject metadata",
    "session.toml": "session metadata",
}
_CONFIG_TOP = set(Config.model_fields) | {
    entry.key.split(".")[0].split("[")[0]
    for entry in UPSTREAM_KEYS
    if entry.schema == "configuration"
}
_METADATA_TOP = set(SessionMetadata.model_fields) | {"session"}


def find_migration_files(targets: Sequence[Path]) -> list[Path]:
    """The TOML files to migrate: each file given, and those of each workspace root given.

    A root contributes ``configuration.toml``, ``data/raw/metadata.toml``, every
    ``subject.toml`` and every ``session.toml`` (and upstream's session ``metadata.toml``).

    Raises
    ------
    WorkspaceError
        A target does not exist, or a folder holds none of these files.
    """
    found: list[Path] = []
    for target in targets:
        if target.is_file():
            found.append(target)
        elif target.is_dir():
            files = _workspace_files(target)
            if not files:
                raise WorkspaceError(
                    f"no configuration.toml, metadata.toml, subject.toml or session.toml "
                    f"under {target}",
                    hint="pass the workspace root (the folder holding configuration.toml and "
                    "data/raw) or the TOML files themselves",
                )
            found += files
        else:
            raise WorkspaceError(
                f"not found: {target}", hint="pass a workspace root or TOML files that exist"
            )
    return list(dict.fromkeys(path for path in found if not path.name.endswith(BACKUP_SUFFIX)))


def _workspace_files(root: Path) -> list[Path]:
    raw = root / "data" / "raw"
    candidates = [root / CONFIG_FILENAME, raw / "metadata.toml"]
    candidates += sorted(raw.glob("*/subject.toml"))
    for session_dir in sorted(path for path in raw.glob("*/*") if path.is_dir()):
        candidates += [session_dir / "session.toml", session_dir / "metadata.toml"]
    return [path for path in candidates if path.is_file()]


def plan_migration(paths: Sequence[Path]) -> MigrationPlan:
    """Plan the migration of ``paths`` (see :func:`plan_file`)."""
    return MigrationPlan(tuple(plan_file(path) for path in paths))


def plan_file(path: Path) -> FileMigration:
    """Recognise one file, convert every key, and check the result against our schema.

    Raises
    ------
    ConfigError, MetadataError
        The file cannot be read as TOML.
    """
    error_cls = ConfigError if path.name == CONFIG_FILENAME else MetadataError
    data, text = read_toml(path, error_cls)
    kind = detect_kind(path, data)
    schema: SchemaKind = "configuration" if kind == "configuration" else "metadata"
    conv = Conversion(path, copy.deepcopy(data))
    if _is_upstream_session_metadata(path):
        conv.notes.append(
            f"this version reads session metadata from session.toml only: rename {path.name} "
            "to session.toml once migrated"
        )
    if schema == "metadata":
        note_pose_generation(conv)
        note_naive_start_time(conv)
        migrate_legacy_session(conv)
        migrate_trial_types(conv)
    for loc, value in walk_leaves(conv.source):
        convert_leaf(conv, schema, loc, value)
    changed = any(row.action != "kept" for row in conv.rows) or bool(conv.problems)
    generation = detect_generation(schema, data) if changed else CURRENT_GENERATION
    converted = render_converted(conv.out, generation, path, schema) if changed else text
    problems = [
        *conv.problems,
        *(
            at_original_line(p, path, converted, text)
            for p in check_converted(kind, path, converted)
        ),
    ]
    return FileMigration(
        path=path,
        kind=kind,
        generation=generation,
        rows=tuple(conv.rows),
        notes=tuple(conv.notes),
        original_text=text,
        converted_text=converted,
        problems=tuple(problems),
    )


def _is_upstream_session_metadata(path: Path) -> bool:
    """Upstream's ``data/raw/<subject>/<session>/metadata.toml`` (synthetic sessions)."""
    return path.name == "metadata.toml" and path.parent.parent.parent.name == "raw"


def detect_kind(path: Path, data: dict[str, Any]) -> FileKind:
    """Which workspace file ``path`` is: by its name, else by its top-level keys."""
    if _is_upstream_session_metadata(path):
        return "session metadata"
    if path.name in KIND_OF_NAME:
        return KIND_OF_NAME[path.name]
    keys = set(data) - {"bpod"}  # a table of both schemas
    if len(keys & _CONFIG_TOP) > len(keys & _METADATA_TOP):
        return "configuration"
    if keys == {"subject"}:
        return "subject metadata"
    if keys & {"session", "session_id", "session_start_time", "identifier"}:
        return "session metadata"
    return "experiment metadata"


def detect_generation(schema: SchemaKind, data: dict[str, Any]) -> str:
    """The upstream generation whose keys the file has most of (first listed on a tie)."""
    if schema == "metadata":
        if "session" in data or get_at(data, ("bpod", "trial_types")) is not MISSING:
            return META_LEGACY_SESSION
        if isinstance(get_at(data, ("bpod", "sync", "trial_types")), dict):
            return META_DICT_TRIAL_TYPES
        return META_014
    votes: Counter[str] = Counter()
    for loc, _ in walk_leaves(data):
        entry = find_upstream_key(schema, loc) or find_enclosing_key(schema, loc)
        votes.update(entry.generations if entry is not None else ())
    if not votes:
        return CONFIG_GENERATIONS[0]
    best = max(votes.values())
    return next(gen for gen in CONFIG_GENERATIONS if votes[gen] == best)


def walk_leaves(node: Any, loc: Loc = ()) -> Iterator[tuple[Loc, Any]]:
    """Every value that is not a table (or array of tables), with its location, in file order.

    Empty tables and arrays are values too, so that nothing is lost.
    """
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from walk_leaves(value, (*loc, key))
    elif isinstance(node, list) and node and all(isinstance(item, dict) for item in node):
        for index, item in enumerate(node):
            yield from walk_leaves(item, (*loc, index))
    elif loc:
        yield loc, node


def convert_leaf(conv: Conversion, schema: SchemaKind, loc: Loc, value: Any) -> None:
    """Move, convert, drop or keep one value, as the upstream key table says."""
    entry = find_upstream_key(schema, loc)
    if entry is None:
        enclosing = find_enclosing_key(schema, loc)
        if enclosing is None:
            _place(conv, schema, loc, loc, value, value, "")
        elif not enclosing.new_keys:
            conv.add(loc, None, value, None, enclosing.reason)
        else:
            conv.add(loc, None, value, None, f"not a key of the upstream {enclosing.key} table")
        return
    if entry.new_key is None:
        conv.add(loc, None, value, None, entry.reason)
        return
    target = _fill_wildcards(split_key(entry.key), loc, split_key(entry.new_key))
    new_value = VALUE_CONVERTERS.get(entry.key, lambda same: same)(value)
    reason = entry.reason if (target != loc or new_value != value) else ""
    _place(conv, schema, loc, target, value, new_value, reason)


def _place(
    conv: Conversion,
    schema: SchemaKind,
    loc: Loc,
    target: Loc,
    value: Any,
    new_value: Any,
    reason: str,
) -> None:
    """Set ``target`` unless the file sets it in its own right (which then wins)."""
    if target != loc:
        existing = get_at(conv.out, target)
        if existing is MISSING and _stays(schema, target):
            existing = get_at(conv.source, target)
        if existing is True and new_value is False and _text(target) in _EVERY_SWITCH_ON:
            set_at(conv.out, target, False)
            conv.add(loc, target, value, False, f"{reason}; {_SWITCHES}")
            return
        if existing is False and new_value is True and _text(target) in _EVERY_SWITCH_ON:
            conv.add(loc, None, value, None, f"{_text(target)} is false already; {_SWITCHES}")
            return
        if existing is not MISSING:
            why = (
                f"same value as {_text(target)}, which is kept"
                if existing == new_value
                else f"{_text(target)} is set already ({existing!r}) and wins"
            )
            conv.add(loc, None, value, None, why)
            return
    set_at(conv.out, target, new_value)
    conv.add(loc, target, value, new_value, reason)


# Upstream wrote these only when its loading switch and its assembly mode were both on.
_EVERY_SWITCH_ON: Final = {
    "assembly.write_ttl",
    "assembly.write_videos",
    "assembly.write_bpod",
    "assembly.write_pose",
}
_SWITCHES = "false wins: upstream wrote this only when its loading and assembly switches were on"


def _text(loc: Loc) -> str:
    return ".".join(str(part) for part in loc)


def _stays(schema: SchemaKind, loc: Loc) -> bool:
    """Whether a value the file has at ``loc`` keeps that place once migrated."""
    entry = find_upstream_key(schema, loc)
    if entry is None:
        return find_enclosing_key(schema, loc) is None
    return entry.new_key is not None and split_key(entry.new_key) == split_key(entry.key)


def _fill_wildcards(old_pattern: tuple[str, ...], loc: Loc, new_pattern: tuple[str, ...]) -> Loc:
    """The new key of ``loc``: the new pattern with ``[]`` and ``*`` taken from ``loc``."""
    wildcards = iter(
        part for pattern, part in zip(old_pattern, loc, strict=True) if pattern in ("[]", "*")
    )
    filled: list[str | int] = []
    for part in new_pattern:
        filled.append(next(wildcards) if part in ("[]", "*") else part)
    return tuple(filled)


def render_converted(doc: dict[str, Any], generation: str, path: Path, schema: SchemaKind) -> str:
    """TOML text of a converted file (keys in schema order), headed by where it came from."""
    model: type[BaseModel] = Config if schema == "configuration" else SessionMetadata
    header = (
        f"# Converted from upstream w2t-bkin ({generation}) by `w2t-bkin data migrate`.\n"
        f"# The original is {path.name}{BACKUP_SUFFIX} next to this file.\n"
    )
    return header + _dumps(_in_schema_order(doc, model))


def _dumps(doc: dict[str, Any]) -> str:
    # tomlkit writes arrays of tables as [[...]] headers, as people write them; tomli_w (always
    # installed) may write them inline, which is as valid.
    try:
        import tomlkit
    except ImportError:
        return tomli_w.dumps(doc)
    return tomlkit.dumps(doc)


def _in_schema_order(doc: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """``doc`` with the keys of ``model`` (and its sub-tables) in field order, others after."""
    fields = list(model.model_fields)
    ordered = sorted(doc, key=lambda key: fields.index(key) if key in fields else len(fields))
    result: dict[str, Any] = {}
    for key in ordered:
        value = doc[key]
        sub_model = _table_model(model, key)
        if sub_model is not None and isinstance(value, dict):
            value = _in_schema_order(value, sub_model)
        result[key] = value
    return result


def _table_model(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    field = model.model_fields.get(key)
    if field is None:
        return None
    for candidate in (field.annotation, *get_args(field.annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def at_original_line(problem: str, path: Path, converted: str, original: str) -> str:
    """``problem`` (``file:line: ...`` of the converted text) with the line of the file as is.

    The user fixes the file they have; a key that has no line there loses the line number.
    """
    match = re.match(rf"{re.escape(str(path))}:(\d+): ", problem)
    if match is None:
        return problem
    number = int(match.group(1))
    at_line = [loc for loc, line in key_lines(converted).items() if line == number]
    original_line = key_lines(original).get(max(at_line, key=len)) if at_line else None
    where = f"{path}:{original_line}: " if original_line is not None else f"{path}: "
    return where + problem[match.end() :]


def check_converted(kind: FileKind, path: Path, text: str) -> list[str]:
    """Problems our loaders find in ``text`` as the content of ``path`` (``file:line: ...``)."""
    if kind == "configuration":
        try:
            parse_config(tomllib.loads(text), source=path, text=text)
        except ConfigError as exc:
            return [line for line in exc.message.splitlines() if line.strip()]
        return []
    return check_metadata_file(path, text=text)[1]
