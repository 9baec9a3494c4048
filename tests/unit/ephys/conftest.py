"""Fixtures of the ephys tests: a small recording saved under a data folder, and its job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from w2t_bkin.ephys.jobs import JobProvenance, SortingJob, job_id_of
from w2t_bkin.ephys.portable import portable_dict

PROVENANCE = JobProvenance(
    tool_version="0",
    spikeinterface_version="0.105.3",
    neo_version="0.14.6",
    probeinterface_version="0.4.2",
    created_at="2026-01-01T00:00:00+00:00",
    params={"input": "spikeinterface"},
    params_digest="0" * 64,
    data_dir_at_dispatch="/nowhere",  # a folder that does not exist: tests pass data_dir
)


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


def make_job(data_dir: Path, recording: Any, stream: str = "rec", **changes: Any) -> SortingJob:
    """A job for ``recording`` (saved under ``data_dir``) as dispatch writes it; ``changes``
    replace fields."""
    fields: dict[str, Any] = {
        "job_id": job_id_of("sess", "block0", stream, 0, "split", None),
        "session_name": "sess",
        "recording_name": f"block0_{stream}_recording1",
        "block": "block0",
        "block_index": 0,
        "stream": stream,
        "segment": 0,
        "n_segments": 1,
        "segment_mode": "split",
        "group": None,
        "recording_dict": portable_dict(recording, data_dir).spec,
        "duration_s": recording.get_total_duration(),
        "num_samples": recording.get_num_samples(0),
        "num_channels": recording.get_num_channels(),
        "sampling_frequency_hz": recording.get_sampling_frequency(),
        "input_format": "spikeinterface",
        "provenance": PROVENANCE,
    }
    return SortingJob(**{**fields, **changes})
