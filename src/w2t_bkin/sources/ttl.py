"""TTL pulse readers: text, CSV, NumPy, SpikeGLX NIDQ digital lines, Open Ephys binary events.

All readers return pulse times in seconds on the acquisition (reference) clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


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
        return int(self.times_s.shape[0])
