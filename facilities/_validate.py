"""Gather every problem of a city's inputs into one :class:`ValidationError`.

Parsing never raises on bad values: each bad cell becomes a :class:`Problem` that names the file,
the row (as the user sees it in the file), the column and what to do; the caller raises one error
with all of them, so a user fixes a file in one pass and nothing is half-loaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from facilities.schema import (
    _MISSING_STRINGS,
    Field,
    Layer,
    is_missing,
    parse_grade,
    parse_grades,
    parse_time,
)

__all__ = ["Problem", "ValidationError", "Problems"]

_MAX_SHOWN = 50
_MAX_OF_A_KIND = 5


@dataclass(frozen=True)
class Problem:
    """One problem found in a city's inputs.

    Attributes
    ----------
    file
        The file (or layer) where it was found.
    row
        The row as the user sees it (a CSV's line number, a spreadsheet's row), or ``None``.
    column
        The user's column name (a ``city.toml`` key; a command-line option such as ``--out``), or
        ``None``.
    message
        What is wrong.
    fix
        What to do about it.
    """

    file: str
    row: int | None
    column: str | None
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = self.file
        toml = self.file.endswith(".toml")
        if self.row is not None:
            where += f", table {self.row}" if toml else f", row {self.row}"
        if self.column:
            kind = "key" if toml else "option" if self.column.startswith("--") else "column"
            where += f", {kind} {self.column!r}"
        text = f"{where}: {self.message}"
        return f"{text} — {self.fix}" if self.fix else text


class ValidationError(ValueError):
    """Every problem found in a city's inputs, in one error.

    Attributes
    ----------
    problems
        The problems, in the order found.
    """

    def __init__(self, problems: Iterable[Problem], *, city: str = "the city") -> None:
        self.problems: list[Problem] = list(problems)
        self.city = city
        n = len(self.problems)
        lines = [f"{n} problem{'s' if n != 1 else ''} in {city}:"]
        lines += [f"  {line}" for line in _collapsed(self.problems)[:_MAX_SHOWN]]
        if len(lines) > _MAX_SHOWN:
            lines.append("  ... and more of the same kinds")
        super().__init__("\n".join(lines))


def _collapsed(problems: list[Problem]) -> list[str]:
    """One line a problem; a kind of problem repeated on many rows of one column (same file, column and
    fix) shows its first rows, then one line counting the rest."""
    kinds: dict[tuple[str, str | None, str], list[Problem]] = {}
    for p in problems:
        kinds.setdefault((p.file, p.column, p.fix), []).append(p)
    lines: list[str] = []
    for (file, column, _), group in kinds.items():
        lines += [f"- {p}" for p in group[:_MAX_OF_A_KIND]]
        rest = group[_MAX_OF_A_KIND:]
        if rest:
            rows = ", ".join(str(p.row) for p in rest[:8] if p.row is not None)
            where = f"{file}, column {column!r}" if column else file
            listed = f" (rows {rows}, ...)" if rows else ""
            lines.append(f"  ... and {len(rest):,} more rows like these in {where}{listed}")
    return lines


class Problems(list[Problem]):
    """A list of problems with a helper to add one and to raise them all at once.

    The same problem (file, row, column and message) found by two checks is recorded once.
    """

    def add(self, file: str, row: int | None, column: str | None, message: str, fix: str = "") -> None:
        """Record a problem (unless the same one is already recorded)."""
        seen: set[tuple] = self.__dict__.setdefault("_seen", set())
        key = (file, row, column, message)
        if key in seen:
            return
        seen.add(key)
        self.append(Problem(file, row, column, message, fix))

    def raise_if_any(self, *, city: str) -> None:
        """Raise a :class:`ValidationError` holding every problem, if there is any."""
        if self:
            raise ValidationError(self, city=city)


# --------------------------------------------------------------------------------------------
# Value parsers: each returns the parsed value or raises ValueError with a short reason.

_TRUE = {"true", "t", "yes", "y", "1", "1.0", "x"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def parse_bool(value: object) -> bool:
    """Parse yes/no, true/false, 1/0."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not yes or no")


def parse_number(value: object, *, integer: bool) -> float | int:
    """Parse a number; integers must be whole."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, str):
        number = float(value.replace(",", "").strip())
    else:
        number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    if integer:
        if not number.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    return number


def parse_date(value: object) -> pd.Timestamp:
    """Parse a date (ISO ``YYYY-MM-DD`` preferred)."""
    stamp = pd.to_datetime(value, errors="coerce")
    if stamp is pd.NaT or pd.isna(stamp):
        raise ValueError(f"{value!r} is not a date (write YYYY-MM-DD)")
    return pd.Timestamp(stamp).normalize()


def parse_list(value: object) -> tuple[str, ...]:
    """Split ``'a; b'`` or ``'a, b'`` into a tuple of stripped strings (a sequence is kept as it is)."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return tuple(str(x).strip() for x in value if str(x).strip())
    text = str(value)
    parts = text.split(";") if ";" in text else text.split(",")
    return tuple(p.strip() for p in parts if p.strip())


def parse_str(value: object) -> str:
    """A string; whole floats read from spreadsheets lose their ``.0`` (``4061.0`` → ``'4061'``)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


_PARSERS: dict[str, Callable[[object], object]] = {
    "str": parse_str,
    "int": lambda v: parse_number(v, integer=True),
    "float": lambda v: parse_number(v, integer=False),
    "bool": parse_bool,
    "grades": parse_grades,
    "grade": parse_grade,
    "time": parse_time,
    "date": parse_date,
    "list": parse_list,
}

_FIX = {
    "str": "write text",
    "int": "write a whole number",
    "float": "write a number",
    "bool": "write yes or no",
    "grades": "write grades like 'K-5', '6-8' or 'PK,K,1'",
    "grade": "write PK, K or 1-12",
    "time": "write a time like 07:30",
    "date": "write a date like 2027-08-01",
    "list": "separate values with ';'",
}

_EMPTY: dict[str, object] = {"int": pd.NA, "float": np.nan, "time": np.nan, "date": pd.NaT}


def empty_value(spec: Field) -> object:
    """The value a missing cell of ``spec`` takes: its default, or the kind's NA."""
    return spec.default if spec.default is not None else _EMPTY.get(spec.kind)


def parse_column(
    values: pd.Series,
    spec: Field,
    *,
    source: str,
    column: str,
    rows: Iterable[int | None],
    problems: Problems,
    scale: float = 1.0,
) -> pd.Series:
    """Parse one column to its canonical kind, recording a problem for every bad cell.

    Whole columns at once: empty cells are found with pandas, numbers are checked with numpy, and
    each distinct text is parsed once; the problems are those of parsing cell by cell, in row order.

    Parameters
    ----------
    values
        The raw column.
    spec
        The canonical field it maps to.
    source, column
        The user's file and column name, for messages.
    rows
        The user-visible row number of each value.
    problems
        Where problems are recorded.
    scale
        Unit factor applied to numbers (e.g. miles to metres).

    Returns
    -------
    pandas.Series
        Parsed values (missing cells hold the field default, or NA).
    """
    raw = values.tolist()
    rows = list(rows)
    if len(rows) != len(raw):
        raise ValueError(f"{len(rows)} row numbers for {len(raw)} values of {source}, column {column!r}")
    missing = _missing(values, raw)
    number = spec.kind in ("int", "float")
    parsed, errors = _parse_cells(values, raw, missing, spec.kind)
    failed = errors != None  # noqa: E711 - elementwise, on an object array
    ok = ~missing & ~failed
    if number and scale != 1.0:
        parsed[ok] = parsed[ok] * scale
    below = np.zeros(len(raw), dtype=bool)
    if number and spec.minimum is not None:
        below[ok] = parsed[ok].astype(float) < spec.minimum
    unknown = np.zeros(len(raw), dtype=bool)
    if spec.choices is not None:
        unknown[ok] = [value not in spec.choices for value in parsed[ok]]
    required = missing & spec.required
    for i in np.flatnonzero(required | failed | below | unknown).tolist():
        row, value = rows[i], raw[i]
        if required[i]:
            problems.add(source, row, column, f"{spec.name} is empty", f"fill in {spec.help or spec.name}")
            continue
        if failed[i]:
            problems.add(source, row, column, errors[i], _FIX[spec.kind])
            continue
        if below[i]:
            problems.add(
                source,
                row,
                column,
                f"{spec.name} is {value}, below {spec.minimum:g}",
                f"write a value of at least {spec.minimum:g}",
            )
        if unknown[i]:
            problems.add(
                source,
                row,
                column,
                f"{value!r} is not a known {spec.name}",
                f"use one of {', '.join(spec.choices or ())} (or map your values in city.toml "
                f"[layers.<layer>.values.{spec.name}])",
            )
    out = _objects([empty_value(spec)], np.zeros(len(raw), dtype=np.int64))
    out[ok] = parsed[ok]
    out = out.tolist()
    dtype: object = object
    if spec.kind == "int":
        dtype = "Int64"
    elif spec.kind in ("float", "time"):
        dtype = float
    elif spec.kind == "bool" and not values.isna().any():
        dtype = bool
    elif spec.kind == "date":
        dtype = "datetime64[ns]"
    try:
        return pd.Series(out, index=values.index, dtype=dtype)
    except (TypeError, ValueError, OverflowError):  # e.g. a whole number past 64 bits
        return pd.Series(out, index=values.index, dtype=object)


def _missing(values: pd.Series, raw: list[object]) -> np.ndarray:
    """:func:`facilities.schema.is_missing` of every cell: with pandas for text and number columns
    (pandas strips the same whitespace as Python), cell by cell for columns of other objects."""
    if isinstance(values.dtype, pd.StringDtype):
        blank = values.str.strip().str.lower().isin(_MISSING_STRINGS).to_numpy(dtype=bool)
        return values.isna().to_numpy(dtype=bool) | blank
    if values.dtype.kind in "biufM":
        return values.isna().to_numpy(dtype=bool, copy=True)
    return np.fromiter(map(is_missing, raw), dtype=bool, count=len(raw))


def _parse_cells(
    values: pd.Series, raw: list[object], missing: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """Each present cell parsed by the kind's parser, and each one's error message (``None`` when it
    parsed), as object arrays: texts stripped and numbers read with pandas and numpy, each distinct
    text of other kinds parsed once, other cells one by one."""
    parsed = np.full(len(raw), None, dtype=object)
    errors = np.full(len(raw), None, dtype=object)
    present = np.flatnonzero(~missing)
    text = isinstance(values.dtype, pd.StringDtype)
    cells = values.to_numpy(dtype=object)[present]
    kinds = {str} if text else set(map(type, cells))
    numbers = _numbers(cells, kind) if kinds and kinds <= {str, int, float} else None
    parse = _PARSERS[kind]
    if numbers is not None:
        bad = ~np.isfinite(numbers) | (np.abs(numbers) >= 2.0**63)  # huge numbers: one by one below
        if kind == "int":
            bad |= numbers != np.trunc(numbers)
        good = numbers[~bad]
        parsed[present[~bad]] = (good.astype(np.int64) if kind == "int" else good).astype(object)
        one_by_one = present[bad]
    elif text and kind == "str":  # a text is itself, stripped
        parsed[present] = values.str.strip().to_numpy(dtype=object)[present]
        one_by_one = present[:0]
    elif kinds == {str}:
        codes, distinct = pd.factorize(cells)
        results = [_parse_one(parse, cell) for cell in distinct]
        parsed[present] = _objects([value for value, _ in results], codes)
        errors[present] = _objects([error for _, error in results], codes)
        one_by_one = present[:0]
    else:
        one_by_one = present
    for i in one_by_one.tolist():
        parsed[i], errors[i] = _parse_one(parse, raw[i])
    return parsed, errors


def _numbers(cells: np.ndarray, kind: str) -> np.ndarray | None:
    """Numbers as ``float`` reads them, when the kind is a number and every cell reads as one (texts
    with thousands separators and other cells the parser must explain give ``None``)."""
    if kind not in ("int", "float"):
        return None
    try:
        return cells.astype(float)
    except (ValueError, TypeError, OverflowError):
        return None


def _objects(distinct: list[object], codes: np.ndarray) -> np.ndarray:
    """``distinct[code]`` for each code, as an object array (values may be tuples)."""
    table = np.empty(len(distinct), dtype=object)
    for k, value in enumerate(distinct):
        table[k] = value
    return table[codes]


def _parse_one(parse: Callable[[object], object], value: object) -> tuple[object, str | None]:
    try:
        return parse(value), None
    except (ValueError, TypeError, OverflowError) as err:
        return None, str(err)


def check_unique_ids(
    ids: pd.Series, *, source: str, column: str, rows: list[int | None], problems: Problems
) -> None:
    """Record a problem for every id that repeats an earlier one."""
    seen: dict[object, int | None] = {}
    for value, row in zip(ids.tolist(), rows, strict=True):
        if is_missing(value):
            continue
        if value in seen:
            first = seen[value]
            problems.add(
                source, row, column, f"id {value!r} repeats row {first}", "give every row its own id"
            )
        else:
            seen[value] = row


def check_layer_columns(
    layer: Layer, available: Iterable[str], mapping: dict[str, str], *, source: str, problems: Problems
) -> None:
    """Record missing required columns and mappings to columns that don't exist."""
    have = set(available)
    known = {f.name for f in layer.fields}
    for name, column in mapping.items():
        if name not in known:
            problems.add(
                source,
                None,
                column,
                f"{name!r} is not a field of {layer.name}",
                f"map only {', '.join(sorted(known))}",
            )
        elif column not in have:
            problems.add(
                source,
                None,
                column,
                f"column {column!r} (for {name}) is not in the file",
                f"the file has: {', '.join(sorted(map(str, have)))[:300]}",
            )
    for f in layer.fields:
        if f.required and f.name not in mapping and f.name not in have:
            problems.add(
                source,
                None,
                f.name,
                f"required column for {f.name} ({f.help}) is missing",
                f'add it, or map it in city.toml: [layers.{layer.name}.columns] {f.name} = "your column"',
            )


def check_bell_times(
    frame: pd.DataFrame, *, source: str, rows: list[int | None], columns: tuple[str, str], problems: Problems
) -> None:
    """Record impossible bell times: dismissal before the start, or a start outside 05:00-12:00."""
    for start, end, row in zip(frame["bell_start"].tolist(), frame["bell_end"].tolist(), rows, strict=True):
        if start == start and not 5 * 3600 <= start <= 12 * 3600:
            problems.add(
                source,
                row,
                columns[0],
                f"a morning bell at {int(start) // 3600:02d}:{int(start) % 3600 // 60:02d} is not between "
                "05:00 and 12:00",
                "check the time (24-hour HH:MM)",
            )
        if start == start and end == end and end <= start:
            problems.add(
                source,
                row,
                columns[1],
                "dismissal is not after the morning bell",
                "write the dismissal time, later than the start",
            )
