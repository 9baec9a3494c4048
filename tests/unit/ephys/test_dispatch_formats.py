"""Dispatch of NWB, AIND and SpikeInterface inputs (generated files and real sample data)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from w2t_bkin.ephys.dispatch import DispatchResult, dispatch
from w2t_bkin.ephys.errors import NoJobsError
from w2t_bkin.ephys.jobs import load_recording
from w2t_bkin.ephys.params import resolve_params

from .conftest import save_binary_recording
from .layouts import OPENEPHYS_MULTI, SPIKEGLX

PROBE_B = "Record Node 101#Neuropix-PXI-100.ProbeB"


def run(data: Path, results: Path, **flags: Any) -> DispatchResult:
    return dispatch(data, results, resolve_params(flags).params)


def write_two_shank_nwb(path: Path, n_samples: int = 3000) -> np.ndarray:
    """Two electrode groups of 4 channels with rel_x/rel_y, a 30 kHz acquisition series and a
    1 kHz LFP series on the same electrodes; returns the acquisition data."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import LFP, ElectricalSeries

    nwb = NWBFile("two shanks", "nwb-1", datetime(2024, 1, 1, tzinfo=UTC))
    device = nwb.create_device("probe")
    nwb.add_electrode_column("rel_x", "x on the probe (um)")
    nwb.add_electrode_column("rel_y", "y on the probe (um)")
    groups = [nwb.create_electrode_group(f"shank{k}", "a shank", "CA1", device) for k in range(2)]
    for i in range(8):
        nwb.add_electrode(
            group=groups[i // 4], location="CA1", rel_x=200.0 * (i // 4), rel_y=20.0 * (i % 4)
        )
    data = np.random.default_rng(5).integers(-100, 100, (n_samples, 8)).astype(np.int16)
    region = nwb.create_electrode_table_region(list(range(8)), "all electrodes")
    nwb.add_acquisition(
        ElectricalSeries(name="ElectricalSeries", data=data, electrodes=region, rate=30_000.0)
    )
    lfp_region = nwb.create_electrode_table_region(list(range(8)), "all electrodes")
    lfp = ElectricalSeries(
        name="ElectricalSeriesLFP", data=data[::30], electrodes=lfp_region, rate=1_000.0
    )
    nwb.create_processing_module("ecephys", "LFP").add(LFP(electrical_series=lfp))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return data


def test_nwb_groups_split_by_electrode_group_with_lfp_partner(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data = write_two_shank_nwb(data_dir / "sess_1.nwb")

    result = run(data_dir, tmp_path / "out", input="nwb")

    assert [(j.session_name, j.group, j.recording_name) for j in result.jobs] == [
        ("sess_1", g, f"block0_acquisition-ElectricalSeries_recording1_group{g}")
        for g in ("shank0", "shank1")
    ]
    lfp_path = "processing/ecephys/LFP/ElectricalSeriesLFP"
    assert {(s.stream, s.reason) for s in result.skipped} == {
        (lfp_path, "excluded by exclude_streams rule 'LFP'")
    }
    for k, job in enumerate(result.jobs):
        assert job.lfp_stream == lfp_path
        assert '"file_path": "sess_1.nwb"' in json.dumps(job.recording_dict)
        traces = load_recording(job, data_dir).get_traces()
        np.testing.assert_array_equal(traces, data[:, 4 * k : 4 * k + 4])
        assert load_recording(job, data_dir, lfp=True).get_num_samples() == 100


def test_nwb_without_channel_locations_says_why(real_data: Path, tmp_path: Path) -> None:
    folder = real_data / "nwb/ephy_testing_data_via_neuroconv/ephy_testing_data/nwb"
    with pytest.raises(NoJobsError) as info:
        run(folder, tmp_path, input="nwb", nwb_files=("ecephys_tutorial_v2.5.0.nwb",))
    assert (
        "ecephys_tutorial_v2.5.0/block0/acquisition/ElectricalSeries: no channel locations (no "
        "probe): a spike sorter needs them"
    ) in info.value.message


def test_aind_layout_reads_compressed_zarr_and_names_the_session(
    real_data: Path, tmp_path: Path
) -> None:
    import spikeinterface.extractors as se

    session = tmp_path / "data" / "ecephys_123_2024-01-01"
    clipped = session / "ecephys" / "ecephys_clipped"
    shutil.copytree(real_data / OPENEPHYS_MULTI, clipped)
    source = se.read_openephys(str(clipped), stream_name=PROBE_B, experiment_name="experiment3")
    zarr = session / "ecephys" / "ecephys_compressed" / f"experiment3_{PROBE_B}.zarr"
    source.save(format="zarr", folder=zarr, verbose=False)
    (session / "data_description.json").write_text(json.dumps({"name": "ecephys_123_named"}))

    result = run(tmp_path / "data", tmp_path / "out", input="aind")

    (job,) = result.jobs
    assert (job.session_name, job.block, job.stream) == (
        "ecephys_123_named",
        "experiment3",
        PROBE_B,
    )
    assert job.recording_dict["kwargs"]["folder_path"] == (
        f"ecephys_123_2024-01-01/ecephys/ecephys_compressed/experiment3_{PROBE_B}.zarr"
    )
    np.testing.assert_array_equal(
        load_recording(job, tmp_path / "data").get_traces(), source.get_traces()
    )
    no_zarr = [s for s in result.skipped if s.reason.startswith("no compressed recording")]
    assert len(no_zarr) == 5  # 3 experiments x 2 probes, one of them compressed


def test_spikeinterface_reader_enumerates_neo_streams_by_name(
    real_data: Path, tmp_path: Path
) -> None:
    info = {
        "reader_type": "spikeglx",
        "reader_kwargs": {"folder_path": "Noise4Sam_g0"},
        "skip_stream_substrings": ["nidq", "SYNC"],
    }
    result = run(
        real_data / SPIKEGLX, tmp_path, input="spikeinterface", spikeinterface_info=json.dumps(info)
    )
    assert [(j.stream, j.recording_name, j.num_channels) for j in result.jobs] == [
        ("imec0.ap", "block0_imec0.ap_recording1", 384)
    ]
    assert sorted(s.stream or "" for s in result.skipped) == ["imec0.ap-SYNC", "nidq"]
    assert result.jobs[0].recording_dict["kwargs"]["folder_path"] == "Noise4Sam_g0"


def test_spikeinterface_universal_loads_sorted_datasets(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for name in ("b_rec", "a_rec"):
        save_binary_recording(data_dir / name, duration_s=0.2)
    (data_dir / "c_notes").mkdir()  # not a dataset: reported, never silently dropped
    info = {"reader_type": "spikeinterface"}
    result = run(
        data_dir, tmp_path / "out", input="spikeinterface", spikeinterface_info=json.dumps(info)
    )
    assert [(j.block, j.stream, j.session_name, j.num_samples) for j in result.jobs] == [
        ("block0", "a_rec", "session0", 2000),
        ("block1", "b_rec", "session0", 2000),
    ]
    ((stream, reason),) = [(s.stream, s.reason) for s in result.skipped]
    assert stream == "c_notes" and reason.startswith("cannot dispatch: ")


def test_stream_rules_apply_to_spikeinterface_datasets(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for name in ("a_rec", "b_rec", "c_rec"):
        save_binary_recording(data_dir / name, duration_s=0.2)
    info = json.dumps({"reader_type": "spikeinterface"})
    result = run(
        data_dir,
        tmp_path / "out",
        input="spikeinterface",
        spikeinterface_info=info,
        include_streams=("a_rec", "b_rec"),
        exclude_streams=("^b",),
    )
    assert [j.stream for j in result.jobs] == ["a_rec"]
    assert sorted((s.stream, s.reason) for s in result.skipped) == [
        ("b_rec", "excluded by exclude_streams rule '^b'"),
        ("c_rec", "not matched by include_streams ['a_rec', 'b_rec']"),
    ]


def test_probe_file_is_attached_in_place(tmp_path: Path) -> None:
    from probeinterface import generate_linear_probe, write_probeinterface

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    traces = np.arange(4000, dtype="int16").reshape(1000, 4)
    traces.tofile(data_dir / "raw.bin")
    probe = generate_linear_probe(num_elec=4, ypitch=25)
    probe.set_device_channel_indices([0, 1, 2, 3])
    write_probeinterface(data_dir / "probe.json", probe)
    info = {
        "reader_type": "binary",
        "reader_kwargs": {
            "file_paths": ["raw.bin"],
            "sampling_frequency": 20_000.0,
            "num_channels": 4,
            "dtype": "int16",
        },
        "probe_paths": "probe.json",
    }
    (job,) = run(
        data_dir, tmp_path / "out", input="spikeinterface", spikeinterface_info=json.dumps(info)
    ).jobs
    loaded = load_recording(job, data_dir)
    np.testing.assert_array_equal(loaded.get_channel_locations()[:, 1], [0, 25, 50, 75])
    np.testing.assert_array_equal(loaded.get_traces(), traces)


def test_duplicate_session_names_do_not_collide(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for folder in ("rig_a", "rig_b"):
        (data_dir / folder).mkdir(parents=True)
        write_two_shank_nwb(data_dir / folder / "sess.nwb", n_samples=300)
    jobs = run(data_dir, tmp_path / "out", input="nwb", multi_session=True, split_groups=False).jobs
    names = ("rig_a-sess", "rig_b-sess")
    assert [(j.session_name, j.recording_name) for j in jobs] == [
        (s, f"{s}__block0_acquisition-ElectricalSeries_recording1") for s in names
    ]
