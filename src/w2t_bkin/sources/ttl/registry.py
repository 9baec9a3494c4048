"""The TTL reader registry: one reader per ``[[TTLs]].format``, chosen by name or by the file.

Each format module registers its reader with :func:`register_ttl_reader`;
:func:`~w2t_bkin.sources.ttl.ttl_format_of` and
:func:`~w2t_bkin.sources.ttl.load_ttl_channel` ask the registry which reader a path needs
(a folder, or the file's extension) instead of testing formats one after the other. The
format names are the values of :data:`~w2t_bkin.model.ttl.TTLFormat` (``"auto"`` aside).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.model.ttl import Polarity, TTLFormat

__all__ = [
    "TTLReadOptions",
    "TTLReader",
    "detect_ttl_reader",
    "register_ttl_reader",
    "ttl_reader",
    "ttl_readers",
]


@dataclass(frozen=True)
class TTLReadOptions:
    """The ``[[TTLs]]`` settings a reader may use.

    Attributes
    ----------
    column
        CSV column, or NWB ``TimeSeries`` name or path.
    line
        Digital line (SpikeGLX: bit from 0; Open Ephys and ``.npy`` states: line from 1).
    polarity
        Edges to keep.
    threshold
        Level between low and high, in the signal's unit (readers of levels only).
    """

    column: str | None = None
    line: int | None = None
    polarity: Polarity = "rising"
    threshold: float | None = None


TTLReadFunction = Callable[[Path, TTLReadOptions], np.ndarray]


@dataclass(frozen=True)
class TTLReader:
    """One registered TTL format.

    Attributes
    ----------
    fmt
        Format name, a value of ``TTLFormat``.
    read
        ``read(path, options) -> (n_pulses,) float64`` times in seconds, sorted.
    suffixes
        Extensions (lower case, ``""`` for none) that imply this format under ``"auto"``.
    directory
        A folder implies this format under ``"auto"``.
    levels
        The format holds signal levels, so a ``threshold`` applies (the others hold edges or
        digital words).
    advertised
        Listed in hints that suggest a ``format`` to set.
    """

    fmt: str
    read: TTLReadFunction
    suffixes: tuple[str, ...] = ()
    directory: bool = False
    levels: bool = False
    advertised: bool = True


_READERS: dict[str, TTLReader] = {}
_FORMAT_ORDER = tuple(name for name in get_args(TTLFormat) if name != "auto")


def register_ttl_reader(
    fmt: str,
    *,
    suffixes: tuple[str, ...] = (),
    directory: bool = False,
    levels: bool = False,
    advertised: bool = True,
) -> Callable[[TTLReadFunction], TTLReadFunction]:
    """Register the decorated ``read(path, options)`` as the reader of format ``fmt``.

    See :class:`TTLReader` for the parameters. Registering a format twice replaces the earlier
    reader (so a reloaded module does not fail).
    """

    def decorate(read: TTLReadFunction) -> TTLReadFunction:
        _READERS[fmt] = TTLReader(fmt, read, suffixes, directory, levels, advertised)
        return read

    return decorate


def ttl_readers() -> tuple[TTLReader, ...]:
    """Registered readers, in the order of the ``TTLFormat`` values (others after them)."""

    def rank(reader: TTLReader) -> int:
        fmt = reader.fmt
        return _FORMAT_ORDER.index(fmt) if fmt in _FORMAT_ORDER else len(_FORMAT_ORDER)

    return tuple(sorted(_READERS.values(), key=rank))


def ttl_reader(fmt: str) -> TTLReader:
    """The reader registered for ``fmt`` (``KeyError`` when none is: the metadata schema
    rejects unknown formats before a reader is asked)."""
    return _READERS[fmt]


def detect_ttl_reader(path: Path) -> TTLReader:
    """The reader ``"auto"`` chooses for ``path``: by being a folder, else by its extension.

    Raises
    ------
    IngestError
        No reader claims the extension (the hint lists the formats to set instead).
    """
    is_dir = path.is_dir()
    suffix = path.suffix.lower()
    for reader in ttl_readers():
        if (reader.directory and is_dir) or (not is_dir and suffix in reader.suffixes):
            return reader
    names = [reader.fmt for reader in ttl_readers() if reader.advertised]
    listing = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)
    raise IngestError(
        f"{path}: cannot tell the TTL format from the extension '{path.suffix}'",
        path=path,
        hint=f"set the channel's 'format' to {listing}",
    )
