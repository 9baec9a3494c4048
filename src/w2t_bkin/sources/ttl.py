"""TTL pulse readers: text, CSV, NumPy, SpikeGLX NIDQ, Open Ephys binary events, NWB series.

All readers return pulse times in seconds on the acquisition (reference) clock as
``(n_pulses,) float64`` arrays, sorted, and refuse input they cannot read unambiguously: a bad
line is an :class:`~w2t_bkin.errors.IngestError` naming the file and the line, never a value
that is silently skipped.
"""

from __future__ import annotations

import csv
import difflib
import logging
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn

import numpy as np

from w2t_bkin.errors import DataQualityWarning, IngestError

log = logging.getLogger(__name__)

Polarity = Literal["rising", "falling", "both"]
TTLFormat = Literal["auto", "text", "csv", "npy", "spikeglx", "openephys", "bonsai", "nwb"]

_TEXT_SUFFIXES = frozenset({".txt", ".tsv", ".dat", ""})
_SORTED_HINT = (
    "within one file, timestamps must be non-decreasing; if the file is a concatenation of "
    "several recordings, split it into one file per recording and list them all in the "
    "channel's 'paths'"
)


@dataclass(frozen=True)
class TTLChannel:
    """Pulses of one TTL channel, concatenated over its files, sorted and de-duplicated.

    Attributes
    ----------
    channel_id
        The ``[[TTLs]].id`` from metadata.
    times_s
        ``(n_pulses,) float64``: rising-edge times in seconds on the acquisition clock, sorted.
    source_files
        Files the pulses came from, in reading order.
    n_duplicates_dropped
        Exact duplicate timestamps removed while merging files.
    description
        Free text from metadata.
    """

    channel_id: str
    times_s: np.ndarray
    source_files: tuple[Path, ...]
    n_duplicates_dropped: int = 0
    description: str = ""

    @property
    def n_pulses(self) -> int:
        return int(self.times_s.shape[0])


# --- validation shared by all readers --------------------------------------------------------


def _check_times(times_s: np.ndarray, path: Path, where: Callable[[int], str]) -> np.ndarray:
    """Refuse empty, non-finite or decreasing times; ``where(k)`` names the k-th value's place."""
    if times_s.size == 0:
        raise IngestError(
            f"{path}: no timestamps found",
            path=path,
            hint="the file is empty (or holds only comments); remove it from the channel's "
            "'paths' or re-export the pulses",
        )
    bad = np.flatnonzero(~np.isfinite(times_s))
    if bad.size:
        k = int(bad[0])
        raise IngestError(
            f"{path}: {where(k)}: timestamp is {times_s[k]}, expected a finite number of seconds",
            path=path,
            hint="fix or delete that entry",
        )
    decreasing = np.flatnonzero(np.diff(times_s) < 0)
    if decreasing.size:
        k = int(decreasing[0]) + 1
        before, after = float(times_s[k - 1]), float(times_s[k])
        raise IngestError(
            f"{path}: {where(k)}: time decreases from {before!r} to {after!r} s",
            path=path,
            hint=_SORTED_HINT,
        )
    return times_s


def _check_path(path: Path) -> Path:
    if not path.exists():
        raise IngestError(
            f"{path}: TTL file not found",
            path=path,
            hint="check the channel's 'paths' in session.toml",
        )
    return path


# --- text ------------------------------------------------------------------------------------


def read_ttl_text(path: str | Path) -> np.ndarray:
    """Read one timestamp in seconds per line (SpikeGLX/CatGT/TPrime edge files).

    Blank lines and ``#`` comments (whole-line or trailing) are ignored; the last line may lack
    a newline.

    Parameters
    ----------
    path
        Text file.

    Returns
    -------
    numpy.ndarray
        ``(n_pulses,) float64`` times in seconds, non-decreasing.

    Raises
    ------
    IngestError
        The file is missing or empty, a line is not exactly one number (the message names the
        line number and its text), or times decrease.
    """
    path = _check_path(Path(path))
    try:
        # Vectorised C parser first; the line scan below only runs to explain a failure.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy warns on an empty file
            # ndmin=2 keeps a one-line file with two numbers from passing as two timestamps
            table = np.loadtxt(path, dtype=np.float64, comments="#", ndmin=2, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError):
        _raise_bad_text_line(path)
    if table.shape[1] > 1:
        _raise_bad_text_line(path)
    values = table[:, 0] if table.size else np.empty(0, dtype=np.float64)
    return _check_times(values, path, lambda k: _text_line_of_value(path, k))


def _text_data_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` of lines holding data: comments and blanks removed."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        for line_no, raw in enumerate(handle, start=1):
            text = raw.split("#", 1)[0].strip()
            if text:
                yield line_no, text


def _raise_bad_text_line(path: Path) -> NoReturn:
    for line_no, text in _text_data_lines(path):
        fields = text.split()
        try:
            [float(field) for field in fields]
        except ValueError:
            raise IngestError(
                f"{path}: line {line_no}: expected a timestamp in seconds, found {text!r}",
                path=path,
                hint="each line must hold one number (blank lines and '#' comments are "
                "allowed); fix or delete that line",
            ) from None
        if len(fields) != 1:
            raise IngestError(
                f"{path}: line {line_no}: expected one timestamp per line, found "
                f"{len(fields)} fields {text!r}",
                path=path,
                hint="for tables with several columns use a .csv file with a header and set the "
                "channel's 'column'",
            )
    raise IngestError(f"{path}: cannot be parsed as text", path=path)  # pragma: no cover


def _text_line_of_value(path: Path, k: int) -> str:
    for index, (line_no, _) in enumerate(_text_data_lines(path)):
        if index == k:
            return f"line {line_no}"
    return f"value {k}"  # pragma: no cover


# --- CSV -------------------------------------------------------------------------------------


def read_ttl_csv(path: str | Path, column: str) -> np.ndarray:
    """Read pulse times from one column of a CSV file with a header row.

    Parameters
    ----------
    path
        Comma-separated file; the first row names the columns. Blank lines are ignored.
    column
        Header name of the column holding times in seconds.

    Returns
    -------
    numpy.ndarray
        ``(n_pulses,) float64`` times in seconds, non-decreasing.

    Raises
    ------
    IngestError
        Missing file, unknown column (the message lists the columns and the closest match),
        a row with a different number of fields than the header, a non-numeric value, no rows,
        or decreasing times; each names the line.
    """
    path = _check_path(Path(path))
    try:
        cells, line_numbers = _csv_column_cells(path, column)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise IngestError(
            f"{path}: not a readable CSV text file: {exc}",
            path=path,
            hint="save the table as UTF-8 CSV with a header row",
        ) from exc
    values = _csv_floats(path, cells, line_numbers, column)
    return _check_times(values, path, lambda k: f"line {line_numbers[k]}")


def _csv_column_cells(path: Path, column: str) -> tuple[list[str], list[int]]:
    """Cells of ``column`` and their line numbers; ragged rows are errors."""
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next((row for row in reader if row), None)
        if header is None:
            raise IngestError(f"{path}: no header row", path=path, hint="the file is empty")
        header = [name.strip() for name in header]
        col = _csv_column_index(path, header, column)
        cells: list[str] = []
        line_numbers: list[int] = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise IngestError(
                    f"{path}: line {reader.line_num}: expected {len(header)} fields like the "
                    f"header, found {len(row)}",
                    path=path,
                    hint="the row is ragged (a missing or extra separator); fix or delete it",
                )
            cells.append(row[col].strip())
            line_numbers.append(reader.line_num)
    return cells, line_numbers


def _csv_column_index(path: Path, header: list[str], column: str) -> int:
    if column in header:
        return header.index(column)
    close = difflib.get_close_matches(column, header, n=1)
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    raise IngestError(
        f"{path}: no column '{column}'; columns are {header}",
        path=path,
        hint=f"{suggestion}set the channel's 'column' to one of the header names",
    )


def _csv_floats(path: Path, cells: list[str], line_numbers: list[int], column: str) -> np.ndarray:
    try:
        return np.asarray(cells, dtype=np.float64)
    except ValueError:
        for cell, line_no in zip(cells, line_numbers, strict=True):
            try:
                float(cell)
            except ValueError:
                raise IngestError(
                    f"{path}: line {line_no}: column '{column}' holds {cell!r}, expected a "
                    "timestamp in seconds",
                    path=path,
                    hint="fix or delete that row",
                ) from None
        raise  # pragma: no cover


# --- NumPy and Open Ephys --------------------------------------------------------------------


def _load_npy(path: Path) -> np.ndarray:
    _check_path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise IngestError(
            f"{path}: not a readable .npy array: {exc}",
            path=path,
            hint="save timestamps with numpy.save as a plain numeric array",
        ) from exc
    if not isinstance(array, np.ndarray):
        raise IngestError(f"{path}: holds an archive, not one array", path=path)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise IngestError(
            f"{path}: expected a 1-D array, found shape {array.shape}",
            path=path,
            hint="save one timestamp per element",
        )
    return array


def read_ttl_npy(
    path: str | Path,
    states_path: str | Path | None = None,
    line: int | None = None,
    polarity: Polarity = "rising",
) -> np.ndarray:
    """Read times in seconds from a ``.npy`` file, optionally selecting Open Ephys event edges.

    Parameters
    ----------
    path
        ``(n,) float`` array of times in seconds (e.g. camera frame timestamps, or an Open Ephys
        ``timestamps.npy``).
    states_path
        Open Ephys ``states.npy`` ``(n,) int``: ``+k`` is a rising edge on line ``k``, ``-k`` a
        falling edge. When ``None`` and ``line`` is given, ``states.npy`` next to ``path`` is
        used.
    line
        Line number as written in ``states.npy`` (Open Ephys numbers lines from 1).
    polarity
        Edges to keep when states are used: ``"rising"``, ``"falling"`` or ``"both"``.

    Returns
    -------
    numpy.ndarray
        ``(n_pulses,) float64`` times in seconds, non-decreasing.

    Raises
    ------
    IngestError
        Unreadable or non-float array (integers are sample numbers, not seconds), lengths of
        times and states differ, the line has no events, or times decrease.
    """
    path = Path(path)
    times = _load_float_times(path)
    if states_path is None and line is not None:
        states_path = path.with_name("states.npy")
    if states_path is None:
        if polarity == "falling":
            raise IngestError(
                f"{path}: a plain array of times has no falling edges",
                path=path,
                hint="give the Open Ephys states.npy and a line, or use polarity 'rising'",
            )
        return _check_times(times, path, lambda k: f"index {k}")
    if line is None:
        raise IngestError(
            f"{path}: states given but no line selected",
            path=path,
            hint="set the channel's 'line' (Open Ephys line number, from 1)",
        )
    states_path = Path(states_path)
    return _select_edges(times, _load_npy(states_path), line, polarity, path, states_path)


def _load_float_times(path: Path) -> np.ndarray:
    times = _load_npy(path)
    if not np.issubdtype(times.dtype, np.floating):
        raise IngestError(
            f"{path}: expected float times in seconds, found dtype {times.dtype}",
            path=path,
            hint="integer arrays are usually sample numbers; divide them by the sampling rate "
            "and save the result in seconds",
        )
    return times.astype(np.float64, copy=False)


def _select_edges(
    times: np.ndarray,
    states: np.ndarray,
    line: int,
    polarity: Polarity,
    path: Path,
    states_path: Path,
) -> np.ndarray:
    if times.shape != states.shape:
        raise IngestError(
            f"{states_path}: {states.shape[0]} states for {times.shape[0]} timestamps in {path}",
            path=states_path,
            hint="timestamps.npy and states.npy must come from the same events folder",
        )
    if not np.issubdtype(states.dtype, np.integer):
        raise IngestError(
            f"{states_path}: expected integer states (+line rising, -line falling), found "
            f"dtype {states.dtype}",
            path=states_path,
        )
    lines_present = sorted({int(v) for v in np.unique(np.abs(states))})
    if line not in lines_present:
        raise IngestError(
            f"{states_path}: no events on line {line}; lines present: {lines_present}",
            path=states_path,
            hint="set the channel's 'line' to one of the lines present (Open Ephys numbers "
            "lines from 1)",
        )
    wanted = {"rising": [line], "falling": [-line], "both": [line, -line]}[polarity]
    indices = np.flatnonzero(np.isin(states, wanted))
    return _check_times(times[indices], path, lambda k: f"index {indices[k]}")


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
    times = _load_float_times(times_path)
    samples_path = folder / "sample_numbers.npy"
    if samples_path.is_file():
        n_samples = _load_npy(samples_path).shape[0]
        if n_samples != times.shape[0]:
            raise IngestError(
                f"{folder}: {times.shape[0]} timestamps but {n_samples} sample numbers",
                path=folder,
                hint="the events folder is incomplete; copy it again",
            )
    return _select_edges(times, _load_npy(states_path), line, polarity, times_path, states_path)


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
    samples = _load_npy(_check_path(times_path))
    if not np.issubdtype(samples.dtype, np.integer):
        raise IngestError(
            f"{times_path}: expected integer sample numbers (Open Ephys 0.4/0.5 layout), found "
            f"dtype {samples.dtype}",
            path=times_path,
            hint="the events folder mixes files of two GUI versions; copy it again",
        )
    rate_hz = _openephys_legacy_rate_hz(folder)
    channels_path = folder / "channels.npy"
    if channels_path.is_file() and _load_npy(channels_path).shape != samples.shape:
        raise IngestError(
            f"{channels_path}: {_load_npy(channels_path).shape[0]} channels for "
            f"{samples.shape[0]} timestamps in {times_path}",
            path=channels_path,
            hint="the events folder is incomplete; copy it again",
        )
    times_s = samples.astype(np.float64) / rate_hz
    return _select_edges(times_s, _load_npy(states_path), line, polarity, times_path, states_path)


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


# --- SpikeGLX --------------------------------------------------------------------------------


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
class _NidqLayout:
    n_saved_chans: int
    rate_hz: float
    first_word_col: int
    n_words: int


def _nidq_layout(meta: dict[str, str], meta_path: Path) -> _NidqLayout:
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
    return _NidqLayout(n_saved_chans, rate_hz, sum(counts[:3]), counts[3])


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
    bin_path = _check_path(Path(bin_path))
    meta_path = _spikeglx_meta_path(bin_path)
    meta = read_spikeglx_meta(meta_path)
    layout = _nidq_layout(meta, meta_path)
    n_lines = 16 * layout.n_words
    if not 0 <= line < n_lines:
        raise IngestError(
            f"{bin_path}: line {line} is out of range; this file has {layout.n_words} digital "
            f"word(s), lines 0..{n_lines - 1} (acquired lines: {meta.get('niXDChans1', '?')})",
            path=bin_path,
            hint="set the channel's 'line' to the NI digital line number",
        )
    first_sample = _first_sample(meta, meta_path)
    samples = _edge_samples(bin_path, layout, line, polarity, max(1, int(chunk_samples)))
    _warn_on_size_mismatch(bin_path, meta)
    return (samples + first_sample).astype(np.float64) / layout.rate_hz


_CAMERA_LOG_SUFFIXES = ("gpio.bin", "frame_counter.bin")


def _spikeglx_meta_path(bin_path: Path) -> Path:
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


def _first_sample(meta: dict[str, str], meta_path: Path) -> int:
    value = meta.get("firstSample", "0")
    if not value.isdigit():
        raise IngestError(
            f"{meta_path}: firstSample={value!r} is not a non-negative integer",
            path=meta_path,
            hint="the .meta file is damaged; copy it again from the acquisition PC",
        )
    return int(value)


def _edge_samples(
    bin_path: Path, layout: _NidqLayout, line: int, polarity: Polarity, chunk_samples: int
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


def _warn_on_size_mismatch(bin_path: Path, meta: dict[str, str]) -> None:
    expected = meta.get("fileSizeBytes")
    if expected is not None and expected.isdigit() and int(expected) != bin_path.stat().st_size:
        warnings.warn(
            f"{bin_path}: size {bin_path.stat().st_size} bytes differs from fileSizeBytes="
            f"{expected} in the .meta (file truncated or still being written?)",
            DataQualityWarning,
            stacklevel=3,
        )


# --- Bonsai ----------------------------------------------------------------------------------


def read_bonsai_timestamps(path: str | Path) -> np.ndarray:
    """Read the ISO-8601 first column of a Bonsai ``.ssv`` frame log as POSIX seconds.

    Lines look like ``2020-08-19T12:42:57.7903616-04:00 2330554981`` (host time, camera ticks).
    Only the host time is read: it is the Bonsai PC's wall clock, not the acquisition clock.
    The session pipeline therefore refuses such a log as a ``[[TTLs]]`` channel (nothing maps
    the PC clock onto the DAQ); the reader serves checks and analyses of the log itself.

    Returns
    -------
    numpy.ndarray
        ``(n_frames,) float64`` seconds since 1970-01-01 UTC (microsecond resolution at this
        magnitude), non-decreasing.
    """
    import pandas as pd

    path = _check_path(Path(path))
    first: list[str] = []
    line_numbers: list[int] = []
    for line_no, text in _text_data_lines(path):
        first.append(text.split()[0])
        line_numbers.append(line_no)
    try:
        stamps = pd.to_datetime(pd.Series(first, dtype=object), format="ISO8601", utc=True)
    except (ValueError, TypeError):
        for value, line_no in zip(first, line_numbers, strict=True):
            try:
                pd.Timestamp(value)
            except ValueError:
                raise IngestError(
                    f"{path}: line {line_no}: expected an ISO-8601 time, found {value!r}",
                    path=path,
                    hint="fix or delete that line",
                ) from None
        raise
    times = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9
    return _check_times(times, path, lambda k: f"line {line_numbers[k]}")


# --- NWB TimeSeries (analog or digital levels) -----------------------------------------------

# The 0.1 and 99.9 percentiles (robust to a few glitches, yet a pulse train whose high level
# fills >= 0.1 % of the samples still shows it) split the values in two; the low and high
# levels are the medians of each half, so noise does not widen them. At most this many evenly
# spaced samples are used to estimate them, so memory stays bounded for long recordings.
_NWB_LEVEL_PERCENTILES = (0.1, 99.9)
_NWB_LEVEL_SAMPLES = 2_000_000
# Schmitt trigger: a transition needs the signal to cross the far side of a band around the
# threshold, half as wide as the distance to the nearer level; noise inside it makes no edge.
_NWB_HYSTERESIS = 0.5
# More samples than this inside the band: not a two-level (TTL-like) signal. Noisy TTLs keep a
# few % there (the noisiest mock series in neuroconv's examples: 1.3 %); analog traces (sine,
# ramp, Gaussian noise) put 20-26 % there.
_NWB_MAX_BAND_FRACTION = 0.05


def read_nwb_ttl(
    path: str | Path,
    series: str | None,
    polarity: Polarity = "rising",
    threshold: float | None = None,
    chunk_samples: int = 1_000_000,
) -> np.ndarray:
    """Edge times of a TTL recorded as an analog (or integer) NWB ``TimeSeries``.

    The series' values (``data * conversion + offset``) are split into low and high by a
    threshold: by default the midpoint between the series' low and high levels (the medians of
    the values below and above the midpoint of the 0.1 and 99.9 percentiles). A Schmitt
    trigger (hysteresis band of half the distance from the threshold to the nearer level)
    keeps noise from adding edges: the state changes only when the signal reaches the far
    side of the band. The edge time is the time of the
    last sample at which the signal crossed the threshold itself before that change (for a
    clean pulse: the first sample of the new level). A series already high at its first
    sample has no rising edge there. Data are streamed in chunks, so memory stays bounded.

    Times come from the series' ``timestamps`` when it has them, else
    ``starting_time + sample_index / rate``: seconds on the clock of the NWB file the series
    was recorded into, taken as the acquisition clock like any other TTL source.

    Parameters
    ----------
    path
        ``.nwb`` file (HDF5).
    series
        The ``TimeSeries`` name (``"TTLSignal"``) or its path in the file
        (``"acquisition/TTLSignal"``, ``"processing/behavior/TTLSignal"``).
    polarity
        ``"rising"`` (low to high), ``"falling"`` or ``"both"``.
    threshold
        Level separating low from high, in the series' unit (after ``conversion``/``offset``);
        must lie strictly between the estimated levels.
    chunk_samples
        Samples read per chunk.

    Returns
    -------
    numpy.ndarray
        ``(n_edges,) float64`` edge times in seconds, non-decreasing; empty when the series
        never changes level in the wanted direction.

    Raises
    ------
    IngestError
        Unreadable file, no or an unknown or ambiguous series (the message lists the
        ``TimeSeries`` in the file), a series with several channels or non-numeric data,
        timestamps of another length than the data, a constant series, one whose values do
        not fall into two levels (an analog signal, not a TTL), or a threshold outside the
        levels.
    """
    path = _check_path(Path(path))
    import pynwb

    try:
        io = pynwb.NWBHDF5IO(str(path), mode="r")
    except Exception as exc:  # h5py/hdmf raise many types for a file that is not NWB
        raise _not_nwb(path, exc) from exc
    with io:  # closes the file on every path, errors included
        try:
            nwbfile = io.read()
        except Exception as exc:
            raise _not_nwb(path, exc) from exc
        found = _nwb_series(nwbfile, series, path)
        return _nwb_edges(found, path, polarity, threshold, max(1, int(chunk_samples)))


def _not_nwb(path: Path, exc: Exception) -> IngestError:
    return IngestError(
        f"{path}: not a readable NWB file: {exc}",
        path=path,
        hint="the file is damaged or not NWB (HDF5); set the channel's 'format' if it is "
        "another kind of file",
    )


def _nwb_series_paths(nwbfile: object) -> dict[str, object]:
    """``{path in file: TimeSeries}`` of every TimeSeries in an NWB file."""
    from pynwb import TimeSeries

    found: dict[str, object] = {}
    for obj in nwbfile.objects.values():  # type: ignore[attr-defined]
        if isinstance(obj, TimeSeries):
            data = obj.data
            parent = getattr(getattr(data, "parent", None), "name", None)
            found[parent.strip("/") if isinstance(parent, str) else obj.name] = obj
    return found


def _nwb_series(nwbfile: object, series: str | None, path: Path) -> object:
    paths = _nwb_series_paths(nwbfile)
    listing = sorted(paths) or "none"
    if series is None:
        raise IngestError(
            f"{path}: an NWB TTL source needs the TimeSeries to read; the file holds {listing}",
            path=path,
            hint="set the channel's 'column' to the series name or its path in the file",
        )
    wanted = series.strip("/")
    if wanted in paths:
        return paths[wanted]
    by_name = [p for p in paths if p.rsplit("/", 1)[-1] == wanted]
    if len(by_name) == 1:
        return paths[by_name[0]]
    if len(by_name) > 1:
        raise IngestError(
            f"{path}: several TimeSeries are named '{wanted}': {sorted(by_name)}",
            path=path,
            hint="set the channel's 'column' to the full path of the one to read",
        )
    names = [p.rsplit("/", 1)[-1] for p in paths] + list(paths)
    close = difflib.get_close_matches(wanted, names, n=1)
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    raise IngestError(
        f"{path}: no TimeSeries '{wanted}'; the file holds {listing}",
        path=path,
        hint=f"{suggestion}set the channel's 'column' to one of them",
    )


@dataclass(frozen=True)
class _Schmitt:
    threshold: float
    lower: float
    upper: float


def _nwb_edges(
    ts: object, path: Path, polarity: Polarity, threshold: float | None, chunk_samples: int
) -> np.ndarray:
    name = getattr(ts, "name", "?")
    where = f"{path}: TimeSeries '{name}'"
    data = ts.data  # type: ignore[attr-defined]
    shape = tuple(getattr(data, "shape", (len(data),)))
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise IngestError(
            f"{where}: data have shape {shape}, expected one channel (n_samples,)",
            path=path,
            hint="a TTL channel reads one signal; store each line as its own TimeSeries",
        )
    dtype = np.dtype(getattr(data, "dtype", np.asarray(data[:1]).dtype))
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise IngestError(
            f"{where}: data have dtype {dtype}, expected numbers",
            path=path,
            hint="point the channel's 'column' at a TimeSeries of signal levels",
        )
    n = int(shape[0])
    if n < 2:
        raise IngestError(f"{where}: {n} sample(s), no edges can be found", path=path)
    scale = float(getattr(ts, "conversion", 1.0) or 1.0)
    shift = float(getattr(ts, "offset", 0.0) or 0.0)

    def values(start: int, stop: int, step: int = 1) -> np.ndarray:
        raw = np.asarray(data[start:stop:step]).reshape(-1)
        return raw.astype(np.float64) * scale + shift

    trigger = _nwb_trigger(values(0, n, max(1, n // _NWB_LEVEL_SAMPLES)), where, path, threshold)
    indices = _schmitt_edge_indices(values, n, trigger, polarity, chunk_samples)
    times_s = _nwb_sample_times(ts, indices, n, where, path)
    return _check_times(times_s, path, lambda k: f"TimeSeries '{name}' sample {indices[k]}")


def _nwb_trigger(sample: np.ndarray, where: str, path: Path, threshold: float | None) -> _Schmitt:
    if not np.all(np.isfinite(sample)):
        raise IngestError(
            f"{where}: holds NaN or infinite values",
            path=path,
            hint="a TTL signal must be finite everywhere",
        )
    low, high = (float(v) for v in np.percentile(sample, _NWB_LEVEL_PERCENTILES))
    if high > low:
        split = (low + high) / 2
        low, high = (
            float(np.median(sample[sample < split])),
            float(np.median(sample[sample >= split])),
        )
    if not high > low:
        raise IngestError(
            f"{where}: the signal is constant (about {low:g}); it has no pulses, so no edges",
            path=path,
            hint="check that the channel's 'column' names the TTL series",
        )
    if threshold is None:
        threshold = (low + high) / 2
    elif not low < threshold < high:
        raise IngestError(
            f"{where}: threshold {threshold:g} is not between the signal's low and high levels "
            f"{low:g} and {high:g}",
            path=path,
            hint="give a threshold between the two levels, or none for their midpoint",
        )
    half_band = _NWB_HYSTERESIS * min(threshold - low, high - threshold)
    trigger = _Schmitt(threshold, threshold - half_band, threshold + half_band)
    in_band = np.count_nonzero((sample > trigger.lower) & (sample < trigger.upper))
    if in_band > _NWB_MAX_BAND_FRACTION * sample.size:
        raise IngestError(
            f"{where}: not a two-level TTL signal: {in_band / sample.size:.1%} of the values lie "
            f"between {trigger.lower:g} and {trigger.upper:g}, mid-way between its levels "
            f"{low:g} and {high:g}",
            path=path,
            hint="edges are only defined for a signal that switches between two levels (a "
            "TTL); an analog trace such as this one has none. Point the channel at the TTL "
            "series, or give a threshold if the pulses are rarer than 0.1 % of the samples",
        )
    return trigger


def _schmitt_edge_indices(
    values: Callable[[int, int], np.ndarray],
    n: int,
    trigger: _Schmitt,
    polarity: Polarity,
    chunk_samples: int,
) -> np.ndarray:
    """Sample indices of the threshold crossings that the Schmitt trigger confirms as edges.

    Returns ``(n_edges,) int64`` indices ``k`` with ``x[k - 1] < threshold <= x[k]`` (rising)
    or ``x[k - 1] >= threshold > x[k]`` (falling), increasing.
    """
    directions = {"rising": (1,), "falling": (-1,), "both": (1, -1)}[polarity]
    state = 0  # trigger state before the chunk: +1 high, -1 low, 0 not yet known
    above_before: bool | None = None
    last_crossing = {1: -1, -1: -1}  # latest threshold crossing up/down in earlier chunks
    edges: list[np.ndarray] = []
    for start in range(0, n, chunk_samples):
        x = values(start, min(n, start + chunk_samples))
        above = (x >= trigger.threshold).astype(np.int8)
        head = above[:1] if above_before is None else np.array([above_before], dtype=np.int8)
        crossing_step = np.diff(above, prepend=head)
        marks = np.zeros(x.size, dtype=np.int8)
        marks[x >= trigger.upper] = 1
        marks[x <= trigger.lower] = -1
        # Forward-fill the marks: the trigger state after every sample.
        last_mark = np.maximum.accumulate(np.where(marks != 0, np.arange(x.size), -1))
        states = np.where(last_mark >= 0, marks[np.maximum(last_mark, 0)], state).astype(np.int8)
        before = np.concatenate([np.array([state], dtype=np.int8), states[:-1]])
        for direction in (1, -1):
            crossings = np.flatnonzero(crossing_step == direction) + start
            if direction in directions:
                confirmed = np.flatnonzero((states == direction) & (before == -direction)) + start
                # The edge is the last threshold crossing at or before the confirmation.
                pos = np.searchsorted(crossings, confirmed, side="right") - 1
                earlier = np.full(confirmed.shape, last_crossing[direction], dtype=np.int64)
                found = crossings[np.maximum(pos, 0)] if crossings.size else earlier
                edges.append(np.where(pos >= 0, found, earlier).astype(np.int64))
            if crossings.size:
                last_crossing[direction] = int(crossings[-1])
        state = int(states[-1])
        above_before = bool(above[-1])
    return np.sort(np.concatenate(edges)) if edges else np.empty(0, dtype=np.int64)


def _nwb_sample_times(
    ts: object, indices: np.ndarray, n: int, where: str, path: Path
) -> np.ndarray:
    timestamps = getattr(ts, "timestamps", None)
    if timestamps is not None:
        n_stamps = int(getattr(timestamps, "shape", (len(timestamps),))[0])
        if n_stamps != n:
            raise IngestError(
                f"{where}: {n_stamps} timestamps for {n} samples",
                path=path,
                hint="the series is damaged; write it again",
            )
        if indices.size == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(timestamps[indices], dtype=np.float64).reshape(-1)
    rate_hz = getattr(ts, "rate", None)
    start_s = float(getattr(ts, "starting_time", 0.0) or 0.0)
    if rate_hz is None or not rate_hz > 0:
        raise IngestError(
            f"{where}: neither timestamps nor a positive rate ({rate_hz})",
            path=path,
            hint="the series is damaged; write it again",
        )
    return start_s + indices.astype(np.float64) / float(rate_hz)


# --- one channel from its files --------------------------------------------------------------


def ttl_format_of(path: Path, fmt: TTLFormat = "auto") -> TTLFormat:
    """The reader ``load_ttl_channel`` uses for ``path``: ``fmt``, or the one its name implies."""
    return _detect_format(path) if fmt == "auto" else fmt


def _detect_format(path: Path) -> TTLFormat:
    if path.is_dir():
        return "openephys"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".npy":
        return "npy"
    if suffix == ".bin":
        return "spikeglx"
    if suffix == ".ssv":
        return "bonsai"
    if suffix == ".nwb":
        return "nwb"
    if suffix in _TEXT_SUFFIXES:
        return "text"
    raise IngestError(
        f"{path}: cannot tell the TTL format from the extension '{path.suffix}'",
        path=path,
        hint="set the channel's 'format' to text, csv, npy, spikeglx, openephys or nwb",
    )


def _read_one(
    path: Path,
    fmt: TTLFormat,
    column: str | None,
    line: int | None,
    polarity: Polarity,
    threshold: float | None,
) -> np.ndarray:
    if fmt == "auto":
        fmt = _detect_format(_check_path(path))
    if fmt == "nwb":
        return read_nwb_ttl(path, column, polarity, threshold)
    if threshold is not None:  # the other formats hold edges or digital words, not levels
        raise IngestError(
            f"{path}: a threshold applies only to NWB TimeSeries channels, not to {fmt} files",
            path=path,
            hint="remove 'threshold' from this [[TTLs]] entry",
        )
    if fmt == "text":
        return read_ttl_text(path)
    if fmt == "bonsai":
        return read_bonsai_timestamps(path)
    if fmt == "npy":
        return read_ttl_npy(path, line=line, polarity=polarity)
    if fmt == "csv":
        if column is None:
            raise IngestError(
                f"{path}: a CSV TTL file needs a column name",
                path=path,
                hint="set the channel's 'column' in session.toml",
            )
        return read_ttl_csv(path, column)
    if fmt == "spikeglx":
        _spikeglx_meta_path(_check_path(path))  # a .bin without .meta: say that first
    if line is None:
        raise IngestError(
            f"{path}: a {fmt} TTL source needs a digital line",
            path=path,
            hint="set the channel's 'line' in session.toml",
        )
    if fmt == "spikeglx":
        return read_spikeglx_digital(path, line, polarity)
    return read_openephys_events(path, line, polarity)


def load_ttl_channel(
    channel_id: str,
    paths: str | Path | Sequence[str | Path],
    *,
    fmt: TTLFormat = "auto",
    column: str | None = None,
    line: int | None = None,
    polarity: Polarity = "rising",
    threshold: float | None = None,
    description: str = "",
) -> TTLChannel:
    """Read every file of one TTL channel and merge them into one sorted pulse train.

    Parameters
    ----------
    channel_id
        The ``[[TTLs]].id``.
    paths
        The channel's files (or Open Ephys folders), in reading order.
    fmt
        Reader to use; ``"auto"`` chooses by extension: ``.txt`` text, ``.csv`` CSV, ``.npy``
        NumPy, ``.bin`` SpikeGLX, ``.ssv`` Bonsai, ``.nwb`` NWB, a folder Open Ephys.
    column, line, polarity
        Passed to the CSV, SpikeGLX, Open Ephys, NumPy and NWB readers; for NWB ``column``
        names the ``TimeSeries``.
    threshold
        NWB only: level between low and high (default: the midpoint of the series' levels).
    description
        Free text kept on the result.

    Returns
    -------
    TTLChannel
        Times of all files concatenated and sorted; exact duplicates (the same pulse in two
        overlapping files) are dropped, counted in ``n_duplicates_dropped`` and reported with a
        :class:`~w2t_bkin.errors.DataQualityWarning`.
    """
    files = (Path(paths),) if isinstance(paths, str | Path) else tuple(Path(p) for p in paths)
    if not files:
        raise IngestError(
            f"TTL channel '{channel_id}' has no files",
            hint="check the channel's 'paths' glob in session.toml",
        )
    parts = [_read_one(path, fmt, column, line, polarity, threshold) for path in files]
    times_s = np.sort(np.concatenate(parts), kind="stable")
    keep = np.concatenate([[True], np.diff(times_s) != 0])
    n_duplicates = int(times_s.size - np.count_nonzero(keep))
    if n_duplicates:
        warnings.warn(
            f"TTL channel '{channel_id}': dropped {n_duplicates} exact duplicate timestamps "
            f"while merging {len(files)} file(s)",
            DataQualityWarning,
            stacklevel=2,
        )
        times_s = times_s[keep]
    log.debug("TTL channel %s: %d pulses from %d file(s)", channel_id, times_s.size, len(files))
    return TTLChannel(
        channel_id=channel_id,
        times_s=times_s,
        source_files=files,
        n_duplicates_dropped=n_duplicates,
        description=description,
    )
