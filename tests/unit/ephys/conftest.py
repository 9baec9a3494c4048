"""Fixtures of the ephys tests: a small recording saved under a data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def save_binary_recording(folder: Path, *, duration_s: float = 0.5, n_channels: int = 8) -> Any:
    """A generated recording with a probe, saved as a SpikeInterface binary folder."""
    import spikeinterface as si
    from probeinterface import generate_linear_probe

    recording = si.generate_recording(
        num_channels=n_channels, sampling_frequency=10_000.0, durations=[duration_s], seed=3
    )
    probe = generate_linear_probe(num_elec=n_channels, ypitch=20)
    probe.set_device_channel_indices(list(range(n_channels)))
    recording.set_probe(probe)  # in place (returns None since SpikeInterface 0.105)
    return recording.save(folder=folder, verbose=False)


@pytest.fixture
def binary_recording(tmp_path: Path) -> tuple[Path, Any]:
    """``(data_dir, recording)``: a recording saved at ``data_dir/session/rec``."""
    data_dir = tmp_path / "data"
    return data_dir, save_binary_recording(data_dir / "session" / "rec")
