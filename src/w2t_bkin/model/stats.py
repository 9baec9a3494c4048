"""Per-stream alignment statistics: one row of ``alignment_stats.json`` and of the QC report."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

#: Figures of the stream's clock model: ``None`` together, for a camera without TTL.
_CLOCK_FIGURES = ("residual_rms_ms", "residual_max_ms", "drift_ppm", "offset_s")
#: Index lists: ``None`` together with the clock figures.
_INDEX_LISTS = ("dropped_idx", "spurious_idx", "missing_idx", "unassigned_idx")
#: Key order of a camera row without TTL, as ``alignment_stats.json`` has always written it.
_UNTIMED_KEYS = (
    "stream_id",
    "kind",
    "n_items",
    "n_pulses",
    "n_matched",
    "status",
    "frame_pts",
    "notes",
)


@dataclass(frozen=True, eq=False, kw_only=True)
class StreamStats:
    """How well one stream (a camera, or the trials of one TTL channel) was aligned.

    A camera without TTL (``frame_clock = 'video'`` or ``'rate'``) has no clock model: its clock
    figures and index lists are all ``None`` and :meth:`to_dict` leaves them out.

    Attributes
    ----------
    stream_id
        Camera id or TTL channel id.
    kind
        ``"camera"`` or ``"trials"``.
    n_pulses
        Pulses on the stream's TTL channel (0 for a camera without TTL).
    n_items
        Frames (camera) or trials (trials).
    n_matched
        Items with their own pulse.
    residual_rms_ms, residual_max_ms
        Residuals of the stream's clock model on matched items, in milliseconds (cameras:
        pulses against the fitted camera clock, i.e. pulse jitter; trials: mapped sync onset
        minus its pulse). NaN when nothing matched.
    drift_ppm, offset_s
        Drift and offset of the stream's clock against the reference clock.
    dropped_idx
        ``(n,) int64``: dropped frame positions (cameras); empty for trials.
    spurious_idx
        ``(n,) int64``: pulse indices removed as spurious / matched to no trial.
    missing_idx
        ``(n,) int64``: frames or trials whose pulse was lost.
    status
        Camera: the frame alignment status, or ``"no TTL: frame_clock = <clock>"``. Trials:
        ``"exact"`` when every trial with a sync onset matched a pulse, else ``"repaired"``.
    unassigned_idx
        ``(n,) int64``: on-grid pulses with no saved frame (cameras, e.g. triggers after the
        recording stopped); empty for trials (their unused pulses are in ``spurious_idx``).
    frame_pts
        Cameras: ``"used"`` or ``"not used: <why>"`` (the container timestamps); ``None`` for
        trials.
    notes
        Cameras: the alignment's findings joined by ``"; "``; ``None`` for trials.
    """

    stream_id: str
    kind: Literal["camera", "trials"]
    n_pulses: int
    n_items: int
    n_matched: int
    residual_rms_ms: float | None = None
    residual_max_ms: float | None = None
    drift_ppm: float | None = None
    offset_s: float | None = None
    dropped_idx: np.ndarray | None = None
    spurious_idx: np.ndarray | None = None
    missing_idx: np.ndarray | None = None
    status: str
    unassigned_idx: np.ndarray | None = None
    frame_pts: str | None = None
    notes: str | None = None

    def __post_init__(self) -> None:
        given = [getattr(self, name) is not None for name in _CLOCK_FIGURES + _INDEX_LISTS]
        if any(given) and not all(given):
            raise ValueError(
                f"StreamStats {self.stream_id!r}: give every clock figure and index list "
                f"({', '.join(_CLOCK_FIGURES + _INDEX_LISTS)}) or none (a camera without TTL)"
            )

    @property
    def has_clock(self) -> bool:
        """Whether the stream was aligned through TTL pulses (False: a camera without TTL)."""
        return self.drift_ppm is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict: index arrays as full lists, NaN as ``None``.

        Fields that are ``None`` are left out (``frame_pts`` and ``notes`` of trials, the clock
        figures and index lists of a camera without TTL).
        """
        names = tuple(self.__dataclass_fields__) if self.has_clock else _UNTIMED_KEYS
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, np.ndarray):
                out[name] = [int(v) for v in value]
            elif isinstance(value, float):
                out[name] = None if math.isnan(value) else value
            else:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> StreamStats:
        """The stats of a :meth:`to_dict` row (e.g. read back from ``alignment_stats.json``).

        Index lists become ``int64`` arrays and a ``None`` clock figure NaN; absent keys stay
        ``None``.
        """
        values: dict[str, Any] = {}
        for name in (f.name for f in fields(cls)):
            if name not in row:
                continue
            value = row[name]
            if name in _INDEX_LISTS:
                value = np.asarray(value, dtype=np.int64).reshape(-1)
            elif name in _CLOCK_FIGURES:
                value = float("nan") if value is None else float(value)
            values[name] = value
        return cls(**values)

    def __eq__(self, other: object) -> bool:
        """Field by field: arrays by value, NaN equal to NaN (arrays make the default unusable)."""
        if not isinstance(other, StreamStats):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)
