"""Times in seconds from a ``.npy`` array, optionally edges of Open Ephys ``states.npy``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.model.ttl import Polarity
from w2t_bkin.sources.ttl._checks import check_path, check_times
from w2t_bkin.sources.ttl.registry import TTLReadOptions, register_ttl_reader


def load_npy(path: Path) -> np.ndarray:
    check_path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise IngestError(
            f"{path}: not a readable .npy array: {exc}",
            path=path,
            hint="save timestamps with numpy.save as a plain numeric array",
        ) from exc
    if not isinstance(array, np.ndarray):
        raise IngestError(f"{path}: holds an archive, not one array", path=path)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise IngestError(
            f"{path}: expected a 1-D array, found shape {array.shape}",
            path=path,
            hint="save one timestamp per element",
        )
    return array


def read_ttl_npy(
    path: str | Path,
    states_path: str | Path | None = None,
    line: int | None = None,
    polarity: Polarity = "rising",
) -> np.ndarray:
    """Read times in seconds from a ``.npy`` file, optionally selecting Open Ephys event edges.

    Parameters
    ----------
    path
        ``(n,) float`` array of times in seconds (e.g. camera frame timestamps, or an Open Ephys
        ``timestamps.npy``).
    states_path
        Open Ephys ``states.npy`` ``(n,) int``: ``+k`` is a rising edge on line ``k``, ``-k`` a
        falling edge. When ``None`` and ``line`` is given, ``states.npy`` next to ``path`` is
        used.
    line
        Line number as written in ``states.npy`` (Open Ephys numbers lines from 1).
    polarity
        Edges to keep when states are used: ``"rising"``, ``"falling"`` or ``"both"``.

    Returns
    -------
    numpy.ndarray
        ``(n_pulses,) float64`` times in seconds, non-decreasing.

    Raises
    ------
    IngestError
        Unreadable or non-float array (integers are sample numbers, not seconds), lengths of
        times and states differ, the line has no events, or times decrease.
    """
    path = Path(path)
    times = load_float_times(path)
    if states_path is None and line is not None:
        states_path = path.with_name("states.npy")
    if states_path is None:
        if polarity == "falling":
            raise IngestError(
                f"{path}: a plain array of times has no falling edges",
                path=path,
                hint="give the Open Ephys states.npy and a line, or use polarity 'rising'",
            )
        return check_times(times, path, lambda k: f"index {k}")
    if line is None:
        raise IngestError(
            f"{path}: states given but no line selected",
            path=path,
            hint="set the channel's 'line' (Open Ephys line number, from 1)",
        )
    states_path = Path(states_path)
    return select_edges(times, load_npy(states_path), line, polarity, path, states_path)


def load_float_times(path: Path) -> np.ndarray:
    times = load_npy(path)
    if not np.issubdtype(times.dtype, np.floating):
        raise IngestError(
            f"{path}: expected float times in seconds, found dtype {times.dtype}",
            path=path,
            hint="integer arrays are usually sample numbers; divide them by the sampling rate "
            "and save the result in seconds",
        )
    return times.astype(np.float64, copy=False)


def select_edges(
    times: np.ndarray,
    states: np.ndarray,
    line: int,
    polarity: Polarity,
    path: Path,
    states_path: Path,
) -> np.ndarray:
    if times.shape != states.shape:
        raise IngestError(
            f"{states_path}: {states.shape[0]} states for {times.shape[0]} timestamps in {path}",
            path=states_path,
            hint="timestamps.npy and states.npy must come from the same events folder",
        )
    if not np.issubdtype(states.dtype, np.integer):
        raise IngestError(
            f"{states_path}: expected integer states (+line rising, -line falling), found "
            f"dtype {states.dtype}",
            path=states_path,
        )
    lines_present = sorted({int(v) for v in np.unique(np.abs(states))})
    if line not in lines_present:
        raise IngestError(
            f"{states_path}: no events on line {line}; lines present: {lines_present}",
            path=states_path,
            hint="set the channel's 'line' to one of the lines present (Open Ephys numbers "
            "lines from 1)",
        )
    wanted = {"rising": [line], "falling": [-line], "both": [line, -line]}[polarity]
    indices = np.flatnonzero(np.isin(states, wanted))
    return check_times(times[indices], path, lambda k: f"index {indices[k]}")


@register_ttl_reader("npy", suffixes=(".npy",))
def _read_npy(path: Path, options: TTLReadOptions) -> np.ndarray:
    return read_ttl_npy(path, line=options.line, polarity=options.polarity)
