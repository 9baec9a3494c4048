"""TTL pulses of every channel as one core ``EventsTable`` ("TTLEvents") in acquisition.

One row per pulse, sorted by time. The channel of each pulse is a small integer code; its meaning
(channel id, metadata description, pulse count, source files) lives once in the
``channel_meanings`` table attached to the events table, so no string is repeated per pulse.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from hdmf.common import MeaningsTable, VectorData
from pynwb import NWBFile
from pynwb.event import EventsTable, TimestampVectorData

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.model.ttl import TTLChannel
from w2t_bkin.nwb.io import row_ids, wrap_dataset
from w2t_bkin.nwb.names import TTL_TABLE_NAME

log = logging.getLogger(__name__)


def merge_ttl_channels(channels: Sequence[TTLChannel]) -> tuple[np.ndarray, np.ndarray]:
    """Pulses of all channels in one time-sorted list.

    Returns
    -------
    times_s
        ``(n_pulses,) float64`` pulse times, sorted (ties keep channel order).
    channel_code
        ``(n_pulses,)`` unsigned integer: index of each pulse's channel in ``channels``.
    """
    code_dtype = np.uint8 if len(channels) <= np.iinfo(np.uint8).max else np.uint16
    times_s = np.concatenate([np.asarray(c.times_s, dtype=np.float64) for c in channels])
    codes = np.concatenate(
        [np.full(c.n_pulses, k, dtype=code_dtype) for k, c in enumerate(channels)]
    )
    order = np.argsort(times_s, kind="stable")
    return times_s[order], codes[order]


def add_ttl_events(
    nwbfile: NWBFile,
    channels: Sequence[TTLChannel],
    config: AssemblyConfig,
    clock_description: str,
) -> EventsTable | None:
    """Add the ``TTLEvents`` table to acquisition; None when there are no channels."""
    if not channels:
        return None
    times_s, codes = merge_ttl_channels(channels)
    timestamp = TimestampVectorData(
        name="timestamp",
        description="Rising-edge time of each TTL pulse in seconds on the reference clock.",
        data=wrap_dataset(times_s, config),
    )
    channel = VectorData(
        name="channel",
        description=(
            "Integer code of the TTL channel that carried the pulse; the channel_meanings table "
            "gives the channel id and description of each code."
        ),
        data=wrap_dataset(codes, config),
    )
    table = EventsTable(
        name=TTL_TABLE_NAME,
        description=(
            f"TTL pulses of {len(channels)} channel(s), one row per pulse, sorted by time. "
            f"{clock_description}"
        ),
        source_description="Digital input lines of the acquisition DAQ",
        columns=[timestamp, channel],
        id=row_ids(times_s.size, config),
    )
    table.add_meanings_table(_channel_meanings(channel, channels))
    nwbfile.add_acquisition(table)
    log.debug("TTLEvents: %d pulses on %d channels", times_s.size, len(channels))
    return table


def _channel_meanings(target: VectorData, channels: Sequence[TTLChannel]) -> MeaningsTable:
    meanings = MeaningsTable(
        target=target,
        description="TTL channel of each code in the 'channel' column.",
    )
    meanings.add_column(
        name="channel_description", description="Channel description from metadata."
    )
    meanings.add_column(name="n_pulses", description="Number of pulses of this channel.")
    meanings.add_column(
        name="source_files", description="File names the pulses were read from, ';'-separated."
    )
    for code, ch in enumerate(channels):
        meanings.add_row(
            value=code,
            meaning=ch.channel_id,
            channel_description=ch.description or f"TTL channel '{ch.channel_id}'",
            n_pulses=ch.n_pulses,
            source_files=";".join(p.name for p in ch.source_files),
        )
    return meanings
