"""One TTL channel from its files: the format each file needs, and the merged pulse train."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np

from w2t_bkin.errors import IngestError, warn_data_quality
from w2t_bkin.model.ttl import Polarity, TTLChannel, TTLFormat
from w2t_bkin.sources.ttl._checks import check_path
from w2t_bkin.sources.ttl.registry import (
    TTLReader,
    TTLReadOptions,
    detect_ttl_reader,
    ttl_reader,
    ttl_readers,
)

log = logging.getLogger(__name__)


def ttl_format_of(path: Path, fmt: TTLFormat = "auto") -> TTLFormat:
    """The reader ``load_ttl_channel`` uses for ``path``: ``fmt``, or the one its name implies."""
    return cast(TTLFormat, detect_ttl_reader(path).fmt) if fmt == "auto" else fmt


def _reader_for(path: Path, fmt: str) -> TTLReader:
    if fmt == "auto":
        return detect_ttl_reader(check_path(path))
    try:
        return ttl_reader(fmt)
    except KeyError:
        known = ", ".join(reader.fmt for reader in ttl_readers())
        raise IngestError(
            f"{path}: unknown TTL format '{fmt}'",
            path=path,
            hint=f"set the channel's 'format' to auto or one of {known}",
        ) from None


def _read_one(path: Path, fmt: str, options: TTLReadOptions) -> np.ndarray:
    reader = _reader_for(path, fmt)
    if options.threshold is not None and not reader.levels:
        raise IngestError(
            f"{path}: a threshold applies only to NWB TimeSeries channels, not to {reader.fmt} "
            "files",
            path=path,
            hint="remove 'threshold' from this [[TTLs]] entry",
        )
    return reader.read(path, options)


def load_ttl_channel(
    channel_id: str,
    paths: str | Path | Sequence[str | Path],
    *,
    fmt: TTLFormat = "auto",
    column: str | None = None,
    line: int | None = None,
    polarity: Polarity = "rising",
    threshold: float | None = None,
    description: str = "",
) -> TTLChannel:
    """Read every file of one TTL channel and merge them into one sorted pulse train.

    Parameters
    ----------
    channel_id
        The ``[[TTLs]].id``.
    paths
        The channel's files (or Open Ephys folders), in reading order.
    fmt
        Reader to use; ``"auto"`` chooses by extension: ``.txt`` text, ``.csv`` CSV, ``.npy``
        NumPy, ``.bin`` SpikeGLX, ``.ssv`` Bonsai, ``.nwb`` NWB, a folder Open Ephys.
    column, line, polarity
        Passed to the CSV, SpikeGLX, Open Ephys, NumPy and NWB readers; for NWB ``column``
        names the ``TimeSeries``.
    threshold
        NWB only: level between low and high (default: the midpoint of the series' levels).
    description
        Free text kept on the result.

    Returns
    -------
    TTLChannel
        Times of all files concatenated and sorted; exact duplicates (the same pulse in two
        overlapping files) are dropped, counted in ``n_duplicates_dropped`` and reported with a
        :class:`~w2t_bkin.errors.DataQualityWarning`.
    """
    files = (Path(paths),) if isinstance(paths, str | Path) else tuple(Path(p) for p in paths)
    if not files:
        raise IngestError(
            f"TTL channel '{channel_id}' has no files",
            hint="check the channel's 'paths' glob in session.toml",
        )
    options = TTLReadOptions(column=column, line=line, polarity=polarity, threshold=threshold)
    parts = [_read_one(path, fmt, options) for path in files]
    times_s = np.sort(np.concatenate(parts), kind="stable")
    keep = np.diff(times_s, prepend=-np.inf) != 0
    n_duplicates = int(times_s.size - np.count_nonzero(keep))
    if n_duplicates:
        warn_data_quality(
            f"TTL channel '{channel_id}': dropped {n_duplicates} exact duplicate timestamps "
            f"while merging {len(files)} file(s)",
            stacklevel=2,
        )
        times_s = times_s[keep]
    log.debug("TTL channel %s: %d pulses from %d file(s)", channel_id, times_s.size, len(files))
    return TTLChannel(
        channel_id=channel_id,
        times_s=times_s,
        source_files=files,
        n_duplicates_dropped=n_duplicates,
        description=description,
    )
