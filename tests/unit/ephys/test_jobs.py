"""Job files: validated round trip, stable ids, clear errors, schema, portable loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from w2t_bkin.ephys.errors import JobFileError
from w2t_bkin.ephys.jobs import (
    job_id_of,
    job_json_schema,
    load_recording,
    read_job,
    read_jobs,
    write_job,
)

from .conftest import make_job


def test_job_round_trip(binary_recording: tuple[Path, Any], tmp_path: Path) -> None:
    data_dir, recording = binary_recording
    job = make_job(data_dir, recording)

    path = write_job(job, tmp_path / "results")

    assert path.name == f"job_{job.job_id}.json"
    assert read_job(path) == job
    raw = json.loads(path.read_text())
    assert raw["duration"] == round(recording.get_total_duration(), 2)  # upstream key
    assert raw["schema_version"] == 1
    assert "\n" not in path.read_text().rstrip("\n")  # compact


def test_job_id_is_stable_and_depends_on_identity_only() -> None:
    first = job_id_of("sess", "experiment3", "ProbeB", 0, "split", 2)
    assert first == job_id_of("sess", "experiment3", "ProbeB", 0, "split", 2)
    assert (
        len(
            {
                first,
                job_id_of("sess", "experiment3", "ProbeB", 1, "split", 2),
                job_id_of("sess", "experiment3", "ProbeB", None, "all", 2),
                job_id_of("sess", "experiment3", "ProbeB", 0, "split", "2"),
                job_id_of("other", "experiment3", "ProbeB", 0, "split", 2),
            }
        )
        == 5
    )


def test_read_job_errors_name_file_and_field(
    binary_recording: tuple[Path, Any], tmp_path: Path
) -> None:
    data_dir, recording = binary_recording
    path = write_job(make_job(data_dir, recording), tmp_path)
    raw = json.loads(path.read_text())

    with pytest.raises(JobFileError, match="job file not found"):
        read_job(tmp_path / "job_missing.json")
    path.write_text("{", encoding="utf-8")
    with pytest.raises(JobFileError, match="not valid JSON: line 1 column 2"):
        read_job(path)
    path.write_text(json.dumps({**raw, "schema_version": 2}), encoding="utf-8")
    with pytest.raises(JobFileError, match="schema_version is 2, this w2t-bkin reads version 1"):
        read_job(path)
    path.write_text(json.dumps({**raw, "num_channels": 0}), encoding="utf-8")
    with pytest.raises(JobFileError) as info:
        read_job(path)
    assert "field 'num_channels': Input should be greater than or equal to 1, found 0" in str(
        info.value
    )
    assert info.value.exit_code == 4
    path.write_text(json.dumps({**raw, "recording_nme": "x"}), encoding="utf-8")
    with pytest.raises(JobFileError, match="field 'recording_nme': Extra inputs are not permitted"):
        read_job(path)


def test_schema_lists_structured_and_upstream_fields() -> None:
    schema = job_json_schema()
    for name in (
        "job_id",
        "session_name",
        "recording_name",
        "block",
        "stream",
        "segment",
        "group",
        "recording_dict",
        "recording_lfp_dict",
        "skip_times",
        "duration_s",
        "duration",
        "debug",
        "input_format",
        "provenance",
        "schema_version",
    ):
        assert name in schema["properties"], name
    assert schema["properties"]["schema_version"]["const"] == 1
    assert schema["additionalProperties"] is False


def test_jobs_reload_after_the_data_folder_moved(
    binary_recording: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, recording = binary_recording
    path = write_job(make_job(data_dir, recording), tmp_path / "results")
    moved = tmp_path / "elsewhere" / "deeper" / "data"
    shutil.copytree(data_dir, moved)
    shutil.rmtree(data_dir)
    monkeypatch.chdir(tmp_path / "elsewhere")  # another working directory

    loaded = load_recording(read_job(path), moved)

    np.testing.assert_array_equal(loaded.get_traces(), recording.get_traces())
    with pytest.raises(JobFileError, match="'session/rec' is not under the data folder"):
        load_recording(read_job(path), tmp_path)
    with pytest.raises(JobFileError, match="has no LFP recording: none was paired"):
        load_recording(read_job(path), moved, lfp=True)


def test_skip_times_resets_times_on_load(
    binary_recording: tuple[Path, Any], tmp_path: Path
) -> None:
    import spikeinterface as si

    data_dir, recording = binary_recording
    shifted = si.split_recording(recording)[0]
    shifted.shift_times(5.0)
    job = make_job(data_dir, shifted, skip_times=True, skip_times_reasons=("ap segment 0: gap",))
    assert load_recording(job, data_dir).get_start_time() == 0.0
    assert load_recording(job, data_dir, apply_skip_times=False).get_start_time() == 5.0


def test_read_jobs_sorts_by_recording_name(
    binary_recording: tuple[Path, Any], tmp_path: Path
) -> None:
    data_dir, recording = binary_recording
    names = ["b_rec_recording1", "a_rec_recording1"]
    for name in names:
        job_id = job_id_of("sess", name, "rec", 0, "split", None)
        write_job(make_job(data_dir, recording, recording_name=name, job_id=job_id), tmp_path)
    assert [job.recording_name for job in read_jobs(tmp_path)] == sorted(names)
