"""Camera frame counter and GPIO logs: real IBL files and bad inputs with exact messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.camera_logs import COUNTER_WRAP, read_frame_counter, read_gpio_log

IBL_VIDEO = Path("ttl/ibllib/ibllib/tests/extractors/data/session_ephys/raw_video_data")


def _write(path: Path, values: list[float] | np.ndarray) -> Path:
    np.asarray(values, dtype="<f8").tofile(path)
    return path


# -- real data -----------------------------------------------------------------------------------


@pytest.mark.real_data
def test_real_ibl_frame_counter_has_510_frames_and_no_drops(real_data: Path) -> None:
    path = real_data / IBL_VIDEO / "_iblrig_bodyCamera.frame_counter.bin"
    counter = read_frame_counter(path)

    raw = np.fromfile(path, dtype="<f8")
    assert counter.dtype == np.int64 and counter.shape == (510,)
    np.testing.assert_array_equal(counter, raw.astype(np.int64))
    assert counter[0] == 16696704  # the camera acquired before Bonsai started saving
    np.testing.assert_array_equal(np.diff(counter), 1)  # no acquired frame left unsaved


@pytest.mark.real_data
def test_real_ibl_gpio_pin4_has_two_edges(real_data: Path) -> None:
    path = real_data / IBL_VIDEO / "_iblrig_bodyCamera.GPIO.bin"
    gpio = read_gpio_log(path)

    # independent decoding with plain bit operations: pin 4 is bit 28
    words = np.fromfile(path, dtype="<f8").astype(np.uint32)
    pin4 = (words >> 28) & 1
    expected_edges = np.flatnonzero(np.diff(pin4.astype(int))) + 1
    np.testing.assert_array_equal(expected_edges, [166, 172])  # what the file holds

    assert gpio.n_frames == 510 and gpio.pin_states.shape == (510, 4)
    assert gpio.pin_states.dtype == bool
    np.testing.assert_array_equal(gpio.pin_states[:, 3], pin4.astype(bool))
    np.testing.assert_array_equal(gpio.rising_frame_idx[3], [166])
    np.testing.assert_array_equal(gpio.falling_frame_idx[3], [172])
    np.testing.assert_array_equal(gpio.edge_frame_idx(4), expected_edges)
    for pin in (1, 2, 3):
        assert not gpio.pin_states[:, pin - 1].any()
        assert gpio.edge_frame_idx(pin).size == 0


# -- synthetic -----------------------------------------------------------------------------------


def test_counter_with_unsaved_frames_keeps_its_steps(tmp_path: Path) -> None:
    counter = read_frame_counter(_write(tmp_path / "c.bin", [10, 11, 14, 15, 17]))
    np.testing.assert_array_equal(counter, [10, 11, 14, 15, 17])
    np.testing.assert_array_equal(np.diff(counter) - 1, [0, 2, 0, 1])  # frames not saved


def test_counter_unwraps_a_32_bit_wrap(tmp_path: Path) -> None:
    values = [COUNTER_WRAP - 2, COUNTER_WRAP - 1, 1, 2]  # frame 2**32 (shown as 0) unsaved
    counter = read_frame_counter(_write(tmp_path / "c.bin", values))
    np.testing.assert_array_equal(
        counter, [COUNTER_WRAP - 2, COUNTER_WRAP - 1, COUNTER_WRAP + 1, COUNTER_WRAP + 2]
    )


def test_empty_counter_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.bin"
    path.write_bytes(b"")
    with pytest.raises(IngestError) as exc:
        read_frame_counter(path)
    assert exc.value.message == (
        f"{path}: the frame counter file is empty; expected one float64 per saved frame"
    )
    assert exc.value.exit_code == 4


def test_counter_file_of_odd_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.bin"
    path.write_bytes(np.arange(3, dtype="<f8").tobytes() + b"\x00\x01\x02")
    with pytest.raises(IngestError) as exc:
        read_frame_counter(path)
    assert exc.value.message == (
        f"{path}: the frame counter file has 27 bytes, not a multiple of 8; expected one "
        "float64 per saved frame"
    )
    assert "one little-endian float64 per saved frame" in (exc.value.hint or "")


def test_missing_counter_file_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.bin"
    with pytest.raises(IngestError, match="cannot read the frame counter file"):
        read_frame_counter(path)


def test_nan_in_counter_names_the_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.bin", [5, 6, np.nan, 8])
    with pytest.raises(IngestError) as exc:
        read_frame_counter(path)
    assert exc.value.message == (
        f"{path}: frame counter at row 2 (0-based saved frame) is nan; expected a non-negative "
        "integer"
    )


def test_fractional_counter_names_the_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.bin", [5, 6.5])
    with pytest.raises(IngestError, match=r"row 1 \(0-based saved frame\) is 6\.5"):
        read_frame_counter(path)


def test_counter_going_backwards_names_the_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.bin", [100, 101, 102, 50, 51])
    with pytest.raises(IngestError) as exc:
        read_frame_counter(path)
    assert exc.value.message == (
        f"{path}: frame counter goes backwards from 102 at row 2 to 50 at row 3 (0-based saved "
        "frames); a camera's frame counter increases by at least one per saved frame"
    )
    assert "one counter file per video file" in (exc.value.hint or "")


def test_repeated_counter_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.bin", [7, 8, 8])
    with pytest.raises(IngestError, match="frame counter repeats from 8 at row 1 to 8 at row 2"):
        read_frame_counter(path)


def test_a_large_backward_jump_near_the_top_is_not_a_wrap(tmp_path: Path) -> None:
    # 2**32 - 1 -> 2**20: 2**20 frames unsaved across a wrap is not plausible
    path = _write(tmp_path / "c.bin", [COUNTER_WRAP - 1, 2**20])
    with pytest.raises(IngestError, match="goes backwards"):
        read_frame_counter(path)


def test_gpio_decodes_pins_and_edges(tmp_path: Path) -> None:
    pin1, pin3 = 1 << 31, 1 << 29
    words = [0, pin1, pin1 | pin3, pin3, 0, pin1]
    gpio = read_gpio_log(_write(tmp_path / "g.bin", words))
    np.testing.assert_array_equal(
        gpio.pin_states,
        [
            [False, False, False, False],
            [True, False, False, False],
            [True, False, True, False],
            [False, False, True, False],
            [False, False, False, False],
            [True, False, False, False],
        ],
    )
    np.testing.assert_array_equal(gpio.rising_frame_idx[0], [1, 5])
    np.testing.assert_array_equal(gpio.falling_frame_idx[0], [3])
    np.testing.assert_array_equal(gpio.rising_frame_idx[2], [2])
    np.testing.assert_array_equal(gpio.falling_frame_idx[2], [4])
    assert gpio.rising_frame_idx[1].size == 0 and gpio.rising_frame_idx[3].size == 0


def test_gpio_high_at_frame_zero_has_no_edge_there(tmp_path: Path) -> None:
    gpio = read_gpio_log(_write(tmp_path / "g.bin", [1 << 28, 1 << 28, 0]))
    np.testing.assert_array_equal(gpio.rising_frame_idx[3], [])
    np.testing.assert_array_equal(gpio.falling_frame_idx[3], [2])


def test_gpio_with_low_bits_set_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "g.bin", [0, 1 << 28, 16696705])  # a frame counter, say
    with pytest.raises(IngestError) as exc:
        read_gpio_log(path)
    assert exc.value.message == (
        f"{path}: GPIO value at row 2 (0-based saved frame) is 16696705.0; expected a uint32 "
        "with only its top 4 bits (the 4 pins) set"
    )


def test_gpio_nan_and_bad_size_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"GPIO value at row 1 \(0-based saved frame\) is nan"):
        read_gpio_log(_write(tmp_path / "g.bin", [0, np.nan]))
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\x00" * 12)
    with pytest.raises(IngestError, match="the GPIO file has 12 bytes, not a multiple of 8"):
        read_gpio_log(odd)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match="the GPIO file is empty"):
        read_gpio_log(empty)
