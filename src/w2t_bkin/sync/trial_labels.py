"""Per-trial alignment labels, and the messages and errors that report a trial alignment."""

from __future__ import annotations

import numpy as np

from w2t_bkin.errors import SyncError

#: A lower fraction of sync onsets with a pulse is reported (raised under the 'fail' policy).
_LOW_MATCHED_FRACTION = 0.8


def _labels(visited: np.ndarray, matched: np.ndarray) -> np.ndarray:
    label = np.full(visited.size, "unaligned", dtype="<U12")
    rows = np.flatnonzero(matched)
    label[visited] = "extrapolated"
    if rows.size:
        inside = np.zeros(visited.size, dtype=bool)
        inside[rows[0] : rows[-1] + 1] = True
        label[visited & inside] = "interpolated"
    label[matched] = "matched"
    return label


def _low_matched_fraction(n_matched: int, n_visited: int) -> str | None:
    if n_matched >= _LOW_MATCHED_FRACTION * n_visited:
        return None
    return (
        f"only {n_matched} of {n_visited} Bpod sync onsets matched a TTL pulse "
        f"({100.0 * n_matched / n_visited:.0f}%, expected at least "
        f"{100 * _LOW_MATCHED_FRACTION:.0f}%); the other trials are placed by the clock model "
        "without a pulse of their own"
    )


_LOW_MATCHED_HINT = (
    "check that the TTL channel recorded the whole Bpod session and that sync_signal in "
    "[[bpod.sync.trial_types]] is the state that emits the pulse; set "
    "synchronization.unaligned_trial_policy = 'flag' to accept the session with a warning"
)


def _listed(values: np.ndarray, limit: int = 20) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return shown + (f" and {values.size - limit} more" if values.size > limit else "")


def _too_few_error(
    n_matched: int, min_matched: int, n_visited: int, n_pulses: int, tol: float, stage: str
) -> SyncError:
    where = f" ({stage})" if stage else ""
    return SyncError(
        f"only {n_matched} Bpod sync onsets matched a TTL pulse within {tol * 1e3:g} ms"
        f"{where}; at least {min_matched} are needed ({n_visited} trials with a sync onset, "
        f"{n_pulses} pulses)",
        hint=(
            "check that [[bpod.sync.trial_types]] sync_ttl names the TTL channel wired to "
            "Bpod, that sync_signal is the state whose onset emits the pulse, and consider a "
            "larger synchronization.trial_match_tolerance_s"
        ),
    )


def _unaligned_error(trials: np.ndarray, n_trials: int) -> SyncError:
    return SyncError(
        f"{trials.size} of {n_trials} trials have no sync onset (sync state not visited): "
        f"trials {_listed(trials)}",
        hint=(
            "set synchronization.unaligned_trial_policy = 'flag' to map them through the "
            "fitted clock and label them 'unaligned', or check sync_signal in "
            "[[bpod.sync.trial_types]]"
        ),
    )
