"""Checks shared by the TTL readers: the file exists, times are finite and sorted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from w2t_bkin.errors import IngestError

_SORTED_HINT = (
    "within one file, timestamps must be non-decreasing; if the file is a concatenation of "
    "several recordings, split it into one file per recording and list them all in the "
    "channel's 'paths'"
)


def check_times(times_s: np.ndarray, path: Path, where: Callable[[int], str]) -> np.ndarray:
    """Refuse empty, non-finite or decreasing times; ``where(k)`` names the k-th value's place."""
    if times_s.size == 0:
        raise IngestError(
            f"{path}: no timestamps found",
            path=path,
            hint="the file is empty (or holds only comments); remove it from the channel's "
            "'paths' or re-export the pulses",
        )
    bad = np.flatnonzero(~np.isfinite(times_s))
    if bad.size:
        k = int(bad[0])
        raise IngestError(
            f"{path}: {where(k)}: timestamp is {times_s[k]}, expected a finite number of seconds",
            path=path,
            hint="fix or delete that entry",
        )
    decreasing = np.flatnonzero(np.diff(times_s) < 0)
    if decreasing.size:
        k = int(decreasing[0]) + 1
        before, after = float(times_s[k - 1]), float(times_s[k])
        raise IngestError(
            f"{path}: {where(k)}: time decreases from {before!r} to {after!r} s",
            path=path,
            hint=_SORTED_HINT,
        )
    return times_s


def check_path(path: Path) -> Path:
    if not path.exists():
        raise IngestError(
            f"{path}: TTL file not found",
            path=path,
            hint="check the channel's 'paths' in session.toml",
        )
    return path


def text_data_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` of lines holding data: comments and blanks removed."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        for line_no, raw in enumerate(handle, start=1):
            text = raw.split("#", 1)[0].strip()
            if text:
                yield line_no, text


def require_line(path: Path, fmt: str, line: int | None) -> int:
    """``line``, or the error that a ``fmt`` source (one line of a digital port) needs one."""
    if line is None:
        raise IngestError(
            f"{path}: a {fmt} TTL source needs a digital line",
            path=path,
            hint="set the channel's 'line' in session.toml",
        )
    return line
