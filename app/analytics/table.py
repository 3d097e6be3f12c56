"""A small numeric CSV reader shared by the built-in analyses.

Comma-separated, blank lines ignored. The first row is a header when any of its cells is not a
number; otherwise the columns are named `c1..cn`. Every data cell must be a finite number or
`nan` (a missing value). Errors are ValueErrors that name the file line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_SHOWN = 40  # longest cell text quoted in an error message


@dataclass(frozen=True)
class Table:
    """Column names and a float matrix of shape (rows, columns)."""

    names: list[str]
    data: np.ndarray
    has_header: bool

    @property
    def width(self) -> int:
        """The number of columns."""
        return len(self.names)

    def index(self, selector: str | int) -> int:
        """The 0-based index of a column chosen by header name or by 1-based index."""
        return column_index(self.names, selector)

    def values(self, index: int) -> np.ndarray:
        """The values of the column at a 0-based index, missing values (NaN) dropped."""
        column = self.data[:, index]
        return column[~np.isnan(column)]

    def column(self, selector: str | int) -> np.ndarray:
        """The values of a column chosen by name or 1-based index, missing values dropped."""
        return self.values(self.index(selector))


def column_index(names: list[str], selector: str | int) -> int:
    """Resolve a header name, or a 1-based index (negative counts from the end), to a 0-based index."""
    if isinstance(selector, bool) or not isinstance(selector, (str, int)):
        raise ValueError(f"a column must be given by name or 1-based index, not {selector!r}")
    text = str(selector).strip()
    matches = [i for i, name in enumerate(names) if name == text]
    if len(matches) > 1:
        numbers = ", ".join(str(i + 1) for i in matches)
        raise ValueError(f"column name {_show(text)} is ambiguous: it names columns {numbers}")
    if matches:
        return matches[0]
    try:
        number = int(text, 10)
    except ValueError:
        raise ValueError(f"no column named {_show(text)}; the columns are {', '.join(names)}") from None
    if 1 <= number <= len(names):
        return number - 1
    if -len(names) <= number <= -1:
        return len(names) + number
    raise ValueError(f"column index {number} is out of range: the table has {len(names)} column(s)")


def read_table(path: Path | str) -> Table:
    """Read a numeric CSV file."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the CSV file is not valid UTF-8 (byte {exc.start})") from None
    return parse_table(text)


def parse_table(text: str) -> Table:
    """Parse numeric CSV text."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise ValueError("the CSV file is empty")
    first = _cells(lines[0][1])
    has_header = any(_number(cell) is None for cell in first)
    if has_header:
        names = [cell.strip('"').strip() or f"c{i}" for i, cell in enumerate(first, 1)]
        lines = lines[1:]
    else:
        names = [f"c{i}" for i in range(1, len(first) + 1)]
    if not lines:
        raise ValueError("the CSV file has a header but no data rows")
    rows = [_row(n, line, len(names)) for n, line in lines]
    return Table(names=names, data=np.array(rows, dtype=float).reshape(len(rows), len(names)), has_header=has_header)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split(",")]


def _row(n: int, line: str, width: int) -> list[float]:
    cells = _cells(line)
    if len(cells) != width:
        raise ValueError(f"line {n}: expected {width} columns, found {len(cells)}")
    row = []
    for column, cell in enumerate(cells, 1):
        value = _number(cell)
        if value is None:
            what = f"{_show(cell)} is not a number" if cell else "empty cell"
            raise ValueError(f"line {n}, column {column}: {what}")
        if math.isinf(value):
            raise ValueError(f"line {n}, column {column}: {_show(cell)} is not a finite number")
        row.append(value)
    return row


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _show(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")
