"""Names of the NWB objects w2t-bkin writes, importable without loading pynwb.

Verification checks camera ids against :data:`RESERVED_CAMERA_IDS` before any expensive work:
a camera's ``ImageSeries`` is named after its id in ``acquisition``, and a camera without a
``device`` gets a device named after its id, so an id equal to one of these names would collide
with an object of the same name (pynwb refuses the second one at assembly, after minutes of
work). TTL channel ids name no NWB object (they are rows of the ``channel_meanings`` table).
"""

from __future__ import annotations

TTL_TABLE_NAME = "TTLEvents"
"""``acquisition/TTLEvents``: every TTL pulse of the session."""

TASK_RECORDING_NAME = "task_recording"
"""``acquisition/task_recording``: ndx-structured-behavior's fixed name for Bpod states/events."""

BPOD_DEVICE = "bpod"
DAQ_DEVICE = "daq"
SYNC_MODULE = "sync"

RESERVED_CAMERA_IDS: frozenset[str] = frozenset(
    {TTL_TABLE_NAME, TASK_RECORDING_NAME, BPOD_DEVICE, DAQ_DEVICE}
)
"""Camera ids that would collide with an acquisition object or a device w2t-bkin writes."""
