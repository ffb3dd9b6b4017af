"""The unified lottery checked against priorities read from the INPUT tables, never the solver's keys.

Each school's order of its applicants is rebuilt here from the students' attributes
(``current_school``, ``siblings``, ``zone``, homes within ``proximity_m``, ``equity``,
``staff_school``) and the city's order of the rules, then the lottery number breaks ties. Against
that order the assignment must be stable (no student and school that would both rather be
matched), seats by grade must never be exceeded, every match must be on the student's list, and
the zone guarantee must leave no resident unassigned while one of the zone's schools has a seat in
their grade. A lottery that ignored the tiers, dropped a rule or counted seats by school instead of
by grade fails here; the tests in ``test_lottery.py`` check stability with the solver's own keys,
which such a bug would change too.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from facilities.lottery import LotteryData, LotteryResult, solve

RULES = ("continuing", "sibling", "zone", "proximity", "equity", "staff")
PROXIMITY_M = 800.0
#: Orders of the rules a city may choose (best first), and one with equal tiers.
ORDERS: tuple[tuple[str, ...] | dict[str, int], ...] = (
    ("continuing", "sibling", "zone"),
    ("sibling", "proximity", "continuing", "equity", "staff", "zone"),
    ("equity", "zone", "staff"),
    {"continuing": 0, "sibling": 1, "zone": 1, "proximity": 2, "staff": 0},
)


def _tables(
    seed: int, n: int = 14, m: int = 4
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Random students (every attribute a rule reads), schools, ranked lists and seats by grade.

    Seats are scarce (0-3 per school and grade) and many students hold some priority, so that
    tiers decide who is admitted.
    """
    rng = np.random.default_rng(seed)
    school_ids = [f"s{j}" for j in range(m)]
    schools = pd.DataFrame(
        {
            "id": school_ids,
            "sector": rng.choice(["district", "charter", "catholic"], m),
            "zone": rng.choice(["east", "west", ""], m),
            "x": rng.uniform(0, 3000, m),
            "y": rng.uniform(0, 3000, m),
        }
    )
    seats = pd.DataFrame(
        [(s, g, int(rng.integers(0, 4))) for s in school_ids for g in (0, 1)],
        columns=["school", "grade", "seats"],
    )
    seats.loc[seats.groupby("school")["seats"].idxmax(), "seats"] += 1  # every school offers some grade

    def some_school(p: float) -> list[str]:
        return [str(rng.choice(school_ids)) if rng.random() < p else "" for _ in range(n)]

    students = pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(n)],
            "grade": rng.integers(0, 2, n),
            "zone": rng.choice(["east", "west", ""], n),
            "x": rng.uniform(0, 3000, n),
            "y": rng.uniform(0, 3000, n),
            "current_school": some_school(0.3),
            "siblings": [
                ";".join(rng.choice(school_ids, int(rng.integers(1, 3)), replace=False))
                if rng.random() < 0.4
                else ""
                for _ in range(n)
            ],
            "equity": rng.random(n) < 0.3,
            "staff_school": some_school(0.15),
        }
    )
    offered = {g: seats.loc[(seats["grade"] == g) & (seats["seats"] > 0), "school"].tolist() for g in (0, 1)}
    rows = []
    for sid, g in zip(students["id"], students["grade"], strict=True):
        ranked = rng.permutation(offered[g])[: int(rng.integers(0, 4))]
        rows += [(sid, s, r + 1) for r, s in enumerate(ranked)]
    choices = pd.DataFrame(rows, columns=["student", "school", "rank"])
    return students, schools, choices, seats


def _tier_of(order: tuple[str, ...] | dict[str, int], student: pd.Series, school: pd.Series) -> int:
    """The tier of a student at a school, read from the input rows (lower is admitted first)."""
    tiers = dict(order) if isinstance(order, dict) else {rule: k for k, rule in enumerate(order)}
    siblings = {s.strip() for s in str(student["siblings"]).split(";") if s.strip()}
    holds = {
        "continuing": student["current_school"] == school["id"],
        "sibling": school["id"] in siblings,
        "zone": student["zone"] != "" and student["zone"] == school["zone"],
        "proximity": math.hypot(student["x"] - school["x"], student["y"] - school["y"]) <= PROXIMITY_M,
        "equity": bool(student["equity"]),
        "staff": student["staff_school"] == school["id"],
    }
    met = [tier for rule, tier in tiers.items() if holds[rule]]
    return min(met) if met else max(tiers.values()) + 1


class _Input:
    """The instance as the input tables say it: lists, seats by grade, each school's applicant order."""

    def __init__(
        self, students: pd.DataFrame, schools: pd.DataFrame, choices: pd.DataFrame, seats: pd.DataFrame, order
    ) -> None:  # type: ignore[no-untyped-def]
        self.students = students.set_index("id", drop=False)
        self.schools = schools.set_index("id", drop=False)
        self.grade = dict(zip(students["id"], students["grade"], strict=True))
        self.lists = {s: list(g.sort_values("rank")["school"]) for s, g in choices.groupby("student")}
        self.seats = {(s, g): n for s, g, n in seats.itertuples(index=False)}
        self.tier = {
            (s, k): _tier_of(order, self.students.loc[s], self.schools.loc[k])
            for s, k in zip(choices["student"], choices["school"], strict=True)
        }


def _assigned(result: LotteryResult) -> dict[str, str]:
    d = result.data
    return {d.student_ids[i]: d.school_ids[a] for i, a in enumerate(result.assignment) if a >= 0}


def _within_seats(inp: _Input, assigned: dict[str, str]) -> None:
    used: dict[tuple[str, int], int] = {}
    for s, k in assigned.items():
        used[k, inp.grade[s]] = used.get((k, inp.grade[s]), 0) + 1
    over = {key: n for key, n in used.items() if n > inp.seats.get(key, 0)}
    assert not over, f"seats by grade exceeded: {over}"


def _blocking_pairs(
    inp: _Input, assigned: dict[str, str], lottery_rank: dict[tuple[str, str], int]
) -> list[tuple[str, str]]:
    """(student, school) pairs that would both rather be matched: the school has a free seat in the
    student's grade, or holds a student of that grade it orders after this one (input tier, then lottery)."""
    held: dict[tuple[str, int], list[str]] = {}
    for s, k in assigned.items():
        held.setdefault((k, inp.grade[s]), []).append(s)
    pairs = []
    for s, ranked in inp.lists.items():
        mine = assigned.get(s)
        better = ranked[: ranked.index(mine)] if mine in ranked else ranked
        for k in better:
            mates = held.get((k, inp.grade[s]), [])
            key = (inp.tier[s, k], lottery_rank[s, k])
            if len(mates) < inp.seats.get((k, inp.grade[s]), 0) or any(
                (inp.tier[t, k], lottery_rank[t, k]) > key for t in mates
            ):
                pairs.append((s, k))
    return pairs


def _lottery_rank(result: LotteryResult, inp: _Input) -> dict[tuple[str, str], int]:
    """Each applicant's lottery position at each school it ranks: the single lottery's number, or the
    per-school draw (the part of the key below the tier: ``key mod (n + 1)``)."""
    d = result.data
    out = {}
    for i, s in enumerate(d.student_ids):
        for j, c in enumerate(d.choices[i]):
            if c >= 0:
                draw = (
                    int(result.lottery_number[i])
                    if result.lottery == "single"
                    else int(result.keys[i, j] % (d.n_students + 1))
                )
                out[s, d.school_ids[c]] = draw
    assert set(out) == set(inp.tier)
    return out


CASES = [(seed, k) for seed in range(24) for k in range(len(ORDERS))]


@pytest.mark.parametrize("lottery", ["single", "per_school"])
def test_stable_against_input_priorities_and_within_seats_by_grade(lottery: str) -> None:
    tiers_mattered = 0
    for seed, k in CASES:
        students, schools, choices, seats = _tables(seed)
        order = ORDERS[k]
        data = LotteryData.from_frames(
            students, choices, schools, priorities=order, seats=seats, proximity_m=PROXIMITY_M
        )
        result = solve(data, seed=seed, lottery=lottery)
        inp = _Input(students, schools, choices, seats, order)
        assigned = _assigned(result)
        _within_seats(inp, assigned)
        for (
            s,
            school,
        ) in assigned.items():  # a lottery match is a school on the student's list, at its recorded rank
            i = list(data.student_ids).index(s)
            assert inp.lists[s][result.choice_rank[i]] == school, (seed, s)
        rank = _lottery_rank(result, inp)
        assert _blocking_pairs(inp, assigned, rank) == [], f"seed {seed}, order {order}"
        # the same assignment is not stable when the tiers are ignored: the tiers really decided
        flat = _Input(students, schools, choices, seats, {r: 0 for r in RULES})
        tiers_mattered += bool(_blocking_pairs(flat, assigned, rank))
    assert tiers_mattered >= len(CASES) // 4  # the instances give the tiers something to decide


def test_seats_counted_by_grade_not_by_school() -> None:
    """A school with seats in grade 1 only admits no more grade-0 students than its grade-0 seats,
    however many grade-1 seats stay empty."""
    students = pd.DataFrame({"id": [f"p{i}" for i in range(5)], "grade": [0, 0, 0, 0, 1]})
    schools = pd.DataFrame({"id": ["a", "b"]})
    seats = pd.DataFrame({"school": ["a", "a", "b"], "grade": [0, 1, 0], "seats": [1, 6, 5]})
    choices = pd.DataFrame(
        {
            "student": [f"p{i}" for i in range(4)] * 2,
            "school": ["a"] * 4 + ["b"] * 4,
            "rank": [1] * 4 + [2] * 4,
        }
    )
    result = solve(LotteryData.from_frames(students, choices, schools, priorities=[], seats=seats), seed=3)
    placed = pd.Series(_assigned(result))
    assert (placed == "a").sum() == 1 and (placed == "b").sum() == 3


def test_a_better_tier_always_beats_a_better_lottery_number() -> None:
    """Two applicants for one seat: the continuing student wins whatever the draw."""
    students = pd.DataFrame({"id": ["new", "continuing"], "grade": [0, 0], "current_school": ["", "a"]})
    schools = pd.DataFrame({"id": ["a"]})
    seats = pd.DataFrame({"school": ["a"], "grade": [0], "seats": [1]})
    choices = pd.DataFrame({"student": ["new", "continuing"], "school": ["a", "a"], "rank": [1, 1]})
    data = LotteryData.from_frames(students, choices, schools, priorities=["continuing"], seats=seats)
    for seed in range(12):  # both lottery orders occur among these seeds
        for lottery in ("single", "per_school"):
            assert _assigned(solve(data, seed=seed, lottery=lottery)) == {"continuing": "a"}


@pytest.mark.parametrize("seed", range(20))
def test_guarantee_leaves_no_resident_out_while_a_zone_school_has_room(seed: int) -> None:
    students, schools, choices, seats = _tables(seed, n=16)
    order = ("continuing", "zone")
    data = LotteryData.from_frames(
        students, choices, schools, priorities=order, seats=seats, proximity_m=PROXIMITY_M
    )
    zones = {z: schools.loc[schools["zone"] == z, "id"].tolist() for z in ("east", "west")}
    zones = {z: ids for z, ids in zones.items() if ids}
    plain = solve(data, seed=seed)
    result = solve(data, seed=seed, guarantee=zones)
    inp = _Input(students, schools, choices, seats, order)
    before, after = _assigned(plain), _assigned(result)
    _within_seats(inp, after)
    assert {s: k for s, k in after.items() if s in before} == before  # the lottery's matches stand
    guaranteed = {data.student_ids[i] for i in np.flatnonzero(result.guaranteed)}
    assert guaranteed == set(after) - set(before)
    zone_of = dict(zip(students["id"], students["zone"], strict=True))
    for s in guaranteed:  # placed in one of their own zone's schools
        assert after[s] in zones[zone_of[s]], (seed, s)
    used: dict[tuple[str, int], int] = {}
    for s, k in after.items():
        used[k, inp.grade[s]] = used.get((k, inp.grade[s]), 0) + 1
    for s in set(students["id"]) - set(after):  # nobody left out while their zone has a seat in their grade
        for k in zones.get(zone_of[s], []):
            assert used.get((k, inp.grade[s]), 0) >= inp.seats.get((k, inp.grade[s]), 0), (seed, s, k)
