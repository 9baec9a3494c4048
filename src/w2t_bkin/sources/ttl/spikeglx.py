"""Edges of one digital line of a SpikeGLX NIDQ recording (``*.nidq.bin`` + ``.meta``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.model.ttl import Polarity
from w2t_bkin.sources.spikeglx_meta import (
    NidqLayout,
    first_sample_of,
    nidq_layout,
    read_spikeglx_meta,
    spikeglx_meta_path,
    warn_on_size_mismatch,
)
from w2t_bkin.sources.ttl._checks import check_path, require_line
from w2t_bkin.sources.ttl.registry import TTLReadOptions, register_ttl_reader


def read_spikeglx_digital(
    bin_path: str | Path,
    line: int,
    polarity: Polarity = "rising",
    chunk_samples: int = 1_000_000,
) -> np.ndarray:
    """Edge times of one digital line of a SpikeGLX NIDQ recording.

    The ``.bin`` holds interleaved int16 samples, ``nSavedChans`` per time point; the digital
    words are the last ``snsMnMaXaDw[3]`` channels. Line ``k`` is bit ``k % 16`` of digital
    word ``k // 16``. The file is streamed through a memory map in chunks, so memory stays
    bounded; edges across chunk boundaries are kept.

    Times are ``(firstSample + sample_index) / niSampRate``: seconds since the start of the
    SpikeGLX run, as SpikeGLX, CatGT and SpikeInterface count them. ``firstSample`` (from the
    ``.meta``; 0 when absent) places each file of a run on one clock, so the files of a
    triggered or split recording (``_t0``, ``_t1``, ...) merge without overlapping. The NIDQ
    clock is the reference clock other streams are mapped to (SpikeGLX's calibrated rate is
    ``niSampRate`` itself after calibration). A line already high at the first sample of a
    file has no rising edge there.

    Parameters
    ----------
    bin_path
        ``*.nidq.bin``; the ``*.nidq.meta`` must lie next to it.
    line
        Digital line, from 0 (bit of the digital word).
    polarity
        ``"rising"``, ``"falling"`` or ``"both"``.
    chunk_samples
        Time points read per chunk.

    Returns
    -------
    numpy.ndarray
        ``(n_edges,) float64`` edge times in seconds, increasing.

    Raises
    ------
    IngestError
        Missing ``.meta``, a meta without NIDQ keys, a ``.bin`` size that is not a whole number
        of time points, or a line outside the digital words.
    """
    bin_path = check_path(Path(bin_path))
    meta_path = spikeglx_meta_path(bin_path)
    meta = read_spikeglx_meta(meta_path)
    layout = nidq_layout(meta, meta_path)
    n_lines = 16 * layout.n_words
    if not 0 <= line < n_lines:
        raise IngestError(
            f"{bin_path}: line {line} is out of range; this file has {layout.n_words} digital "
            f"word(s), lines 0..{n_lines - 1} (acquired lines: {meta.get('niXDChans1', '?')})",
            path=bin_path,
            hint="set the channel's 'line' to the NI digital line number",
        )
    first_sample = first_sample_of(meta, meta_path)
    samples = _edge_samples(bin_path, layout, line, polarity, max(1, int(chunk_samples)))
    warn_on_size_mismatch(bin_path, meta)
    return (samples + first_sample).astype(np.float64) / layout.rate_hz


def _edge_samples(
    bin_path: Path, layout: NidqLayout, line: int, polarity: Polarity, chunk_samples: int
) -> np.ndarray:
    bytes_per_point = 2 * layout.n_saved_chans
    size = bin_path.stat().st_size
    if size % bytes_per_point:
        raise IngestError(
            f"{bin_path}: size {size} bytes is not a multiple of {bytes_per_point} "
            f"(nSavedChans={layout.n_saved_chans} int16 channels)",
            path=bin_path,
            hint="the .bin is truncated or belongs to another .meta",
        )
    n_points = size // bytes_per_point
    if n_points == 0:
        raise IngestError(f"{bin_path}: no samples", path=bin_path, hint="the .bin is empty")
    data = np.memmap(bin_path, dtype=np.int16, mode="r", shape=(n_points, layout.n_saved_chans))
    column, bit = layout.first_word_col + line // 16, line % 16
    wanted = {"rising": (1,), "falling": (-1,), "both": (1, -1)}[polarity]
    edges: list[np.ndarray] = []
    previous = None
    for start in range(0, n_points, chunk_samples):
        word = np.asarray(data[start : start + chunk_samples, column])
        # View as uint16 so that bit 15 does not sign-extend in the shift.
        level = ((word.view(np.uint16) >> bit) & 1).astype(np.int8)
        head = level[:1] if previous is None else previous
        step = np.diff(level, prepend=head)  # step[i] = level[i] - level[i-1]
        found = np.flatnonzero(np.isin(step, wanted))
        edges.append(found.astype(np.int64) + start)
        previous = level[-1:]
    del data
    return np.concatenate(edges)


@register_ttl_reader("spikeglx", suffixes=(".bin",))
def _read_spikeglx(path: Path, options: TTLReadOptions) -> np.ndarray:
    spikeglx_meta_path(check_path(path))  # a .bin without .meta: say that before the line
    line = require_line(path, "spikeglx", options.line)
    return read_spikeglx_digital(path, line, options.polarity)
