"""TTL sources beyond the basic readers: Open Ephys 0.4.x, non-SpikeGLX ``.bin``, NWB series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.ttl import load_ttl_channel, read_openephys_events

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
