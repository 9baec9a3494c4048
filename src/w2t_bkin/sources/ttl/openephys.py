"""Open Ephys binary TTL events folders (GUI 0.4.x to current)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.model.ttl import Polarity
from w2t_bkin.sources.ttl._checks import check_path, require_line
from w2t_bkin.sources.ttl.npy import load_float_times, load_npy, select_edges
from w2t_bkin.sources.ttl.registry import TTLReadOptions, register_ttl_reader


def read_openephys_events(
    folder: str | Path, line: int, polarity: Polarity = "rising"
) -> np.ndarray:
    """Read one line of an Open Ephys binary TTL events folder (GUI 0.4.x to current).

    Two layouts are read:

    - GUI >= 0.6: ``timestamps.npy`` (float64 seconds, already on the recording's synchronised
      clock) and ``states.npy``; ``sample_numbers.npy`` is checked for length when present.
    - GUI 0.4.x and 0.5.x: ``timestamps.npy`` holds int64 **sample numbers** and
      ``channel_states.npy`` the states; the seconds are ``sample_number / sample_rate`` with
      the stream's ``sample_rate`` from ``structure.oebin`` (two folders up). Both layouts thus
      count seconds from the start of acquisition on the source's sample clock (what a 0.6
      ``timestamps.npy`` holds for a stream without cross-stream sync), not from the start of
      the recording.

    Parameters
    ----------
    folder
        ``.../events/<stream>/TTL/`` (0.6) or ``.../events/<stream>/TTL_1/`` (0.4); the stream
        folder ``.../events/<stream>/`` is accepted when it holds one TTL folder.
    line
        Line number as written in ``states.npy`` / ``channel_states.npy`` (from 1; in 0.4.x,
        line ``k`` is bit ``k - 1`` of ``full_words.npy``).
    polarity
        ``"rising"``, ``"falling"`` or ``"both"``.

    Returns
    -------
    numpy.ndarray
        ``(n_edges,) float64`` times in seconds, non-decreasing.

    Raises
    ------
    IngestError
        Not a TTL events folder (binary or text event streams such as ``Tracking_Port``
        ``BINARY_group_*`` are named as such), files of different lengths, a missing
        ``structure.oebin`` or stream entry (0.4.x), or the line has no events.
    """
    folder = _openephys_ttl_folder(Path(folder))
    if not (folder / "states.npy").is_file() and (folder / "channel_states.npy").is_file():
        return _read_openephys_legacy_events(folder, line, polarity)
    missing = [n for n in ("timestamps.npy", "states.npy") if not (folder / n).is_file()]
    if missing:
        raise IngestError(
            f"{folder}: not an Open Ephys TTL events folder, missing {missing}",
            path=folder,
            hint="point to events/<stream>/TTL/ (GUI >= 0.6) or events/<stream>/TTL_1/ (GUI "
            "0.4/0.5) inside a recording folder",
        )
    times_path, states_path = folder / "timestamps.npy", folder / "states.npy"
    times = load_float_times(times_path)
    samples_path = folder / "sample_numbers.npy"
    if samples_path.is_file():
        n_samples = load_npy(samples_path).shape[0]
        if n_samples != times.shape[0]:
            raise IngestError(
                f"{folder}: {times.shape[0]} timestamps but {n_samples} sample numbers",
                path=folder,
                hint="the events folder is incomplete; copy it again",
            )
    return select_edges(times, load_npy(states_path), line, polarity, times_path, states_path)


_OE_NON_TTL_PREFIXES = ("BINARY_group", "TEXT_group")


def _openephys_ttl_folder(folder: Path) -> Path:
    """The TTL folder itself: a stream folder resolves to its one ``TTL``/``TTL_<n>`` child."""
    _refuse_non_ttl_events(folder, folder.name)
    if (folder / "timestamps.npy").exists() or not folder.is_dir():
        return folder
    children = sorted(p.name for p in folder.iterdir() if p.is_dir())
    ttl = [name for name in children if name == "TTL" or re.fullmatch(r"TTL_\d+", name)]
    if len(ttl) == 1:
        return folder / ttl[0]
    if len(ttl) > 1:
        raise IngestError(
            f"{folder}: holds several TTL folders {ttl}",
            path=folder,
            hint="point the channel's 'paths' at one of them",
        )
    non_ttl = [name for name in children if name.startswith(_OE_NON_TTL_PREFIXES)]
    if non_ttl:
        _refuse_non_ttl_events(folder / non_ttl[0], non_ttl[0])
    return folder


def _refuse_non_ttl_events(folder: Path, name: str) -> None:
    if not name.startswith(_OE_NON_TTL_PREFIXES):
        return
    kind = "binary events (e.g. Tracking Port positions)"
    if name.startswith("TEXT"):
        kind = "text events (GUI messages)"
    raise IngestError(
        f"{folder}: holds Open Ephys {kind}, not TTL edges",
        path=folder,
        hint="a TTL channel reads events/<stream>/TTL/ or events/<stream>/TTL_1/ (the folders "
        "with states.npy or channel_states.npy); binary and text event streams carry no "
        "line states",
    )


def _read_openephys_legacy_events(folder: Path, line: int, polarity: Polarity) -> np.ndarray:
    """GUI 0.4.x/0.5.x TTL folder: int64 sample numbers, ``channel_states.npy``, rate from oebin."""
    times_path, states_path = folder / "timestamps.npy", folder / "channel_states.npy"
    samples = load_npy(check_path(times_path))
    if not np.issubdtype(samples.dtype, np.integer):
        raise IngestError(
            f"{times_path}: expected integer sample numbers (Open Ephys 0.4/0.5 layout), found "
            f"dtype {samples.dtype}",
            path=times_path,
            hint="the events folder mixes files of two GUI versions; copy it again",
        )
    rate_hz = _openephys_legacy_rate_hz(folder)
    channels_path = folder / "channels.npy"
    if channels_path.is_file() and load_npy(channels_path).shape != samples.shape:
        raise IngestError(
            f"{channels_path}: {load_npy(channels_path).shape[0]} channels for "
            f"{samples.shape[0]} timestamps in {times_path}",
            path=channels_path,
            hint="the events folder is incomplete; copy it again",
        )
    times_s = samples.astype(np.float64) / rate_hz
    return select_edges(times_s, load_npy(states_path), line, polarity, times_path, states_path)


def _openephys_legacy_rate_hz(folder: Path) -> float:
    """``sample_rate`` of this events folder's entry in ``<recording>/structure.oebin``."""
    import json

    oebin = folder.parent.parent.parent / "structure.oebin"
    relative = f"{folder.parent.name}/{folder.name}"
    if not oebin.is_file():
        raise IngestError(
            f"{folder}: no structure.oebin at {oebin}; its timestamps are sample numbers and "
            "the sample rate is read from there",
            path=folder,
            hint="keep the events folder inside its recording folder "
            "(recordingN/events/<stream>/TTL_1/)",
        )
    try:
        entries = json.loads(oebin.read_text(encoding="utf-8"))["events"]
        rates = [e["sample_rate"] for e in entries if e["folder_name"].strip("/") == relative]
    except (ValueError, KeyError, TypeError) as exc:
        raise IngestError(
            f"{oebin}: not a readable Open Ephys structure file: {exc!r}",
            path=oebin,
            hint="copy structure.oebin again from the acquisition PC",
        ) from None
    if len(rates) != 1 or not isinstance(rates[0], int | float) or rates[0] <= 0:
        raise IngestError(
            f"{oebin}: expected one events entry with folder_name '{relative}/' and a positive "
            f"sample_rate, found {rates}",
            path=oebin,
            hint="the events folder does not belong to this recording; copy both again",
        )
    return float(rates[0])


@register_ttl_reader("openephys", directory=True)
def _read_openephys(path: Path, options: TTLReadOptions) -> np.ndarray:
    line = require_line(path, "openephys", options.line)
    return read_openephys_events(path, line, options.polarity)
