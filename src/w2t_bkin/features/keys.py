"""Entry keys: the file-name stem of one ``(group, sequence)`` entry, injective by construction.

Each part is percent-encoded over UTF-8 with only ASCII letters, digits and ``-`` left as they
are, so ``_``, ``%``, ``.``, spaces, ``/`` and every non-ASCII character are encoded. The two
encoded parts are joined by ``__``; since ``_`` never survives encoding, the separator occurs
exactly once and :func:`parse_entry_key` splits unambiguously. Names are taken verbatim (no
stripping), so ``"a"`` and ``" a"`` are different entries with different keys.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from w2t_bkin.features.errors import FeatureInputError

__all__ = ["MAX_KEY_BYTES", "SEPARATOR", "make_entry_key", "natural_key", "parse_entry_key"]

SEPARATOR = "__"
_SAFE = "-"  # quote() always keeps ASCII letters and digits; nothing else is safe
MAX_KEY_BYTES = 240
"""Longest key accepted: a file name must stay under the usual 255-byte limit with a suffix."""


def _encode(part: str) -> str:
    # quote() keeps "_", ".", "~" by default; they are encoded by hand to keep "__" unique.
    text = quote(part, safe=_SAFE, encoding="utf-8", errors="strict")
    return text.replace("_", "%5F").replace(".", "%2E").replace("~", "%7E")


def make_entry_key(group: str, sequence: str) -> str:
    """The file-name stem of entry ``(group, sequence)``.

    Raises
    ------
    FeatureInputError
        The key would be longer than :data:`MAX_KEY_BYTES` bytes, or a name is not a string.
    """
    if not isinstance(group, str) or not isinstance(sequence, str):
        raise FeatureInputError(
            f"entry names must be strings, found group={group!r}, sequence={sequence!r}",
            hint="pass subject, session, camera and individual names as text",
        )
    key = f"{_encode(group)}{SEPARATOR}{_encode(sequence)}"
    if len(key) > MAX_KEY_BYTES:
        raise FeatureInputError(
            f"entry ({group!r}, {sequence!r}) gives a {len(key)}-byte file name; at most "
            f"{MAX_KEY_BYTES} bytes fit a file system's name limit",
            hint="use shorter subject, session, camera or individual names",
        )
    return key


def parse_entry_key(key: str) -> tuple[str, str]:
    """``(group, sequence)`` of a key made by :func:`make_entry_key` (its exact inverse).

    Raises
    ------
    FeatureInputError
        ``key`` was not made by :func:`make_entry_key`.
    """
    parts = key.split(SEPARATOR)
    if len(parts) != 2 or any(_encode(unquote(p, errors="strict")) != p for p in parts):
        raise FeatureInputError(
            f"{key!r} is not an entry key: expected '<group>__<sequence>' with both parts "
            "percent-encoded",
            hint="entry keys are made by make_entry_key(group, sequence); do not rename files",
        )
    return unquote(parts[0], errors="strict"), unquote(parts[1], errors="strict")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs by value: ``seq2`` before ``seq10``."""
    import re

    out: list[tuple[int, int | str]] = []
    for token in re.split(r"(\d+)", name):
        if token.isdigit():
            out.append((0, int(token)))
        elif token:
            out.append((1, token))
    return tuple(out)
