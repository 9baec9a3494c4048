"""Recording dicts that survive a move: lexical relative paths, no time vectors, reload check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from w2t_bkin.ephys.errors import PortablePathError
from w2t_bkin.ephys.portable import (
    lexical_abspath,
    missing_relative_paths,
    portable_dict,
    verify_relocated_reload,
)

from .conftest import save_binary_recording


def _file_paths(spec: Any) -> list[str]:
    from spikeinterface.core.core_tools import extractor_dict_iterator

    return [
        e.value
        for e in extractor_dict_iterator(spec)
        if e.name.endswith(("folder_path", "file_path", "file_paths")) and isinstance(e.value, str)
    ]


def _staged(tmp_path: Path) -> Path:
    """``capsule/data/ecephys_session`` links to the session stored elsewhere (pipeline staging)."""
    stored = tmp_path / "storage" / "deep" / "session"
    save_binary_recording(stored / "rec")
    data = tmp_path / "capsule" / "data"
    data.mkdir(parents=True)
    (data / "ecephys_session").symlink_to(stored, target_is_directory=True)
    return data


def test_paths_are_relative_and_not_symlink_resolved(tmp_path: Path) -> None:
    import spikeinterface.extractors as se

    data = _staged(tmp_path)
    raw = data / "ecephys_session" / "rec" / "traces_cached_seg0.raw"
    # a reader that keeps the path it is given (as the SpikeGLX and Open Ephys readers do)
    recording = se.read_binary(
        file_paths=[str(lexical_abspath(raw))],
        sampling_frequency=10_000.0,
        dtype="float32",
        num_channels=8,
    )

    spec = portable_dict(recording, data).spec

    assert _file_paths(spec) == ["ecephys_session/rec/traces_cached_seg0.raw"]
    assert spec["relative_paths"] is True
    # SpikeInterface's own relative_to follows the link out of the data folder
    upstream = recording.to_dict(recursive=True, relative_to=data)
    assert _file_paths(upstream) == ["../../storage/deep/session/rec/traces_cached_seg0.raw"]


def test_reader_that_resolves_links_still_gets_a_relative_path(tmp_path: Path) -> None:
    import spikeinterface as si

    data = _staged(tmp_path)
    recording = si.load(str(lexical_abspath(data / "ecephys_session" / "rec")))
    assert recording.to_dict()["kwargs"]["folder_path"].startswith(str(tmp_path / "storage"))

    assert _file_paths(portable_dict(recording, data).spec) == ["ecephys_session/rec"]


def test_file_outside_the_data_folder_is_refused(tmp_path: Path) -> None:
    recording = save_binary_recording(tmp_path / "elsewhere" / "rec")
    (tmp_path / "data").mkdir()
    with pytest.raises(PortablePathError, match="is outside the data folder") as info:
        portable_dict(recording, tmp_path / "data")
    assert info.value.exit_code == 6


def test_no_per_sample_time_vectors_in_json(binary_recording: tuple[Path, Any]) -> None:
    data_dir, recording = binary_recording
    n = recording.get_num_samples(0)
    recording.set_times(np.arange(n) / 10_000.0 + 100.0, segment_index=0)
    raw = json.dumps(recording.to_dict(recursive=True), default=str)
    assert "time_vector" in raw  # SpikeInterface itself would embed the vector ...

    result = portable_dict(recording, data_dir)

    text = json.dumps(result.spec)
    assert result.spec["times_kwargs"] == [
        {"sampling_frequency": 10_000.0, "t_start": 100.0, "time_vector": None}
    ]  # ... we keep only where it starts
    assert result.dropped_time_vectors == 1
    assert len(text) < 20_000


def test_probe_group_is_kept_once_at_the_top(binary_recording: tuple[Path, Any]) -> None:
    import spikeinterface as si

    data_dir, recording = binary_recording
    sliced = si.split_recording(recording)[0].frame_slice(0, 100)

    spec = portable_dict(sliced, data_dir).spec

    text = json.dumps(spec)
    assert text.count('"probegroup"') == 1 and "probegroup" in spec
    loaded = si.load(spec, base_folder=data_dir)
    np.testing.assert_array_equal(loaded.get_channel_locations(), sliced.get_channel_locations())


def test_relocated_reload_passes_and_detects_a_missing_file(
    binary_recording: tuple[Path, Any], tmp_path: Path
) -> None:
    data_dir, recording = binary_recording
    spec = portable_dict(recording, data_dir).spec
    assert verify_relocated_reload(spec, data_dir, recording) is None

    moved = tmp_path / "moved" / "data"
    shutil.copytree(data_dir, moved)
    assert missing_relative_paths(spec, moved) == []
    shutil.rmtree(moved / "session")
    assert missing_relative_paths(spec, moved) == ["session/rec"]
    problem = verify_relocated_reload(spec, moved, recording)
    assert problem == "'session/rec' not found under a relocated data folder"
