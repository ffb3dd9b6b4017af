"""The lottery's by-sector table and its unassigned warning, on small lotteries built from tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facilities.enrollment import Enrollment, _unassigned_warning
from facilities.lottery import LotteryData, solve
from tests.test_lottery import _frames


def _run(choices: pd.DataFrame, n: int = 6, *, seed: int = 0) -> Enrollment:
    students, _, schools = _frames(n)
    # a third grade that no applicant is in: its seats are not offered by this lottery
    seats = pd.DataFrame(
        [(s, g, k) for s in ("a", "b", "c") for g, k in ((0, 1), (1, 1), (5, 40))],
        columns=["school", "grade", "seats"],
    )
    data = LotteryData.from_frames(students, choices, schools, seats=seats, priorities=["zone"])
    return Enrollment(solve(data, seed=seed), False, False, {})


def _lists(rows: list[tuple[str, list[str]]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(s, k, r + 1) for s, ks in rows for r, k in enumerate(ks)], columns=["student", "school", "rank"]
    )


_EVERYONE_WANTS_A = _lists([(f"p{i}", ["a", "b"]) for i in range(6)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seats_offered_are_the_lotterys_own_seats_by_sector(seed: int) -> None:
    run = _run(_EVERYONE_WANTS_A, seed=seed)
    d, r = run.result.data, run.result
    table = run.by_sector(min_count=0).set_index("sector")
    in_lottery = np.unique(d.grades) + 1
    for sector, row in table.iterrows():
        mine = d.sectors == sector
        assert row["seats_offered"] == d.seats[np.ix_(mine, in_lottery)].sum()
        assert row["seats_offered"] < d.seats[mine].sum(), "grade 5's seats are not offered"
        assert row["placed"] == np.isin(r.assignment, np.flatnonzero(mine)).sum()
        assert row["seats_left"] == row["seats_offered"] - row["placed"] >= 0


def test_unassigned_warning_names_the_short_sector_and_the_full_lists() -> None:
    lists = _EVERYONE_WANTS_A[_EVERYONE_WANTS_A["student"] != "p5"]  # p5 lists no school
    run = _run(lists)
    r = run.result
    lost = r.assignment < 0
    warning = _unassigned_warning(r, run.by_sector(min_count=0))
    assert warning.startswith(f"{lost.sum()} of 6 applicants")
    listed = lost & (r.data.choices[:, 0] >= 0)
    assert f"{listed.sum()} listed only schools full in their grade" in warning
    assert "1 listed no school" in warning
    # all five who list ask district's a first for its 2 seats in grades K and 1
    assert "sectors short of seats" in warning and "district (2 seats for 5)" in warning
    assert "charter (" not in warning and "no sector is short" not in warning


def test_unassigned_warning_without_a_short_sector_says_the_lists_crowd() -> None:
    # p0, p1 (K) list only a; p2, p3 (grade 1) list only b: each sector's 2 seats meet its 2 first
    # choices, yet one K and one grade-1 applicant find their only school full in their grade
    run = _run(_lists([("p0", ["a"]), ("p1", ["a"]), ("p2", ["b"]), ("p3", ["b"])]), n=4)
    table = run.by_sector(min_count=0).set_index("sector")
    assert (table["first_choice"] <= table["seats_offered"]).all()
    warning = _unassigned_warning(run.result, table.reset_index())
    assert warning.startswith("2 of 4 applicants")
    assert "2 listed only schools full in their grade" in warning
    assert "sectors short of seats" not in warning and "listed no school" not in warning
    assert "no sector is short of seats (each offers as many seats as applicants rank it first)" in warning


def test_no_warning_when_everyone_has_a_seat() -> None:
    run = _run(_lists([("p0", ["a"]), ("p2", ["a"]), ("p1", ["b"])]), n=3)
    assert (run.result.assignment >= 0).all()
    assert _unassigned_warning(run.result, run.by_sector(min_count=0)) == ""
