"""Reading reference-data CSV files: UTF-8, a header row, standard quoting.

Every bad row is reported with its line number; callers import nothing if any row is bad.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

Row = TypeVar("Row")


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def read_rows(
    path: Path,
    columns: Iterable[str],
    parse: Callable[[dict[str, str]], Row],
    key: Callable[[Row], str],
) -> tuple[list[Row], list[RowError]]:
    """Parse every row; collect all errors (header, bad values, duplicate keys)."""
    required = list(columns)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [RowError(0, f"the file is not UTF-8 ({exc.reason} at byte {exc.start})")]
    reader = csv.DictReader(text.splitlines(keepends=True), strict=True)
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in required if name not in header]
    if missing:
        return [], [
            RowError(1, f"missing column(s): {', '.join(missing)}; found: {', '.join(header)}")
        ]
    rows: list[Row] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    line = 1
    try:
        for raw in reader:
            line = reader.line_num
            values: dict[str, Any] = {
                (name or "").strip(): value for name, value in raw.items() if name is not None
            }
            if None in raw:
                errors.append(RowError(line, "more values than columns"))
                continue
            if any(values.get(name) is None for name in required):
                errors.append(RowError(line, "fewer values than columns"))
                continue
            try:
                row = parse({name: str(values[name]).strip() for name in required})
            except ValueError as exc:  # a parser says what is wrong with the row
                errors.append(RowError(line, str(exc)))
                continue
            row_key = key(row)
            if row_key in seen:
                errors.append(
                    RowError(line, f"duplicate key {row_key!r} (first on line {seen[row_key]})")
                )
                continue
            seen[row_key] = line
            rows.append(row)
    except csv.Error as exc:
        errors.append(RowError(line + 1, f"unreadable CSV: {exc}"))
    if not rows and not errors:
        errors.append(RowError(1, "no data rows"))
    return rows, errors
