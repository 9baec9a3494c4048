"""Option values shared by several command groups: backend ``KEY=VALUE`` pairs, ``--format``.

Both raise :class:`~w2t_bkin.errors.ConfigError` (exit code 2, a usage error like click's own)
with the option, what was expected and what was found, so that ``jobs watch -o``,
``pose process --option`` and every ``--format`` read and fail alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from w2t_bkin.errors import ConfigError

__all__ = ["check_choice", "parse_key_values"]


def parse_key_values(
    pairs: Sequence[str], *, example: str, option: str = "--option"
) -> dict[str, Any]:
    """Backend options from repeated ``KEY=VALUE`` arguments.

    Parameters
    ----------
    pairs
        The option's values in the order given, e.g. ``["delay_s=0.01", "device=cpu"]``.
    example
        A valid pair for this command, shown in the hint (``"delay_s=0.01"``).
    option
        The option's name as the user typed it, for messages.

    Returns
    -------
    dict
        Key (stripped) to value. A value that parses as JSON is taken as such (``0.3`` a float,
        ``true`` a bool, ``null`` None, ``[1, 2]`` a list); any other value stays a string, so
        ``device=cpu`` needs no quotes.

    Raises
    ------
    ConfigError
        A pair without ``=`` or with an empty key, or a key given twice.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"{option} {pair!r} is not KEY=VALUE",
                hint=f"write e.g. {option} {example} (repeat {option} for more options)",
            )
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if key in options:
            raise ConfigError(
                f"{option} {key!r} is given twice ({options[key]!r}, then {value!r})",
                hint=f"keep one {option} {key}=VALUE",
            )
        options[key] = value
    return options


def check_choice(value: str, choices: Sequence[str], *, option: str = "--format") -> str:
    """``value`` when it is one of ``choices``, else a :class:`ConfigError` naming the option."""
    if value not in choices:
        raise ConfigError(
            f"{option} must be {_one_of(choices)}, found {value!r}",
            hint="use " + _one_of([f"{option} {choice}" for choice in choices]),
        )
    return value


def _one_of(items: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return " or ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)
