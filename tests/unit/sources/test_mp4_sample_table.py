"""The NumPy MP4 sample-table reader on hand-built boxes with known contents.

Encoders only ever write some box variants (``stsz`` and ``stco`` for small files); the rest
(``stz2``, ``co64``, signed ``ctts`` version 1, several sample-to-chunk runs, version 1 headers)
are built here byte by byte so every branch is checked against exact expected arrays. Real
encoded videos are compared with FFmpeg's packets in ``test_video.py``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.sources.mp4_sample_table import read_mp4_sample_table


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, body: bytes) -> bytes:
    return box(kind, struct.pack(">B3x", version), body)


def mdhd(timescale: int, version: int = 0) -> bytes:
    if version == 1:
        return full_box(b"mdhd", 1, struct.pack(">QQIQ4x", 0, 0, timescale, 0))
    return full_box(b"mdhd", 0, struct.pack(">III I4x", 0, 0, timescale, 0))


def runs(kind: bytes, version: int, pairs: list[tuple[int, int]], value_fmt: str = "I") -> bytes:
    body = struct.pack(">I", len(pairs)) + b"".join(
        struct.pack(f">I{value_fmt}", count, value) for count, value in pairs
    )
    return full_box(kind, version, body)


def stsc(entries: list[tuple[int, int]]) -> bytes:
    body = struct.pack(">I", len(entries)) + b"".join(
        struct.pack(">III", first_chunk, n, 1) for first_chunk, n in entries
    )
    return full_box(b"stsc", 0, body)


def elst(segment_duration: int, media_time: int, rate: int = 0x00010000) -> bytes:
    return full_box(b"elst", 0, struct.pack(">IIiI", 1, segment_duration, media_time, rate))


def mvhd(timescale: int) -> bytes:
    return full_box(b"mvhd", 0, struct.pack(">IIII", 0, 0, timescale, 0) + bytes(80))


def hdlr(handler: bytes) -> bytes:
    return full_box(b"hdlr", 0, struct.pack(">I4s12x", 0, handler) + b"\0")


def write_mp4(path: Path, tracks: list[bytes], *, movie_timescale: int = 1000) -> Path:
    """``ftyp`` + ``moov`` (mvhd + the tracks) + an ``mdat`` large enough for the offsets."""
    moov = box(b"moov", mvhd(movie_timescale), *tracks)
    path.write_bytes(box(b"ftyp", b"isom", bytes(4)) + moov + box(b"mdat", bytes(4096)))
    return path


def track(
    *stbl_boxes: bytes, timescale: int = 90000, edit: bytes | None = None, mdhd_version: int = 0
) -> bytes:
    stbl = box(b"stbl", *stbl_boxes)
    mdia = box(b"mdia", mdhd(timescale, mdhd_version), hdlr(b"vide"), box(b"minf", stbl))
    parts = [box(b"tkhd", bytes(84))]
    if edit is not None:
        parts.append(box(b"edts", edit))
    return box(b"trak", *parts, mdia)


# Six samples in decode order: I P B B P B, 3000 ticks apart at 90 kHz (30 fps).
DECODE_RUNS = [(6, 3000)]
CTTS_RUNS = [(1, 3000), (1, 9000), (2, 0), (1, 6000), (1, 0)]
SIZES = [100, 40, 10, 12, 44, 9]


def standard_boxes() -> list[bytes]:
    return [
        runs(b"stts", 0, DECODE_RUNS),
        runs(b"ctts", 0, CTTS_RUNS),
        full_box(b"stsz", 0, struct.pack(">II", 0, 6) + struct.pack(">6I", *SIZES)),
        stsc([(1, 4), (2, 2)]),  # chunk 1 holds 4 samples, chunk 2 holds 2
        full_box(b"stco", 0, struct.pack(">I2I", 2, 1000, 2000)),
    ]


def test_sample_table_values(tmp_path):
    path = write_mp4(tmp_path / "t.mp4", [track(*standard_boxes())])

    table = read_mp4_sample_table(path, 0)

    assert table is not None
    assert table.timescale == 90000
    np.testing.assert_array_equal(table.decode_ticks, np.arange(6) * 3000)
    np.testing.assert_array_equal(table.presentation_ticks, [3000, 12000, 6000, 9000, 18000, 15000])
    np.testing.assert_array_equal(table.size_bytes, SIZES)
    np.testing.assert_array_equal(table.offset_bytes, [1000, 1100, 1140, 1150, 2000, 2044])


def test_compact_sizes_64_bit_offsets_signed_offsets_and_version_1_header(tmp_path):
    stz2 = full_box(b"stz2", 0, struct.pack(">3xBI", 16, 6) + struct.pack(">6H", *SIZES))
    co64 = full_box(b"co64", 0, struct.pack(">I2Q", 2, 1000, 2000))
    # version 1 ctts: offsets relative to a zero-delay start, negative ones allowed
    ctts_v1 = runs(b"ctts", 1, [(1, 0), (1, 6000), (2, -3000), (1, 3000), (1, -3000)], "i")
    boxes = [runs(b"stts", 0, DECODE_RUNS), ctts_v1, stz2, stsc([(1, 4), (2, 2)]), co64]
    path = write_mp4(tmp_path / "t.mp4", [track(*boxes)])
    # the same track with a version 1 (64-bit times) media header at another timescale
    path_v1 = write_mp4(tmp_path / "v1.mp4", [track(*boxes, timescale=30000, mdhd_version=1)])

    for candidate, timescale in ((path, 90000), (path_v1, 30000)):
        table = read_mp4_sample_table(candidate, 0)
        assert table is not None
        assert table.timescale == timescale
        np.testing.assert_array_equal(table.presentation_ticks, [0, 9000, 3000, 6000, 15000, 12000])
        np.testing.assert_array_equal(table.size_bytes, SIZES)
        np.testing.assert_array_equal(table.offset_bytes, [1000, 1100, 1140, 1150, 2000, 2044])


def test_chosen_track_among_several(tmp_path):
    other = track(
        runs(b"stts", 0, [(2, 1024)]),
        full_box(b"stsz", 0, struct.pack(">II", 7, 2)),  # constant sample size
        stsc([(1, 2)]),
        full_box(b"stco", 0, struct.pack(">II", 1, 500)),
        timescale=48000,
    )
    path = write_mp4(tmp_path / "t.mp4", [other, track(*standard_boxes())])

    first = read_mp4_sample_table(path, 0)
    second = read_mp4_sample_table(path, 1)

    assert first is not None and second is not None
    assert (first.timescale, first.n_samples, second.n_samples) == (48000, 2, 6)
    np.testing.assert_array_equal(first.size_bytes, [7, 7])
    np.testing.assert_array_equal(first.offset_bytes, [500, 507])
    assert read_mp4_sample_table(path, 2) is None


def test_plain_edit_list_is_accepted(tmp_path):
    # media time = first presentation time and a segment covering every frame: a clock shift
    path = write_mp4(
        tmp_path / "t.mp4", [track(*standard_boxes(), edit=elst(200, 3000))], movie_timescale=1000
    )
    table = read_mp4_sample_table(path, 0)
    assert table is not None
    # the edit only shifts the clock: every sample kept, times as without the edit
    np.testing.assert_array_equal(table.presentation_ticks, [3000, 12000, 6000, 9000, 18000, 15000])
    np.testing.assert_array_equal(table.offset_bytes, [1000, 1100, 1140, 1150, 2000, 2044])


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (elst(200, 6000), "starts after the first frame"),
        (elst(100, 3000), "ends before the last frame"),  # 100 ms < 6 frames at 30 fps
        (elst(200, -1), "empty edit"),
        (elst(200, 3000, rate=0x00020000), "playback rate"),
    ],
)
def test_edit_lists_that_change_the_frames_are_refused(tmp_path, caplog, edit, reason):
    path = write_mp4(tmp_path / "t.mp4", [track(*standard_boxes(), edit=edit)])

    with caplog.at_level("INFO", logger="w2t_bkin.sources.mp4_sample_table"):
        assert read_mp4_sample_table(path, 0) is None
    assert reason in caplog.text


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b + box(b"moof", bytes(8)), "fragmented"),
        (lambda b: b.replace(b"moov", b"free"), "no moov box"),
        (
            lambda b: b.replace(runs(b"stts", 0, DECODE_RUNS), runs(b"stts", 0, [(5, 3000)])),
            "stts lists 5 samples, stsz 6",
        ),
        (
            lambda b: b.replace(stsc([(1, 4), (2, 2)]), stsc([(1, 4), (2, 1)])),
            "chunks hold 5 samples, stsz lists 6",
        ),
        (lambda b: b[: b.index(b"stco") + 6], "moov box is cut off"),
        (
            lambda b: b.replace(runs(b"stts", 0, DECODE_RUNS), runs(b"stts", 0, [(0xFFFFFFFF, 1)])),
            "stts lists 4294967295 samples, stsz 6",
        ),
    ],
)
def test_files_it_does_not_model_return_none_with_the_reason(tmp_path, caplog, mutate, reason):
    good = write_mp4(tmp_path / "good.mp4", [track(*standard_boxes())]).read_bytes()
    path = tmp_path / "bad.mp4"
    path.write_bytes(mutate(good))

    with caplog.at_level("INFO", logger="w2t_bkin.sources.mp4_sample_table"):
        assert read_mp4_sample_table(path, 0) is None
    assert reason in caplog.text


def test_huge_declared_counts_are_refused_before_any_allocation(tmp_path, caplog):
    # 20 bytes asking for 4 billion constant-size samples (32 GiB as int64 arrays)
    boxes = standard_boxes()
    boxes[2] = full_box(b"stsz", 0, struct.pack(">II", 7, 0xFFFFFFF0))
    path = write_mp4(tmp_path / "t.mp4", [track(*boxes)])

    with caplog.at_level("INFO", logger="w2t_bkin.sources.mp4_sample_table"):
        assert read_mp4_sample_table(path, 0) is None
    assert "4294967280 samples declared (more than 268435456)" in caplog.text
