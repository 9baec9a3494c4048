"""NWB validation: pynwb schema validation plus nwbinspector with the DANDI configuration."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.file import Subject

from w2t_bkin.errors import IngestError, NWBValidationError
from w2t_bkin.nwb.validation import (
    IMPORTANCE_ORDER,
    ValidationReport,
    raise_for_blocking,
    validate_nwb,
    write_validation_json,
)

START = dt.datetime(2024, 3, 5, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
ZERO_COUNTS = dict.fromkeys(IMPORTANCE_ORDER, 0)


def _write_nwb(path: Path, subject: Subject | None) -> Path:
    nwbfile = NWBFile(
        session_description="two minutes of licking, synthetic",
        identifier="7f6c0c52-2d5e-4c1b-9a0e-000000000001",
        session_start_time=START,
        session_id="ses-01",
        experimenter=["Doe, Jane"],
        institution="Example University",
        lab="Behaviour Lab",
        experiment_description="validation fixture",
        keywords=["behavior", "synthetic"],
        subject=subject,
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def _dandi_subject() -> Subject:
    return Subject(
        subject_id="mouse-01",
        species="Mus musculus",
        sex="F",
        age="P90D",
        description="synthetic subject",
    )


@pytest.fixture(scope="module")
def clean_nwb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_nwb(tmp_path_factory.mktemp("nwb") / "clean.nwb", _dandi_subject())


@pytest.fixture(scope="module")
def no_subject_nwb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_nwb(tmp_path_factory.mktemp("nwb") / "no_subject.nwb", None)


def test_dandi_ready_file_is_clean_with_no_findings(clean_nwb: Path) -> None:
    report = validate_nwb(clean_nwb, config="dandi")
    assert report.path == clean_nwb
    assert report.config == "dandi"
    assert report.findings == ()
    assert dict(report.counts) == ZERO_COUNTS
    assert report.is_clean
    assert report.exit_code == 0
    assert report.nwbinspector_version is not None


def test_missing_subject_is_critical_under_dandi(no_subject_nwb: Path) -> None:
    report = validate_nwb(no_subject_nwb)
    assert [(f["importance"], f["check_name"]) for f in report.findings] == [
        ("CRITICAL", "check_subject_exists")
    ]
    finding = report.findings[0]
    assert finding["message"] == "Subject is missing."
    assert finding["object_type"] == "NWBFile"
    assert finding["location"] == "/"
    assert set(finding) == {
        "importance",
        "severity",
        "check_name",
        "message",
        "object_type",
        "object_name",
        "location",
    }
    assert report.counts["CRITICAL"] == 1
    assert sum(report.counts.values()) == 1
    assert not report.is_clean
    assert report.exit_code == 1


def test_dandi_config_demotes_data_orientation(tmp_path: Path) -> None:
    # nwbinspector 0.7 already makes the subject checks CRITICAL by default; what the DANDI
    # configuration changes is check_data_orientation (CRITICAL -> BEST_PRACTICE_VIOLATION).
    path = tmp_path / "wide.nwb"
    nwbfile = NWBFile(
        session_description="wide data",
        identifier="wide-1",
        session_start_time=START,
        keywords=["synthetic"],
        experimenter=["Doe, Jane"],
        institution="Example University",
        subject=_dandi_subject(),
    )
    wide = TimeSeries(
        name="wide",
        description="time on the short axis",
        data=np.zeros((3, 10), dtype=np.float32),
        unit="V",
        rate=10.0,
    )
    nwbfile.add_acquisition(wide)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)

    def orientation(report: ValidationReport) -> list[str | None]:
        return [
            f["importance"] for f in report.findings if f["check_name"] == "check_data_orientation"
        ]

    default = validate_nwb(path, config="default")
    dandi = validate_nwb(path, config="dandi")
    assert orientation(default) == ["CRITICAL"]
    assert not default.is_clean
    assert orientation(dandi) == ["BEST_PRACTICE_VIOLATION"]
    assert dandi.counts["CRITICAL"] == 0
    assert dandi.is_clean
    finding = next(f for f in dandi.findings if f["check_name"] == "check_data_orientation")
    assert finding["object_type"] == "TimeSeries"
    assert finding["object_name"] == "wide"
    assert "Current shape: (3, 10)" in str(finding["message"])


def test_incomplete_subject_names_each_dandi_field(tmp_path: Path) -> None:
    subject = Subject(subject_id="mouse-02", species="mouse", description="no sex, no age")
    report = validate_nwb(_write_nwb(tmp_path / "partial.nwb", subject))
    critical = {f["check_name"] for f in report.findings if f["importance"] == "CRITICAL"}
    assert critical == {"check_subject_sex", "check_subject_species_form", "check_subject_age"}
    assert report.counts["CRITICAL"] == 3
    assert report.exit_code == 1


def test_schema_violation_is_critical_pynwb_finding(clean_nwb: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.nwb"
    shutil.copy(clean_nwb, broken)
    with h5py.File(broken, "a") as handle:
        del handle["identifier"]  # required by the NWB schema
    report = validate_nwb(broken)
    pynwb_findings = [f for f in report.findings if f["check_name"] == "pynwb_validation"]
    assert len(pynwb_findings) == 1
    assert pynwb_findings[0]["importance"] == "CRITICAL"
    assert pynwb_findings[0]["object_name"] == "root/identifier"
    assert pynwb_findings[0]["message"] == "argument missing"
    # pynwb cannot build the file either: nwbinspector reports it as an ERROR.
    errors = [f for f in report.findings if f["importance"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["check_name"] == "nwbinspector_read_error"
    assert "missing argument 'identifier'" in str(errors[0]["message"])
    assert report.counts["ERROR"] == 1
    assert report.counts["CRITICAL"] == 1
    # most severe first
    assert report.findings[0]["importance"] == "ERROR"
    assert not report.is_clean


def test_text_file_is_ingest_error(tmp_path: Path) -> None:
    fake = tmp_path / "session.nwb"
    fake.write_text("not an hdf5 file")
    with pytest.raises(IngestError, match=r"session\.nwb is not an HDF5 file") as info:
        validate_nwb(fake)
    assert info.value.exit_code == 4
    assert info.value.hint is not None


def test_plain_hdf5_is_ingest_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as handle:
        handle["x"] = np.arange(3)
    with pytest.raises(IngestError, match=r"plain\.h5 is HDF5 but not NWB.*nwb_version"):
        validate_nwb(plain)


def test_missing_file_is_ingest_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"NWB file not found: .*absent\.nwb"):
        validate_nwb(tmp_path / "absent.nwb")


def test_unknown_config_is_rejected(clean_nwb: Path) -> None:
    with pytest.raises(ValueError, match="config must be 'dandi' or 'default', not 'strict'"):
        validate_nwb(clean_nwb, config="strict")  # type: ignore[arg-type]


def test_validation_json_round_trip(no_subject_nwb: Path, tmp_path: Path) -> None:
    report = validate_nwb(no_subject_nwb)
    out = write_validation_json(report, tmp_path / "processed" / "validation.json")
    data = json.loads(out.read_text())
    assert data == {
        "path": str(no_subject_nwb),
        "config": "dandi",
        "nwbinspector_version": report.nwbinspector_version,
        "is_clean": False,
        "exit_code": 1,
        "counts": {**ZERO_COUNTS, "CRITICAL": 1},
        "findings": [dict(f) for f in report.findings],
    }


def test_raise_for_blocking(no_subject_nwb: Path, clean_nwb: Path) -> None:
    raise_for_blocking(validate_nwb(clean_nwb))  # clean: no error
    with pytest.raises(NWBValidationError, match=r"(?s)1 blocking .*check_subject_exists") as info:
        raise_for_blocking(validate_nwb(no_subject_nwb))
    assert info.value.exit_code == 6
    assert "fail_on_critical" in str(info.value.hint)
    assert "publish the file at the output path anyway" in str(info.value.hint)
    kept = no_subject_nwb.with_name("x.invalid.nwb")
    with pytest.raises(NWBValidationError) as info:
        raise_for_blocking(validate_nwb(no_subject_nwb), kept_at=kept)
    assert info.value.path == kept
    assert info.value.message.startswith(f"{kept}: 1 blocking validation finding(s)")
    assert info.value.message.endswith(
        f"the file was kept as {kept} for inspection; nothing was written at the output path"
    )


def test_report_is_frozen(clean_nwb: Path) -> None:
    report = validate_nwb(clean_nwb)
    assert isinstance(report, ValidationReport)
    with pytest.raises(AttributeError):
        report.config = "default"  # type: ignore[misc]


def test_warning_filters_are_left_as_found(clean_nwb: Path) -> None:
    # nwbinspector adds global "ignore" filters; validate_nwb must not leak them.
    before = list(warnings.filters)
    validate_nwb(clean_nwb)
    assert warnings.filters == before


@pytest.mark.real_data
def test_real_dlc2nwb_pose_file(real_data: Path) -> None:
    path = real_data / "nwb/DLC2NWB/examples/m3v1mp4DLC_resnet50_openfieldAug20shuffle1_30000.nwb"
    report = validate_nwb(path)
    blocking = [(f["importance"], f["check_name"]) for f in report.blocking_findings]
    assert blocking == [("CRITICAL", "check_subject_exists")]
    assert report.counts["ERROR"] == 0
    assert report.exit_code == 1


@pytest.mark.real_data
def test_real_old_file_reads_under_error_warning_filters(real_data: Path) -> None:
    # pytest runs with filterwarnings=error; pynwb warns while reading this NWB 2.5 file and
    # those warnings must not become an unreadable-file ERROR.
    path = real_data / "nwb/ephy_testing_data_via_neuroconv/ephy_testing_data/nwb/"
    report = validate_nwb(path / "ecephys_tutorial_v2.5.0.nwb")
    assert report.counts["ERROR"] == 0
    critical = sorted(
        (f["check_name"], f["location"]) for f in report.findings if f["importance"] == "CRITICAL"
    )
    assert critical == [
        ("check_electrical_series_dims", "/acquisition/ElectricalSeries"),
        ("check_electrical_series_dims", "/processing/ecephys/LFP/ElectricalSeries"),
        ("check_subject_exists", "/"),
    ]


@pytest.mark.real_data
def test_real_schema_violation_timeseries_without_unit(real_data: Path) -> None:
    path = real_data / "nwb/pynwb/tests/back_compat/1.5.1_timeseries_no_unit.nwb"
    report = validate_nwb(path)
    schema = [f for f in report.findings if f["check_name"] == "pynwb_validation"]
    assert [(f["object_name"], f["location"], f["message"]) for f in schema] == [
        ("TimeSeries/data/unit", "acquisition/test_timeseries/data", "argument missing")
    ]
    assert schema[0]["importance"] == "CRITICAL"


@pytest.mark.real_data
def test_real_subject_without_sex_and_species(real_data: Path) -> None:
    path = real_data / "nwb/pynwb/tests/back_compat/2.2.0_subject_no_age__reference.nwb"
    report = validate_nwb(path)
    assert {f["check_name"] for f in report.blocking_findings} == {
        "check_subject_sex",
        "check_subject_species_exists",
    }
