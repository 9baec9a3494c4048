"""Reading TOML files and turning pydantic errors into messages that name file, key and line."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from w2t_bkin.errors import W2TError
from w2t_bkin.upstream_keys import SCHEMA_OF_MODEL, upstream_key_message


def read_toml(path: Path, error_cls: type[W2TError]) -> tuple[dict[str, Any], str]:
    """Parse a TOML file; a syntax error names the file, line and column.

    Returns
    -------
    data, text
        The parsed mapping and the raw text (kept to locate keys in later error messages).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error_cls(f"file not found: {path}", path=path) from None
    except UnicodeDecodeError as exc:
        raise error_cls(f"not UTF-8 text ({exc.reason})", path=path) from None
    return loads_toml(text, path, error_cls), text


def loads_toml(text: str, path: Path, error_cls: type[W2TError]) -> dict[str, Any]:
    """Parse TOML ``text`` that is (or will be) the content of ``path``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error_cls(
            f"invalid TOML: {exc}",
            path=path,
            hint="fix the syntax at the line and column above (strings need quotes)",
        ) from None


# A TOML key: bare, "basic" or 'literal' parts joined by dots.
_KEY_PART = r"""[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'"""
_KEY = rf"(?:{_KEY_PART})(?:\s*\.\s*(?:{_KEY_PART}))*"
_ARRAY_HEADER = re.compile(rf"^\s*\[\[\s*({_KEY})\s*\]\]\s*(?:#.*)?$")
_TABLE_HEADER = re.compile(rf"^\s*\[\s*({_KEY})\s*\]\s*(?:#.*)?$")
_KEY_VALUE = re.compile(rf"^\s*({_KEY})\s*=(.*)$")


def _key_parts(key: str) -> tuple[str, ...]:
    parts = re.findall(_KEY_PART, key)
    return tuple(part[1:-1] if part[:1] in {'"', "'"} else part for part in parts)


def key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """1-based line of every table and key of a TOML text, by its full path.

    Paths are the locations pydantic reports: ``("cameras", 1, "fps")`` is the ``fps`` key of
    the second ``[[cameras]]`` table; a table header line stands for the table itself. Keys
    inside inline tables and multi-line values are not listed (their enclosing key is).
    """
    found: dict[tuple[str | int, ...], int] = {}
    arrays: dict[tuple[str | int, ...], int] = {}  # array-of-tables path -> its last index
    table: tuple[str | int, ...] = ()
    open_string: str | None = None  # delimiter of a multi-line string being skipped

    def resolve(keys: tuple[str, ...]) -> tuple[str | int, ...]:
        # a key naming an array of tables means its last element (TOML's rule for headers)
        path: tuple[str | int, ...] = ()
        for key in keys:
            path += (key,)
            if path in arrays:
                path += (arrays[path],)
        return path

    def add(path: tuple[str | int, ...], number: int) -> None:
        for end in range(1, len(path) + 1):
            found.setdefault(path[:end], number)

    for number, line in enumerate(text.splitlines(), start=1):
        if open_string is not None:
            if line.count(open_string) % 2 == 1:
                open_string = None
            continue
        if match := _ARRAY_HEADER.match(line):
            keys = _key_parts(match.group(1))
            array = (*resolve(keys[:-1]), keys[-1])
            arrays[array] = arrays.get(array, -1) + 1
            table = (*array, arrays[array])
            add(table, number)
        elif match := _TABLE_HEADER.match(line):
            table = resolve(_key_parts(match.group(1)))
            add(table, number)
        elif match := _KEY_VALUE.match(line):
            add(table + _key_parts(match.group(1)), number)
            value = match.group(2)
            for delimiter in ('"""', "'''"):
                if value.count(delimiter) % 2 == 1:
                    open_string = delimiter
                    break
    return found


def find_key_line(text: str | None, loc: tuple[str | int, ...]) -> int | None:
    """1-based line of the key (or table) at ``loc`` in ``text``, or of its nearest parent.

    ``("cameras", 1, "fps")`` is found inside the second ``[[cameras]]`` table, not at the
    first ``fps`` of the file; a key missing from that table points at the table's header.
    """
    if not text:
        return None
    lines = key_lines(text)
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def _strip_optional(annotation: Any) -> Any:
    """``X`` of ``X | None`` (other annotations unchanged)."""
    if get_origin(annotation) in (Union, UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last element of ``loc`` (for key suggestions).

    Steps through model fields, list items (``[1]``) and dict-keyed tables
    (``pose.cameras.<id>``).
    """
    current: Any = model
    for part in loc[:-1]:
        current = _strip_optional(current)
        origin, args = get_origin(current), get_args(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            current = field.annotation
        elif origin in (list, tuple, set, frozenset) and args and isinstance(part, int):
            current = args[0]
        elif origin is dict and len(args) == 2 and isinstance(part, str):
            current = args[1]
        else:
            return None
    current = _strip_optional(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def suggest_key(model: type[BaseModel], loc: tuple[str | int, ...]) -> str | None:
    """Closest valid key for an unknown key at ``loc``."""
    owner = _model_at(model, loc)
    if owner is None or not loc or not isinstance(loc[-1], str):
        return None
    valid = list(owner.model_fields)
    matches = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
    return matches[0] if matches else None


def _unknown_key_message(model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    """``unknown key``, with the closest valid key, or the new key of an upstream key.

    A key of the upstream w2t-bkin files is named with its counterpart here (and
    ``data migrate``) rather than a closest key, which would mislead: upstream
    ``[[bpod.trial_types]]`` is not ``trial_type_names``.
    """
    schema = SCHEMA_OF_MODEL.get(model.__name__)
    upstream = upstream_key_message(schema, loc) if schema is not None else None
    if upstream is not None:
        return f"unknown key: {upstream}"
    suggestion = suggest_key(model, loc)
    return f"unknown key (did you mean '{suggestion}'?)" if suggestion else "unknown key"


def format_loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_validation_error(
    exc: ValidationError,
    model: type[BaseModel],
    *,
    source: Path | None = None,
    text: str | None = None,
    skip: Callable[[Any], bool] | None = None,
) -> str:
    """One line per problem: ``file:line: key.path: what is wrong (did you mean ...?)``."""
    lines = []
    for error in exc.errors():
        if skip is not None and skip(error):
            continue
        loc = tuple(error["loc"])
        line_no = find_key_line(text, loc)
        where = str(source) if source else "<config>"
        if line_no is not None:
            where += f":{line_no}"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = _unknown_key_message(model, loc)
        elif "input" in error and error["type"] != "missing":
            message += f" (found {error['input']!r})"
        lines.append(f"{where}: {format_loc(loc)}: {message}")
    return "\n".join(lines)
