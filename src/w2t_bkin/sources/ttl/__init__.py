"""TTL pulse readers: text, CSV, NumPy, SpikeGLX NIDQ, Open Ephys binary events, NWB series.

All readers return pulse times in seconds on the acquisition (reference) clock as
``(n_pulses,) float64`` arrays, sorted, and refuse input they cannot read unambiguously: a bad
line is an :class:`~w2t_bkin.errors.IngestError` naming the file and the line, never a value
that is silently skipped.

One module per format (:mod:`.text`, :mod:`.csvfile`, :mod:`.npy`, :mod:`.openephys`,
:mod:`.spikeglx`, :mod:`.bonsai`, :mod:`.nwb_series`), each registering its reader with
:func:`register_ttl_reader`; :func:`load_ttl_channel` and :func:`ttl_format_of` ask the
registry (:mod:`.registry`). The data type, :class:`~w2t_bkin.model.ttl.TTLChannel`, and the
format names, :data:`~w2t_bkin.model.ttl.TTLFormat`, live in :mod:`w2t_bkin.model.ttl`; the
SpikeGLX ``.meta`` parser in :mod:`w2t_bkin.sources.spikeglx_meta`. All are re-exported here.
"""

from __future__ import annotations

from w2t_bkin.model.ttl import Polarity, TTLChannel, TTLFormat
from w2t_bkin.sources.spikeglx_meta import read_spikeglx_meta
from w2t_bkin.sources.ttl.bonsai import read_bonsai_timestamps
from w2t_bkin.sources.ttl.channel import load_ttl_channel, ttl_format_of
from w2t_bkin.sources.ttl.csvfile import read_ttl_csv
from w2t_bkin.sources.ttl.npy import read_ttl_npy
from w2t_bkin.sources.ttl.nwb_series import read_nwb_ttl
from w2t_bkin.sources.ttl.openephys import read_openephys_events
from w2t_bkin.sources.ttl.registry import (
    TTLReader,
    TTLReadOptions,
    register_ttl_reader,
    ttl_readers,
)
from w2t_bkin.sources.ttl.spikeglx import read_spikeglx_digital

# after .spikeglx: its "spikeglx" reader (NIDQ and imec files) replaces the NIDQ-only one
from w2t_bkin.sources.ttl.spikeglx_imec import read_spikeglx_imec_sync
from w2t_bkin.sources.ttl.text import read_ttl_text

__all__ = [
    "Polarity",
    "TTLChannel",
    "TTLFormat",
    "TTLReadOptions",
    "TTLReader",
    "load_ttl_channel",
    "read_bonsai_timestamps",
    "read_nwb_ttl",
    "read_openephys_events",
    "read_spikeglx_digital",
    "read_spikeglx_imec_sync",
    "read_spikeglx_meta",
    "read_ttl_csv",
    "read_ttl_npy",
    "read_ttl_text",
    "register_ttl_reader",
    "ttl_format_of",
    "ttl_readers",
]
