"""Ephys probe clocks onto the session's reference clock (part of the synchronization phase).

A SpikeGLX imec probe samples on its own crystal: edges read from its ``.ap.bin``/``.lf.bin``
sync word (:func:`~w2t_bkin.sources.ttl.read_spikeglx_imec_sync`) are seconds on *that*
clock, which drifts from the NIDQ's by some ppm (tens of ms per hour). SpikeGLX records one
sync square wave on every stream, so a probe is put on the reference clock by fitting its sync
edges to the same wave's edges on the reference (:func:`~w2t_bkin.sync.sync_wave.fit_sync_wave`).

Which channel is which comes from the files themselves, as SpikeGLX writes them:

- a ``[[TTLs]]`` channel read from imec files is on that probe's clock; its channel on line
  :data:`~w2t_bkin.sources.ttl.spikeglx_imec.IMEC_SYNC_BIT` (6, the SY sync input) is the
  probe's sync wave;
- the reference sync wave is the channel read from NIDQ (or OneBox) files on the line that the
  file's ``.meta`` names as the sync input (``syncNiChanType=0``, ``syncNiChan``);
- a session whose TTL channels all come from probes uses the first probe (``imec0``) as its
  reference clock, as SpikeGLX's TPrime does without a NIDQ.

Every channel of a probe is then mapped onto the reference clock before cameras and Bpod use it.
A probe that cannot be related (no sync channel on either side) keeps its own clock, and a
data-quality warning says so.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import replace

from w2t_bkin.config import Config
from w2t_bkin.errors import MetadataError, warn_data_quality
from w2t_bkin.metadata import SessionMetadata, TTLMeta
from w2t_bkin.model.ttl import TTLChannel
from w2t_bkin.sources.ttl.spikeglx_imec import SpikeGLXClock, spikeglx_clock_of
from w2t_bkin.sync.sync_wave import SyncWaveFit, fit_sync_wave

__all__ = ["align_probe_clocks"]

log = logging.getLogger(__name__)


def _clock_of(channel: TTLChannel) -> SpikeGLXClock | None:
    """The SpikeGLX clock of a channel's files (its first file: a channel is one stream)."""
    return spikeglx_clock_of(channel.source_files[0]) if channel.source_files else None


def align_probe_clocks(
    metadata: SessionMetadata, ttl: Mapping[str, TTLChannel], config: Config
) -> tuple[dict[str, TTLChannel], dict[str, SyncWaveFit]]:
    """Map every probe-clock TTL channel onto the reference clock.

    Parameters
    ----------
    metadata
        The session's metadata (``[[TTLs]]`` lines and polarities).
    ttl
        The session's TTL channels as read (each on its own file's clock).
    config
        ``synchronization``: the match tolerance, clock model and piecewise segment.

    Returns
    -------
    tuple
        The TTL channels with probe-clock times replaced by reference times (other channels
        unchanged), and the fit of each probe clock, keyed by the probe's sync channel id.

    Raises
    ------
    SyncError
        A probe's sync edges do not pair with the reference sync wave.
    MetadataError
        The two sync channels of a fit record different edges (polarity).
    """
    clocks = {key: _clock_of(channel) for key, channel in ttl.items()}
    probes: dict[str, list[str]] = {}
    for key in sorted(ttl):
        clock = clocks[key]
        if clock is not None and clock.is_probe:
            probes.setdefault(clock.clock_id, []).append(key)
    if not probes:
        return dict(ttl), {}
    meta_of = {item.id: item for item in metadata.TTLs}
    others = [key for key in sorted(ttl) if key not in {k for ks in probes.values() for k in ks}]
    reference = _reference_sync(others, clocks, meta_of)
    if not others and reference is None:
        first = sorted(probes)[0]
        if len(probes) == 1:
            return dict(ttl), {}  # one probe and nothing else: its clock is the reference
        reference = _probe_sync(first, probes[first], meta_of)
        probes.pop(first)  # the reference probe stays as it is
    mapped = dict(ttl)
    fits: dict[str, SyncWaveFit] = {}
    for probe, keys in sorted(probes.items()):
        sync = _probe_sync(probe, keys, meta_of)
        if sync is None or reference is None:
            warn_data_quality(_unrelated(probe, keys, sync, others), stacklevel=2)
            continue
        _check_polarity(meta_of, sync, reference)
        fit = _fit(ttl[sync], ttl[reference], sync, reference, config)
        fits[sync] = fit
        for key in keys:
            mapped[key] = replace(ttl[key], times_s=fit.to_reference_s(ttl[key].times_s))
        log.info(
            "probe %s (channel %r) on the clock of %r: offset %.6f s, drift %.3f ppm, "
            "%d of %d sync edges matched, residual max %.3f ms (%s)",
            probe,
            sync,
            reference,
            fit.offset_s,
            fit.drift_ppm,
            fit.n_matched,
            fit.n_source,
            fit.residual_max_s * 1e3,
            fit.status,
        )
    return mapped, fits


def _line(meta: TTLMeta | None) -> int | None:
    return None if meta is None else meta.line


def _reference_sync(
    keys: list[str], clocks: Mapping[str, SpikeGLXClock | None], meta_of: Mapping[str, TTLMeta]
) -> str | None:
    """The reference-clock channel on the NIDQ/OneBox line its ``.meta`` names as sync input."""
    for key in keys:
        clock = clocks[key]
        line = _line(meta_of.get(key))
        if clock is not None and clock.sync_line is not None and line == clock.sync_line:
            return key
    return None


def _probe_sync(probe: str, keys: list[str], meta_of: Mapping[str, TTLMeta]) -> str | None:
    """The probe's channel on the SY sync bit."""
    from w2t_bkin.sources.ttl.spikeglx_imec import IMEC_SYNC_BIT

    for key in keys:
        line = _line(meta_of.get(key))
        if line is None or line == IMEC_SYNC_BIT:  # no line given: the reader's default bit
            return key
    return None


def _unrelated(probe: str, keys: list[str], sync: str | None, others: list[str]) -> str:
    what = (
        f"no channel of probe {probe} reads its sync input (line 6 of the imec SY word)"
        if sync is None
        else "no reference channel records the sync wave (a NIDQ/OneBox channel on the line "
        "that its .meta names as syncNiChan)"
    )
    return (
        f"TTL channel(s) {', '.join(repr(k) for k in keys)} are on the clock of probe {probe}, "
        f"and {what}; their times are used as they are, off from the reference channel(s) "
        f"{', '.join(repr(k) for k in others) or '(none)'} by the probe's drift (typically "
        "several ms per hour). Add a [[TTLs]] channel for the sync wave of both streams "
        "(format 'spikeglx', line 6 on the imec file; the syncNiChan line on the NIDQ file)"
    )


def _check_polarity(meta_of: Mapping[str, TTLMeta], sync: str, reference: str) -> None:
    a, b = meta_of.get(sync), meta_of.get(reference)
    if a is not None and b is not None and a.polarity != b.polarity:
        raise MetadataError(
            f"[[TTLs]] {sync!r} (probe sync) has polarity {a.polarity!r} but {reference!r} "
            f"(reference sync) has {b.polarity!r}; the clock fit pairs the same edges of one "
            "sync wave",
            hint=f"give both channels the same polarity (e.g. polarity = {b.polarity!r})",
        )


def _fit(
    source: TTLChannel, reference: TTLChannel, sync: str, ref: str, config: Config
) -> SyncWaveFit:
    sync_cfg = config.synchronization
    fit = functools.partial(
        fit_sync_wave,
        source.times_s,
        reference.times_s,
        clock_id=sync,
        reference_id=ref,
        tolerance_s=sync_cfg.trial_match_tolerance_s,
        segment_s=sync_cfg.piecewise_segment_s,
    )
    if sync_cfg.clock_model != "auto":
        return fit(model=sync_cfg.clock_model)
    linear = fit(model="linear")
    if linear.status == "pass":
        return linear
    piecewise = fit(model="piecewise")
    if piecewise.residual_max_s < linear.residual_max_s and piecewise.n_matched >= linear.n_matched:
        log.info("probe clock %r: drift not constant, using the piecewise-linear model", sync)
        return piecewise
    return linear
