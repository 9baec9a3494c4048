"""Validating a file against the schemas already loaded gives the full path's findings.

``validate_nwb(..., use_loaded_namespaces=True)`` (what the pipeline uses on the file it has just
written) must report exactly what the full path reports, which reloads the file's cached schemas:
on a pipeline file with every extension (ndx-pose, ndx-structured-behavior), on files with
best-practice and schema findings, and on files it must hand to the full path (an unreadable
file, cached namespace versions this process has not loaded).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import h5py
import pytest
from pynwb import NWBHDF5IO, NWBFile

from w2t_bkin.config import AssemblyConfig
from w2t_bkin.nwb.assembly import write_nwb
from w2t_bkin.nwb.validation import validate_nwb

from . import _builders as b


def _both(path: Path) -> tuple[list[dict[str, str | None]], list[dict[str, str | None]]]:
    full = validate_nwb(path)
    quick = validate_nwb(path, use_loaded_namespaces=True)
    return [dict(f) for f in full.findings], [dict(f) for f in quick.findings]


@pytest.fixture(scope="module")
def pipeline_nwb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pipeline")
    session = b.session(folder, videos=True, trials=True)
    return write_nwb(session, folder / "session.nwb", AssemblyConfig())


def test_pipeline_file_with_every_extension(
    pipeline_nwb: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with h5py.File(pipeline_nwb, "r") as handle:
        cached = set(handle["specifications"])
    assert {"core", "ndx-pose", "ndx-structured-behavior"} <= cached
    with caplog.at_level(logging.DEBUG, logger="w2t_bkin.nwb.validation"):
        full, quick = _both(pipeline_nwb)
    assert "validating the full way" not in caplog.text  # the quick path really ran
    assert quick == full
    assert full  # the fixture has best-practice findings: the comparison is not of two empties


@pytest.fixture
def text_conversion_nwb(pipeline_nwb: Path, tmp_path: Path) -> Path:
    """The pipeline file with one schema violation pynwb still reads."""
    broken = tmp_path / "text_conversion.nwb"
    shutil.copy(pipeline_nwb, broken)
    with h5py.File(broken, "a") as handle:
        data = handle["processing/behavior/PoseEstimation_cam_top/nose/data"]
        data.attrs["conversion"] = "one"  # the schema says float32
    return broken


def test_schema_violation_is_reported_the_same(text_conversion_nwb: Path) -> None:
    full, quick = _both(text_conversion_nwb)
    assert quick == full
    assert any(f["check_name"] == "pynwb_validation" for f in full)


def test_unreadable_file_goes_the_full_way(tmp_path: Path) -> None:
    path = tmp_path / "no_identifier.nwb"
    nwbfile = NWBFile(
        session_description="synthetic",
        identifier="id-1",
        session_start_time=dt.datetime(2024, 3, 5, 9, 30, tzinfo=dt.UTC),
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    with h5py.File(path, "a") as handle:
        del handle["identifier"]  # pynwb cannot build the file: nwbinspector's read error
    full, quick = _both(path)
    assert quick == full
    assert any(f["check_name"] == "nwbinspector_read_error" for f in full)


@pytest.mark.real_data
def test_other_cached_versions_go_the_full_way(real_data: Path) -> None:
    path = real_data / "nwb/DLC2NWB/examples/m3v1mp4DLC_resnet50_openfieldAug20shuffle1_30000.nwb"
    full, quick = _both(path)
    assert quick == full


def test_one_validator_map_serves_every_file_and_keeps_no_findings(
    pipeline_nwb: Path, text_conversion_nwb: Path
) -> None:
    from w2t_bkin.nwb import validation

    def schema_findings(path: Path) -> list[dict[str, str | None]]:
        report = validate_nwb(path, use_loaded_namespaces=True)
        return [dict(f) for f in report.findings if f["check_name"] == "pynwb_validation"]

    assert schema_findings(pipeline_nwb) == []
    maps = dict(validation._VALIDATOR_MAPS)
    assert maps  # built for this process' namespaces
    found = schema_findings(text_conversion_nwb)
    assert len(found) == 1 and "expected 'float32', got 'utf'" in str(found[0]["message"])
    assert schema_findings(pipeline_nwb) == []  # the broken file left nothing behind
    assert {k: v[1] for k, v in validation._VALIDATOR_MAPS.items()} == {
        k: v[1] for k, v in maps.items()
    }  # the same maps, reused
