"""Pulse times in one column of a CSV table with a header row."""

from __future__ import annotations

import csv
import difflib
from pathlib import Path

import numpy as np

from w2t_bkin.errors import IngestError
from w2t_bkin.sources.ttl._checks import check_path, check_times
from w2t_bkin.sources.ttl.registry import TTLReadOptions, register_ttl_reader


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
    path = check_path(Path(path))
    try:
        cells, line_numbers = _csv_column_cells(path, column)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise IngestError(
            f"{path}: not a readable CSV text file: {exc}",
            path=path,
            hint="save the table as UTF-8 CSV with a header row",
        ) from exc
    values = _csv_floats(path, cells, line_numbers, column)
    return check_times(values, path, lambda k: f"line {line_numbers[k]}")


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


@register_ttl_reader("csv", suffixes=(".csv",))
def _read_csv(path: Path, options: TTLReadOptions) -> np.ndarray:
    if options.column is None:
        raise IngestError(
            f"{path}: a CSV TTL file needs a column name",
            path=path,
            hint="set the channel's 'column' in session.toml",
        )
    return read_ttl_csv(path, options.column)
