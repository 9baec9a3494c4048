"""What a session run returns: its status and :class:`SessionResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from w2t_bkin.model.stats import StreamStats


#: The phases of a session, in the order the driver runs them (progress displays count them).
PHASES = (
    "configuration",
    "discovery",
    "verification",
    "pose generation",
    "ingestion",
    "synchronization",
    "facial motion",
    "assembly",
    "finalization",
)


class SessionStatus(StrEnum):
    """How a session run ended (``status.json`` ``status``; equal to its string value)."""

    PENDING = "pending"
    """Still running (never seen in a finished result)."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not processed: an earlier session failed and the batch stops on errors."""
    INTERRUPTED = "interrupted"
    """Stopped by Ctrl-C or ``SystemExit`` while running."""
    CACHED = "cached"
    """Not run: its last run's outputs are current (same content key, outputs intact)."""
    BUSY = "busy"
    """Not run: another run (another process, or another thread) holds the session's lock."""
    CANCELLED = "cancelled"
    """Not run, or stopped: the batch was cancelled (Ctrl-C) before it finished."""


@dataclass
class SessionResult:
    """What a session run produced.

    Attributes
    ----------
    status
        How the run ended; compares equal to its string (``result.status == "failed"``).
    outputs
        Output name (``nwb``, ``qc_report``, ``pipeline_log``, ...) to its path.
    stats
        One :class:`StreamStats` per synchronized stream (cameras, Bpod sync channels), as in
        ``alignment_stats.json``.
    warnings
        Data-quality warnings (``DataQualityWarning``), sorted and unique.
    other_warnings
        Every other warning raised during the run (libraries, deprecations), also in
        ``pipeline.log``.
    phase_durations_s
        Wall time of each completed phase, in phase order.
    error, failed_phase, exit_code
        The first error line(s), the phase it stopped in and the CLI exit code (0 on success).
    previous_outputs
        Where the last successful outputs were kept when this run failed.
    transient
        The failure may not repeat on a retry (an I/O error such as EIO or a timeout); a batch
        with retries runs the session again. Never set for bad input.
    """

    subject: str
    session: str
    status: SessionStatus = SessionStatus.PENDING
    outputs: dict[str, Path] = field(default_factory=dict)
    stats: list[StreamStats] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    other_warnings: list[str] = field(default_factory=list)
    phase_durations_s: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    failed_phase: str | None = None
    exit_code: int = 0
    previous_outputs: Path | None = None
    transient: bool = False

    def __post_init__(self) -> None:
        self.status = SessionStatus(self.status)  # a plain string from older callers

    @property
    def ok(self) -> bool:
        """Succeeded now, or its current outputs came from an earlier run (cached)."""
        return self.status in (SessionStatus.SUCCEEDED, SessionStatus.CACHED)
