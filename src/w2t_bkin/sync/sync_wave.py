"""A second acquisition clock (an ephys probe) fitted to the reference clock through a shared
sync wave. Pure NumPy/SciPy.

SpikeGLX sends one square wave (``syncSourcePeriod``, 1 s by default) to the NIDQ (or OneBox)
and to every imec probe; each stream samples it on its own crystal. The edges of that wave,
timed on the probe's clock and on the reference clock, pair one to one, and
:func:`~w2t_bkin.sync.clock.fit_clock` on the pairs gives the probe-to-reference clock model
(offset, drift) that puts spike times on the session clock.

Pairing assumes both edge trains count seconds from the same run start (SpikeGLX starts every
stream of a run together, so the offset is far below half a sync period): each probe edge is
paired with the nearest reference edge after removing the median offset, within half the
wave's period, one to one; the fit is then repeated with only the pairs the first model
predicts within ``tolerance_s``. Edges that one stream recorded and the other did not (a stream
that started or stopped a little earlier) stay unmatched and are counted.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from w2t_bkin.errors import SyncError
from w2t_bkin.sync.clock import ClockKind, ClockModel, fit_clock

__all__ = ["SyncWaveFit", "fit_sync_wave", "match_sync_edges"]

#: Fewest matched edges for a clock fit (offset and drift need two; a few more expose outliers).
MIN_MATCHED_EDGES = 3


@dataclass(frozen=True, eq=False)
class SyncWaveFit:
    """The clock of one stream (``clock_id``) fitted to the reference through a sync wave.

    Attributes
    ----------
    clock_id
        The fitted stream's clock (e.g. the TTL channel id of a probe's sync line).
    reference_id
        The reference-clock channel that recorded the same wave.
    clock
        Source (this stream's seconds) to reference seconds.
    source_edges_s
        ``(n_source,) float64``: the wave's edges on this stream's clock.
    reference_edges_s
        ``(n_reference,) float64``: the wave's edges on the reference clock.
    matched_reference_idx
        ``(n_source,) int64``: index of each source edge's reference edge, -1 when unmatched.
    tolerance_s
        Largest accepted residual of a matched edge (the session's match tolerance).
    """

    clock_id: str
    reference_id: str
    clock: ClockModel
    source_edges_s: np.ndarray
    reference_edges_s: np.ndarray
    matched_reference_idx: np.ndarray
    tolerance_s: float

    @property
    def n_source(self) -> int:
        return int(self.source_edges_s.size)

    @property
    def n_reference(self) -> int:
        return int(self.reference_edges_s.size)

    @property
    def n_matched(self) -> int:
        return int(np.count_nonzero(self.matched_reference_idx >= 0))

    @property
    def n_unmatched_source(self) -> int:
        return self.n_source - self.n_matched

    @property
    def n_unmatched_reference(self) -> int:
        return self.n_reference - self.n_matched

    @property
    def n_unmatched_inside(self) -> int:
        """Unmatched edges of either stream inside the span both recorded: lost or extra
        edges. Edges before the first or after the last pair are only a stream that started
        or stopped earlier than the other, and do not count."""
        on = self.matched_reference_idx >= 0
        src_on = np.flatnonzero(on)
        lo, hi = src_on[0], src_on[-1]
        src_inside = (hi - lo + 1) - src_on.size
        ref_idx = self.matched_reference_idx[on]
        ref_inside = (int(ref_idx.max()) - int(ref_idx.min()) + 1) - ref_idx.size
        return int(src_inside + ref_inside)

    @property
    def matched_source_s(self) -> np.ndarray:
        """``(n_matched,) float64``: matched edges on this stream's clock."""
        return self.source_edges_s[self.matched_reference_idx >= 0]

    @property
    def residuals_s(self) -> np.ndarray:
        """``(n_matched,) float64``: model(source edge) minus its reference edge, in the order
        of the matched source edges."""
        return self.clock.residuals_s

    @property
    def drift_ppm(self) -> float:
        return self.clock.drift_ppm

    @property
    def offset_s(self) -> float:
        return self.clock.offset_s

    @property
    def residual_max_s(self) -> float:
        r = self.residuals_s
        return float(np.max(np.abs(r))) if r.size else float("nan")

    @property
    def residual_rms_s(self) -> float:
        r = self.residuals_s
        return float(np.sqrt(np.mean(r * r))) if r.size else float("nan")

    @property
    def status(self) -> Literal["pass", "warn"]:
        """``"pass"``: every matched edge within tolerance and no edge lost inside the span both
        streams recorded (:attr:`n_unmatched_inside`); else ``"warn"``."""
        within = bool(self.residual_max_s <= self.tolerance_s)
        return "pass" if within and self.n_unmatched_inside == 0 else "warn"

    def to_reference_s(self, source_s: np.ndarray | float) -> np.ndarray:
        """Map times on this stream's clock (seconds, any shape) onto the reference clock."""
        return self.clock(source_s)

    def samples_to_reference_s(
        self, sample_idx: np.ndarray, rate_hz: float, first_sample: int = 0
    ) -> np.ndarray:
        """Reference (session) seconds of sample indices of this stream.

        Parameters
        ----------
        sample_idx
            ``(n,) int64`` sample indices (e.g. a sorter's spike trains) within the file.
        rate_hz
            The stream's sample rate as its file states it (SpikeGLX ``imSampRate``).
        first_sample
            Sample count of the file's first sample since the run started (SpikeGLX
            ``firstSample``; 0 for the first file of a run saved from its start).

        Returns
        -------
        numpy.ndarray
            ``(n,) float64`` times on the reference clock.
        """
        # (first_sample + idx) / rate in float64 keeps ~1e-16 relative precision: well below
        # one sample even for day-long runs at 30 kHz
        local_s = (np.asarray(sample_idx, dtype=np.float64) + float(first_sample)) / rate_hz
        return self.clock(local_s)

    def to_dict(self) -> dict[str, object]:
        """JSON row (``alignment_stats.json`` ``clocks``): the fit, counts and status."""
        return {
            "clock_id": self.clock_id,
            "reference_id": self.reference_id,
            "model": self.clock.kind,
            "offset_s": self.offset_s,
            "drift_ppm": self.drift_ppm,
            "residual_rms_ms": _ms(self.residual_rms_s),
            "residual_max_ms": _ms(self.residual_max_s),
            "n_source_edges": self.n_source,
            "n_reference_edges": self.n_reference,
            "n_matched": self.n_matched,
            "n_unmatched_source": self.n_unmatched_source,
            "n_unmatched_reference": self.n_unmatched_reference,
            "n_unmatched_inside": self.n_unmatched_inside,
            "tolerance_ms": self.tolerance_s * 1e3,
            "status": self.status,
            "knots_s": [float(v) for v in self.clock.knots_s],
            "delta_s": [float(v) for v in self.clock.delta_s],
        }


def _ms(value_s: float) -> float | None:
    return None if not np.isfinite(value_s) else value_s * 1e3


def match_sync_edges(
    source_s: np.ndarray,
    reference_s: np.ndarray,
    window_s: float,
    offset_s: float | np.ndarray = 0.0,
) -> np.ndarray:
    """One-to-one nearest pairing of edges after shifting the source by ``offset_s``.

    Parameters
    ----------
    source_s, reference_s
        ``(n,)`` and ``(m,) float64`` increasing edge times.
    window_s
        Largest accepted ``|reference - (source + offset)|``.
    offset_s
        Expected reference minus source time (scalar or ``(n,)`` array).

    Returns
    -------
    numpy.ndarray
        ``(n,) int64``: the paired reference index of every source edge, -1 when none (no
        reference edge within the window, or a closer source edge took it).
    """
    src = np.asarray(source_s, dtype=np.float64)
    ref = np.asarray(reference_s, dtype=np.float64)
    out = np.full(src.size, -1, dtype=np.int64)
    if not src.size or not ref.size:
        return out
    predicted = src + offset_s
    right = np.clip(np.searchsorted(ref, predicted), 1, max(ref.size - 1, 1))
    left = right - 1 if ref.size > 1 else np.zeros_like(right)
    right = np.minimum(right, ref.size - 1)
    take_left = np.abs(ref[left] - predicted) <= np.abs(ref[right] - predicted)
    nearest = np.where(take_left, left, right)
    distance = np.abs(ref[nearest] - predicted)
    ok = np.flatnonzero(distance <= window_s)
    # one to one: of the source edges that chose one reference edge, the closest keeps it
    order = ok[np.argsort(distance[ok], kind="stable")]
    _, first = np.unique(nearest[order], return_index=True)
    keep = order[first]
    out[keep] = nearest[keep]
    return out


def fit_sync_wave(
    source_edges_s: np.ndarray,
    reference_edges_s: np.ndarray,
    *,
    clock_id: str,
    reference_id: str,
    tolerance_s: float,
    model: ClockKind = "linear",
    segment_s: float = 300.0,
) -> SyncWaveFit:
    """Fit a stream's clock to the reference clock from the edges of one shared sync wave.

    Parameters
    ----------
    source_edges_s
        ``(n,) float64`` increasing edge times on the stream's clock.
    reference_edges_s
        ``(m,) float64`` increasing edge times of the same wave on the reference clock.
    clock_id, reference_id
        Names used in messages and reports.
    tolerance_s
        Largest residual of a matched edge; also the outlier threshold of the fit.
    model, segment_s
        Clock model (see :func:`~w2t_bkin.sync.clock.fit_clock`).

    Returns
    -------
    SyncWaveFit

    Raises
    ------
    SyncError
        Fewer than :data:`MIN_MATCHED_EDGES` edges pair up (not the same wave, or the streams
        do not overlap in time).
    """
    src = np.asarray(source_edges_s, dtype=np.float64).ravel()
    ref = np.asarray(reference_edges_s, dtype=np.float64).ravel()
    if src.size < MIN_MATCHED_EDGES or ref.size < MIN_MATCHED_EDGES:
        raise _too_few(clock_id, reference_id, src.size, ref.size, 0)
    half_period_s = 0.5 * float(np.median(np.diff(ref)))
    # median offset to the nearest reference edge: robust to edges only one stream recorded
    nearest = match_sync_edges(src, ref, window_s=np.inf)
    have = nearest >= 0
    offset0 = float(np.median(ref[nearest[have]] - src[have]))
    first = match_sync_edges(src, ref, window_s=half_period_s, offset_s=offset0)
    _check_enough(first, clock_id, reference_id, src.size, ref.size)
    on = first >= 0
    coarse = fit_clock(src[on], ref[first[on]], model=model, segment_s=segment_s)
    # re-pair against the model: a drifting clock moves far from a constant offset
    matched = match_sync_edges(src, ref, window_s=tolerance_s, offset_s=coarse.delta(src))
    _check_enough(matched, clock_id, reference_id, src.size, ref.size)
    on = matched >= 0
    fit = functools.partial(
        fit_clock, model=model, segment_s=segment_s, outlier_threshold_s=tolerance_s
    )
    clock = fit(src[on], ref[matched[on]])
    # an outlier of the final fit is not a pair: unmatch it so the counts say so
    rejected = np.flatnonzero(on)[~clock.inlier]
    if rejected.size:
        matched[rejected] = -1
        _check_enough(matched, clock_id, reference_id, src.size, ref.size)
        on = matched >= 0
        clock = fit(src[on], ref[matched[on]])
    return SyncWaveFit(clock_id, reference_id, clock, src, ref, matched, tolerance_s)


def _check_enough(
    matched: np.ndarray, clock_id: str, reference_id: str, n_src: int, n_ref: int
) -> None:
    n = int(np.count_nonzero(matched >= 0))
    if n < MIN_MATCHED_EDGES:
        raise _too_few(clock_id, reference_id, n_src, n_ref, n)


def _too_few(clock_id: str, reference_id: str, n_src: int, n_ref: int, n: int) -> SyncError:
    return SyncError(
        f"clock of {clock_id!r}: {n} of its {n_src} sync edges pair with the {n_ref} edges of "
        f"reference channel {reference_id!r}; expected at least {MIN_MATCHED_EDGES} pairs of "
        "the same sync wave",
        hint=f"check that {clock_id!r} and {reference_id!r} record the same sync wave (SpikeGLX: "
        "the imec SY bit 6 and the NIDQ line named by syncNiChan) over the same run",
    )
