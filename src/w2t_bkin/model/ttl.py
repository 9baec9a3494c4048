"""TTL pulse trains: :class:`TTLChannel`, the reader formats and edge polarities.

:func:`w2t_bkin.sources.ttl.load_ttl_channel` fills :class:`TTLChannel`; ``TTLFormat`` is the
one list of format names shared by the metadata schema (``[[TTLs]].format``) and the reader
registry (:func:`w2t_bkin.sources.ttl.register_ttl_reader`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = ["Polarity", "TTLChannel", "TTLFormat"]

Polarity = Literal["rising", "falling", "both"]
"""Edges of a digital line to keep: low to high, high to low, or both."""

TTLFormat = Literal["auto", "text", "csv", "npy", "spikeglx", "openephys", "bonsai", "nwb"]
"""Reader of a TTL file; ``"auto"`` chooses it from the file name (see ``ttl_format_of``)."""


@dataclass(frozen=True)
class TTLChannel:
    """Pulses of one TTL channel, concatenated over its files, sorted and de-duplicated.

    Attributes
    ----------
    channel_id
        The ``[[TTLs]].id`` from metadata.
    times_s
        ``(n_pulses,) float64``: rising-edge times in seconds on the acquisition clock, sorted.
    source_files
        Files the pulses came from, in reading order.
    n_duplicates_dropped
        Exact duplicate timestamps removed while merging files.
    description
        Free text from metadata.
    """

    channel_id: str
    times_s: np.ndarray
    source_files: tuple[Path, ...]
    n_duplicates_dropped: int = 0
    description: str = ""

    @property
    def n_pulses(self) -> int:
        """Number of pulses: the length of ``times_s``."""
        return int(self.times_s.shape[0])
