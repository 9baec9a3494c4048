"""The per-frame sample table of an MP4/MOV track, read into NumPy arrays.

An ISO base media file (``.mp4``, ``.mov``) describes every sample (frame) of a track in the
``stbl`` box of its ``moov`` box: run-length coded decode-time deltas (``stts``), composition
offsets for codecs that reorder frames (``ctts``), sizes (``stsz``/``stz2``) and chunk offsets
(``stco``/``co64`` with ``stsc``). FFmpeg loads the same table when it opens the file but hands it
to Python one ``IndexEntry`` object per frame (about 0.5 us each, before B-frame reordering is
even considered); here the table is expanded with NumPy in a few milliseconds per million frames,
and the ``ctts`` offsets give presentation times for streams with B-frames without demuxing.

Only what is needed to count frames and recover their presentation times is read; ``mdat`` is
never touched. Files this reader does not model exactly (fragmented MP4, edit lists that drop or
repeat samples) return ``None`` so the caller can use FFmpeg's own paths.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

log = logging.getLogger(__name__)

# Boxes whose payload is a list of boxes, on the way from moov to a track's sample table.
_CONTAINER_BOXES = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"})
# A sample table larger than this is not a camera video we can trust (~16 bytes per frame).
_MAX_MOOV_BYTES = 1 << 30
# Counts are checked against this before any array is sized from them: a 20-byte box could
# otherwise ask for tens of GiB. 2**28 frames is 20 days at 150 Hz.
_MAX_SAMPLES = 1 << 28


@dataclass(frozen=True)
class Mp4SampleTable:
    """Every sample of one track, in decode order.

    Attributes
    ----------
    timescale
        Ticks per second of the track's media clock (``mdhd``).
    decode_ticks
        ``(n_samples,) int64`` decode times in media ticks.
    presentation_ticks
        ``(n_samples,) int64`` presentation times in media ticks (decode time plus the ``ctts``
        composition offset; equal to ``decode_ticks`` when the track has no ``ctts``).
    size_bytes
        ``(n_samples,) int64`` sample sizes.
    offset_bytes
        ``(n_samples,) int64`` file offsets of the samples.
    """

    timescale: int
    decode_ticks: np.ndarray
    presentation_ticks: np.ndarray
    size_bytes: np.ndarray
    offset_bytes: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.size_bytes.shape[0])


class _Unsupported(Exception):
    """The file uses a feature this reader does not model; FFmpeg's paths must be used."""


def read_mp4_sample_table(path: str | Path, track_number: int) -> Mp4SampleTable | None:
    """Read the sample table of one track of an MP4/MOV file.

    Parameters
    ----------
    path
        The file.
    track_number
        0-based position of the track among the ``trak`` boxes of ``moov`` (FFmpeg's stream
        index for MP4/MOV files).

    Returns
    -------
    Mp4SampleTable or None
        ``None`` when the file is fragmented, malformed, has an edit list that drops, delays or
        repeats samples, or the track does not exist; the reason is logged at INFO level.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            moov = _read_moov(file, path.stat().st_size)
        trak = _nth_track(moov, track_number)
        return _sample_table(trak)
    except _Unsupported as exc:
        log.info("%s: sample table not read directly (%s)", path, exc)
        return None
    except (struct.error, ValueError) as exc:  # short or inconsistent boxes
        log.info("%s: sample table not read directly (malformed box: %s)", path, exc)
        return None


# --- boxes -------------------------------------------------------------------------------------


def _box_headers(file: BinaryIO, file_size: int) -> Iterator[tuple[bytes, int, int]]:
    """Top-level ``(type, payload_offset, payload_size)`` without reading payloads."""
    offset = 0
    while offset + 8 <= file_size:
        file.seek(offset)
        header = file.read(16)
        size, kind = struct.unpack(">I4s", header[:8])
        header_size = 8
        if size == 1:
            (size,) = struct.unpack(">Q", header[8:16])
            header_size = 16
        elif size == 0:  # box runs to the end of the file
            size = file_size - offset
        if size < header_size:
            raise _Unsupported(f"box '{kind!r}' at byte {offset} has an invalid size {size}")
        yield kind, offset + header_size, size - header_size
        offset += size


def _child_boxes(payload: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    """``(type, payload)`` of the boxes inside a container box's payload."""
    offset = 0
    end = len(payload)
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", payload, offset)
        header_size = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", payload, offset + 8)
            header_size = 16
        elif size == 0:
            size = end - offset
        if size < header_size or offset + size > end:
            raise ValueError(f"box {kind!r} overruns its parent")
        yield kind, payload[offset + header_size : offset + size]
        offset += size


def _read_moov(file: BinaryIO, file_size: int) -> memoryview:
    moov: memoryview | None = None
    for kind, payload_offset, payload_size in _box_headers(file, file_size):
        if kind in (b"moof", b"mvex"):
            raise _Unsupported("fragmented MP4: samples are described per fragment")
        if kind == b"moov":
            if payload_size > _MAX_MOOV_BYTES or payload_offset + payload_size > file_size:
                raise _Unsupported("the moov box is cut off or implausibly large")
            file.seek(payload_offset)
            moov = memoryview(file.read(payload_size))
    if moov is None:
        raise _Unsupported("no moov box")
    if any(kind == b"mvex" for kind, _ in _child_boxes(moov)):
        raise _Unsupported("fragmented MP4: samples are described per fragment")
    return moov


def _nth_track(moov: memoryview, track_number: int) -> dict[bytes, memoryview]:
    """The leaf boxes of the ``track_number``-th ``trak``, keyed by type, plus ``mvhd``."""
    tracks = [payload for kind, payload in _child_boxes(moov) if kind == b"trak"]
    if not 0 <= track_number < len(tracks):
        raise _Unsupported(f"no track {track_number} (the file has {len(tracks)})")
    leaves: dict[bytes, memoryview] = {}
    _collect_leaves(tracks[track_number], leaves)
    for kind, payload in _child_boxes(moov):
        if kind == b"mvhd":
            leaves[b"mvhd"] = payload
    return leaves


def _collect_leaves(payload: memoryview, leaves: dict[bytes, memoryview]) -> None:
    for kind, child in _child_boxes(payload):
        if kind in _CONTAINER_BOXES:
            _collect_leaves(child, leaves)
        elif kind not in leaves:
            leaves[kind] = child


# --- the sample table --------------------------------------------------------------------------


def _sample_table(boxes: dict[bytes, memoryview]) -> Mp4SampleTable:
    for required in (b"mdhd", b"stts", b"stsc"):
        if required not in boxes:
            raise _Unsupported(f"the track has no {required.decode()} box")
    timescale = _timescale(boxes[b"mdhd"])
    sizes = _sample_sizes(boxes)
    n_samples = sizes.shape[0]
    decode = _expand_runs(boxes[b"stts"], signed=False, n_samples=n_samples, name="stts")
    decode_ticks = np.concatenate([[0], np.cumsum(decode[:-1])]).astype(np.int64)
    presentation_ticks = decode_ticks
    if b"ctts" in boxes:
        offsets = _expand_runs(boxes[b"ctts"], signed=True, n_samples=n_samples, name="ctts")
        presentation_ticks = decode_ticks + offsets
    _check_edit_list(boxes, presentation_ticks, timescale)
    return Mp4SampleTable(
        timescale=timescale,
        decode_ticks=decode_ticks,
        presentation_ticks=presentation_ticks,
        size_bytes=sizes,
        offset_bytes=_sample_offsets(boxes, sizes),
    )


def _full_box(payload: memoryview) -> tuple[int, memoryview]:
    """Version and body of a 'full box' (1 byte version, 3 bytes flags)."""
    return payload[0], payload[4:]


def _timescale(box: memoryview) -> int:
    version, body = _full_box(box)
    # creation and modification times are 4 bytes each in version 0, 8 in version 1
    (timescale,) = struct.unpack_from(">I", body, 16 if version == 1 else 8)
    if timescale == 0:
        raise _Unsupported("timescale 0")
    return int(timescale)


def _table(body: memoryview, offset: int, count: int, dtype: str) -> np.ndarray:
    """``count`` big-endian records of ``dtype`` starting at ``offset`` of ``body``."""
    item = np.dtype(dtype)
    if offset + count * item.itemsize > len(body):
        raise ValueError("table runs past the end of its box")
    return np.frombuffer(body, dtype=item, count=count, offset=offset)


def _expand_runs(box: memoryview, *, signed: bool, n_samples: int, name: str) -> np.ndarray:
    """``stts``/``ctts``: ``(count, value)`` runs expanded to ``(n_samples,)`` values.

    The runs must cover exactly ``n_samples`` samples (checked before expanding).
    """
    version, body = _full_box(box)
    (n_runs,) = struct.unpack_from(">I", body, 0)
    # ctts version 0 declares unsigned offsets, but writers store negative ones there too;
    # FFmpeg reads both as signed, and so do we.
    value_type = ">i4" if signed or version == 1 else ">u4"
    runs = _table(body, 4, n_runs, f">u4,{value_type}")
    counts = runs["f0"].astype(np.int64)
    if int(counts.sum()) != n_samples:
        raise _Unsupported(f"{name} lists {int(counts.sum())} samples, stsz {n_samples}")
    return np.repeat(runs["f1"].astype(np.int64), counts)


def _sample_sizes(boxes: dict[bytes, memoryview]) -> np.ndarray:
    if b"stsz" in boxes:
        _, body = _full_box(boxes[b"stsz"])
        constant_size, n_samples = struct.unpack_from(">II", body, 0)
        _check_count(n_samples)
        if constant_size:
            return np.full(n_samples, constant_size, dtype=np.int64)
        return _table(body, 8, n_samples, ">u4").astype(np.int64)
    if b"stz2" in boxes:
        _, body = _full_box(boxes[b"stz2"])
        field_bits = body[3]
        (n_samples,) = struct.unpack_from(">I", body, 4)
        _check_count(n_samples)
        if field_bits == 16:
            return _table(body, 8, n_samples, ">u2").astype(np.int64)
        if field_bits == 8:
            return _table(body, 8, n_samples, ">u1").astype(np.int64)
        raise _Unsupported(f"stz2 with {field_bits}-bit sizes")
    raise _Unsupported("the track has no stsz or stz2 box")


def _check_count(n_samples: int) -> None:
    if n_samples > _MAX_SAMPLES:
        raise _Unsupported(f"{n_samples} samples declared (more than {_MAX_SAMPLES})")


def _sample_offsets(boxes: dict[bytes, memoryview], sizes: np.ndarray) -> np.ndarray:
    """File offset of every sample from the chunk offsets and the sample-to-chunk runs."""
    if b"stco" in boxes:
        _, body = _full_box(boxes[b"stco"])
        (n_chunks,) = struct.unpack_from(">I", body, 0)
        chunk_offsets = _table(body, 4, n_chunks, ">u4").astype(np.int64)
    elif b"co64" in boxes:
        _, body = _full_box(boxes[b"co64"])
        (n_chunks,) = struct.unpack_from(">I", body, 0)
        chunk_offsets = _table(body, 4, n_chunks, ">u8").astype(np.int64)
    else:
        raise _Unsupported("the track has no stco or co64 box")
    _, body = _full_box(boxes[b"stsc"])
    (n_runs,) = struct.unpack_from(">I", body, 0)
    runs = _table(body, 4, n_runs, ">u4,>u4,>u4")
    first_chunk = runs["f0"].astype(np.int64) - 1  # 1-based in the file
    if n_runs == 0 or first_chunk[0] != 0 or np.any(np.diff(first_chunk) <= 0):
        raise _Unsupported("stsc runs do not start at chunk 1 in increasing order")
    run_length = np.diff(np.append(first_chunk, n_chunks))
    if np.any(run_length < 0):
        raise _Unsupported("stsc refers to chunks beyond stco")
    samples_per_chunk = np.repeat(runs["f1"].astype(np.int64), run_length)
    if int(samples_per_chunk.sum()) != sizes.shape[0]:
        raise _Unsupported(
            f"chunks hold {int(samples_per_chunk.sum())} samples, stsz lists {sizes.shape[0]}"
        )
    chunk_of_sample = np.repeat(np.arange(n_chunks), samples_per_chunk)
    end_in_stream = np.cumsum(sizes)
    start_in_stream = end_in_stream - sizes
    # bytes before a sample inside its chunk = its stream position minus the chunk's first
    first_sample_of_chunk = np.concatenate([[0], np.cumsum(samples_per_chunk)[:-1]])
    chunk_start_in_stream = np.zeros(n_chunks, dtype=np.int64)
    filled = samples_per_chunk > 0
    chunk_start_in_stream[filled] = start_in_stream[first_sample_of_chunk[filled]]
    offsets: np.ndarray = chunk_offsets[chunk_of_sample] + (
        start_in_stream - chunk_start_in_stream[chunk_of_sample]
    )
    return offsets


def _check_edit_list(
    boxes: dict[bytes, memoryview], presentation_ticks: np.ndarray, timescale: int
) -> None:
    """Accept no edit list, or one plain edit that keeps every sample exactly once.

    Encoders with B-frames write one edit whose media time is the first presentation time, so
    that playback starts at 0; that only shifts the clock. Anything else (several edits, empty
    edits, rate changes, an edit that starts after the first frame or ends before the last) makes
    FFmpeg drop, delay or repeat samples, which is left to FFmpeg itself.
    """
    if b"elst" not in boxes:
        return
    version, body = _full_box(boxes[b"elst"])
    (n_edits,) = struct.unpack_from(">I", body, 0)
    if n_edits == 0:
        return
    if n_edits != 1:
        raise _Unsupported(f"edit list with {n_edits} entries")
    if version == 1:
        segment_duration, media_time, rate = struct.unpack_from(">QqI", body, 4)
    else:
        segment_duration, media_time, rate = struct.unpack_from(">IiI", body, 4)
    if rate != 0x00010000:
        raise _Unsupported("edit with a playback rate other than 1")
    if media_time < 0:
        raise _Unsupported("empty edit (delayed start)")
    if int(presentation_ticks.min()) < media_time:
        raise _Unsupported("the edit starts after the first frame (leading frames are dropped)")
    if segment_duration and b"mvhd" in boxes:
        movie_timescale = _timescale(boxes[b"mvhd"])
        end_ticks = media_time + segment_duration * timescale / movie_timescale
        if int(presentation_ticks.max()) >= end_ticks:
            raise _Unsupported("the edit ends before the last frame (trailing frames are dropped)")
