"""One timestamp in seconds per line: SpikeGLX/CatGT/TPrime edge files, plain text exports."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NoReturn

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.ttl._checks import check_path, check_times, text_data_lines
from w2t_bkin.sources.ttl.registry import TTLReadOptions, register_ttl_reader


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
    path = check_path(Path(path))
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
    return check_times(values, path, lambda k: _text_line_of_value(path, k))


def _raise_bad_text_line(path: Path) -> NoReturn:
    for line_no, text in text_data_lines(path):
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
    for index, (line_no, _) in enumerate(text_data_lines(path)):
        if index == k:
            return f"line {line_no}"
    return f"value {k}"  # pragma: no cover


@register_ttl_reader("text", suffixes=(".txt", ".tsv", ".dat", ""))
def _read_text(path: Path, options: TTLReadOptions) -> np.ndarray:
    return read_ttl_text(path)
