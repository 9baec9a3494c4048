"""TTL readers: exact values against ground truth, error messages naming file and line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w2t_bkin.errors import DataQualityWarning, IngestError
from w2t_bkin.sources.ttl import (
    TTLChannel,
    load_ttl_channel,
    read_bonsai_timestamps,
    read_openephys_events,
    read_spikeglx_digital,
    read_spikeglx_meta,
    read_ttl_csv,
    read_ttl_npy,
    read_ttl_text,
)

OE_EVENTS = (
    "openephys/aind-data-transfer/tests/resources/v0.6.x_neuropixels_multiexp_multistream/"
    "Record Node 101/experiment1/recording1/events"
)
NIDQ_BIN = (
    "spikeglx/ephy_testing_data_via_neuroconv/ephy_testing_data/spikeglx/DigitalChannelTest_g0/"
    "DigitalChannelTest_g0_t0.nidq.bin"
)
BONSAI_SSV = (
    "ttl/ibllib/ibllib/tests/extractors/data/session_ephys/raw_video_data/"
    "_iblrig_bodyCamera.timestamps.ssv"
)


def write_text(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


# --- text ------------------------------------------------------------------------------------


def test_text_skips_blanks_and_comments_and_reads_last_line_without_newline(tmp_path):
    path = write_text(
        tmp_path / "ttl.txt",
        "# edges from TPrime\n0.5\n\n1.25  # trailing note\r\n   \n2.0\n2.0\n3.125",
    )
    np.testing.assert_array_equal(read_ttl_text(path), [0.5, 1.25, 2.0, 2.0, 3.125])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.floats(min_value=0, max_value=1e5, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=50,
    )
)
def test_text_round_trip_is_exact(tmp_path_factory, values):
    times_s = np.sort(np.asarray(values, dtype=np.float64))
    path = tmp_path_factory.mktemp("rt") / "ttl.txt"
    path.write_text("\n".join(repr(float(v)) for v in times_s) + "\n")
    np.testing.assert_array_equal(read_ttl_text(path), times_s)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"# header\n0.1\n\n0.2x\n0.3\n",
         r"line 4: expected a timestamp in seconds, found '0\.2x'"),
        (b"0.1\n0.2 0.3\n0.4\n", r"line 2: expected one timestamp per line, found 2"),
        # a one-line file with two numbers is not two timestamps
        (b"0.1 0.2\n", r"line 1: expected one timestamp per line, found 2"),
        (b"1.0\n2.0\n# gap\n3.0\n2.5\n1.0\n",
         r"line 5: time decreases from 3\.0 to 2\.5 s\n  hint: .*must be non-decreasing"),
        (b"1.0\n\nnan\n", r"line 3: timestamp is nan"),
        (b"\x00\xff\xfe\x01binary", r"line 1: expected a timestamp"),
    ],
    ids=["non-numeric", "two-fields", "one-line-two-fields", "decreasing", "nan", "binary"],
)  # fmt: skip
def test_text_bad_line_names_file_and_line(tmp_path, content, match):
    path = tmp_path / "cue.txt"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=rf"cue\.txt: {match}"):
        read_ttl_text(path)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_text_without_timestamps_is_an_error(tmp_path, text):
    path = write_text(tmp_path / "empty.txt", text)
    with pytest.raises(IngestError, match=r"empty\.txt: no timestamps found"):
        read_ttl_text(path)


def test_text_missing_file(tmp_path):
    with pytest.raises(IngestError, match=r"absent\.txt: TTL file not found"):
        read_ttl_text(tmp_path / "absent.txt")


# --- CSV -------------------------------------------------------------------------------------


def test_csv_reads_named_column(tmp_path):
    path = write_text(tmp_path / "ttl.csv", "frame,time_s,state\n0,0.10,1\n\n1,0.20,1\n2,0.35,1")
    np.testing.assert_array_equal(read_ttl_csv(path, "time_s"), [0.10, 0.20, 0.35])


def test_csv_unknown_column_suggests_closest(tmp_path):
    path = write_text(tmp_path / "ttl.csv", "frame,time_s\n0,0.1\n")
    with pytest.raises(IngestError, match=r"no column 'times'.*\['frame', 'time_s'\]") as info:
        read_ttl_csv(path, "times")
    assert "did you mean 'time_s'?" in str(info.value)


@pytest.mark.parametrize("bad_row", ["2,0.3,9", "2"])
def test_csv_ragged_row_names_line(tmp_path, bad_row):
    path = write_text(tmp_path / "ttl.csv", f"frame,time_s\n0,0.1\n1,0.2\n{bad_row}\n3,0.4\n")
    with pytest.raises(IngestError, match=r"ttl\.csv: line 4: expected 2 fields like the header"):
        read_ttl_csv(path, "time_s")


def test_csv_non_numeric_cell_names_line(tmp_path):
    path = write_text(tmp_path / "ttl.csv", "frame,time_s\n0,0.1\n1,oops\n")
    with pytest.raises(IngestError, match=r"line 3: column 'time_s' holds 'oops'"):
        read_ttl_csv(path, "time_s")


def test_csv_header_only_and_empty_file(tmp_path):
    with pytest.raises(IngestError, match="no timestamps found"):
        read_ttl_csv(write_text(tmp_path / "a.csv", "frame,time_s\n"), "time_s")
    with pytest.raises(IngestError, match="no header row"):
        read_ttl_csv(write_text(tmp_path / "b.csv", ""), "time_s")


def test_csv_unsorted_names_line(tmp_path):
    path = write_text(tmp_path / "ttl.csv", "time_s\n0.1\n0.3\n0.2\n")
    with pytest.raises(IngestError, match=r"line 4: time decreases from 0\.3 to 0\.2"):
        read_ttl_csv(path, "time_s")


# --- NumPy and Open Ephys --------------------------------------------------------------------


def test_npy_float_times(tmp_path):
    path = tmp_path / "frames.npy"
    np.save(path, np.array([0.0, 0.5, 1.5], dtype=np.float32))
    out = read_ttl_npy(path)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.0, 0.5, 1.5])


def test_npy_integers_are_refused_as_sample_numbers(tmp_path):
    path = tmp_path / "samples.npy"
    np.save(path, np.array([10, 20, 30]))
    with pytest.raises(IngestError, match=r"expected float times in seconds, found dtype int64"):
        read_ttl_npy(path)


def test_npy_two_dimensional_and_pickled_arrays_are_refused(tmp_path):
    np.save(tmp_path / "table.npy", np.zeros((3, 2)))
    with pytest.raises(IngestError, match=r"expected a 1-D array, found shape \(3, 2\)"):
        read_ttl_npy(tmp_path / "table.npy")
    np.save(tmp_path / "objects.npy", np.array([{"t": 1.0}], dtype=object), allow_pickle=True)
    with pytest.raises(IngestError, match=r"objects\.npy: not a readable \.npy array"):
        read_ttl_npy(tmp_path / "objects.npy")


def test_npy_falling_without_states_is_an_error(tmp_path):
    np.save(tmp_path / "t.npy", np.array([0.1, 0.2]))
    with pytest.raises(IngestError, match="a plain array of times has no falling edges"):
        read_ttl_npy(tmp_path / "t.npy", polarity="falling")


def write_oe_events(folder: Path, times_s, states, *, with_samples: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "timestamps.npy", np.asarray(times_s, dtype=np.float64))
    np.save(folder / "states.npy", np.asarray(states, dtype=np.int16))
    if with_samples:
        np.save(folder / "sample_numbers.npy", np.arange(len(states), dtype=np.int64))
    return folder


OE_TIMES = [1.0, 1.2, 1.5, 1.7, 2.0, 2.4, 2.5]
OE_STATES = [1, 2, -1, -2, 1, 2, -1]


@pytest.mark.parametrize(
    ("line", "polarity", "expected"),
    [
        (1, "rising", [1.0, 2.0]),
        (1, "falling", [1.5, 2.5]),
        (1, "both", [1.0, 1.5, 2.0, 2.5]),
        (2, "rising", [1.2, 2.4]),
        (2, "falling", [1.7]),
    ],
)
def test_openephys_line_and_polarity_selection(tmp_path, line, polarity, expected):
    folder = write_oe_events(tmp_path / "events" / "stream" / "TTL", OE_TIMES, OE_STATES)
    np.testing.assert_array_equal(read_openephys_events(folder, line, polarity), expected)
    # the stream folder (parent of TTL/) and the npy reader give the same edges
    np.testing.assert_array_equal(read_openephys_events(folder.parent, line, polarity), expected)
    np.testing.assert_array_equal(
        read_ttl_npy(folder / "timestamps.npy", line=line, polarity=polarity), expected
    )


def test_openephys_absent_line_lists_lines_present(tmp_path):
    folder = write_oe_events(tmp_path / "TTL", OE_TIMES, OE_STATES)
    with pytest.raises(IngestError, match=r"no events on line 3; lines present: \[1, 2\]"):
        read_openephys_events(folder, 3)


def test_openephys_length_mismatches(tmp_path):
    folder = write_oe_events(tmp_path / "a", OE_TIMES, OE_STATES[:-1], with_samples=False)
    with pytest.raises(IngestError, match=r"6 states for 7 timestamps"):
        read_openephys_events(folder, 1)
    folder = write_oe_events(tmp_path / "b", OE_TIMES, OE_STATES)
    np.save(folder / "sample_numbers.npy", np.arange(3))
    with pytest.raises(IngestError, match=r"7 timestamps but 3 sample numbers"):
        read_openephys_events(folder, 1)


def test_openephys_missing_and_legacy_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match=r"missing \['timestamps\.npy', 'states\.npy'\]"):
        read_openephys_events(tmp_path / "empty", 1)
    legacy = tmp_path / "TTL_1"
    legacy.mkdir()
    np.save(legacy / "channel_states.npy", np.array([1, -1]))
    with pytest.raises(IngestError, match=r"TTL_1/timestamps\.npy: TTL file not found"):
        read_openephys_events(legacy, 1)


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("stream", "n_edges"),
    [("Neuropix-PXI-100.ProbeB", 1674), ("Neuropix-PXI-100.ProbeC", 1674)],
)
def test_real_openephys_probe_sync_edges(real_data, stream, n_edges):
    folder = real_data / OE_EVENTS / stream / "TTL"
    both = read_openephys_events(folder, 1, "both")
    rising = read_openephys_events(folder, 1, "rising")

    assert both.size == n_edges
    assert rising.size == n_edges // 2
    # 1 Hz square wave: one edge every 0.5 s, from 62 s to 899 s
    np.testing.assert_allclose(np.diff(both), 0.5, atol=1e-3)
    np.testing.assert_allclose(np.diff(rising), 1.0, atol=5e-4)
    assert 62.0 < both[0] < 62.5 and 898.5 < both[-1] < 899.0


@pytest.mark.real_data
def test_real_openephys_nidaq_two_lines(real_data):
    folder = real_data / OE_EVENTS / "NI-DAQmx-103.PXIe-6341" / "TTL"
    line1 = read_openephys_events(folder, 1, "both")
    line2 = read_openephys_events(folder, 2, "both")

    assert line1.size + line2.size == 2394
    assert line1.size == 1674
    np.testing.assert_allclose(np.diff(read_openephys_events(folder, 1)), 1.0, atol=5e-4)


# --- SpikeGLX --------------------------------------------------------------------------------

RATE_HZ = 1000.0


def write_nidq(
    folder: Path, words: np.ndarray, *, n_analog: int = 2, meta_extra: dict | None = None
) -> Path:
    """Write a NIDQ .bin/.meta pair: ``n_analog`` XA channels then one digital word."""
    n = words.shape[0]
    data = np.zeros((n, n_analog + 1), dtype=np.int16)
    data[:, :n_analog] = np.arange(n)[:, None] % 1000  # analog content must not leak in
    data[:, -1] = words.astype(np.uint16).view(np.int16)
    bin_path = folder / "run_g0_t0.nidq.bin"
    data.tofile(bin_path)
    meta = {
        "nSavedChans": str(n_analog + 1),
        "niSampRate": f"{RATE_HZ:g}",
        "snsMnMaXaDw": f"0,0,{n_analog},1",
        "fileSizeBytes": str(data.nbytes),
        "niXDChans1": "0:7",
        "~snsChanMap": "(0,0,2,0,1)(XA0;0:0)",
    }
    meta.update(meta_extra or {})
    bin_path.with_suffix(".meta").write_text("".join(f"{k}={v}\n" for k, v in meta.items()))
    return bin_path


def digital_words() -> tuple[np.ndarray, dict[tuple[int, str], np.ndarray]]:
    """1000 samples: bit 3 pulses, bit 15 (the int16 sign bit) pulses, bit 0 high at start."""
    words = np.zeros(1000, dtype=np.uint16)
    rising3 = np.array([10, 64, 128, 500, 999])  # 64 and 128 sit on chunk boundaries
    for start in rising3:
        words[start : start + 5] |= 1 << 3
    words[200:300] |= 1 << 15
    words[:50] |= 1  # high before the recording: no rising edge at sample 0
    truth = {
        (3, "rising"): rising3,
        (3, "falling"): np.array([15, 69, 133, 505]),
        (15, "both"): np.array([200, 300]),
        (0, "rising"): np.array([], dtype=np.int64),
        (0, "falling"): np.array([50]),
    }
    return words, truth


@pytest.mark.parametrize("chunk_samples", [1, 7, 64, 1_000_000])
def test_spikeglx_edges_match_ground_truth_for_any_chunking(tmp_path, chunk_samples):
    words, truth = digital_words()
    bin_path = write_nidq(tmp_path, words)
    for (line, polarity), samples in truth.items():
        times_s = read_spikeglx_digital(bin_path, line, polarity, chunk_samples=chunk_samples)
        np.testing.assert_array_equal(times_s, samples / RATE_HZ)
        assert times_s.dtype == np.float64


def test_spikeglx_files_of_one_run_merge_on_the_run_clock(tmp_path):
    # A run split into two trigger files: the second starts at run sample 5000.
    words, truth = digital_words()
    (tmp_path / "t0").mkdir()
    (tmp_path / "t1").mkdir()
    first = write_nidq(tmp_path / "t0", words, meta_extra={"firstSample": "1000"})
    second = write_nidq(tmp_path / "t1", words, meta_extra={"firstSample": "5000"})

    channel = load_ttl_channel("sync", [second, first], fmt="spikeglx", line=3)

    expected = np.concatenate([truth[(3, "rising")] + 1000, truth[(3, "rising")] + 5000])
    np.testing.assert_array_equal(channel.times_s, expected / RATE_HZ)
    assert channel.n_duplicates_dropped == 0


def test_spikeglx_bad_first_sample_names_meta_key(tmp_path):
    words, _ = digital_words()
    bin_path = write_nidq(tmp_path, words, meta_extra={"firstSample": "-3"})
    with pytest.raises(IngestError, match=r"run_g0_t0\.nidq\.meta: firstSample='-3' is not"):
        read_spikeglx_digital(bin_path, 3)


def test_spikeglx_meta_keeps_tilde_keys(tmp_path):
    words, _ = digital_words()
    meta = read_spikeglx_meta(write_nidq(tmp_path, words).with_suffix(".meta"))
    assert meta["~snsChanMap"] == "(0,0,2,0,1)(XA0;0:0)"
    assert meta["niSampRate"] == "1000"


def test_spikeglx_missing_meta(tmp_path):
    bin_path = tmp_path / "run.nidq.bin"
    np.zeros(10, dtype=np.int16).tofile(bin_path)
    with pytest.raises(
        IngestError, match=r"run\.nidq\.bin: not a SpikeGLX file: no \.meta file next to it"
    ) as info:
        read_spikeglx_digital(bin_path, 0)
    assert "copy the .meta too" in str(info.value.hint)


def test_spikeglx_line_out_of_range(tmp_path):
    words, _ = digital_words()
    bin_path = write_nidq(tmp_path, words)
    with pytest.raises(IngestError, match=r"line 16 is out of range.*lines 0\.\.15"):
        read_spikeglx_digital(bin_path, 16)


def test_spikeglx_meta_without_nidq_keys(tmp_path):
    words, _ = digital_words()
    bin_path = write_nidq(tmp_path, words)
    meta = bin_path.with_suffix(".meta")
    meta.write_text("\n".join(ln for ln in meta.read_text().splitlines() if "niSampRate" not in ln))
    with pytest.raises(IngestError, match=r"\.meta: missing key niSampRate"):
        read_spikeglx_digital(bin_path, 3)


def test_spikeglx_partial_time_point_is_an_error(tmp_path):
    words, _ = digital_words()
    bin_path = write_nidq(tmp_path, words)
    with bin_path.open("ab") as handle:
        handle.write(b"\x00\x00")
    with pytest.raises(IngestError, match=r"size 6002 bytes is not a multiple of 6"):
        read_spikeglx_digital(bin_path, 3)


def test_spikeglx_size_differing_from_meta_warns(tmp_path):
    words, truth = digital_words()
    bin_path = write_nidq(tmp_path, words, meta_extra={"fileSizeBytes": "12000"})
    with pytest.warns(DataQualityWarning, match="differs from fileSizeBytes=12000"):
        times_s = read_spikeglx_digital(bin_path, 3)
    np.testing.assert_array_equal(times_s, truth[(3, "rising")] / RATE_HZ)


@pytest.mark.real_data
def test_real_spikeglx_nidq_1hz_pulses(real_data):
    times_s = read_spikeglx_digital(real_data / NIDQ_BIN, 0, chunk_samples=100_000)

    assert times_s.size == 163
    # sample 234 of the file, which starts at run sample firstSample=29752, at 2500 Hz
    assert times_s[0] == pytest.approx((29752 + 234) / 2500)
    np.testing.assert_allclose(np.diff(times_s), 1.0, atol=1 / 2500)
    assert read_spikeglx_digital(real_data / NIDQ_BIN, 1).size == 0


# --- Bonsai ----------------------------------------------------------------------------------


@pytest.mark.real_data
def test_real_bonsai_camera_log(real_data):
    times_s = read_bonsai_timestamps(real_data / BONSAI_SSV)

    first = datetime(2020, 8, 19, 16, 42, 57, 790361, tzinfo=UTC).timestamp()
    assert times_s.size == 6001
    assert times_s[0] == pytest.approx(first, abs=1e-6)
    assert np.median(np.diff(times_s)) == pytest.approx(1 / 30, abs=1e-3)


def test_bonsai_bad_time_names_line(tmp_path):
    path = write_text(tmp_path / "cam.ssv", "2020-08-19T12:42:57.79-04:00 1 \nnot-a-time 2 \n")
    with pytest.raises(IngestError, match=r"cam\.ssv: line 2: expected an ISO-8601 time"):
        read_bonsai_timestamps(path)


# --- channels --------------------------------------------------------------------------------


def test_channel_concatenates_sorts_and_keeps_reading_order(tmp_path):
    late = write_text(tmp_path / "b.txt", "10.0\n11.0\n")
    early = write_text(tmp_path / "a.txt", "1.0\n2.0\n")

    channel = load_ttl_channel("ttl_cue", [late, early], description="cue")

    assert isinstance(channel, TTLChannel)
    np.testing.assert_array_equal(channel.times_s, [1.0, 2.0, 10.0, 11.0])
    assert channel.source_files == (late, early)
    assert (channel.n_pulses, channel.n_duplicates_dropped, channel.description) == (4, 0, "cue")


def test_channel_drops_exact_duplicates_from_overlapping_files(tmp_path):
    first = write_text(tmp_path / "a.txt", "1.0\n2.0\n3.0\n")
    second = write_text(tmp_path / "b.txt", "3.0\n4.0\n")

    with pytest.warns(DataQualityWarning, match=r"'cam': dropped 1 exact duplicate"):
        channel = load_ttl_channel("cam", [first, second])

    np.testing.assert_array_equal(channel.times_s, [1.0, 2.0, 3.0, 4.0])
    assert channel.n_duplicates_dropped == 1


def test_a_channel_without_pulses_is_empty_not_a_negative_duplicate_count(tmp_path):
    # a SpikeGLX line that never rose; before: "dropped -1 exact duplicate timestamps"
    words, _ = digital_words()
    bin_path = write_nidq(tmp_path, words)
    channel = load_ttl_channel("idle", [bin_path], fmt="spikeglx", line=0, polarity="rising")
    assert channel.times_s.size == 0 and channel.n_duplicates_dropped == 0


def test_channel_auto_format_by_extension(tmp_path):
    words, truth = digital_words()
    nidq = tmp_path / "nidq"
    nidq.mkdir()
    bin_path = write_nidq(nidq, words)
    oe = write_oe_events(tmp_path / "TTL", OE_TIMES, OE_STATES)
    csv_path = write_text(tmp_path / "t.csv", "time_s\n0.25\n")
    npy_path = tmp_path / "t.npy"
    np.save(npy_path, np.array([0.125]))

    assert (
        load_ttl_channel("a", bin_path, line=3).times_s.tolist()
        == (truth[(3, "rising")] / RATE_HZ).tolist()
    )
    assert load_ttl_channel("b", oe, line=2).times_s.tolist() == [1.2, 2.4]
    assert load_ttl_channel("c", csv_path, column="time_s").times_s.tolist() == [0.25]
    assert load_ttl_channel("d", npy_path).times_s.tolist() == [0.125]
    assert load_ttl_channel("e", npy_path, fmt="npy").times_s.tolist() == [0.125]


def test_channel_configuration_errors(tmp_path):
    with pytest.raises(IngestError, match="TTL channel 'x' has no files"):
        load_ttl_channel("x", [])
    with pytest.raises(IngestError, match=r"cannot tell the TTL format from the extension '\.h5'"):
        load_ttl_channel("x", write_text(tmp_path / "t.h5", "1"))
    with pytest.raises(IngestError, match="a CSV TTL file needs a column name"):
        load_ttl_channel("x", write_text(tmp_path / "t.csv", "t\n1\n"))
    words, _ = digital_words()
    with pytest.raises(IngestError, match="a spikeglx TTL source needs a digital line"):
        load_ttl_channel("x", write_nidq(tmp_path, words), fmt="spikeglx")
    with pytest.raises(IngestError, match=r"missing\.txt: TTL file not found"):
        load_ttl_channel("x", tmp_path / "missing.txt")


def test_text_and_csv_written_with_a_byte_order_mark(tmp_path):
    # Excel and Notepad on Windows start UTF-8 files with a BOM
    text = tmp_path / "bom.txt"
    text.write_bytes(b"\xef\xbb\xbf0.5\n1.5\n")
    table = tmp_path / "bom.csv"
    table.write_bytes(b"\xef\xbb\xbftime_s,x\n0.5,1\n1.5,2\n")

    np.testing.assert_array_equal(read_ttl_text(text), [0.5, 1.5])
    np.testing.assert_array_equal(read_ttl_csv(table, "time_s"), [0.5, 1.5])


def test_csv_that_is_not_text_is_an_error(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"time_s\n\xff\xfe\x00\x01\n")
    with pytest.raises(IngestError, match=r"binary\.csv: not a readable CSV text file"):
        read_ttl_csv(path, "time_s")
