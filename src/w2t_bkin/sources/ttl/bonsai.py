"""Bonsai ``.ssv`` frame logs: the host time of each frame (not the acquisition clock)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.ttl._checks import check_path, check_times, text_data_lines
from w2t_bkin.sources.ttl.registry import TTLReadOptions, register_ttl_reader


def read_bonsai_timestamps(path: str | Path) -> np.ndarray:
    """Read the ISO-8601 first column of a Bonsai ``.ssv`` frame log as POSIX seconds.

    Lines look like ``2020-08-19T12:42:57.7903616-04:00 2330554981`` (host time, camera ticks).
    Only the host time is read: it is the Bonsai PC's wall clock, not the acquisition clock.
    The session pipeline therefore refuses such a log as a ``[[TTLs]]`` channel (nothing maps
    the PC clock onto the DAQ); the reader serves checks and analyses of the log itself.

    Returns
    -------
    numpy.ndarray
        ``(n_frames,) float64`` seconds since 1970-01-01 UTC (microsecond resolution at this
        magnitude), non-decreasing.
    """
    import pandas as pd

    path = check_path(Path(path))
    first: list[str] = []
    line_numbers: list[int] = []
    for line_no, text in text_data_lines(path):
        first.append(text.split()[0])
        line_numbers.append(line_no)
    try:
        stamps = pd.to_datetime(pd.Series(first, dtype=object), format="ISO8601", utc=True)
    except (ValueError, TypeError):
        for value, line_no in zip(first, line_numbers, strict=True):
            try:
                pd.Timestamp(value)
            except ValueError:
                raise IngestError(
                    f"{path}: line {line_no}: expected an ISO-8601 time, found {value!r}",
                    path=path,
                    hint="fix or delete that line",
                ) from None
        raise
    times = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9
    return check_times(times, path, lambda k: f"line {line_numbers[k]}")


# Not advertised in the "set the channel's 'format'" hints: the session refuses a Bonsai log as
# a [[TTLs]] channel, as its times are on the Bonsai PC's clock.
@register_ttl_reader("bonsai", suffixes=(".ssv",), advertised=False)
def _read_bonsai(path: Path, options: TTLReadOptions) -> np.ndarray:
    return read_bonsai_timestamps(path)
