"""``w2t-bkin ephys dispatch|schema`` end to end, and a probe's sync line as a session clock."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.cli import main
from w2t_bkin.ephys.jobs import load_recording, read_jobs

from ._sessions import processed_frame_times_s, replace_once

OPENEPHYS_MULTI = Path(
    "openephys/aind-data-transfer/tests/resources/v0.6.x_neuropixels_multiexp_multistream"
)
NOISE4SAM_LF_META = Path(
    "spikeglx/ephy_testing_data_via_neuroconv/ephy_testing_data/spikeglx/Noise4Sam_g0/"
    "Noise4Sam_g0_imec0/Noise4Sam_g0_t0.imec0.lf.meta"
)
OE_JOBS = 6  # 3 experiments x 2 probes


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.real_data
def test_dispatch_writes_jobs_and_manifest(
    real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = real_data / OPENEPHYS_MULTI
    code = main(["ephys", "dispatch", str(data), "--input", "openephys", "-o", str(tmp_path)])
    out = _squash(capsys.readouterr().out)
    assert code == 0
    assert f"wrote {OE_JOBS} job(s) to {tmp_path}" in out
    jobs = read_jobs(tmp_path)
    assert len(jobs) == OE_JOBS == len(list(tmp_path.glob("job_*.json")))
    manifest = json.loads((tmp_path / "dispatch_manifest.json").read_text())
    assert manifest["n_jobs"] == OE_JOBS and manifest["max_duration_min"] == 1
    assert {item["reason"] for item in manifest["skipped"]} == {
        "excluded by exclude_streams rule 'NI-DAQ'"
    }
    assert all(load_recording(job, data).get_num_samples() == 100 for job in jobs)
    assert manifest["jobs"][0]["sync_ttl"] == [
        {
            "segment": 0,
            "format": "openephys",
            "path": "Record Node 101/experiment1/recording1/events/Neuropix-PXI-100.ProbeB/TTL",
            "line": 1,
        }
    ]


@pytest.mark.real_data
def test_zero_jobs_is_an_error_with_exit_code(
    real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "ephys",
            "dispatch",
            str(real_data / OPENEPHYS_MULTI),
            "--input",
            "openephys",
            "-o",
            str(tmp_path),
            "--min-recording-duration",
            "60",
        ]
    )
    err = _squash(capsys.readouterr().err)
    assert code == 4
    assert "error: no sorting job from" in err
    assert "duration 0.003 s is below min_recording_duration 60 s" in err
    assert "Traceback" not in err
    assert list(tmp_path.glob("job_*.json")) == []


@pytest.mark.real_data
def test_params_file_conflict_is_reported_and_the_flag_wins(
    real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"input": "openephys", "debug": False, "debug_duration": 0.001}))
    code = main(
        [
            "ephys",
            "dispatch",
            str(real_data / OPENEPHYS_MULTI),
            "-o",
            str(tmp_path / "out"),
            "--params",
            str(params),
            "--debug",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "warning: 'debug': the flag gives True, the params file False; using the flag" in (
        _squash(captured.err)
    )
    jobs = read_jobs(tmp_path / "out")
    assert {(job.debug, job.num_samples) for job in jobs} == {(True, 30)}  # 1 ms at 30 kHz
    manifest = json.loads((tmp_path / "out" / "dispatch_manifest.json").read_text())
    assert manifest["conflicts"] == [
        {"key": "debug", "file_value": False, "flag_value": True, "used": "flag"}
    ]


@pytest.mark.real_data
def test_dry_run_writes_nothing(
    real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "ephys",
            "dispatch",
            str(real_data / OPENEPHYS_MULTI),
            "-i",
            "openephys",
            "-o",
            str(out),
            "--dry-run",
            "--format",
            "json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (report["dry_run"], len(report["jobs"]), report["manifest"]) == (True, OE_JOBS, None)
    assert not out.exists()


def test_bad_parameters_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"input": "nwb", "split_segment": False}))
    assert (
        main(["ephys", "dispatch", str(tmp_path), "-o", str(tmp_path), "--params", str(params)])
        == 2
    )
    err = _squash(capsys.readouterr().err)
    assert "unknown key 'split_segment'" in err and "did you mean 'split_segments'?" in err
    assert main(["ephys", "dispatch", str(tmp_path), "-o", str(tmp_path)]) == 2
    assert "input [flags and params file]: Field required" in _squash(capsys.readouterr().err)


def test_positional_static_arguments_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # upstream parses `./run nwb` as split_segments="nwb"; here an extra argument is an error
    assert main(["ephys", "dispatch", "nwb", str(tmp_path), "-o", str(tmp_path)]) == 2
    assert "unexpected extra argument" in capsys.readouterr().err.lower()


def test_schema_prints_the_job_and_params_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ephys", "schema"]) == 0
    job_schema = json.loads(capsys.readouterr().out)
    assert {"job_id", "block", "stream", "segment", "group", "recording_dict"} <= set(
        job_schema["properties"]
    )
    assert main(["ephys", "schema", "--what", "params"]) == 0
    params_schema = json.loads(capsys.readouterr().out)
    assert params_schema["properties"]["split_segments"]["default"] is True
    assert params_schema["required"] == ["input"]


# ------------------------------------------------------------------ ephys on the session clock

RAW = Path("data/raw/mouse01/ses01")
LF_RATE_HZ = 2500.0  # the LF band of the real NP1.0 meta: small files


def _sync_as_imec_lf(times_s: np.ndarray, path: Path, meta_source: Path) -> np.ndarray:
    """Pulses at ``times_s`` on bit 6 of an imec LF file's sync word; returns the sampled
    pulse times (the probe clock quantises them to 0.4 ms)."""
    starts = np.round(times_s * LF_RATE_HZ).astype(np.int64)
    n_samples = int(starts[-1]) + 50
    data = np.zeros((n_samples, 385), np.int16)
    sync = np.zeros(n_samples, np.uint16)
    for start in starts:
        sync[start : start + 3] = 1 << 6
    data[:, 384] = sync.view(np.int16)
    data.tofile(path)
    # the real meta, describing this file: its size, its name, its first sample
    meta = meta_source.read_text(encoding="utf-8")
    for key, value in (
        ("fileSizeBytes", str(data.nbytes)),
        ("fileName", path.as_posix()),
        ("firstSample", "0"),
    ):
        meta = re.sub(rf"^{key}=.*$", f"{key}={value}", meta, flags=re.M)
    path.with_suffix(".meta").write_text(meta, encoding="utf-8")
    return starts / LF_RATE_HZ


@pytest.mark.slow
@pytest.mark.real_data
def test_probe_sync_line_is_a_session_ttl_clock(real_data: Path, tmp_path: Path) -> None:
    from w2t_bkin.testing import ExperimentSpec, write_experiment

    spec = ExperimentSpec(duration_s=2.0, rate_hz=20.0, n_keypoints=2)
    text_root, probe_root = tmp_path / "text", tmp_path / "probe"
    write_experiment(text_root, spec)
    write_experiment(probe_root, spec)
    frame_ttl = probe_root / RAW / "TTLs/cam0_frame.txt"
    sampled_s = _sync_as_imec_lf(
        np.loadtxt(frame_ttl, ndmin=1),
        probe_root / RAW / "TTLs/rig_g0_t0.imec0.lf.bin",
        real_data / NOISE4SAM_LF_META,
    )
    frame_ttl.unlink()
    replace_once(
        probe_root / "data/raw/metadata.toml",
        'paths = [\n    "TTLs/cam0_frame.txt",\n]\n',
        'paths = ["TTLs/rig_g0_t0.imec0.lf.bin"]\nline = 6\n',
    )
    np.savetxt(text_root / RAW / "TTLs/cam0_frame.txt", sampled_s, fmt="%.9f")

    expected = processed_frame_times_s(text_root)

    assert expected.size == 40
    np.testing.assert_array_equal(processed_frame_times_s(probe_root), expected)
