"""SpikeGLX ``.meta`` files: parsing, the NIDQ channel layout, the ``.meta`` next to a ``.bin``.

Shared by the TTL reader (:mod:`w2t_bkin.sources.ttl.spikeglx`) and, later, the ephys code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from w2t_bkin.errors import IngestError, warn_data_quality

__all__ = [
    "NidqLayout",
    "first_sample_of",
    "nidq_layout",
    "read_spikeglx_meta",
    "spikeglx_meta_path",
    "warn_on_size_mismatch",
]


def read_spikeglx_meta(meta_path: str | Path) -> dict[str, str]:
    """Parse a SpikeGLX ``.meta`` file into ``{key: value}`` strings.

    Lines are ``key=value``; keys starting with ``~`` (channel maps) keep their ``~``.
    """
    meta_path = Path(meta_path)
    meta: dict[str, str] = {}
    with meta_path.open("r", encoding="utf-8", errors="replace") as handle:
        for line_no, raw in enumerate(handle, start=1):
            text = raw.strip()
            if not text:
                continue
            key, sep, value = text.partition("=")
            if not sep:
                raise IngestError(
                    f"{meta_path}: line {line_no}: expected key=value, found {text!r}",
                    path=meta_path,
                    hint="the .meta file is damaged; copy it again from the acquisition PC",
                )
            meta[key.strip()] = value.strip()
    return meta


@dataclass(frozen=True)
class NidqLayout:
    n_saved_chans: int
    rate_hz: float
    first_word_col: int
    n_words: int


def nidq_layout(meta: dict[str, str], meta_path: Path) -> NidqLayout:
    try:
        n_saved_chans = int(meta["nSavedChans"])
        rate_hz = float(meta["niSampRate"])
        counts = [int(v) for v in meta["snsMnMaXaDw"].split(",")]
    except KeyError as exc:
        raise IngestError(
            f"{meta_path}: missing key {exc.args[0]}",
            path=meta_path,
            hint="this is not a SpikeGLX NIDQ .meta file (imec probe files have no digital "
            "word here)",
        ) from None
    except ValueError as exc:
        raise IngestError(f"{meta_path}: unreadable value: {exc}", path=meta_path) from None
    if len(counts) != 4 or sum(counts) != n_saved_chans:
        raise IngestError(
            f"{meta_path}: snsMnMaXaDw={meta['snsMnMaXaDw']} does not add up to "
            f"nSavedChans={n_saved_chans}",
            path=meta_path,
        )
    return NidqLayout(n_saved_chans, rate_hz, sum(counts[:3]), counts[3])


_CAMERA_LOG_SUFFIXES = ("gpio.bin", "frame_counter.bin")


def spikeglx_meta_path(bin_path: Path) -> Path:
    """The ``.meta`` next to a SpikeGLX ``.bin``; a ``.bin`` without one is not SpikeGLX."""
    meta_path = bin_path.with_suffix(".meta")
    if meta_path.is_file():
        return meta_path
    hint = (
        "a SpikeGLX recording is a .bin with the .meta SpikeGLX wrote next to it; copy the "
        ".meta too, or set the channel's 'format' if this is another kind of file"
    )
    if bin_path.name.lower().endswith(_CAMERA_LOG_SUFFIXES):
        hint = (
            "this looks like a per-frame camera log (IBL/Bonsai GPIO states or embedded frame "
            "counter: one value per frame, no times), not TTL pulse times; declare it with the "
            "camera's 'frame_counter' key in [[cameras]] instead of as a [[TTLs]] channel"
        )
    raise IngestError(
        f"{bin_path}: not a SpikeGLX file: no .meta file next to it (expected "
        f"{meta_path.name}); a .bin is read as a SpikeGLX NIDQ recording",
        path=bin_path,
        hint=hint,
    )


def first_sample_of(meta: dict[str, str], meta_path: Path) -> int:
    value = meta.get("firstSample", "0")
    if not value.isdigit():
        raise IngestError(
            f"{meta_path}: firstSample={value!r} is not a non-negative integer",
            path=meta_path,
            hint="the .meta file is damaged; copy it again from the acquisition PC",
        )
    return int(value)


def warn_on_size_mismatch(bin_path: Path, meta: dict[str, str]) -> None:
    expected = meta.get("fileSizeBytes")
    if expected is not None and expected.isdigit() and int(expected) != bin_path.stat().st_size:
        warn_data_quality(
            f"{bin_path}: size {bin_path.stat().st_size} bytes differs from fileSizeBytes="
            f"{expected} in the .meta (file truncated or still being written?)",
            stacklevel=3,
        )
