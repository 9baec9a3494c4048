"""Reading TOML files and turning pydantic errors into messages that name file, key and line."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from w2t_bkin.errors import W2TError


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
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise error_cls(
            f"invalid TOML: {exc}",
            path=path,
            hint="fix the syntax at the line and column above (strings need quotes)",
        ) from None


def find_key_line(text: str | None, loc: tuple[str | int, ...]) -> int | None:
    """1-based line where the last named key of ``loc`` is defined in ``text``, if found."""
    if not text:
        return None
    names = [str(part) for part in loc if isinstance(part, str)]
    if not names:
        return None
    key = re.escape(names[-1])
    patterns = [
        rf"^\s*{key}\s*=",  # key = value
        rf"^\s*\[\[?[^\]]*\b{key}\]\]?\s*(#.*)?$",  # [table.key] or [[key]]
        rf"^\s*[\w.\"-]*\.{key}\s*=",  # dotted.key = value
    ]
    lines = text.splitlines()
    for pattern in patterns:
        for number, line in enumerate(lines, start=1):
            if re.search(pattern, line):
                return number
    return None


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last element of ``loc`` (for key suggestions)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap_model(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _unwrap_model(annotation: Any) -> Any:
    """Find a BaseModel inside ``list[X]``, ``X | None``, ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def suggest_key(model: type[BaseModel], loc: tuple[str | int, ...]) -> str | None:
    """Closest valid key for an unknown key at ``loc``."""
    owner = _model_at(model, loc)
    if owner is None or not loc or not isinstance(loc[-1], str):
        return None
    valid = list(owner.model_fields)
    matches = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
    return matches[0] if matches else None


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
            message = "unknown key"
            suggestion = suggest_key(model, loc)
            if suggestion:
                message += f" (did you mean '{suggestion}'?)"
        elif "input" in error and error["type"] != "missing":
            message += f" (found {error['input']!r})"
        lines.append(f"{where}: {format_loc(loc)}: {message}")
    return "\n".join(lines)
