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
from hdmf.common import DynamicTable, VectorData
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.file import Subject

from w2t_bkin.errors import IngestError, NWBValidationError
from w2t_bkin.nwb.validation import (
    IMPORTANCE_ORDER,
    ValidationReport,
    blocking_hint,
    raise_for_blocking,
    validate_nwb,
    write_validation_json,
)
from w2t_bkin.runtime.capture import capture_run

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


# --------------------------------------------------------------------------------------------
# a check that crashes inside nwbinspector; hints that fit their finding

INDEX_ERROR_H5 = "IndexError: Index (0) out of range for empty dimension"


def _write_empty_table_nwb(path: Path) -> Path:
    """A DANDI-ready file plus a zero-row table with typed columns, as the Bpod writer used to
    write ``ActionsTable`` without actions: nwbinspector 0.7's table checks raise on it."""
    nwbfile = NWBFile(
        session_description="a table without rows",
        identifier="empty-table-1",
        session_start_time=START,
        experiment_description="nothing happened",
        keywords=["synthetic"],
        experimenter=["Doe, Jane"],
        institution="Example University",
        subject=_dandi_subject(),
    )
    table = DynamicTable(
        name="actions",
        description="actions of a session in which none happened",
        columns=[
            VectorData(name="timestamp", description="s", data=np.zeros(0, dtype=np.float64)),
            VectorData(name="value", description="text", data=np.zeros(0, dtype=np.str_)),
        ],
    )
    nwbfile.create_processing_module(name="behavior", description="behaviour").add(table)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


@pytest.fixture(scope="module")
def empty_table_nwb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_empty_table_nwb(tmp_path_factory.mktemp("nwb") / "empty_table.nwb")


def test_crashed_check_is_a_one_line_finding_that_does_not_block(empty_table_nwb: Path) -> None:
    report = validate_nwb(empty_table_nwb)
    assert [(f["importance"], f["check_name"], f["message"]) for f in report.findings] == [
        (
            "CHECK_NOT_RUN",
            "check_col_not_nan",
            f"nwbinspector could not run check check_col_not_nan: {INDEX_ERROR_H5}",
        ),
        (
            "CHECK_NOT_RUN",
            "check_column_binary_capability",
            f"nwbinspector could not run check check_column_binary_capability: {INDEX_ERROR_H5}",
        ),
        (
            "CHECK_NOT_RUN",
            "check_table_values_for_dict",
            f"nwbinspector could not run check check_table_values_for_dict: {INDEX_ERROR_H5}",
        ),
        ("BEST_PRACTICE_VIOLATION", "check_empty_table", "This table has no data added to it."),
    ]
    assert report.counts == {**ZERO_COUNTS, "CHECK_NOT_RUN": 3, "BEST_PRACTICE_VIOLATION": 1}
    assert report.is_clean
    assert report.exit_code == 0
    assert report.blocking_findings == ()
    raise_for_blocking(report)  # nothing blocks
    assert "Traceback" not in json.dumps(report.to_dict())


def test_crashed_check_traceback_goes_to_the_run_log_only(
    empty_table_nwb: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log_path = tmp_path / "pipeline.log"
    caplog.set_level("DEBUG")
    with capture_run(log_path):
        validate_nwb(empty_table_nwb)
    text = log_path.read_text()
    for check in ("check_col_not_nan", "check_column_binary_capability"):
        assert f"nwbinspector check {check} raised while validating {empty_table_nwb}:" in text
    assert text.count("Traceback (most recent call last)") == 3
    assert text.count(f"\n{INDEX_ERROR_H5}\n") == 3
    # inside a run the traceback bypasses the package logger, so no console handler shows it
    assert "Traceback" not in caplog.text


def test_crashed_check_traceback_is_a_debug_record_outside_a_run(
    empty_table_nwb: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="w2t_bkin.nwb.validation")
    validate_nwb(empty_table_nwb)
    crashed = [r for r in caplog.records if "raised while validating" in r.getMessage()]
    assert [r.levelname for r in crashed] == ["DEBUG", "DEBUG", "DEBUG"]
    assert "Traceback (most recent call last)" in crashed[0].getMessage()


def test_check_crash_in_a_real_check_still_blocks_when_critical(tmp_path: Path) -> None:
    # Only the crash is demoted: a CRITICAL finding of a check that ran still blocks.
    path = _write_empty_table_nwb(tmp_path / "empty_no_subject.nwb")
    with h5py.File(path, "a") as handle:
        del handle["general/subject"]
    report = validate_nwb(path)
    assert [f["check_name"] for f in report.blocking_findings] == ["check_subject_exists"]
    assert report.counts["CHECK_NOT_RUN"] == 3
    assert report.exit_code == 1


PUBLISH_ANYWAY = (
    "or set finalization.fail_on_critical = false to publish the file at the output path anyway "
    "(validation.json keeps the findings)"
)
BUG = "report it with validation.json and pipeline.log"


def test_subject_findings_get_one_subject_toml_hint(tmp_path: Path) -> None:
    subject = Subject(subject_id="mouse-02", species="mouse", description="no sex, no age")
    report = validate_nwb(_write_nwb(tmp_path / "partial.nwb", subject))
    with pytest.raises(NWBValidationError) as info:
        raise_for_blocking(report)
    assert info.value.hint == (
        "add or complete the [subject] table of subject.toml (fields named above) and re-run; "
        + PUBLISH_ANYWAY
    )


def test_schema_and_read_errors_are_reported_as_w2t_bkin_bugs(
    clean_nwb: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.nwb"
    shutil.copy(clean_nwb, broken)
    with h5py.File(broken, "a") as handle:
        del handle["identifier"]
    with pytest.raises(NWBValidationError) as info:
        raise_for_blocking(validate_nwb(broken))
    assert info.value.hint == (
        "pynwb could not read the written file back: a w2t-bkin bug unless the disk is full or "
        f"failing; {BUG}; "
        f"a file w2t-bkin wrote that breaks the NWB schema is a w2t-bkin bug: {BUG}; "
        + PUBLISH_ANYWAY
    )
    assert "subject.toml" not in str(info.value.hint)


def test_data_check_hint_names_the_check_and_where(tmp_path: Path) -> None:
    path = tmp_path / "wide.nwb"
    nwbfile = NWBFile(
        session_description="wide data",
        identifier="wide-2",
        session_start_time=START,
        keywords=["synthetic"],
        experimenter=["Doe, Jane"],
        institution="Example University",
        subject=_dandi_subject(),
    )
    nwbfile.add_acquisition(
        TimeSeries(
            name="wide",
            description="time on the short axis",
            data=np.zeros((3, 10), dtype=np.float32),
            unit="V",
            rate=10.0,
        )
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    report = validate_nwb(path, config="default")  # check_data_orientation is CRITICAL here
    assert [f["check_name"] for f in report.blocking_findings] == ["check_data_orientation"]
    with pytest.raises(NWBValidationError) as info:
        raise_for_blocking(report)
    assert info.value.hint == (
        "check check_data_orientation concerns the data written at /acquisition/wide: if the raw "
        f"data behind it are right, this is a w2t-bkin bug; {BUG}; " + PUBLISH_ANYWAY
    )


def test_blocking_hint_has_one_clause_per_kind_of_finding() -> None:
    findings = [
        {"check_name": "check_subject_sex", "location": "/general/subject"},
        {"check_name": "check_session_id_no_slashes", "location": "/"},
        {"check_name": "check_subject_age", "location": "/general/subject"},
    ]
    assert blocking_hint(findings) == (
        "add or complete the [subject] table of subject.toml (fields named above) and re-run; "
        "remove the '/' from session_id in session.toml and re-run; " + PUBLISH_ANYWAY
    )
