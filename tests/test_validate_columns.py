"""``parse_column`` parses whole columns at once: its values and its problems (file, row, column,
message, fix, in row order) are those of parsing each cell alone with the kind's parser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facilities._validate import _FIX, _PARSERS, Problems, empty_value, parse_column
from facilities.schema import Field, is_missing

#: Cells of every shape a file gives: texts, numbers, blanks, NA markers, booleans, odd values.
POOL: list[object] = [
    "1.5", " 2 ", "1,000", "abc", "", "  ", "nan", "N/A", "-", "inf", "1_000", "-3", "0", "4.0", "12",
    3, 3.0, 3.5, -2, 0, 2**70, float("nan"), float("inf"), True, False, None, pd.NA,
    "yes", "No", "Y", "maybe", "x",
    "K-5", "6-8", "PK3-8", "PK-3, PK-4", "K", "PK", "Grade 3", "13", "K-15",
    "07:30", "8h30", "7:05", "14:45", "2027-08-01", "01/02/2026", "not a date",
    "district", "charter", "Charter", " catholic ", 4061.0,
    "a; b", "a, b", ";",
    "\u00a0NA\u00a0", "\x1cnull\x1f", "\uff2eone", "  K-5\t", "7\u2009", "\u0130", "caf\u00e9", "12\n",
]  # fmt: skip

FIELDS = [
    Field("seats", "int", minimum=0, default=0),
    Field("count", "int", required=True),
    Field("max_walk", "float", minimum=0, help="farthest walk"),
    Field("lon", "float"),
    Field("gym", "bool"),
    Field("grades", "grades", required=True, help="grades served"),
    Field("grade", "grade"),
    Field("bell_start", "time"),
    Field("available", "date"),
    Field("neighborhoods", "list"),
    Field("id", "str", required=True),
    Field("sector", "str", choices=("district", "charter", "catholic")),
]


def _cell_by_cell(values: pd.Series, spec: Field, rows: list[int], scale: float) -> tuple[list, list]:
    """The meaning of parse_column, one cell at a time: each cell's value and problems."""
    out: list[object] = []
    problems: list[tuple] = []
    for value, row in zip(values.tolist(), rows, strict=True):
        if is_missing(value):
            if spec.required:
                problems.append((row, f"{spec.name} is empty", f"fill in {spec.help or spec.name}"))
            out.append(empty_value(spec))
            continue
        try:
            parsed = _PARSERS[spec.kind](value)
        except (ValueError, TypeError, OverflowError) as err:
            problems.append((row, str(err), _FIX[spec.kind]))
            out.append(empty_value(spec))
            continue
        if spec.kind in ("int", "float"):
            parsed = parsed * scale if scale != 1.0 else parsed
            if spec.minimum is not None and parsed < spec.minimum:
                fix = f"write a value of at least {spec.minimum:g}"
                problems.append((row, f"{spec.name} is {value}, below {spec.minimum:g}", fix))
        if spec.choices is not None and parsed not in spec.choices:
            fix = f"use one of {', '.join(spec.choices)} (or map your values in city.toml "
            fix += f"[layers.<layer>.values.{spec.name}])"
            problems.append((row, f"{value!r} is not a known {spec.name}", fix))
        out.append(parsed)
    return out, problems


def _columns(seed: int) -> list[pd.Series]:
    """Columns drawn from the pool (as object, as pandas reads a file), plus numeric ones."""
    rng = np.random.default_rng(seed)
    picks = [POOL[k] for k in rng.integers(0, len(POOL), size=300)]
    numbers = rng.normal(0, 1000, 300).round(int(rng.integers(0, 3)))
    numbers[rng.random(300) < 0.1] = np.nan
    numbers[rng.random(300) < 0.02] = np.inf
    texts = [str(x) for x in rng.choice(["K-5", "6-8", "9-12", "x", "", "7:30", "3", "-4"], 300)]
    words = [x for x in picks if isinstance(x, str)]
    figures = [f"{x:.3f}" for x in numbers] + [" 7 ", "\u00a012\u00a0", "-0.0", "1_000", "1e3"]
    return [
        pd.Series(picks, dtype=object),
        pd.Series(words, dtype="str"),  # as a CSV is read
        pd.Series(figures, dtype="str"),
        pd.Series(numbers),
        pd.Series(numbers.round()),
        pd.Series(rng.integers(-5, 50, 300)),
        pd.Series(texts, dtype=object),
        pd.Series(texts, dtype="string"),
        pd.Series(rng.random(300) < 0.5),
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("spec", FIELDS, ids=[f.name for f in FIELDS])
def test_a_column_parses_as_its_cells_do(spec: Field, seed: int) -> None:
    for k, values in enumerate(_columns(seed)):
        values.index = values.index * 2 + 7  # a frame's own index, not 0..n-1
        rows = [int(r) + 2 for r in range(len(values))]
        scale = 1609.344 if k % 2 else 1.0
        problems = Problems()
        got = parse_column(
            values, spec, source="students.csv", column="Col", rows=rows, problems=problems, scale=scale
        )
        want, expected = _cell_by_cell(values, spec, rows, scale)
        assert [(p.file, p.column) for p in problems] == [("students.csv", "Col")] * len(problems)
        assert [(p.row, p.message, p.fix) for p in problems] == expected
        assert list(got.index) == list(values.index)
        reference = pd.Series(want, index=values.index, dtype=got.dtype)  # bool columns: None is False
        for a, b in zip(got.astype(object).tolist(), reference.tolist(), strict=True):
            assert (is_missing(a) and is_missing(b)) or a == b or (a != a and b != b), (a, b)


def test_messages_name_file_row_column_and_fix() -> None:
    problems = Problems()
    values = pd.Series(["12", "", "twelve", "-3", "7"], dtype=object)
    spec = Field("seats", "int", required=True, minimum=0, help="seats in the school")
    parse_column(values, spec, source="schools.csv", column="Seats", rows=[2, 3, 4, 5, 6], problems=problems)
    assert [str(p) for p in problems] == [
        "schools.csv, row 3, column 'Seats': seats is empty — fill in seats in the school",
        "schools.csv, row 4, column 'Seats': could not convert string to float: 'twelve' — write a whole "
        "number",
        "schools.csv, row 5, column 'Seats': seats is -3, below 0 — write a value of at least 0",
    ]
    problems = Problems()
    spec = Field("sector", "str", choices=("district", "charter"))
    parse_column(
        pd.Series(["district", "Charter"]),
        spec,
        source="s.csv",
        column="Type",
        rows=[2, 3],
        problems=problems,
    )
    assert [str(p) for p in problems] == [
        "s.csv, row 3, column 'Type': 'Charter' is not a known sector — use one of district, charter (or map "
        "your values in city.toml [layers.<layer>.values.sector])"
    ]


def test_dtypes_are_kept() -> None:
    problems = Problems()
    kw = {"source": "f", "column": "c", "problems": problems}
    ints = parse_column(pd.Series(["1", "", "3"]), Field("n", "int"), rows=[1, 2, 3], **kw)
    assert str(ints.dtype) == "Int64" and ints.isna().tolist() == [False, True, False]
    floats = parse_column(pd.Series([1.0, np.nan, 2.5]), Field("x", "float"), rows=[1, 2, 3], **kw)
    assert floats.dtype == float and floats.iloc[2] == 2.5
    flags = parse_column(pd.Series(["yes", "no"]), Field("b", "bool"), rows=[1, 2], **kw)
    assert flags.dtype == bool and flags.tolist() == [True, False]
    assert not problems
