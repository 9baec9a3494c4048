"""Which TTL pulses belong to saved frames, when the DAQ recorded more than the video holds.

A DAQ often records while the camera is triggered but not saving, before the video starts or
after it stops. Those pulses have no frame, and nothing in the counts says which they are, so
``[[cameras]].saved_frames`` declares them: a number of pulses to skip at either end, or a
window on the TTL clock. The pulses are counted on the frame grid (spurious pulses removed
first). The declared selection must then span the video: its first pulse is the first saved
frame's and its last pulse the last saved frame's, on each side the declaration names.

The declaration is checked, never trusted blindly: the frames must fit the selected pulses as
they would without a declaration (counts, informative container timestamps or the frame
counter), and with timestamps or a counter the first and last frames must sit on the declared
ends. A declaration that does not fit is refused under every policy, naming the neighbouring
values that fit (each is tried the same way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from w2t_bkin.errors import SyncError
from w2t_bkin.sync.frame_grid import _Slots, _Who
from w2t_bkin.sync.frame_place import _place

#: Neighbouring skip counts tried on each declared side, besides those the counts suggest.
_SEARCH_PULSES = 3
#: Candidate declarations tried at most when the declared one does not fit.
_MAX_CANDIDATES = 200
#: Fitting declarations named in a refusal.
_MAX_FITS_SHOWN = 3


@dataclass(frozen=True)
class SavedFrames:
    """Where a camera's saved frames sit on its TTL pulses (``[[cameras]].saved_frames``).

    Either pulse counts (``skip_leading_pulses``, ``skip_trailing_pulses``: pulses on the frame
    grid before the first saved frame and after the last one) or a window on the TTL clock
    (``pulses_from_s``, ``pulses_to_s``: the saved frames' pulses lie inside it, bounds
    included), one side or both; never counts and a window together.
    """

    skip_leading_pulses: int | None = None
    skip_trailing_pulses: int | None = None
    pulses_from_s: float | None = None
    pulses_to_s: float | None = None

    def __post_init__(self) -> None:
        counts = (self.skip_leading_pulses, self.skip_trailing_pulses)
        window = (self.pulses_from_s, self.pulses_to_s)
        hint = (
            "give skip_leading_pulses and/or skip_trailing_pulses (whole numbers >= 0), or "
            "pulses_from_s and/or pulses_to_s (seconds on the TTL clock, from before to), "
            "not both forms"
        )
        has_counts = any(v is not None for v in counts)
        has_window = any(v is not None for v in window)
        if has_counts and has_window:
            raise SyncError(f"{self}: pulse counts and a time window given", hint=hint)
        if not has_counts and not has_window:
            raise SyncError(f"{self}: declare pulse counts or a time window", hint=hint)
        if any(v is not None and (isinstance(v, bool) or int(v) != v or v < 0) for v in counts):
            raise SyncError(f"{self}: pulse counts must be whole numbers >= 0", hint=hint)
        if any(v is not None and not math.isfinite(v) for v in window):
            raise SyncError(f"{self}: window bounds must be finite", hint=hint)
        start, end = window
        if start is not None and end is not None and not start < end:
            raise SyncError(f"{self}: pulses_from_s must be before pulses_to_s", hint=hint)

    @property
    def is_window(self) -> bool:
        return self.pulses_from_s is not None or self.pulses_to_s is not None

    def __str__(self) -> str:
        """The declaration as the camera's TOML entry spells it."""
        given = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                # plain numbers (a NumPy scalar's repr names its type)
                whole = f.name.startswith("skip") and float(value).is_integer()
                shown = repr(int(value)) if whole else repr(float(value))
                given.append(f"{f.name} = {shown}")
        return "saved_frames = { " + ", ".join(given) + " }"


@dataclass(frozen=True, eq=False)
class _Choice:
    """The pulses of the saved frames and the frames placed on them.

    ``selected``: ``(n_kept,) bool`` over the kept (on-grid) pulses; ``slots``: frame slots on
    the selected pulses' slots, the first selected pulse at slot 0; ``note``: what was declared,
    skipped and checked.
    """

    selected: np.ndarray
    slots: _Slots
    note: str


def _choose_saved_pulses(
    saved: SavedFrames,
    n_frames: int,
    kept: np.ndarray,
    pulse_slot: np.ndarray,
    pts: np.ndarray | None,
    counter: np.ndarray | None,
    chunks: np.ndarray,
    gap_factor: float,
    policy: str,
    evidence: str,
    who: _Who,
) -> _Choice:
    """Select the declared pulses, place the frames on them and check the declaration.

    ``kept`` ``(n_kept,) float64`` are the on-grid pulse times and ``pulse_slot``
    ``(n_kept,) int64`` their slots; ``evidence`` says what besides the counts checks the
    placement (for messages). Raises :class:`SyncError` when the declaration selects too few
    pulses, contradicts the timestamps or counter, or leaves a mismatch no policy may resolve.
    """
    lead, trail = _skip_counts(saved, kept)
    sides = (
        saved.pulses_from_s is not None or saved.skip_leading_pulses is not None,
        saved.pulses_to_s is not None or saved.skip_trailing_pulses is not None,
    )
    n_kept = kept.size
    if lead + trail > n_kept - 2:
        raise SyncError(
            f"{who}: {saved} leaves {max(n_kept - lead - trail, 0)} of the {n_kept} pulses on "
            f"the frame grid ({_span(kept)}) for the video's {n_frames} frames",
            hint="the declaration must leave the saved frames' pulses: count the pulses the "
            "DAQ recorded before the camera started saving and after it stopped again, or "
            "give pulses_from_s/pulses_to_s on the TTL clock",
        )

    def attempt(lead_: int, trail_: int) -> tuple[_Slots, str]:
        return _attempt(
            lead_, trail_, sides, n_frames, pulse_slot, pts, counter, chunks, gap_factor
        )

    slots, anchor = attempt(lead, trail)
    selected = np.zeros(n_kept, dtype=bool)
    selected[lead : n_kept - trail] = True
    if not slots.problem and not anchor:
        return _Choice(
            selected, slots, _accepted_note(saved, kept, lead, trail, sides, evidence, who)
        )
    excess = n_kept - lead - trail - n_frames
    fits = [
        candidate
        for candidate in _candidates(lead, trail, sides, excess, n_kept)
        if _fits(*attempt(*candidate))
    ][:_MAX_FITS_SHOWN]
    if fits or anchor or slots.fatal or policy == "fail":
        raise _refusal(
            saved, n_frames, kept, lead, trail, slots.problem or anchor, fits, evidence, who
        )
    # a shortfall of pulses the counts cannot place: 'warn'/'repair' guess as without a declaration
    return _Choice(selected, slots, _accepted_note(saved, kept, lead, trail, sides, evidence, who))


def _skip_counts(saved: SavedFrames, kept: np.ndarray) -> tuple[int, int]:
    """Pulses before the first and after the last saved frame's pulse, as declared."""
    if not saved.is_window:
        return int(saved.skip_leading_pulses or 0), int(saved.skip_trailing_pulses or 0)
    lead = 0 if saved.pulses_from_s is None else int(np.count_nonzero(kept < saved.pulses_from_s))
    trail = 0 if saved.pulses_to_s is None else int(np.count_nonzero(kept > saved.pulses_to_s))
    return lead, trail


def _attempt(
    lead: int,
    trail: int,
    sides: tuple[bool, bool],
    n_frames: int,
    pulse_slot: np.ndarray,
    pts: np.ndarray | None,
    counter: np.ndarray | None,
    chunks: np.ndarray,
    gap_factor: float,
) -> tuple[_Slots, str]:
    """Frames placed on the pulses left by skipping ``lead`` and ``trail``, and what contradicts.

    Returns the placement (its ``problem`` as without a declaration) and, when it has none, why
    the frames do not sit on the declared ends ("" when they do).
    """
    base = pulse_slot[lead]
    rel = pulse_slot - base  # every kept pulse, the first selected one at slot 0
    selected = rel[lead : rel.size - trail]
    slots = _place(n_frames, selected, pts, counter, chunks, gap_factor)
    if slots.problem:
        return slots, ""
    first, last = int(slots.frame_slot[0]), int(slots.frame_slot[-1])
    problems = []
    if sides[0]:
        n_more = int(np.count_nonzero(selected < first))
        n_fewer = int(np.count_nonzero(rel[:lead] >= first))
        if n_more:
            problems.append(f"the video's first frame belongs {_n(n_more)} after the first of them")
        if n_fewer:
            problems.append(
                f"the video's first frame belongs {_n(n_fewer)} before the first of them"
            )
    if sides[1]:
        n_more = int(np.count_nonzero(selected > last))
        n_fewer = int(np.count_nonzero(rel[rel.size - trail :] <= last))
        if n_more:
            problems.append(f"the video's last frame belongs {_n(n_more)} before the last of them")
        if n_fewer:
            problems.append(f"the video's last frame belongs {_n(n_fewer)} after the last of them")
    return slots, "; ".join(problems)


def _fits(slots: _Slots, anchor: str) -> bool:
    return not slots.problem and not anchor


def _candidates(
    lead: int, trail: int, sides: tuple[bool, bool], excess: int, n_kept: int
) -> list[tuple[int, int]]:
    """Neighbouring ``(lead, trail)`` skip counts to try, nearest first.

    A few pulses either way on each declared side, and around the shift the counts suggest
    (``excess``: selected pulses beyond the frames); with both sides declared, only pairs whose
    total stays near that shift.
    """
    near = set(range(-_SEARCH_PULSES, _SEARCH_PULSES + 1))
    near |= set(range(excess - 2, excess + 3))
    shifts_lead = sorted(near) if sides[0] else [0]
    shifts_trail = sorted(near) if sides[1] else [0]
    pairs = [
        (lead + dl, trail + dt)
        for dl in shifts_lead
        for dt in shifts_trail
        if (dl, dt) != (0, 0)
        and lead + dl >= 0
        and trail + dt >= 0
        and lead + dl + trail + dt <= n_kept - 2
        # both sides move: keep the total near what the counts suggest
        and (not (sides[0] and sides[1]) or abs(dl + dt - excess) <= _SEARCH_PULSES)
    ]
    pairs.sort(key=lambda p: (abs(p[0] - lead) + abs(p[1] - trail), p))
    return pairs[:_MAX_CANDIDATES]


def _refusal(
    saved: SavedFrames,
    n_frames: int,
    kept: np.ndarray,
    lead: int,
    trail: int,
    problem: str,
    fits: list[tuple[int, int]],
    evidence: str,
    who: _Who,
) -> SyncError:
    selected = kept[lead : kept.size - trail]
    message = (
        f"{who}: {saved} does not fit the video's {n_frames} frames: it leaves the "
        f"{selected.size} pulses {_span(selected)} of the {kept.size} on the frame grid for the "
        f"saved frames, and {problem} (checked against {evidence})."
    )
    if fits:
        shown = "; ".join(
            f"{_as_declaration(saved, kept, f)} (the {kept.size - sum(f)} pulses "
            f"{_span(kept[f[0] : kept.size - f[1]])})"
            for f in fits
        )
        verb = "fits" if len(fits) == 1 else "fit"
        message += f" {shown} {verb}"
        if len(fits) > 1:
            message += ": the evidence cannot tell them apart"
        hint = (
            f"declare {_as_declaration(saved, kept, fits[0])} for camera {who.camera_id!r} if "
            "that matches the recording"
            + ("" if len(fits) == 1 else ", or one of the others that fit")
            + "; otherwise check that the camera's ttl_id is its frame-trigger channel"
        )
    else:
        message += f" No declaration within {_SEARCH_PULSES} pulses of it fits either."
        hint = (
            "count the pulses the DAQ recorded before the camera started saving and after it "
            "stopped again, or give pulses_from_s/pulses_to_s on the TTL clock; check that the "
            "camera's ttl_id is its frame-trigger channel and that its video files are complete"
        )
    return SyncError(message, hint=hint)


def _as_declaration(saved: SavedFrames, kept: np.ndarray, fit: tuple[int, int]) -> str:
    """A fitting ``(lead, trail)`` in the form the user declared."""
    lead, trail = fit
    if not saved.is_window:
        return str(
            SavedFrames(
                skip_leading_pulses=lead if saved.skip_leading_pulses is not None else None,
                skip_trailing_pulses=trail if saved.skip_trailing_pulses is not None else None,
            )
        )
    # bounds half way between the last skipped and the first selected pulse
    period = float(np.median(np.diff(kept)))
    first, last = kept[lead], kept[kept.size - 1 - trail]
    start = (kept[lead - 1] + first) / 2 if lead else first - period / 2
    end = (kept[kept.size - trail] + last) / 2 if trail else last + period / 2
    return str(
        SavedFrames(
            pulses_from_s=round(float(start), 6) if saved.pulses_from_s is not None else None,
            pulses_to_s=round(float(end), 6) if saved.pulses_to_s is not None else None,
        )
    )


def _accepted_note(
    saved: SavedFrames,
    kept: np.ndarray,
    lead: int,
    trail: int,
    sides: tuple[bool, bool],
    evidence: str,
    who: _Who,
) -> str:
    selected = kept[lead : kept.size - trail]
    skipped = []
    if sides[0]:
        skipped.append(f"{_n(lead)} before the first saved frame{_times(kept[:lead])}")
    if sides[1]:
        skipped.append(f"{_n(trail)} after the last{_times(kept[kept.size - trail :])}")
    return (
        f"{who}: {saved}: {' and '.join(skipped)} have no saved frame; the frames are placed "
        f"on the {selected.size} pulses {_span(selected)} (checked against {evidence})"
    )


def _n(n_pulses: int) -> str:
    return f"{n_pulses} pulse" + ("" if n_pulses == 1 else "s")


def _span(times_s: np.ndarray) -> str:
    return f"from {times_s[0]:.6f} s to {times_s[-1]:.6f} s" if times_s.size else "(none)"


def _times(times_s: np.ndarray) -> str:
    """The skipped pulses' times: all of up to five, else the first and last."""
    if times_s.size == 0:
        return ""
    if times_s.size <= 5:
        return " (at " + ", ".join(f"{t:.6f}" for t in times_s) + " s)"
    return f" ({_span(times_s)})"
