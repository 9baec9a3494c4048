"""Edges of a TTL recorded as an analog (or integer) NWB ``TimeSeries``."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.model.ttl import Polarity
from w2t_bkin.sources.ttl._checks import check_path, check_times
from w2t_bkin.sources.ttl.registry import TTLReadOptions, register_ttl_reader

# The 0.1 and 99.9 percentiles (robust to a few glitches, yet a pulse train whose high level
# fills >= 0.1 % of the samples still shows it) split the values in two; the low and high
# levels are the medians of each half, so noise does not widen them. Up to this many samples
# they are computed exactly in memory; a longer recording is summarised in a histogram of every
# sample (_NWB_LEVEL_BINS bins between its minimum and maximum, two streamed passes), so memory
# stays bounded and no pulse is missed (a regular stride over the samples could step over every
# pulse of a train narrower than the stride).
_NWB_LEVEL_PERCENTILES = (0.1, 99.9)
_NWB_LEVEL_SAMPLES = 2_000_000
_NWB_LEVEL_BINS = 1 << 16
# Schmitt trigger: a transition needs the signal to cross the far side of a band around the
# threshold, half as wide as the distance to the nearer level; noise inside it makes no edge.
_NWB_HYSTERESIS = 0.5
# More samples than this inside the band: not a two-level (TTL-like) signal. Noisy TTLs keep a
# few % there (the noisiest mock series in neuroconv's examples: 1.3 %); analog traces (sine,
# ramp, Gaussian noise) put 20-26 % there.
_NWB_MAX_BAND_FRACTION = 0.05


def read_nwb_ttl(
    path: str | Path,
    series: str | None,
    polarity: Polarity = "rising",
    threshold: float | None = None,
    chunk_samples: int = 1_000_000,
) -> np.ndarray:
    """Edge times of a TTL recorded as an analog (or integer) NWB ``TimeSeries``.

    The series' values (``data * conversion + offset``) are split into low and high by a
    threshold: by default the midpoint between the series' low and high levels (the medians of
    the values below and above the midpoint of the 0.1 and 99.9 percentiles). A Schmitt
    trigger (hysteresis band of half the distance from the threshold to the nearer level)
    keeps noise from adding edges: the state changes only when the signal reaches the far
    side of the band. The edge time is the time of the
    last sample at which the signal crossed the threshold itself before that change (for a
    clean pulse: the first sample of the new level). A series already high at its first
    sample has no rising edge there. Data are streamed in chunks, so memory stays bounded.

    Times come from the series' ``timestamps`` when it has them, else
    ``starting_time + sample_index / rate``: seconds on the clock of the NWB file the series
    was recorded into, taken as the acquisition clock like any other TTL source.

    Parameters
    ----------
    path
        ``.nwb`` file (HDF5).
    series
        The ``TimeSeries`` name (``"TTLSignal"``) or its path in the file
        (``"acquisition/TTLSignal"``, ``"processing/behavior/TTLSignal"``).
    polarity
        ``"rising"`` (low to high), ``"falling"`` or ``"both"``.
    threshold
        Level separating low from high, in the series' unit (after ``conversion``/``offset``);
        must lie strictly between the estimated levels.
    chunk_samples
        Samples read per chunk.

    Returns
    -------
    numpy.ndarray
        ``(n_edges,) float64`` edge times in seconds, non-decreasing; empty when the series
        never changes level in the wanted direction.

    Raises
    ------
    IngestError
        Unreadable file, no or an unknown or ambiguous series (the message lists the
        ``TimeSeries`` in the file), a series with several channels or non-numeric data,
        timestamps of another length than the data, a constant series, one whose values do
        not fall into two levels (an analog signal, not a TTL), or a threshold outside the
        levels.
    """
    path = check_path(Path(path))
    import pynwb

    try:
        io = pynwb.NWBHDF5IO(str(path), mode="r")
    except Exception as exc:  # h5py/hdmf raise many types for a file that is not NWB
        raise _not_nwb(path, exc) from exc
    with io:  # closes the file on every path, errors included
        try:
            nwbfile = io.read()
        except Exception as exc:
            raise _not_nwb(path, exc) from exc
        found = _nwb_series(nwbfile, series, path)
        return _nwb_edges(found, path, polarity, threshold, max(1, int(chunk_samples)))


def _not_nwb(path: Path, exc: Exception) -> IngestError:
    return IngestError(
        f"{path}: not a readable NWB file: {exc}",
        path=path,
        hint="the file is damaged or not NWB (HDF5); set the channel's 'format' if it is "
        "another kind of file",
    )


def _nwb_series_paths(nwbfile: object) -> dict[str, object]:
    """``{path in file: TimeSeries}`` of every TimeSeries in an NWB file."""
    from pynwb import TimeSeries

    found: dict[str, object] = {}
    for obj in nwbfile.objects.values():  # type: ignore[attr-defined]
        if isinstance(obj, TimeSeries):
            data = obj.data
            parent = getattr(getattr(data, "parent", None), "name", None)
            found[parent.strip("/") if isinstance(parent, str) else obj.name] = obj
    return found


def _nwb_series(nwbfile: object, series: str | None, path: Path) -> object:
    paths = _nwb_series_paths(nwbfile)
    listing = sorted(paths) or "none"
    if series is None:
        raise IngestError(
            f"{path}: an NWB TTL source needs the TimeSeries to read; the file holds {listing}",
            path=path,
            hint="set the channel's 'column' to the series name or its path in the file",
        )
    wanted = series.strip("/")
    if wanted in paths:
        return paths[wanted]
    by_name = [p for p in paths if p.rsplit("/", 1)[-1] == wanted]
    if len(by_name) == 1:
        return paths[by_name[0]]
    if len(by_name) > 1:
        raise IngestError(
            f"{path}: several TimeSeries are named '{wanted}': {sorted(by_name)}",
            path=path,
            hint="set the channel's 'column' to the full path of the one to read",
        )
    names = [p.rsplit("/", 1)[-1] for p in paths] + list(paths)
    close = difflib.get_close_matches(wanted, names, n=1)
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    raise IngestError(
        f"{path}: no TimeSeries '{wanted}'; the file holds {listing}",
        path=path,
        hint=f"{suggestion}set the channel's 'column' to one of them",
    )


@dataclass(frozen=True)
class _Schmitt:
    threshold: float
    lower: float
    upper: float


def _nwb_edges(
    ts: object, path: Path, polarity: Polarity, threshold: float | None, chunk_samples: int
) -> np.ndarray:
    name = getattr(ts, "name", "?")
    where = f"{path}: TimeSeries '{name}'"
    data = ts.data  # type: ignore[attr-defined]
    shape = tuple(getattr(data, "shape", (len(data),)))
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise IngestError(
            f"{where}: data have shape {shape}, expected one channel (n_samples,)",
            path=path,
            hint="a TTL channel reads one signal; store each line as its own TimeSeries",
        )
    dtype = np.dtype(getattr(data, "dtype", np.asarray(data[:1]).dtype))
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise IngestError(
            f"{where}: data have dtype {dtype}, expected numbers",
            path=path,
            hint="point the channel's 'column' at a TimeSeries of signal levels",
        )
    n = int(shape[0])
    if n < 2:
        raise IngestError(f"{where}: {n} sample(s), no edges can be found", path=path)
    scale = float(getattr(ts, "conversion", 1.0) or 1.0)
    shift = float(getattr(ts, "offset", 0.0) or 0.0)

    def values(start: int, stop: int, step: int = 1) -> np.ndarray:
        raw = np.asarray(data[start:stop:step]).reshape(-1)
        return raw.astype(np.float64) * scale + shift

    levels = (
        _ExactLevels(values(0, n))
        if n <= _NWB_LEVEL_SAMPLES
        else _HistogramLevels.of(values, n, chunk_samples)
    )
    trigger = _nwb_trigger(levels, where, path, threshold)
    indices = _schmitt_edge_indices(values, n, trigger, polarity, chunk_samples)
    times_s = _nwb_sample_times(ts, indices, n, where, path)
    return check_times(times_s, path, lambda k: f"TimeSeries '{name}' sample {indices[k]}")


class _ExactLevels:
    """The values of every sample, in memory: exact percentiles, medians and counts."""

    def __init__(self, sample: np.ndarray) -> None:
        self.sample = sample
        self.size = sample.size
        self.all_finite = bool(np.all(np.isfinite(sample)))

    def percentiles(self, q: tuple[float, ...]) -> list[float]:
        return [float(v) for v in np.percentile(self.sample, q)]

    def median(self, lo: float, hi: float) -> float:
        """Median of the values ``v`` with ``lo <= v < hi``."""
        return float(np.median(self.sample[(self.sample >= lo) & (self.sample < hi)]))

    def count_inside(self, lo: float, hi: float) -> int:
        """Number of values strictly between ``lo`` and ``hi``."""
        return int(np.count_nonzero((self.sample > lo) & (self.sample < hi)))


class _HistogramLevels:
    """Every sample of a long recording as a histogram (:data:`_NWB_LEVEL_BINS` bins between
    its minimum and maximum): percentiles, medians and counts to within one bin."""

    def __init__(self, counts: np.ndarray, lo: float, hi: float, all_finite: bool) -> None:
        self.counts = counts
        self.size = int(counts.sum())
        self.lo, self.hi = lo, hi
        self.width = (hi - lo) / counts.size if hi > lo else 1.0
        self.cumulative = np.cumsum(counts)
        self.all_finite = all_finite

    @classmethod
    def of(
        cls, values: Callable[[int, int], np.ndarray], n: int, chunk_samples: int
    ) -> _HistogramLevels:
        """Two passes over ``n`` samples read ``chunk_samples`` at a time: range, then counts."""
        lo, hi, all_finite = np.inf, -np.inf, True
        for start in range(0, n, chunk_samples):
            x = values(start, min(n, start + chunk_samples))
            if not np.all(np.isfinite(x)):
                return cls(np.zeros(1, dtype=np.int64), 0.0, 0.0, all_finite=False)
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
        counts = np.zeros(_NWB_LEVEL_BINS, dtype=np.int64)
        if hi == lo:
            counts[0] = n
            return cls(counts, lo, hi, all_finite)
        scale = _NWB_LEVEL_BINS / (hi - lo)
        for start in range(0, n, chunk_samples):
            x = values(start, min(n, start + chunk_samples))
            bins = np.minimum(((x - lo) * scale).astype(np.int64), _NWB_LEVEL_BINS - 1)
            counts += np.bincount(bins, minlength=_NWB_LEVEL_BINS)
        return cls(counts, lo, hi, all_finite)

    def _value_at_rank(self, rank: float) -> float:
        """The value of 0-based rank ``rank`` (centre of the bin holding it)."""
        k = int(np.searchsorted(self.cumulative, rank, side="right"))
        return self.lo + (min(k, self.counts.size - 1) + 0.5) * self.width

    def percentiles(self, q: tuple[float, ...]) -> list[float]:
        if self.hi == self.lo:
            return [self.lo for _ in q]
        return [self._value_at_rank(p / 100 * (self.size - 1)) for p in q]

    def _bin(self, value: float) -> int:
        return int(np.clip((value - self.lo) / self.width, 0, self.counts.size))

    def median(self, lo: float, hi: float) -> float:
        first, stop = self._bin(lo), self._bin(hi)
        below = int(self.cumulative[first - 1]) if first > 0 else 0
        inside = int(self.cumulative[stop - 1]) - below if stop > first else 0
        if inside == 0:
            return float("nan")
        return self._value_at_rank(below + (inside - 1) / 2)

    def count_inside(self, lo: float, hi: float) -> int:
        # bins wholly inside (lo, hi): never counts a value at a level, at most one bin short
        first, stop = self._bin(lo) + 1, self._bin(hi)
        if stop <= first:
            return 0
        return int(self.cumulative[stop - 1] - self.cumulative[first - 1])


def _nwb_trigger(
    levels: _ExactLevels | _HistogramLevels, where: str, path: Path, threshold: float | None
) -> _Schmitt:
    if not levels.all_finite:
        raise IngestError(
            f"{where}: holds NaN or infinite values",
            path=path,
            hint="a TTL signal must be finite everywhere",
        )
    low, high = levels.percentiles(_NWB_LEVEL_PERCENTILES)
    if high > low:
        split = (low + high) / 2
        low, high = levels.median(-np.inf, split), levels.median(split, np.inf)
    if not high > low:
        raise IngestError(
            f"{where}: the signal is constant (about {low:g}); it has no pulses, so no edges",
            path=path,
            hint="check that the channel's 'column' names the TTL series",
        )
    if threshold is None:
        threshold = (low + high) / 2
    elif not low < threshold < high:
        raise IngestError(
            f"{where}: threshold {threshold:g} is not between the signal's low and high levels "
            f"{low:g} and {high:g}",
            path=path,
            hint="give a threshold between the two levels, or none for their midpoint",
        )
    half_band = _NWB_HYSTERESIS * min(threshold - low, high - threshold)
    trigger = _Schmitt(threshold, threshold - half_band, threshold + half_band)
    in_band = levels.count_inside(trigger.lower, trigger.upper)
    if in_band > _NWB_MAX_BAND_FRACTION * levels.size:
        raise IngestError(
            f"{where}: not a two-level TTL signal: {in_band / levels.size:.1%} of the values lie "
            f"between {trigger.lower:g} and {trigger.upper:g}, mid-way between its levels "
            f"{low:g} and {high:g}",
            path=path,
            hint="edges are only defined for a signal that switches between two levels (a "
            "TTL); an analog trace such as this one has none. Point the channel at the TTL "
            "series, or give a threshold if the pulses are rarer than 0.1 % of the samples",
        )
    return trigger


def _schmitt_edge_indices(
    values: Callable[[int, int], np.ndarray],
    n: int,
    trigger: _Schmitt,
    polarity: Polarity,
    chunk_samples: int,
) -> np.ndarray:
    """Sample indices of the threshold crossings that the Schmitt trigger confirms as edges.

    Returns ``(n_edges,) int64`` indices ``k`` with ``x[k - 1] < threshold <= x[k]`` (rising)
    or ``x[k - 1] >= threshold > x[k]`` (falling), increasing.
    """
    directions = {"rising": (1,), "falling": (-1,), "both": (1, -1)}[polarity]
    state = 0  # trigger state before the chunk: +1 high, -1 low, 0 not yet known
    above_before: bool | None = None
    last_crossing = {1: -1, -1: -1}  # latest threshold crossing up/down in earlier chunks
    edges: list[np.ndarray] = []
    for start in range(0, n, chunk_samples):
        x = values(start, min(n, start + chunk_samples))
        above = (x >= trigger.threshold).astype(np.int8)
        head = above[:1] if above_before is None else np.array([above_before], dtype=np.int8)
        crossing_step = np.diff(above, prepend=head)
        marks = np.zeros(x.size, dtype=np.int8)
        marks[x >= trigger.upper] = 1
        marks[x <= trigger.lower] = -1
        # Forward-fill the marks: the trigger state after every sample.
        last_mark = np.maximum.accumulate(np.where(marks != 0, np.arange(x.size), -1))
        states = np.where(last_mark >= 0, marks[np.maximum(last_mark, 0)], state).astype(np.int8)
        before = np.concatenate([np.array([state], dtype=np.int8), states[:-1]])
        for direction in (1, -1):
            crossings = np.flatnonzero(crossing_step == direction) + start
            if direction in directions:
                confirmed = np.flatnonzero((states == direction) & (before == -direction)) + start
                # The edge is the last threshold crossing at or before the confirmation.
                pos = np.searchsorted(crossings, confirmed, side="right") - 1
                earlier = np.full(confirmed.shape, last_crossing[direction], dtype=np.int64)
                found = crossings[np.maximum(pos, 0)] if crossings.size else earlier
                edges.append(np.where(pos >= 0, found, earlier).astype(np.int64))
            if crossings.size:
                last_crossing[direction] = int(crossings[-1])
        state = int(states[-1])
        above_before = bool(above[-1])
    return np.sort(np.concatenate(edges)) if edges else np.empty(0, dtype=np.int64)


def _nwb_sample_times(
    ts: object, indices: np.ndarray, n: int, where: str, path: Path
) -> np.ndarray:
    timestamps = getattr(ts, "timestamps", None)
    if timestamps is not None:
        n_stamps = int(getattr(timestamps, "shape", (len(timestamps),))[0])
        if n_stamps != n:
            raise IngestError(
                f"{where}: {n_stamps} timestamps for {n} samples",
                path=path,
                hint="the series is damaged; write it again",
            )
        if indices.size == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(timestamps[indices], dtype=np.float64).reshape(-1)
    rate_hz = getattr(ts, "rate", None)
    start_s = float(getattr(ts, "starting_time", 0.0) or 0.0)
    if rate_hz is None or not rate_hz > 0:
        raise IngestError(
            f"{where}: neither timestamps nor a positive rate ({rate_hz})",
            path=path,
            hint="the series is damaged; write it again",
        )
    return start_s + indices.astype(np.float64) / float(rate_hz)


@register_ttl_reader("nwb", suffixes=(".nwb",), levels=True)
def _read_nwb(path: Path, options: TTLReadOptions) -> np.ndarray:
    return read_nwb_ttl(path, options.column, options.polarity, options.threshold)
