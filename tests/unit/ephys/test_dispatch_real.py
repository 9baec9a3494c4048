"""Dispatch on real sample recordings (SpikeGLX NP1.0/NP2.0, Open Ephys 0.6) and layouts built
from them in ``tmp_path``. Reads metadata and tiny clips only."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from w2t_bkin.ephys.dispatch import MANIFEST_NAME, DispatchResult, dispatch
from w2t_bkin.ephys.errors import DispatchParamsError, NoJobsError
from w2t_bkin.ephys.jobs import load_recording, read_job
from w2t_bkin.ephys.params import resolve_params

from .layouts import (
    GATE_TRIGGER_SAMPLES,
    N_SAVED,
    NOISE4SAM_LF_META,
    OPENEPHYS_AP_ONLY,
    OPENEPHYS_MULTI,
    imec_file,
    multi_gate_trigger_session,
    np1_ap_lf_session,
    np2_four_shank_session,
    openephys_ap_lfp_session,
    write_bin,
    write_meta,
)

pytestmark = pytest.mark.real_data

PROBE_B = "Record Node 101#Neuropix-PXI-100.ProbeB"
PROBE_C = "Record Node 101#Neuropix-PXI-100.ProbeC"
NIDAQ = "Record Node 101#NI-DAQmx-103.PXIe-6341"


def run(data: Path, results: Path, **flags: Any) -> DispatchResult:
    resolved = resolve_params(flags)
    return dispatch(data, results, resolved.params, conflicts=resolved.conflicts)


@pytest.fixture(scope="module")
def np1(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return np1_ap_lf_session(real_data, tmp_path_factory.mktemp("np1"))


@pytest.fixture(scope="module")
def gates(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return multi_gate_trigger_session(real_data, tmp_path_factory.mktemp("gates"))


@pytest.fixture(scope="module")
def openephys(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> DispatchResult:
    return run(real_data / OPENEPHYS_MULTI, tmp_path_factory.mktemp("oe"), input="openephys")


# ---------------------------------------------------------------------------- Open Ephys


def test_openephys_experiments_and_streams_sorted(openephys: DispatchResult) -> None:
    got = [(j.block, j.block_index, j.stream, j.segment) for j in openephys.jobs]
    assert got == [
        (experiment, index, probe, 0)
        for index, experiment in enumerate(["experiment1", "experiment3", "experiment6"])
        for probe in (PROBE_B, PROBE_C)
    ]  # experiment numbers 1, 3, 6 kept, not renumbered
    assert openephys.jobs[2].recording_name == f"experiment3_{PROBE_B}_recording1"
    assert {(s.block, s.stream, s.reason) for s in openephys.skipped} == {
        (e, NIDAQ, "excluded by exclude_streams rule 'NI-DAQ'")
        for e in ("experiment1", "experiment3", "experiment6")
    }


def test_openephys_jobs_load_their_own_experiment(
    openephys: DispatchResult, real_data: Path
) -> None:
    import spikeinterface.extractors as se

    data = real_data / OPENEPHYS_MULTI
    for job in openephys.jobs:
        loaded = load_recording(job, data)
        direct = se.read_openephys(str(data), stream_name=job.stream, experiment_name=job.block)
        assert (loaded.get_num_channels(), loaded.get_num_samples()) == (384, 100)
        np.testing.assert_array_equal(loaded.get_traces(), direct.get_traces())
        assert job.lfp_missing_reason is not None and "no -AP suffix" in job.lfp_missing_reason


def test_no_per_sample_time_vectors_in_json(openephys: DispatchResult) -> None:
    for path in openephys.job_files:
        text = path.read_text()
        raw = json.loads(text)
        assert '"time_vector":[' not in text.replace(" ", "")
        assert raw["recording_dict"]["kwargs"]["load_sync_timestamps"] is False
        assert len(text) < 80_000  # compact: upstream's indent=4 file is ~6x larger


def test_timestamps_checked_from_openephys_timestamps_files(openephys: DispatchResult) -> None:
    for job in openephys.jobs:
        (check,) = job.timestamp_checks
        assert (check.band, check.source, check.n_samples) == ("ap", "timestamps.npy", 100)
        assert check.max_step_s == pytest.approx(1 / 30_000, rel=1e-4)  # synced clock
        assert not job.skip_times


def test_one_bad_stream_does_not_kill_the_session(real_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "oe"
    shutil.copytree(real_data / OPENEPHYS_MULTI, data, copy_function=shutil.copyfile)
    continuous = data / "Record Node 101/experiment{}/recording1/continuous/{}/timestamps.npy"
    Path(str(continuous).format(1, "Neuropix-PXI-100.ProbeC")).write_bytes(b"not numpy")
    gap = Path(str(continuous).format(3, "Neuropix-PXI-100.ProbeB"))
    times = np.load(gap)
    times[50:] += 0.010
    np.save(gap, times)

    result = run(data, tmp_path / "out", input="openephys")

    assert len(result.jobs) == 5
    (bad,) = [s for s in result.skipped if s.stream == PROBE_C and s.block == "experiment1"]
    assert bad.reason.startswith("cannot dispatch: IngestError: ")
    assert "not a readable timestamps .npy file" in bad.reason
    flagged = [j for j in result.jobs if j.skip_times]
    assert [(j.block, j.stream, j.skip_times_reasons) for j in flagged] == [
        ("experiment3", PROBE_B, ("ap segment 0: gap",))
    ]
    assert flagged[0].timestamp_checks[0].first_gap_s == pytest.approx(times[49] - 0.0)
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert manifest["n_jobs"] == 5 and manifest["n_skipped"] == 4


def test_stream_rules_are_configurable_and_reasons_given(real_data: Path, tmp_path: Path) -> None:
    with pytest.raises(NoJobsError) as info:
        run(
            real_data / OPENEPHYS_MULTI,
            tmp_path,
            input="openephys",
            include_streams=("NI-DAQ",),
            exclude_streams=(),
        )
    assert f"experiment1/{NIDAQ}: no channel locations (no probe)" in info.value.message
    assert f"experiment1/{PROBE_B}: not matched by include_streams ['NI-DAQ']" in (
        info.value.message
    )


PROBE_A = "Record Node 104#Neuropix-PXI-100.ProbeA"


def test_openephys_lfp_pairing_is_structured(real_data: Path, tmp_path: Path) -> None:
    alone = run(real_data / OPENEPHYS_AP_ONLY, tmp_path / "a", input="openephys")
    (job,) = alone.jobs
    assert (job.stream, job.lfp_stream) == (f"{PROBE_A}-AP", None)
    assert job.lfp_missing_reason == f"no '{PROBE_A}-LFP' stream in the recording"
    assert [s.stream for s in alone.skipped] == [f"{PROBE_A}-APSYNC"]  # sync: its own stream

    data = openephys_ap_lfp_session(real_data, tmp_path / "data")
    (paired,) = run(data, tmp_path / "b", input="openephys").jobs
    assert (paired.lfp_stream, paired.lfp_missing_reason) == (f"{PROBE_A}-LFP", None)
    lfp = load_recording(paired, data, lfp=True)
    assert (lfp.get_sampling_frequency(), lfp.get_num_samples()) == (2500.0, 100)
    assert [(c.band, c.source, c.n_samples) for c in paired.timestamp_checks] == [
        ("ap", "timestamps.npy", 1000),
        ("lfp", "timestamps.npy", 100),
    ]


def test_lfp_partner_rules_replace_only_the_suffix() -> None:
    from w2t_bkin.ephys.discovery import _openephys_lfp_partner, _spikeglx_lfp_partner

    streams = ["Node#APx.ProbeA-AP", "Node#APx.ProbeA-LFP", "Node#LFPx.ProbeA-LFP"]
    # upstream replaces every "AP": Node#LFPx.ProbeA-LFP, the wrong stream
    assert _openephys_lfp_partner(streams[0], streams) == ("Node#APx.ProbeA-LFP", None)
    assert _spikeglx_lfp_partner("imec1.ap", ["imec1.ap", "imec1.lf", "imec0.lf"]) == (
        "imec1.lf",
        None,
    )
    assert _spikeglx_lfp_partner("nidq", ["nidq"]) == (
        None,
        "stream 'nidq' is not an imecN.ap stream",
    )


def test_every_job_carries_schema_version_and_provenance(
    openephys: DispatchResult, real_data: Path
) -> None:
    import importlib.metadata

    from w2t_bkin import __version__
    from w2t_bkin.runtime.fingerprint import json_digest

    for job in openephys.jobs:
        provenance = job.provenance
        assert job.schema_version == 1 and job.input_format == "openephys"
        assert provenance.tool_version == __version__
        assert provenance.spikeinterface_version == importlib.metadata.version("spikeinterface")
        assert provenance.neo_version == importlib.metadata.version("neo")
        assert provenance.params["input"] == "openephys"
        assert provenance.params_digest == json_digest(provenance.params)
    files = [p for p in (real_data / OPENEPHYS_MULTI).rglob("*") if p.is_file()]
    assert {j.provenance.input_files for j in openephys.jobs} == {len(files)}
    assert {j.provenance.input_bytes for j in openephys.jobs} == {
        sum(p.stat().st_size for p in files)
    }


def test_inputs_digest_changes_when_an_input_file_changes(np1: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(np1, data)
    (before,) = run(data, tmp_path / "a", input="spikeglx").jobs
    (same,) = run(data, tmp_path / "b", input="spikeglx").jobs
    ap_bin = data / "np1_g0" / "np1_g0_imec0" / "np1_g0_t0.imec0.ap.bin"
    stat = ap_bin.stat()
    os.utime(ap_bin, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    (after,) = run(data, tmp_path / "c", input="spikeglx").jobs
    assert before.provenance.inputs_digest == same.provenance.inputs_digest
    assert before.provenance.inputs_digest != after.provenance.inputs_digest
    assert before.job_id == after.job_id  # the identity of the job does not change


# ------------------------------------------------------------------------------- SpikeGLX


def test_spikeglx_np1_ap_is_paired_with_its_lf(np1: Path, tmp_path: Path) -> None:
    (job,) = run(np1, tmp_path, input="spikeglx").jobs
    assert (job.block, job.stream, job.lfp_stream) == ("np1", "imec0.ap", "imec0.lf")
    assert job.recording_name == "block0_imec0.ap_recording1"
    lfp = load_recording(job, np1, lfp=True)
    assert (lfp.get_num_channels(), lfp.get_num_samples(), lfp.get_sampling_frequency()) == (
        384,
        96,
        2500.0,
    )
    assert [(c.band, c.source) for c in job.timestamp_checks] == [
        ("ap", "regular"),
        ("lfp", "regular"),
    ]


def test_np2_four_shanks_split_by_group(real_data: Path, tmp_path: Path) -> None:
    data = np2_four_shank_session(real_data, tmp_path / "np2")
    jobs = run(data, tmp_path / "out", input="spikeglx").jobs
    assert [(j.group, j.num_channels, j.recording_name) for j in jobs] == [
        (g, 96, f"block0_imec0.ap_recording1_group{g}") for g in range(4)
    ]
    for job in jobs:
        loaded = load_recording(job, data)
        assert set(loaded.get_channel_groups()) == {job.group}
        assert job.lfp_missing_reason == (
            "no imec0.lf stream in the run (NP2.0 probes record AP only, or the .lf.bin/.meta "
            "is missing)"
        )
    (whole,) = run(data, tmp_path / "out2", input="spikeglx", split_groups=False).jobs
    assert (whole.group, whole.num_channels) == (None, 384)


def test_gates_and_triggers_are_segments_in_order(gates: Path, tmp_path: Path) -> None:
    split = run(gates, tmp_path / "split", input="spikeglx").jobs
    assert [(j.segment, j.num_samples) for j in split] == [
        (k, n) for k, n in enumerate(GATE_TRIGGER_SAMPLES.values())
    ]  # g0t0, g0t1, g1t0, g1t1
    assert [j.recording_name for j in split] == [
        f"block0_imec0.ap_recording{k}" for k in (1, 2, 3, 4)
    ]
    (whole,) = run(gates, tmp_path / "whole", input="spikeglx", split_segments=False).jobs
    assert (whole.segment, whole.segment_mode, whole.n_segments) == (None, "all", 4)
    assert whole.recording_name == "block0_imec0.ap_recording"
    (joined,) = run(gates, tmp_path / "joined", input="spikeglx", concatenate=True).jobs
    assert (joined.segment_mode, joined.n_segments) == ("concatenated", 1)
    assert joined.num_samples == sum(GATE_TRIGGER_SAMPLES.values())
    assert load_recording(joined, gates).get_num_samples() == joined.num_samples


def test_debug_clips_every_segment_ap_and_lfp(np1: Path, gates: Path, tmp_path: Path) -> None:
    (job,) = run(np1, tmp_path / "a", input="spikeglx", debug=True, debug_duration_s=0.02).jobs
    assert (job.debug, job.debug_duration_s, job.num_samples) == (True, 0.02, 600)
    assert load_recording(job, np1, lfp=True).get_num_samples() == 50  # 0.02 s at 2.5 kHz
    (whole,) = run(
        gates,
        tmp_path / "b",
        input="spikeglx",
        split_segments=False,
        debug=True,
        debug_duration_s=0.03,
    ).jobs
    loaded = load_recording(whole, gates)
    assert [loaded.get_num_samples(k) for k in range(4)] == [900, 900, 900, 800]
    assert whole.duration_s == pytest.approx(3500 / 30_000)


def test_min_duration_applies_to_the_job_after_split(gates: Path, tmp_path: Path) -> None:
    result = run(gates, tmp_path / "a", input="spikeglx", min_recording_duration_s=0.032)
    assert [j.segment for j in result.jobs] == [0, 1]  # 38.5 and 33.3 ms
    short = [s for s in result.skipped if s.segment is not None]
    assert [s.segment for s in short] == [2, 3]  # 30.0 and 26.7 ms
    assert short[0].reason == (
        "duration 0.030 s is below min_recording_duration 0.032 s (measured on the job, after "
        "split and clip)"
    )
    # clipped first (900, 900, 900, 800 samples), then filtered
    clipped = run(
        gates,
        tmp_path / "b",
        input="spikeglx",
        debug=True,
        debug_duration_s=0.03,
        min_recording_duration_s=0.029,
    )
    assert [(j.segment, j.num_samples) for j in clipped.jobs] == [(0, 900), (1, 900), (2, 900)]


def test_zero_jobs_is_an_error(gates: Path, tmp_path: Path) -> None:
    with pytest.raises(NoJobsError) as info:
        run(gates, tmp_path, input="spikeglx", min_recording_duration_s=10)
    message = info.value.message
    assert "no sorting job from" in message
    assert "/segment 0: duration 0.038 s is below min_recording_duration 10 s" in message
    assert info.value.exit_code == 4
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert (manifest["n_jobs"], manifest["max_duration_min"], len(manifest["skipped"])) == (
        0,
        None,
        5,
    )


def test_jobs_reload_from_another_directory_after_the_data_folder_moved(
    np1: Path,
    openephys: DispatchResult,
    real_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sglx = run(np1, tmp_path / "results", input="spikeglx")
    cases = [(np1, sglx.jobs), (real_data / OPENEPHYS_MULTI, openephys.jobs)]
    monkeypatch.chdir(tmp_path)
    for k, (data, jobs) in enumerate(cases):
        moved = tmp_path / f"new{k}" / "a" / "b" / "data"
        shutil.copytree(data, moved)
        for job in jobs:
            again = read_job(tmp_path / "results" / f"job_{job.job_id}.json") if k == 0 else job
            original, relocated = load_recording(again, data), load_recording(again, moved)
            np.testing.assert_array_equal(relocated.get_traces(), original.get_traces())
            if again.recording_lfp_dict is not None:
                assert load_recording(again, moved, lfp=True).get_num_samples() == 96


def test_multi_session_names_are_prefixed(np1: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for name in ("mouse_a", "mouse_b"):
        shutil.copytree(np1, data / name)
    with pytest.raises(DispatchParamsError, match=r"holds 2 sessions .* but multi_session is off"):
        run(data, tmp_path / "out", input="spikeglx")
    jobs = run(data, tmp_path / "out", input="spikeglx", multi_session=True).jobs
    assert [(j.session_name, j.recording_name, j.input_folder, j.multi_input) for j in jobs] == [
        (s, f"{s}__block0_imec0.ap_recording1", s, True) for s in ("mouse_a", "mouse_b")
    ]
    assert len({j.job_id for j in jobs}) == 2


def test_job_ids_are_stable_and_stale_files_removed(gates: Path, tmp_path: Path) -> None:
    first = run(gates, tmp_path, input="spikeglx")
    again = run(gates, tmp_path, input="spikeglx", debug=True, debug_duration_s=0.01)
    assert [j.job_id for j in again.jobs] == [j.job_id for j in first.jobs]
    whole = run(gates, tmp_path, input="spikeglx", split_segments=False)
    assert sorted(p.name for p in tmp_path.glob("job_*.json")) == [
        f"job_{whole.jobs[0].job_id}.json"
    ]
    assert len(whole.removed_stale) == 4


def test_run_folder_holding_two_runs_is_reported(np1: Path, gates: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(np1, data)
    for run_dir in gates.iterdir():  # mg_g0/ and mg_g1/ next to np1_g0/
        shutil.copytree(run_dir, data / run_dir.name)
    result = run(data, tmp_path / "out", input="spikeglx")
    assert [(j.block, j.block_index, j.input_folder) for j in result.jobs] == [("np1", 1, ".")]
    (clash,) = [s for s in result.skipped if s.block == "mg"]
    assert clash.reason.startswith(f"run folder {data} also holds run files of another run")
    assert "move each run into its own <run>_g<N> folder" in clash.reason


def test_run_with_unequal_segments_is_reported_not_fatal(
    real_data: Path, np1: Path, gates: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(np1, data / "good")
    shutil.copytree(gates, data / "broken")
    # an LF band for g0t0 only: the AP stream has 4 segments, the LF stream 1
    lf = imec_file(data / "broken", "mg", 0, 0, 0, "lf")
    write_bin(lf, np.zeros((96, N_SAVED), np.int16))
    write_meta(real_data / NOISE4SAM_LF_META, lf.with_suffix(".meta"), 96)
    result = run(data, tmp_path / "out", input="spikeglx", multi_session=True)
    assert [j.session_name for j in result.jobs] == ["good"]
    (broken,) = [s for s in result.skipped if s.session_name == "broken"]
    assert broken.reason.startswith("cannot read run: KeyError: (1, 'imec0.lf')")
    assert broken.reason.endswith(
        "(neo reads a run only when every gate/trigger holds the same streams, each .bin with "
        "its .meta)"
    )


def test_jobs_name_their_sync_line_as_a_session_ttl_source(
    openephys: DispatchResult, gates: Path, real_data: Path, tmp_path: Path
) -> None:
    from w2t_bkin.sources.ttl import load_ttl_channel

    first = openephys.jobs[0]
    (sync,) = first.sync_ttl
    events = "Record Node 101/experiment1/recording1/events/Neuropix-PXI-100.ProbeB/TTL"
    assert (sync.segment, sync.format, sync.path, sync.line) == (0, "openephys", events, 1)
    data = real_data / OPENEPHYS_MULTI
    edges = load_ttl_channel(
        "probe_b", data / sync.path, fmt=sync.format, line=sync.line, polarity="both"
    )
    assert edges.times_s.size == 1674  # the 1 Hz sync square wave, as the data manifest says

    (whole,) = run(gates, tmp_path, input="spikeglx", split_segments=False).jobs
    assert [(s.segment, s.format, s.path, s.line) for s in whole.sync_ttl] == [
        (k, "spikeglx", f"mg_g{g}/mg_g{g}_imec0/mg_g{g}_t{t}.imec0.ap.bin", 6)
        for k, (g, t) in enumerate(GATE_TRIGGER_SAMPLES)
    ]
