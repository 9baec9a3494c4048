"""Edges of the sync word of a SpikeGLX imec probe recording (``*.imecN.ap.bin``/``.lf.bin``).

Every imec stream saves, after its neural channels, one 16-bit ``SY`` word per sample
(``snsApLfSy``'s third count); bit 6 carries the SMA sync input that SpikeGLX also records on
the NIDQ (or OneBox) and on every other probe. Reading those edges gives each probe's own
clock the same square wave as the reference stream, so :mod:`w2t_bkin.sync` can fit the
probe clock to the session clock like any other TTL channel: ephys spikes, camera frames and
Bpod trials then share one clock model.

Format ``"spikeglx"`` reads both kinds of SpikeGLX file: this module registers a reader that
looks at the ``.meta``'s ``typeThis`` and sends ``nidq`` (and ``obx``) files to
:func:`~w2t_bkin.sources.ttl.spikeglx.read_spikeglx_digital`, imec files to
:func:`read_spikeglx_imec_sync`. For an imec file ``line`` is the bit of the sync word (6 for
the sync input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.model.ttl import Polarity
from w2t_bkin.sources.spikeglx_meta import (
    NidqLayout,
    first_sample_of,
    read_spikeglx_meta,
    spikeglx_meta_path,
    warn_on_size_mismatch,
)
from w2t_bkin.sources.ttl._checks import check_path, require_line
from w2t_bkin.sources.ttl.registry import TTLReadOptions, register_ttl_reader
from w2t_bkin.sources.ttl.spikeglx import _edge_samples, read_spikeglx_digital

__all__ = [
    "IMEC_SYNC_BIT",
    "ImecSyncLayout",
    "SpikeGLXClock",
    "imec_sync_layout",
    "read_spikeglx_imec_sync",
    "spikeglx_clock_of",
]

IMEC_SYNC_BIT = 6
"""Bit of the imec ``SY`` word that carries the SMA sync input."""

_SAMPLE_RATE_KEYS = ("imSampRate",)


class ImecSyncLayout(NidqLayout):
    """Where the sync word sits in an imec ``.bin``: one 16-bit word, the last saved channel.

    Reuses :class:`~w2t_bkin.sources.spikeglx_meta.NidqLayout` fields (``n_saved_chans``,
    ``rate_hz``, ``first_word_col`` = the SY column, ``n_words`` = 1) so the NIDQ edge scanner
    reads it unchanged.
    """


def imec_sync_layout(meta: dict[str, str], meta_path: Path) -> ImecSyncLayout:
    """The sync-word column of an imec ``.meta``.

    Raises
    ------
    IngestError
        Not an imec meta, missing keys, or a file saved without its sync channel.
    """
    if meta.get("typeThis", "imec") != "imec":
        raise IngestError(
            f"{meta_path}: typeThis={meta.get('typeThis')!r}, expected 'imec'",
            path=meta_path,
            hint="NIDQ files are read as digital lines of their digital word",
        )
    try:
        n_saved_chans = int(meta["nSavedChans"])
        rate_hz = float(meta["imSampRate"])
        n_ap, n_lf, n_sy = (int(v) for v in meta["snsApLfSy"].split(","))
    except KeyError as exc:
        raise IngestError(
            f"{meta_path}: missing key {exc.args[0]}",
            path=meta_path,
            hint="this is not a SpikeGLX imec probe .meta (imSampRate, snsApLfSy, nSavedChans)",
        ) from None
    except ValueError as exc:
        raise IngestError(f"{meta_path}: unreadable value: {exc}", path=meta_path) from None
    if n_sy < 1:
        raise IngestError(
            f"{meta_path}: snsApLfSy={meta['snsApLfSy']}: the file was saved without its sync "
            "(SY) channel",
            path=meta_path,
            hint="save the SY channel in SpikeGLX (it is in the default channel subset), or "
            "read the sync from the NIDQ/OneBox file instead",
        )
    if n_ap + n_lf + n_sy != n_saved_chans:
        raise IngestError(
            f"{meta_path}: snsApLfSy={meta['snsApLfSy']} does not add up to "
            f"nSavedChans={n_saved_chans}",
            path=meta_path,
            hint="the .meta file is damaged; copy it again from the acquisition PC",
        )
    # SpikeGLX writes channels in acquisition order: AP or LF, then SY last
    return ImecSyncLayout(n_saved_chans, rate_hz, n_saved_chans - n_sy, 1)


def read_spikeglx_imec_sync(
    bin_path: str | Path,
    line: int = IMEC_SYNC_BIT,
    polarity: Polarity = "rising",
    chunk_samples: int = 1_000_000,
) -> np.ndarray:
    """Edge times of bit ``line`` of an imec stream's sync word.

    The ``.bin`` is streamed in chunks (memory stays bounded; edges across chunk boundaries
    are kept). Times are ``(firstSample + sample_index) / imSampRate``: seconds since the start
    of the SpikeGLX run on **this probe's** sample clock, as SpikeGLX and SpikeInterface count
    them, so the files of a run's triggers (``_t0``, ``_t1``...) merge on one clock.

    Parameters
    ----------
    bin_path
        ``*.imecN.ap.bin`` or ``*.imecN.lf.bin``; its ``.meta`` must lie next to it.
    line
        Bit of the sync word, 0..15 (6: the sync input).
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
        Missing ``.meta``, a meta that is not imec or lacks the SY channel, a ``.bin`` that is
        not a whole number of time points, or a line outside 0..15.
    """
    bin_path = check_path(Path(bin_path))
    meta_path = spikeglx_meta_path(bin_path)
    meta = read_spikeglx_meta(meta_path)
    layout = imec_sync_layout(meta, meta_path)
    if not 0 <= line < 16:
        raise IngestError(
            f"{bin_path}: line {line} is out of range; the imec sync word has bits 0..15",
            path=bin_path,
            hint=f"set the channel's 'line' to {IMEC_SYNC_BIT} (the sync input)",
        )
    first_sample = first_sample_of(meta, meta_path)
    samples = _edge_samples(bin_path, layout, line, polarity, max(1, int(chunk_samples)))
    warn_on_size_mismatch(bin_path, meta)
    return (samples + first_sample).astype(np.float64) / layout.rate_hz


_IMEC_NAME = re.compile(r"\.imec\d*\.(ap|lf)\.bin$", re.IGNORECASE)


def _is_imec(path: Path) -> bool:
    meta = read_spikeglx_meta(spikeglx_meta_path(path))
    kind = meta.get("typeThis")
    if kind is not None:
        return kind == "imec"
    return bool(_IMEC_NAME.search(path.name))  # old metas have no typeThis


@register_ttl_reader("spikeglx", suffixes=(".bin",))
def _read_spikeglx_any(path: Path, options: TTLReadOptions) -> np.ndarray:
    spikeglx_meta_path(check_path(path))  # a .bin without .meta: say that before the line
    line = require_line(path, "spikeglx", options.line)
    if _is_imec(path):
        return read_spikeglx_imec_sync(path, line, options.polarity)
    return read_spikeglx_digital(path, line, options.polarity)


_PROBE_IN_NAME = re.compile(r"\.imec(\d*)\.(?:ap|lf)\.bin$", re.IGNORECASE)
_OBX_IN_NAME = re.compile(r"\.obx(\d*)\.obx\.bin$", re.IGNORECASE)


@dataclass(frozen=True)
class SpikeGLXClock:
    """The sample clock a SpikeGLX ``.bin`` was recorded on, and where its sync wave is.

    Attributes
    ----------
    clock_id
        ``"imec<N>"`` (a probe's own crystal), ``"nidq"`` or ``"obx<N>"``.
    rate_hz
        The file's (calibrated) sample rate.
    sync_line
        The digital line that records SpikeGLX's sync wave, in the numbering of the TTL
        ``line`` option: :data:`IMEC_SYNC_BIT` for imec files; the meta's ``syncNiChan`` for
        NIDQ files whose sync input is digital (``syncNiChanType=0``); ``None`` when the meta
        names none (or an analog one).
    """

    clock_id: str
    rate_hz: float
    sync_line: int | None

    @property
    def is_probe(self) -> bool:
        """Whether this is an imec probe clock (not the NIDQ/OneBox that usually is the
        session's reference)."""
        return self.clock_id.startswith("imec")


def spikeglx_clock_of(bin_path: str | Path) -> SpikeGLXClock | None:
    """Which SpikeGLX stream clock a ``.bin`` is on; ``None`` when it is not a SpikeGLX file.

    Reads only the ``.meta`` next to it.

    Raises
    ------
    IngestError
        The ``.meta`` exists but is damaged (see :func:`read_spikeglx_meta`).
    """
    path = Path(bin_path)
    if path.suffix.lower() != ".bin":
        return None
    try:
        meta_path = spikeglx_meta_path(path)
    except IngestError:
        return None  # not SpikeGLX: no .meta next to it
    meta = read_spikeglx_meta(meta_path)
    kind = meta.get("typeThis") or ("imec" if _PROBE_IN_NAME.search(path.name) else "nidq")
    if kind == "imec":
        probe = _PROBE_IN_NAME.search(path.name)
        index = (probe.group(1) or "0") if probe else "0"
        return SpikeGLXClock(f"imec{index}", _rate(meta, "imSampRate"), IMEC_SYNC_BIT)
    if kind == "obx":
        box = _OBX_IN_NAME.search(path.name)
        index = (box.group(1) or "0") if box else "0"
        return SpikeGLXClock(f"obx{index}", _rate(meta, "obSampRate"), _sync_line(meta))
    return SpikeGLXClock("nidq", _rate(meta, "niSampRate"), _sync_line(meta))


def _rate(meta: dict[str, str], key: str) -> float:
    try:
        return float(meta[key])
    except (KeyError, ValueError):
        return float("nan")


def _sync_line(meta: dict[str, str]) -> int | None:
    """The NIDQ/OneBox digital line of the sync input, from ``syncNiChanType``/``syncNiChan``
    (``syncObChanType``/``syncObChan`` on a OneBox)."""
    for prefix in ("syncNi", "syncOb"):
        kind, chan = meta.get(f"{prefix}ChanType"), meta.get(f"{prefix}Chan")
        if kind is not None and chan is not None:
            try:
                return int(chan) if int(kind) == 0 else None
            except ValueError:
                return None
    return None
