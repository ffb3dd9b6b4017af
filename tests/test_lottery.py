"""Properties of the unified lottery on random instances."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facilities._validate import ValidationError
from facilities.lottery import PRIORITY_RULES, LotteryData, LotteryResult, simulate_choices, solve

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def instances(draw: st.DrawFn, max_students: int = 8, max_schools: int = 4, max_len: int = 3) -> LotteryData:
    """A random instance: ranked lists, two grades, seats 0..3 per school × grade, tiers 0..2."""
    n = draw(st.integers(1, max_students))
    m = draw(st.integers(1, max_schools))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    grades = rng.integers(0, 2, n)
    seats = np.zeros((m, 14), dtype=np.int64)
    seats[:, 1:3] = rng.integers(0, 4, (m, 2))
    width = min(max_len, m)
    choices = np.full((n, width), -1, dtype=np.int64)
    for i in range(n):
        offered = np.flatnonzero(seats[:, grades[i] + 1] > 0)
        k = rng.integers(0, min(width, len(offered)) + 1)
        choices[i, :k] = rng.permutation(offered)[:k]
    tiers = np.where(choices >= 0, rng.integers(0, 3, choices.shape), 3)
    return LotteryData(
        student_ids=np.array([f"p{i}" for i in range(n)], dtype=object),
        grades=grades,
        choices=choices,
        tiers=tiers,
        school_ids=np.array([f"s{j}" for j in range(m)], dtype=object),
        seats=seats,
        sectors=rng.choice(["district", "charter"], m).astype(object),
        neighborhoods=rng.choice(["a", "b"], n).astype(object),
        zones=rng.choice(["east", "west"], n).astype(object),
        student_xy=rng.uniform(0, 1000, (n, 2)),
        school_xy=rng.uniform(0, 1000, (m, 2)),
    )


def _positions(data: LotteryData, assignment: np.ndarray) -> np.ndarray:
    """Each student's list position of the school assigned (the list length when unassigned)."""
    width = data.choices.shape[1]
    hit = (data.choices == assignment[:, None]) & (assignment[:, None] >= 0)
    return np.where(hit.any(1), hit.argmax(1), width)


def _over_capacity(data: LotteryData, assignment: np.ndarray) -> bool:
    used = np.zeros_like(data.seats)
    np.add.at(used, (assignment[assignment >= 0], data.grades[assignment >= 0] + 1), 1)
    return bool((used > data.seats).any())


def _blocking_pairs(data: LotteryData, assignment: np.ndarray, keys: np.ndarray) -> list[tuple[int, int]]:
    """(student, school) pairs that would both rather be matched to each other."""
    pos = _positions(data, assignment)
    held = keys[np.arange(data.n_students), np.minimum(pos, data.choices.shape[1] - 1)]
    pairs = []
    for s in range(data.n_students):
        for j in range(pos[s]):
            school = data.choices[s, j]
            if school < 0:
                break
            mates = np.flatnonzero((assignment == school) & (data.grades == data.grades[s]))
            if len(mates) < data.seats[school, data.grades[s] + 1] or held[mates].max() > keys[s, j]:
                pairs.append((s, int(school)))
    return pairs


@SETTINGS
@given(instances(), st.integers(0, 1000), st.sampled_from(["single", "per_school"]))
def test_within_capacity_and_stable(data: LotteryData, seed: int, lottery: str) -> None:
    result = solve(data, seed=seed, lottery=lottery)
    assert not _over_capacity(data, result.assignment)
    assert _blocking_pairs(data, result.assignment, result.keys) == []
    # every assignment is a school the student ranked, at the recorded position
    got = result.assignment >= 0
    assert (data.choices[got, result.choice_rank[got]] == result.assignment[got]).all()


@SETTINGS
@given(instances(max_students=6, max_schools=3, max_len=3), st.integers(0, 1000))
def test_student_optimal_against_brute_force(data: LotteryData, seed: int) -> None:
    result = solve(data, seed=seed)
    ours = _positions(data, result.assignment)
    options = [[-1, *[c for c in row if c >= 0]] for row in data.choices]
    stable_found = 0
    for combo in itertools.product(*options):
        assignment = np.array(combo, dtype=np.int64)
        if _over_capacity(data, assignment) or _blocking_pairs(data, assignment, result.keys):
            continue
        stable_found += 1
        assert (ours <= _positions(data, assignment)).all(), "a stable matching some student prefers"
    assert stable_found >= 1  # ours is among them


@SETTINGS
@given(instances(), st.integers(0, 1000))
def test_deterministic_with_seed(data: LotteryData, seed: int) -> None:
    a, b = solve(data, seed=seed, lottery="per_school"), solve(data, seed=seed, lottery="per_school")
    assert np.array_equal(a.assignment, b.assignment)
    assert np.array_equal(a.keys, b.keys)
    assert a.waitlists.equals(b.waitlists)


@SETTINGS
@given(instances(max_students=10), st.integers(0, 1000))
def test_zone_guarantee_met_when_seats_suffice(data: LotteryData, seed: int) -> None:
    zones = {"east": ["s0"], "west": [f"s{j}" for j in range(1, data.n_schools)]}
    plain = solve(data, seed=seed)
    result = solve(data, seed=seed, guarantee=zones)
    assert not _over_capacity(data, result.assignment)
    # the lottery's matches stand; the guarantee only fills seats left empty
    matched = plain.assignment >= 0
    assert np.array_equal(result.assignment[matched], plain.assignment[matched])
    assert not result.guaranteed[matched].any()
    index = {s: i for i, s in enumerate(data.school_ids)}
    for zone, ids in zones.items():
        schools = [index[s] for s in ids]
        for grade in (0, 1):
            residents = (data.zones == zone) & (data.grades == grade)
            used = np.isin(plain.assignment, schools) & (data.grades == grade)
            room = data.seats[schools, grade + 1].sum() - used.sum()
            unmatched = residents & ~matched
            if room >= unmatched.sum():
                assert (result.assignment[unmatched] >= 0).all()
                assert np.isin(result.assignment[unmatched], schools).all()


@SETTINGS
@given(instances(max_students=12))
def test_aggregates_add_up(data: LotteryData) -> None:
    result = solve(data, seed=1)
    total = result.aggregates(min_count=0).iloc[0]
    assert total["students"] == data.n_students
    assert total["matched"] + total["unassigned"] == data.n_students
    assert total["first_choice"] <= total["top_three"] <= total["matched"]
    for by in (["sector"], ["neighborhood"], ["grade"], ["sector", "grade"]):
        table = result.aggregates(by=by, min_count=0)
        assert table["students"].sum() == data.n_students
        assert table["matched"].sum() == total["matched"]


def test_small_groups_are_blanked() -> None:
    data = _frames_data()
    table = solve(data, seed=0).aggregates(by=["grade"], min_count=10)
    assert table["matched"].isna().all()
    assert table["simulated"].eq(False).all()


def _frames(n: int = 6) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    students = pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(n)],
            "grade": [0, 0, 1, 1, 0, 1][:n],
            "zone": ["east", "west", "east", "west", "east", "west"][:n],
            "current_school": ["", "", "b", "", "", ""][:n],
            "siblings": ["", "a", "", "", "c;a", ""][:n],
            "x": np.arange(n) * 100.0,
            "y": 0.0,
        }
    )
    schools = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "sector": ["district", "charter", "catholic"],
            "zone": ["east", "west", "east"],
            "capacity": [2, 2, 2],
            "grades": [(0, 1), (0, 1), (0, 1)],
            "x": [0.0, 300.0, 600.0],
            "y": [0.0, 0.0, 0.0],
        }
    )
    choices = pd.DataFrame(
        {
            "student": [f"p{i}" for i in range(n) for _ in range(2)],
            "school": ["a", "b"] * n,
            "rank": [1, 2] * n,
        }
    )
    return students, choices, schools


def _frames_data(**kwargs: object) -> LotteryData:
    students, choices, schools = _frames()
    return LotteryData.from_frames(students, choices, schools, **kwargs)


def test_priority_tiers_follow_the_rules() -> None:
    data = _frames_data(priorities=["continuing", "sibling", "zone"])
    assert data.priorities == ("continuing", "sibling", "zone")
    # p2 continues at b (its 2nd choice); p1 has a sibling at a; p0 lives in a's zone
    assert data.tiers[2, 1] == 0 and data.tiers[1, 0] == 1 and data.tiers[0, 0] == 2
    assert data.tiers[3, 0] == 3  # no rule holds
    equal = _frames_data(priorities={"sibling": 0, "zone": 0})
    assert equal.tiers[1, 0] == equal.tiers[0, 0] == 0


def test_bad_rows_are_named() -> None:
    students, choices, schools = _frames()
    bad = pd.concat(
        [choices, pd.DataFrame({"student": ["p0", "nobody"], "school": ["zzz", "a"], "rank": [3, 1]})],
        ignore_index=True,
    )
    with pytest.raises(ValidationError) as err:
        LotteryData.from_frames(students, bad, schools)
    text = str(err.value)
    assert "row 12" in text and "unknown school 'zzz'" in text
    assert "row 13" in text and "unknown student 'nobody'" in text

    twice = pd.concat([students, students.iloc[[1]]], ignore_index=True)
    with pytest.raises(ValidationError, match=r"row 6.*'p1' repeats row 1"):
        LotteryData.from_frames(twice, choices, schools)

    with pytest.raises(ValidationError, match=r"row 1.*ranks the same school twice"):
        LotteryData.from_frames(students, choices.assign(school="a"), schools)

    with pytest.raises(ValidationError, match="column 'x'.*proximity"):
        LotteryData.from_frames(students.drop(columns="x"), choices, schools, priorities=["proximity"])

    seats = pd.DataFrame({"school": ["a", "b", "c"], "grade": [0, 0, 0], "seats": [1, 1, 1]})
    with pytest.raises(ValidationError, match="grade 1.*no seats in that grade"):
        LotteryData.from_frames(students, choices, schools, seats=seats)


@pytest.mark.parametrize(
    "priorities", [["continuing", "siblings"], {"zone": 0, "walk": 1}, ["siblings", "nearby"]]
)
def test_unknown_priority_rule_is_one_validation_error(priorities: object) -> None:
    """The library (not only the CLI) names the rule, the known rules and the fix, no KeyError."""
    students, choices, schools = _frames()
    with pytest.raises(ValidationError) as err:
        LotteryData.from_frames(students, choices, schools, priorities=priorities)  # type: ignore[arg-type]
    text = str(err.value)
    unknown = [r for r in priorities if r not in PRIORITY_RULES]  # type: ignore[attr-defined]
    for rule in unknown:
        assert f"{rule!r} is not a priority rule" in text
    assert all(rule in text for rule in PRIORITY_RULES)
    assert "spell the rule as one of the known rules" in text


def test_to_csv_writes_private_tables(tmp_path: object) -> None:
    result = solve(_frames_data(), seed=3)
    path = result.to_csv(tmp_path / "out" / "assignment.csv")  # type: ignore[operator]
    back = pd.read_csv(path, keep_default_na=False)
    assert list(back["student"]) == list(result.data.student_ids)
    assert set(back["how"]) <= {"lottery", "guarantee", "unassigned"}
    wait = pd.read_csv(result.to_csv(tmp_path / "wait.csv", table="waitlists"))  # type: ignore[operator]
    assert len(wait) == len(result.waitlists)
    assert [p.name for p in path.parent.iterdir()] == ["assignment.csv"]


def test_simulated_choices_are_seeded_and_flagged() -> None:
    rng = np.random.default_rng(0)
    sxy, kxy = rng.uniform(0, 5000, (200, 2)), rng.uniform(0, 5000, (15, 2))
    attrs = pd.DataFrame(
        {
            "id": [f"s{j}" for j in range(15)],
            "sector": ["district", "charter", "catholic"] * 5,
            "grades": [(0, 1, 2)] * 10 + [(6, 7, 8)] * 5,
            "quality": rng.normal(size=15),
        }
    )
    grades = rng.integers(0, 3, 200)
    a = simulate_choices(sxy, kxy, attrs, seed=5, n_choices=4, student_grades=grades)
    b = simulate_choices(sxy, kxy, attrs, seed=5, n_choices=4, student_grades=grades)
    assert a.equals(b)
    assert not a.duplicated(["student", "school"]).any()
    assert a.groupby("student")["rank"].max().eq(4).all()
    assert a["school"].isin(attrs["id"][:10]).all()  # only schools serving the grade
    # closer schools are ranked first more often than farther ones (distance decay)
    first = a[a["rank"] == 1].set_index("student")["school"].str[1:].astype(int)
    d = np.hypot(*(sxy[:, None, :] - kxy[None, :10, :]).transpose(2, 0, 1))
    assert np.mean(d[first.index, first.to_numpy()]) < np.mean(d)
    students = pd.DataFrame({"id": range(200), "grade": grades})
    data = LotteryData.from_frames(students, a, attrs.assign(capacity=20), priorities=[])
    result = solve(data, seed=1)
    assert isinstance(result, LotteryResult) and result.simulated
    assert result.aggregates(min_count=0)["simulated"].all()


def _equity_lottery(equity: list[object]) -> LotteryData:
    """Two students for one seat at one school; the equity rule decides who gets it."""
    return LotteryData.from_frames(
        students=pd.DataFrame({"id": ["a", "b"], "grade": [3, 3], "equity": equity}),
        choices=pd.DataFrame({"student": ["a", "b"], "school": ["s", "s"], "rank": [1, 1]}),
        schools=pd.DataFrame({"id": ["s"], "capacity": [1], "grades": [(3,)]}),
        priorities=["equity"],
    )


@pytest.mark.parametrize(
    ("equity", "tiers"),
    [
        (["false", "TRUE"], [1, 0]),
        (["yes", "No"], [0, 1]),
        ([0, 1], [1, 0]),
        ([None, "1"], [1, 0]),
        ([False, True], [1, 0]),
    ],
)
def test_equity_flags_read_strictly(equity: list[object], tiers: list[int]) -> None:
    data = _equity_lottery(equity)
    assert data.tiers[:, 0].tolist() == tiers
    seated = solve(data, seed=3).assignment
    assert seated.tolist() == [0 if t == 0 else -1 for t in tiers]  # the equity student gets the seat


def test_equity_flag_that_is_not_yes_or_no_names_its_row() -> None:
    with pytest.raises(ValidationError, match=r"(?s)students.*row 1.*equity.*'maybe' is not true or false"):
        _equity_lottery(["false", "maybe"])
