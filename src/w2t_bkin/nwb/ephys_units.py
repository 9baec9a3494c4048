"""NWB units of a spike sorting: one ``units`` table, spike times in seconds.

The file is a standalone sidecar of one sorting job (``sorting/<job_id>/units.nwb``), for
tools that read NWB units; ``session_start_time`` is whatever the caller passes (the ephys
sort passes the dispatch time, and says so in ``notes``: the job carries no session start).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["UnitsForNWB", "read_units_nwb", "write_units_nwb"]


@dataclass(frozen=True)
class UnitsForNWB:
    """What :func:`write_units_nwb` writes.

    Attributes
    ----------
    unit_ids
        Sorter unit ids as text, ``n_units`` of them (the ``unit_name`` column).
    spike_times_s
        Per unit, ``(n_spikes,) float64`` spike times in seconds on the recording's clock.
    session_start_time
        Time zero of the file (timezone-aware).
    """

    identifier: str
    session_description: str
    session_start_time: dt.datetime
    unit_ids: tuple[str, ...]
    spike_times_s: tuple[np.ndarray, ...]
    sorter: str
    recording_name: str
    notes: str = ""


def write_units_nwb(path: Path, units: UnitsForNWB) -> Path:
    """Write ``units`` as an NWB file at ``path`` atomically; returns ``path``.

    Columns: ``spike_times`` (ragged, seconds, sorted), ``unit_name`` (the sorter's id) and
    ``n_spikes``.
    """
    from pynwb import NWBFile
    from pynwb.misc import Units

    from w2t_bkin.nwb.io import write_nwbfile_atomic

    if len(units.unit_ids) != len(units.spike_times_s):
        raise ValueError(
            f"{len(units.unit_ids)} unit ids but {len(units.spike_times_s)} spike trains"
        )
    start = units.session_start_time
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    nwbfile = NWBFile(
        session_description=units.session_description,
        identifier=units.identifier,
        session_start_time=start,
        notes=units.notes
        or f"spike sorting of {units.recording_name} with {units.sorter}; session_start_time "
        "is the dispatch time of the sorting job",
    )
    nwbfile.units = Units(name="units", description=f"units sorted by {units.sorter}")
    nwbfile.add_unit_column("unit_name", "unit id given by the sorter")
    nwbfile.add_unit_column("n_spikes", "number of spikes of the unit")
    for unit_id, times_s in zip(units.unit_ids, units.spike_times_s, strict=True):
        times = np.sort(np.asarray(times_s, dtype=np.float64))
        nwbfile.add_unit(spike_times=times, unit_name=unit_id, n_spikes=int(times.size))
    return write_nwbfile_atomic(nwbfile, Path(path))


def read_units_nwb(path: Path) -> dict[str, np.ndarray]:
    """Unit name -> ``(n_spikes,) float64`` spike times in seconds, read from ``path``."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), mode="r") as io:
        nwbfile = io.read()
        table = nwbfile.units
        if table is None:
            return {}
        names = list(table["unit_name"][:])
        return {
            str(name): np.asarray(table.get_unit_spike_times(k), dtype=np.float64)
            for k, name in enumerate(names)
        }
