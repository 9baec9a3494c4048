"""TTL sources beyond the basic readers: Open Ephys 0.4.x, non-SpikeGLX ``.bin``, NWB series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.ttl import load_ttl_channel, nwb_series, read_nwb_ttl, read_openephys_events

OE044_EVENTS = (
    "openephys/ephy_testing_data_via_neuroconv/ephy_testing_data/openephysbinary/"
    "v0.4.4.1_with_video_tracking/experiment1/recording1/events"
)
IBL_VIDEO = "ttl/ibllib/ibllib/tests/extractors/data/session_ephys/raw_video_data"


# --- Open Ephys 0.4.x (legacy binary layout) -------------------------------------------------


def write_legacy_recording(
    root: Path, samples: list[int], states: list[int], rate_hz: float = 1000.0
) -> Path:
    """A 0.4.x recording folder with one TTL events folder; returns that folder."""
    folder = root / "recording1" / "events" / "Acq_Board-100.0" / "TTL_1"
    folder.mkdir(parents=True)
    np.save(folder / "timestamps.npy", np.asarray(samples, dtype=np.int64))
    np.save(folder / "channel_states.npy", np.asarray(states, dtype=np.int16))
    np.save(folder / "channels.npy", np.abs(np.asarray(states)).astype(np.uint16))
    oebin = {
        "GUI version": "0.4.4.1",
        "events": [{"folder_name": "Acq_Board-100.0/TTL_1/", "sample_rate": rate_hz}],
    }
    (root / "recording1" / "structure.oebin").write_text(json.dumps(oebin))
    return folder


@pytest.mark.parametrize(
    ("line", "polarity", "expected_samples"),
    [
        (1, "rising", [100, 700]),
        (1, "falling", [300]),
        (2, "both", [400, 500]),
        (1, "both", [100, 300, 700]),
    ],
)
def test_openephys_legacy_line_polarity_and_seconds(tmp_path, line, polarity, expected_samples):
    folder = write_legacy_recording(
        tmp_path, [100, 300, 400, 500, 700], [1, -1, 2, -2, 1], rate_hz=2000.0
    )
    expected_s = np.asarray(expected_samples, dtype=np.float64) / 2000.0
    np.testing.assert_array_equal(read_openephys_events(folder, line, polarity), expected_s)
    # the stream folder resolves to its single TTL_1 folder; auto format picks Open Ephys
    np.testing.assert_array_equal(read_openephys_events(folder.parent, line, polarity), expected_s)
    channel = load_ttl_channel("sync", folder.parent, line=line, polarity=polarity)
    np.testing.assert_array_equal(channel.times_s, expected_s)


def test_openephys_legacy_errors(tmp_path):
    folder = write_legacy_recording(tmp_path / "a", [10, 20], [3, -3])
    with pytest.raises(IngestError, match=r"no events on line 1; lines present: \[3\]"):
        read_openephys_events(folder, 1)
    np.save(folder / "channels.npy", np.array([3], dtype=np.uint16))
    with pytest.raises(IngestError, match=r"channels\.npy: 1 channels for 2 timestamps"):
        read_openephys_events(folder, 3)

    folder = write_legacy_recording(tmp_path / "b", [10, 20], [3, -3])
    (folder.parents[2] / "structure.oebin").unlink()
    with pytest.raises(IngestError, match=r"TTL_1: no structure\.oebin at .*sample numbers"):
        read_openephys_events(folder, 3)

    folder = write_legacy_recording(tmp_path / "c", [10, 20], [3, -3])
    oebin = folder.parents[2] / "structure.oebin"
    oebin.write_text(
        json.dumps({"events": [{"folder_name": "Other-1.0/TTL_1/", "sample_rate": 1}]})
    )
    with pytest.raises(
        IngestError, match=r"expected one events entry with folder_name 'Acq_Board-100\.0/TTL_1/'"
    ):
        read_openephys_events(folder, 3)
    oebin.write_text("{not json")
    with pytest.raises(IngestError, match=r"structure\.oebin: not a readable Open Ephys"):
        read_openephys_events(folder, 3)

    folder = write_legacy_recording(tmp_path / "d", [10, 20], [3, -3])
    np.save(folder / "timestamps.npy", np.array([0.1, 0.2]))
    with pytest.raises(
        IngestError, match=r"expected integer sample numbers .* found dtype float64"
    ):
        read_openephys_events(folder, 3)


def test_openephys_binary_and_text_event_folders_are_refused(tmp_path):
    stream = tmp_path / "events" / "Tracking_Port-127.0"
    for group in ("BINARY_group_1", "BINARY_group_2"):
        (stream / group).mkdir(parents=True)
        np.save(stream / group / "timestamps.npy", np.array([1, 2], dtype=np.int64))
    message = r"BINARY_group_1: holds Open Ephys binary events .*, not TTL edges"
    with pytest.raises(IngestError, match=message):
        read_openephys_events(stream, 1)
    with pytest.raises(IngestError, match=message):
        load_ttl_channel("t", stream / "BINARY_group_1", line=1)
    text = tmp_path / "events" / "Message_Center-904.0" / "TEXT_group_1"
    text.mkdir(parents=True)
    with pytest.raises(IngestError, match=r"holds Open Ephys text events \(GUI messages\)"):
        read_openephys_events(text.parent, 1)
    for name in ("TTL_1", "TTL_2"):
        (tmp_path / "two" / name).mkdir(parents=True)
    with pytest.raises(IngestError, match=r"two: holds several TTL folders \['TTL_1', 'TTL_2'\]"):
        read_openephys_events(tmp_path / "two", 1)


@pytest.mark.real_data
def test_real_openephys_044_ttl_events(real_data):
    folder = real_data / OE044_EVENTS / "Rhythm_FPGA-100.0" / "TTL_1"
    # ground truth straight from the raw arrays: 14 events, all on line 8 (bit 7 of the word)
    samples = np.load(folder / "timestamps.npy")
    states = np.load(folder / "channel_states.npy")
    words = np.load(folder / "full_words.npy")
    assert samples.shape == states.shape == (14,)
    assert sorted(set(np.abs(states).tolist())) == [8]
    assert np.count_nonzero(states == 8) == 7 and np.count_nonzero(states == -8) == 7
    np.testing.assert_array_equal(words[states == 8], 1 << 7)
    rate_hz = 30000.0  # "Rhythm FPGA 32 ch, 30 kHz" (MANIFEST C8)

    rising = read_openephys_events(folder, 8)
    np.testing.assert_array_equal(rising, samples[states == 8] / rate_hz)
    assert rising[0] == 1046013 / 30000.0  # acquisition-start clock, not recording start
    np.testing.assert_array_equal(read_openephys_events(folder, 8, "falling"), samples[1::2] / 3e4)
    both = read_openephys_events(folder.parent, 8, "both")
    np.testing.assert_array_equal(both, samples / rate_hz)
    assert both.size == 14
    np.testing.assert_allclose(np.diff(rising), 6998 / 30000.0)  # one pulse every 233.27 ms
    with pytest.raises(IngestError, match=r"no events on line 1; lines present: \[8\]"):
        read_openephys_events(folder, 1)


@pytest.mark.real_data
@pytest.mark.parametrize("name", ["Tracking_Port-127.0", "Tracking_Port-127.0/BINARY_group_2"])
def test_real_openephys_044_tracking_port_is_not_ttl(real_data, name):
    with pytest.raises(IngestError, match=r"BINARY_group_\d: holds Open Ephys binary events"):
        load_ttl_channel("t", real_data / OE044_EVENTS / name, line=1)


@pytest.mark.real_data
def test_real_openephys_044_empty_sync_port(real_data):
    folder = real_data / OE044_EVENTS / "Sync_Port-129.0"
    with pytest.raises(IngestError, match=r"no events on line 1; lines present: \[\]"):
        read_openephys_events(folder, 1)


# --- .bin files that are not SpikeGLX --------------------------------------------------------


@pytest.mark.parametrize("name", ["cam.GPIO.bin", "_iblrig_leftCamera.frame_counter.bin"])
@pytest.mark.parametrize("line", [None, 0])
def test_camera_log_bin_is_not_spikeglx(tmp_path, name, line):
    path = tmp_path / name
    np.arange(8, dtype=np.float64).tofile(path)
    with pytest.raises(IngestError, match=rf"{name}: not a SpikeGLX file: no \.meta") as info:
        load_ttl_channel("cam", path, line=line)
    hint = str(info.value.hint)
    assert "per-frame camera log" in hint and "no times" in hint
    assert "'frame_counter' key in [[cameras]]" in hint


def test_other_bin_without_meta(tmp_path):
    path = tmp_path / "pulses.bin"
    np.zeros(4, dtype=np.int16).tofile(path)
    with pytest.raises(IngestError, match=r"pulses\.bin: not a SpikeGLX file") as info:
        load_ttl_channel("x", path)
    assert "frame_counter" not in str(info.value.hint)
    assert "copy the .meta too" in str(info.value.hint)


@pytest.mark.real_data
@pytest.mark.parametrize(
    "name", ["_iblrig_bodyCamera.GPIO.bin", "_iblrig_bodyCamera.frame_counter.bin"]
)
def test_real_ibl_camera_logs_are_not_ttl(real_data, name):
    path = real_data / IBL_VIDEO / name
    assert path.is_file()
    with pytest.raises(IngestError, match="not a SpikeGLX file") as info:
        load_ttl_channel("cam", path, line=0)
    assert "declare it with the camera's 'frame_counter' key" in str(info.value.hint)
    with pytest.raises(IngestError, match="not a SpikeGLX file"):
        load_ttl_channel("cam", path)


# --- NWB TimeSeries --------------------------------------------------------------------------

MOCK_TTL_NWB = "nwb/neuroconv/tests/test_minimal/test_testing/test_mocks/mock_ttl_examples.nwb"
# The generator's parameters for each series (neuroconv tests/test_minimal/test_testing/
# test_mocks/test_ttl_signals.py): pulse onsets and widths in seconds, sampling rate in Hz.
MOCK_TTL_SERIES = {
    "DefaultTTLSignal": ([1.0, 3.0, 5.0], 1.0, 25000.0),
    "NonDefaultRegular": ([0.2, 1.2, 2.2], 0.3, 1000.0),
    "NonDefaultRegularAdjustedMeans": ([0.2, 1.2, 2.2], 0.3, 1000.0),
    "NonDefaultRegularFloats": ([0.2, 1.2, 2.2], 0.3, 1000.0),
    "FloatsAdjustedMeansAndNoise": ([0.2, 1.2, 2.2], 0.3, 1000.0),
    "NonDefaultRegularUInt16": ([0.2, 1.2, 2.2], 0.3, 1000.0),
    "IrregularShortPulses": ([0.22, 1.37], 0.25, 1000.0),
    "IrregularShortPulsesAdjustedNoise": ([0.22, 1.37], 0.25, 1000.0),
    "IrregularShortPulsesDifferentSeed": ([0.22, 1.37], 0.25, 1000.0),
}


def write_nwb(path: Path, series: dict[str, dict], module: dict[str, dict] | None = None) -> Path:
    """An NWB file with TimeSeries in acquisition (and a 'behavior' processing module)."""
    from datetime import UTC, datetime

    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    nwbfile = NWBFile("ttl test", "id-1", datetime(2024, 1, 1, tzinfo=UTC))
    for name, kwargs in series.items():
        nwbfile.add_acquisition(TimeSeries(name=name, unit="V", **kwargs))
    if module:
        behavior = nwbfile.create_processing_module("behavior", "test")
        for name, kwargs in module.items():
            behavior.add(TimeSeries(name=name, unit="V", **kwargs))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def crossings(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices k of upward (x[k-1] < level <= x[k]) and downward crossings of a level."""
    up = np.flatnonzero((values[:-1] < level) & (values[1:] >= level)) + 1
    down = np.flatnonzero((values[:-1] >= level) & (values[1:] < level)) + 1
    return up, down


@pytest.fixture(params=["exact", "histogram"])
def level_path(request, monkeypatch):
    """Levels from every sample in memory, or (a long recording) from a streamed histogram:
    the second is forced on short series by lowering the size limit of the first."""
    if request.param == "histogram":
        monkeypatch.setattr(nwb_series, "_NWB_LEVEL_SAMPLES", 10)
    return request.param


@pytest.mark.real_data
@pytest.mark.parametrize("name", sorted(MOCK_TTL_SERIES))
def test_real_nwb_mock_ttl_series(real_data, name, level_path):
    from pynwb import NWBHDF5IO

    path = real_data / MOCK_TTL_NWB
    with NWBHDF5IO(str(path), "r") as io:
        ts = io.read().acquisition[name]
        values = ts.data[:].astype(np.float64) * ts.conversion + ts.offset
        start_s, rate_hz = ts.starting_time, ts.rate
    assert ts.timestamps is None
    # independent computation: one threshold half-way between the extreme values
    up, down = crossings(values, (values.min() + values.max()) / 2)
    rising = read_nwb_ttl(path, name)
    falling = read_nwb_ttl(path, f"acquisition/{name}", "falling", chunk_samples=97)
    np.testing.assert_array_equal(rising, start_s + up / rate_hz)
    np.testing.assert_array_equal(falling, start_s + down / rate_hz)
    np.testing.assert_array_equal(
        load_ttl_channel(name, path, column=name, polarity="both").times_s,
        np.sort(np.concatenate([rising, falling])),
    )
    # and the generator's ground truth: pulse onsets and ends, to the sample
    onsets, width_s, generator_rate_hz = MOCK_TTL_SERIES[name]
    assert rate_hz == generator_rate_hz
    onset_idx = np.round(np.asarray(onsets) * rate_hz)
    end_idx = np.round((np.asarray(onsets) + width_s) * rate_hz)
    if name == "NonDefaultRegularUInt16":
        # neuroconv's uint16 mock puts the pulse level (~32675) BELOW the baseline (~32804):
        # the pulses are low-going, so their onsets are falling edges and rising edges end them
        np.testing.assert_array_equal(falling, onset_idx / rate_hz)
        np.testing.assert_array_equal(rising, end_idx / rate_hz)
    else:
        np.testing.assert_array_equal(rising, onset_idx / rate_hz)
        np.testing.assert_array_equal(falling, end_idx / rate_hz)


@pytest.mark.parametrize("chunk_samples", [1, 3, 7, 1000])
def test_nwb_hysteresis_one_edge_per_noisy_transition(tmp_path, chunk_samples):
    # a noisy edge dithers around the 0.5 midpoint before settling; one edge each way
    low, high = np.zeros(200), np.ones(200)
    rise = [0.45, 0.55, 0.45, 0.55, 0.7]  # crosses 0.5 upwards at offsets 1 and 3
    fall = [0.55, 0.45, 0.55, 0.45, 0.3]  # crosses 0.5 downwards at offsets 1 and 3
    values = np.concatenate([low, rise, high, fall, low])
    timestamps = 10.0 + np.cumsum(np.full(values.size, 0.01))
    path = write_nwb(tmp_path / "s.nwb", {"sync": {"data": values, "timestamps": timestamps}})
    rise_idx, fall_idx = 200 + 3, 200 + 5 + 200 + 3  # last crossing before the level is reached
    np.testing.assert_array_equal(
        read_nwb_ttl(path, "sync", chunk_samples=chunk_samples), timestamps[[rise_idx]]
    )
    np.testing.assert_array_equal(
        read_nwb_ttl(path, "sync", "both", chunk_samples=chunk_samples),
        timestamps[[rise_idx, fall_idx]],
    )
    up, _ = crossings(values, 0.5)
    assert up.tolist() == [201, 203, 407]  # a bare threshold: three rising edges, one pulse


def test_nwb_threshold_rate_conversion_and_paths(tmp_path):
    # a slow ramp between levels 0 and 100 raw counts; conversion 0.01 V/count, offset 1 V
    values = np.concatenate([np.zeros(400), np.arange(0, 101, 10), np.full(400, 100)])
    series = {"data": values.astype(np.int16), "rate": 100.0, "starting_time": 2.0}
    series |= {"conversion": 0.01, "offset": 1.0}
    path = write_nwb(tmp_path / "r.nwb", {"ttl": series}, module={"ttl2": series})
    # default threshold: midpoint 1.5 V, reached at ramp sample 5 (index 405)
    assert read_nwb_ttl(path, "acquisition/ttl").tolist() == [2.0 + 405 / 100.0]
    # a threshold of 1.75 V in the series' unit: first sample >= 75 counts is ramp sample 8
    assert read_nwb_ttl(path, "ttl", threshold=1.75).tolist() == [2.0 + 408 / 100.0]
    assert read_nwb_ttl(path, "/processing/behavior/ttl2").tolist() == [2.0 + 405 / 100.0]
    with pytest.raises(IngestError, match=r"threshold 2\.5 is not between .* levels 1 and 2"):
        read_nwb_ttl(path, "ttl", threshold=2.5)


def test_nwb_series_selection_errors(tmp_path):
    pulse = {"data": np.repeat([0.0, 1.0, 0.0], 100), "rate": 10.0}
    path = write_nwb(tmp_path / "a.nwb", {"camera_ttl": pulse, "x": pulse}, module={"x": pulse})
    with pytest.raises(IngestError, match=r"an NWB TTL source needs the TimeSeries to read"):
        load_ttl_channel("c", path)
    with pytest.raises(IngestError, match=r"no TimeSeries 'camera_tt'; the file holds") as info:
        read_nwb_ttl(path, "camera_tt")
    assert "did you mean 'camera_ttl'?" in str(info.value.hint)
    with pytest.raises(IngestError, match=r"several TimeSeries are named 'x'"):
        read_nwb_ttl(path, "x")
    assert read_nwb_ttl(path, "processing/behavior/x").tolist() == [10.0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((50, 2)), r"data have shape \(50, 2\), expected one channel"),
        (np.full(50, 3.0), r"the signal is constant \(about 3\); it has no pulses"),
        (np.sin(np.linspace(0, 20, 2000)), r"not a two-level TTL signal: 2\d\.\d% of the values"),
        (np.array([1.0]), r"1 sample\(s\), no edges"),
        (np.array([0.0, np.nan, 1.0]), r"holds NaN or infinite values"),
    ],
)
def test_nwb_series_without_meaningful_edges(tmp_path, data, message, level_path):
    path = write_nwb(tmp_path / "bad.nwb", {"sig": {"data": data, "rate": 10.0}})
    with pytest.raises(IngestError, match=rf"bad\.nwb: TimeSeries 'sig': {message}"):
        read_nwb_ttl(path, "sig")


@pytest.mark.parametrize("chunk_samples", [7_777, 1_000_000])
def test_nwb_pulses_narrower_than_any_stride_are_all_found(tmp_path, chunk_samples, monkeypatch):
    # A long recording's levels were once estimated from every k-th sample: a train of pulses
    # narrower than k (1 ms pulses at 30 kHz in a 1-hour file: k = 54) could be stepped over
    # entirely ("the signal is constant"). 3-sample pulses every 90 samples against the old
    # stride of 45, with the in-memory limit lowered so that this short file is "long".
    monkeypatch.setattr(nwb_series, "_NWB_LEVEL_SAMPLES", 20_000)
    n = 900_000
    values = np.zeros(n, dtype=np.float32)
    for k in range(3):
        values[1 + k :: 90] = 5.0
    path = write_nwb(tmp_path / "narrow.nwb", {"sync": {"data": values, "rate": 30_000.0}})
    up, _ = crossings(values.astype(np.float64), 2.5)
    edges = read_nwb_ttl(path, "sync", chunk_samples=chunk_samples)
    assert up.size == n // 90
    np.testing.assert_array_equal(edges, up / 30_000.0)


def test_nwb_histogram_levels_match_the_exact_ones(tmp_path):
    # a noisy two-level signal with glitches: both level estimates agree to within one bin
    rng = np.random.default_rng(5)
    values = np.repeat(rng.integers(0, 2, 400), 250).astype(np.float64) * 3.3
    values += rng.normal(0.0, 0.05, values.size)
    values[rng.integers(0, values.size, 20)] = 12.0  # glitches far above the high level
    exact = nwb_series._ExactLevels(values)
    histogram = nwb_series._HistogramLevels.of(lambda a, b: values[a:b], values.size, 9_999)
    bin_width = (values.max() - values.min()) / nwb_series._NWB_LEVEL_BINS
    q = nwb_series._NWB_LEVEL_PERCENTILES
    np.testing.assert_allclose(histogram.percentiles(q), exact.percentiles(q), atol=bin_width)
    for lo, hi in ((-np.inf, 1.65), (1.65, np.inf)):
        assert abs(histogram.median(lo, hi) - exact.median(lo, hi)) <= bin_width
    lo, hi = 0.02, 3.25  # inside the noise of both levels: thousands of values between
    inside = exact.count_inside(lo, hi)
    edge_bins = sum(int(np.count_nonzero(np.abs(values - v) <= bin_width)) for v in (lo, hi))
    assert inside > 10_000
    assert inside - edge_bins <= histogram.count_inside(lo, hi) <= inside
    assert histogram.size == values.size and histogram.all_finite


def test_nwb_not_an_nwb_file(tmp_path):
    path = tmp_path / "fake.nwb"
    path.write_text("not hdf5")
    with pytest.raises(IngestError, match=r"fake\.nwb: not a readable NWB file"):
        load_ttl_channel("x", path, column="sig")
