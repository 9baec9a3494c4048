"""summarize_nwb / format_summary on a written synthetic session, and unreadable files."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from w2t_bkin import nwb as nwb_package
from w2t_bkin.config import AssemblyConfig
from w2t_bkin.errors import IngestError
from w2t_bkin.nwb.assembly import write_nwb
from w2t_bkin.nwb.inspection import format_summary, summarize_nwb

from . import _builders as b


@pytest.fixture(scope="module")
def nwb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inspect")
    return write_nwb(b.session(root), root / "session.nwb", AssemblyConfig())


def test_summary_lists_header_subject_devices_and_objects(nwb_path: Path) -> None:
    summary = summarize_nwb(nwb_path)
    json.dumps(summary)  # plain values only
    assert summary["identifier"] == "sub-mouse1_ses-01_test"
    assert summary["session_start_time"] == "2024-05-01T10:00:00+00:00"
    assert summary["timestamps_reference_time"] == "2024-05-01T10:00:00+00:00"
    assert summary["subject"]["subject_id"] == "mouse1"
    assert summary["subject"]["species"] == "Mus musculus"
    devices = {d["name"]: d for d in summary["devices"]}
    assert devices["top_camera"]["model"] == {
        "name": "Blackfly S",
        "manufacturer": "FLIR",
        "model_number": "BFS-U3-16S2M",
    }
    acquisition = {a["name"]: a for a in summary["acquisition"]}
    assert acquisition["cam_top"] == {"name": "cam_top", "type": "ImageSeries", "shape": [20]}
    assert acquisition["TTLEvents"]["shape"] == [22, 2]
    assert acquisition["TTLEvents"]["type"] == "EventsTable"
    assert acquisition["task_recording"]["type"] == "TaskRecording"
    tables = {c["name"]: c for c in acquisition["task_recording"]["children"]}
    assert (tables["states"]["type"], tables["states"]["shape"]) == ("StatesTable", [12, 3])
    assert tables["actions"]["columns"] == ["timestamp", "duration", "action_type", "value"]
    assert devices["top_camera"]["serial_number"] == "SN123"
    assert {o["name"] for o in summary["processing"]["behavior"]} == {
        "Skeletons",
        "PoseEstimation_cam_top",
        "PoseEstimation_cam_side_mouse0",
        "PoseEstimation_cam_side_mouse1",
    }
    assert summary["lab_meta_data"] == ["task"]


def test_summary_pose_series_shapes_and_timestamp_owner(nwb_path: Path) -> None:
    pose = {(p["estimation"], p["series"]): p for p in summarize_nwb(nwb_path)["pose"]}
    assert len(pose) == 9
    nose = pose[("PoseEstimation_cam_top", "nose")]
    assert nose["shape"] == [20, 2]
    assert nose["timestamps_from"] == "cam_top"
    assert pose[("PoseEstimation_cam_side_mouse0", "nose")]["timestamps_from"] == "rate 30.0 Hz"


def test_summary_trials_columns_and_first_rows(nwb_path: Path) -> None:
    trials = summarize_nwb(nwb_path)["trials"]
    assert trials["n_rows"] == 3
    assert trials["columns"] == [
        "start_time",
        "stop_time",
        "states",
        "events",
        "actions",
        "trial_type",
        "trial_type_name",
        "outcome",
        "alignment",
    ]
    first = trials["first_rows"][1]
    assert first["start_time"] == b.to_reference(3.0)
    assert (first["n_states"], first["n_events"], first["n_actions"]) == (4, 1, 1)
    assert (first["trial_type_name"], first["outcome"], first["alignment"]) == (
        "nogo",
        "miss",
        "interpolated",
    )


def test_format_summary_text(nwb_path: Path) -> None:
    text = format_summary(summarize_nwb(nwb_path))
    assert "identifier       sub-mouse1_ses-01_test" in text
    assert "devices\n  bpod " in text
    # model and serial number of a metadata device, not just its name
    assert (
        "  top_camera           Top-view camera; model FLIR Blackfly S (BFS-U3-16S2M); "
        "serial SN123\n"
    ) in text
    # what the TaskRecording holds, one table per line with its shape and columns
    recording = text.split("  task_recording ")[1].split("\n  TTLEvents")[0]
    lines = [" ".join(line.split()[:3]) for line in recording.splitlines()[1:]]
    assert lines == [
        "actions ActionsTable 5x4",
        "events EventsTable 6x3",
        "states StatesTable 12x3",
    ]
    assert "    states                       StatesTable            12x3  [start_time," in recording
    # a multi-line description stays inside its column
    assert "\n                 Time base: NI-DAQ clock" in text
    assert "PoseEstimation_cam_top/nose  20x2  timestamps: cam_top" in text
    assert "trials           3 rows;" in text
    assert "trial_type_name=nogo" in text


def test_missing_file_is_an_ingest_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"NWB file not found: .*absent\.nwb"):
        summarize_nwb(tmp_path / "absent.nwb")


def test_non_hdf5_file_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.nwb"
    path.write_text("not an HDF5 file")
    with pytest.raises(IngestError, match=r"notes\.nwb is not an HDF5 file"):
        summarize_nwb(path)


def test_hdf5_that_is_not_nwb_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["x"] = [1, 2, 3]
    with pytest.raises(IngestError, match=r"cannot read .*plain\.h5 as NWB"):
        summarize_nwb(path)


def test_package_exports_resolve_lazily() -> None:
    assert nwb_package.summarize_nwb is summarize_nwb
    assert nwb_package.write_nwb is write_nwb
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nwb_package.nope  # noqa: B018
