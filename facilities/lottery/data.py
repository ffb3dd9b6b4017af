"""The lottery's instance: students, their ranked lists, seats by grade and priority tiers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from facilities._validate import Problems, parse_list
from facilities.schema import is_missing
from facilities.settings import parse_flag

__all__ = ["PRIORITY_RULES", "AGGREGATE_KEYS", "LotteryData"]

#: Priority rules a school may apply, and the student column each reads.
PRIORITY_RULES: dict[str, str] = {
    "continuing": "current_school",  # the student already attends this school
    "sibling": "siblings",  # a sibling attends it (ids separated by ';')
    "zone": "zone",  # the student lives in the school's zone (schools' ``zone``)
    "proximity": "x/y",  # the student lives within ``proximity_m`` of it
    "equity": "equity",  # the student is in an equitable-access category (true/false)
    "staff": "staff_school",  # a parent works at this school
}
#: Student groupings that :meth:`LotteryResult.aggregates` accepts.
AGGREGATE_KEYS: tuple[str, ...] = ("sector", "neighborhood", "grade")

_GRADES = np.arange(-1, 13)  # PK=-1, K=0, 1..12
_NG = len(_GRADES)
_LOTTERIES = ("single", "per_school")


def _strings(values: pd.Series | np.ndarray | Sequence[object]) -> np.ndarray:
    """Ids as an object array of stripped strings ("" when missing; 7, 7.0 and '7' are '7')."""
    s = (
        values.reset_index(drop=True)
        if isinstance(values, pd.Series)
        else pd.Series(list(values), dtype=object)
    )
    if pd.api.types.is_float_dtype(s) and (s.dropna() % 1 == 0).all():
        s = s.astype("Int64")
    out = s.astype(object).where(s.notna(), "").astype(str).str.strip()
    return out.to_numpy(dtype=object)


@dataclass(frozen=True, eq=False)
class LotteryData:
    """An immutable lottery instance: students, their ranked lists, seats and priorities.

    Build it with :meth:`from_frames` (tables with ids) or directly from arrays.

    Parameters
    ----------
    student_ids
        ``(n,)`` student ids (strings).
    grades
        ``(n,)`` grade of each student (PK = -1, K = 0, 1..12).
    choices
        ``(n, L)`` school index of each student's choices, best first, padded with -1 on the right.
    tiers
        ``(n, L)`` priority tier of each student at each chosen school (lower is admitted first;
        ties are broken by lottery number).
    school_ids
        ``(m,)`` school ids.
    seats
        ``(m, 14)`` seats of each school by grade (column ``grade + 1``).
    sectors
        ``(m,)`` sector of each school.
    neighborhoods
        ``(n,)`` neighborhood of each student ("" when unknown).
    zones
        ``(n,)`` zone of each student, used by the zone guarantee ("" when unknown).
    student_xy, school_xy
        Optional ``(n, 2)`` and ``(m, 2)`` metric coordinates (the guarantee places closest first).
    priorities
        The priority rules, best first, that made ``tiers`` (for the record).
    simulated
        Whether the ranked lists were simulated (see :func:`simulate_choices`).
    """

    student_ids: np.ndarray
    grades: np.ndarray
    choices: np.ndarray
    tiers: np.ndarray
    school_ids: np.ndarray
    seats: np.ndarray
    sectors: np.ndarray
    neighborhoods: np.ndarray
    zones: np.ndarray
    student_xy: np.ndarray | None = None
    school_xy: np.ndarray | None = None
    priorities: tuple[str, ...] = ()
    simulated: bool = False

    def __post_init__(self) -> None:
        n, m = len(self.student_ids), len(self.school_ids)
        problems = Problems()
        shapes = {
            "grades": (self.grades, (n,)),
            "tiers": (self.tiers, self.choices.shape),
            "seats": (self.seats, (m, _NG)),
            "sectors": (self.sectors, (m,)),
            "neighborhoods": (self.neighborhoods, (n,)),
            "zones": (self.zones, (n,)),
        }
        if self.choices.ndim != 2 or self.choices.shape[0] != n:
            problems.add(
                "lottery", None, "choices", f"has shape {self.choices.shape}", f"give an (n={n}, L) array"
            )
        for name, (arr, shape) in shapes.items():
            if np.shape(arr) != shape:
                problems.add("lottery", None, name, f"has shape {np.shape(arr)}", f"give shape {shape}")
        for name, xy, rows in (("student_xy", self.student_xy, n), ("school_xy", self.school_xy, m)):
            if xy is not None and np.shape(xy) != (rows, 2):
                problems.add("lottery", None, name, f"has shape {np.shape(xy)}", f"give shape {(rows, 2)}")
        problems.raise_if_any(city="the lottery data")
        ch = self.choices
        bad = (ch < -1) | (ch >= m)
        padded = ch < 0
        gaps = padded[:, :-1] & ~padded[:, 1:]
        srt = np.sort(np.where(padded, -1 - np.arange(ch.shape[1]), ch), axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
        no_grade = np.zeros_like(padded)
        ok = ~padded & ~bad
        g = np.clip(self.grades + 1, 0, _NG - 1)
        no_grade[ok] = self.seats[ch[ok], np.broadcast_to(g[:, None], ch.shape)[ok]] <= 0
        for row in np.flatnonzero(bad.any(1))[:50]:
            problems.add(
                "choices", int(row), "school", "ranks a school index out of range", f"use 0..{m - 1}"
            )
        for row in np.flatnonzero(gaps.any(1))[:50]:
            problems.add(
                "choices", int(row), "school", "has a gap in the ranking", "pad with -1 only at the end"
            )
        for row in np.flatnonzero(dup.any(1))[:50]:
            problems.add("choices", int(row), "school", "ranks a school twice", "rank each school once")
        if ((self.grades < -1) | (self.grades > 12)).any():
            row = int(np.flatnonzero((self.grades < -1) | (self.grades > 12))[0])
            problems.add(
                "students", row, "grade", f"grade {self.grades[row]} is not PK..12", "use -1 (PK), 0 (K)..12"
            )
        if (self.seats < 0).any():
            problems.add("schools", None, "seats", "has negative seats", "give 0 or more seats")
        for row in np.flatnonzero(no_grade.any(1))[:50]:
            problems.add(
                "choices",
                int(row),
                "school",
                f"student {self.student_ids[row]} (grade {self.grades[row]}) ranks a school with no seats "
                "in that grade",
                "drop the choice or give the school seats in that grade",
            )
        problems.raise_if_any(city="the lottery data")

    @property
    def n_students(self) -> int:
        """Number of students."""
        return len(self.student_ids)

    @property
    def n_schools(self) -> int:
        """Number of schools."""
        return len(self.school_ids)

    @cached_property
    def seats_offered(self) -> np.ndarray:
        """``(m,)`` seats each school offers in this lottery: its seats in the grades the lottery
        places (its students' grades), not its seats in every grade."""
        placed = np.zeros(_NG, dtype=bool)
        placed[np.unique(self.grades) + 1] = True
        return self.seats[:, placed].sum(axis=1)

    @cached_property
    def programs(self) -> np.ndarray:
        """``(n, L)`` program (school × grade) of each choice, ``school * 14 + grade + 1``; -1 pads."""
        prog = self.choices * _NG + (self.grades[:, None] + 1)
        return np.where(self.choices >= 0, prog, -1)

    @classmethod
    def from_frames(
        cls,
        students: pd.DataFrame,
        choices: pd.DataFrame,
        schools: pd.DataFrame,
        *,
        priorities: Sequence[str] | Mapping[str, int] = ("continuing", "sibling", "zone"),
        seats: pd.DataFrame | None = None,
        proximity_m: float = 800.0,
    ) -> LotteryData:
        """Build the lottery from tables with ids.

        Parameters
        ----------
        students
            One row per student: ``id``, ``grade`` (int, PK = -1) and, as the rules need them,
            ``neighborhood``, ``zone``, ``x``/``y`` (metres), ``current_school``, ``siblings``
            (school ids separated by ';'), ``equity`` (bool), ``staff_school``.
        choices
            One row per ranked school: ``student``, ``school``, ``rank`` (1 = first choice). A
            ``simulated`` column that is true marks simulated lists (see :func:`simulate_choices`).
        schools
            One row per school: ``id`` and optionally ``sector``, ``zone``, ``x``/``y``; when
            ``seats`` is not given, ``capacity`` and ``grades`` (tuple of ints) too, the capacity
            being split evenly over the grades.
        priorities
            Rules from :data:`PRIORITY_RULES`, best first (tier = position), or a mapping
            ``rule -> tier`` (equal tiers allowed). A student's tier at a school is the best tier
            of the rules that hold; students with none come last. Ties go to the lottery.
        seats
            Seats by grade: columns ``school``, ``grade``, ``seats`` (one row per school × grade).
        proximity_m
            Radius of the ``proximity`` rule, metres.

        Raises
        ------
        ValidationError
            Listing every bad row: unknown students or schools, repeated students, schools or
            ranks, choices of a school without seats in the student's grade, missing columns.
        """
        problems = Problems()
        tiers_of = _tier_map(priorities, problems)
        problems.raise_if_any(city="the lottery's priorities")  # the checks below read known rules only
        _require(students, "students", ("id", "grade"), problems)
        _require(choices, "choices", ("student", "school", "rank"), problems)
        _require(schools, "schools", ("id",), problems)
        if seats is None:
            _require(schools, "schools", ("capacity", "grades"), problems, fix="or pass seats=")
        else:
            _require(seats, "seats", ("school", "grade", "seats"), problems)
        for rule in tiers_of:
            need = ("x", "y") if rule == "proximity" else (PRIORITY_RULES[rule],)
            _require(students, "students", need, problems, fix=f"needed by the {rule!r} priority")
            if rule in ("zone", "proximity"):
                _require(schools, "schools", need, problems, fix=f"needed by the {rule!r} priority")
        problems.raise_if_any(city="the lottery tables")

        sid = _strings(students["id"])
        school_ids = _strings(schools["id"])
        _unique(sid, "students", "id", students.index, problems)
        _unique(school_ids, "schools", "id", schools.index, problems)
        grades = pd.to_numeric(students["grade"], errors="coerce").to_numpy(float)
        for i in np.flatnonzero(~np.isin(grades, _GRADES)):
            label, raw = students.index[i], students["grade"].iloc[i]
            problems.add("students", label, "grade", f"grade {raw!r} is not PK..12", "use -1 (PK), 0 (K)..12")
        problems.raise_if_any(city="the lottery tables")

        seat_table = _seat_table(schools, seats, school_ids, problems)
        choice_arr = _choice_array(choices, sid, school_ids, problems)
        problems.raise_if_any(city="the lottery tables")

        if "equity" in tiers_of:
            students = students.assign(equity=_flags(students, "students", "equity", problems))
        simulated = "simulated" in choices.columns and bool(
            _flags(choices, "choices", "simulated", problems).any()
        )
        problems.raise_if_any(city="the lottery tables")

        student_xy = students[["x", "y"]].to_numpy(float) if {"x", "y"} <= set(students.columns) else None
        school_xy = schools[["x", "y"]].to_numpy(float) if {"x", "y"} <= set(schools.columns) else None
        tiers = _tiers(
            tiers_of, students, schools, sid, school_ids, choice_arr, student_xy, school_xy, proximity_m
        )
        return cls(
            student_ids=sid,
            grades=grades.astype(np.int64),
            choices=choice_arr,
            tiers=tiers,
            school_ids=school_ids,
            seats=seat_table,
            sectors=_strings(schools["sector"])
            if "sector" in schools
            else np.full(len(schools), "", dtype=object),
            neighborhoods=_optional_strings(students, "neighborhood"),
            zones=_optional_strings(students, "zone"),
            student_xy=student_xy,
            school_xy=school_xy,
            priorities=tuple(sorted(tiers_of, key=tiers_of.__getitem__)),
            simulated=simulated,
        )


def _flags(frame: pd.DataFrame, name: str, column: str, problems: Problems) -> np.ndarray:
    """A yes/no column read strictly (``"false"`` is false; an empty cell is no); each other value
    (``"maybe"``) is a problem naming its row."""
    out = np.zeros(len(frame), dtype=bool)
    for i, (label, value) in enumerate(frame[column].items()):
        if is_missing(value):
            continue
        try:
            out[i] = parse_flag(value, column)
        except ValueError as err:
            problems.add(name, label, column, str(err), getattr(err, "fix", ""))
    return out


def _optional_strings(frame: pd.DataFrame, column: str) -> np.ndarray:
    return _strings(frame[column]) if column in frame else np.full(len(frame), "", dtype=object)


def _require(
    frame: pd.DataFrame, name: str, columns: Sequence[str], problems: Problems, *, fix: str = ""
) -> None:
    for col in columns:
        if col not in frame.columns:
            problems.add(name, None, col, "column is missing", f"add a {col!r} column {fix}".strip())


def _unique(ids: np.ndarray, name: str, column: str, labels: pd.Index, problems: Problems) -> None:
    first: dict[str, object] = {}
    for value, label in zip(ids, labels, strict=True):
        if value == "":
            problems.add(name, label, column, "id is empty", "give every row an id")
        elif value in first:
            problems.add(
                name, label, column, f"id {value!r} repeats row {first[value]}", "give every row its own id"
            )
        else:
            first[value] = label


def _tier_map(priorities: Sequence[str] | Mapping[str, int], problems: Problems) -> dict[str, int]:
    tiers = dict(priorities) if isinstance(priorities, Mapping) else {r: i for i, r in enumerate(priorities)}
    for rule, tier in tiers.items():
        if rule not in PRIORITY_RULES:
            problems.add(
                "priorities",
                None,
                rule,
                f"{rule!r} is not a priority rule (known rules: {', '.join(PRIORITY_RULES)})",
                "spell the rule as one of the known rules, or drop it from the priorities",
            )
        if not isinstance(tier, (int, np.integer)) or not 0 <= tier < 100:
            problems.add(
                "priorities", None, rule, f"tier {tier!r} is not a whole number 0..99", "give tiers 0..99"
            )
    return tiers


def _seat_table(
    schools: pd.DataFrame, seats: pd.DataFrame | None, school_ids: np.ndarray, problems: Problems
) -> np.ndarray:
    table = np.zeros((len(school_ids), _NG), dtype=np.int64)
    if seats is None:
        for i, (label, cap, grades) in enumerate(
            zip(schools.index, schools["capacity"], schools["grades"], strict=True)
        ):
            gs = sorted({int(g) for g in grades}) if isinstance(grades, (tuple, list, np.ndarray)) else []
            if is_missing(cap) or not gs or any(g not in _GRADES for g in gs):
                problems.add(
                    "schools",
                    label,
                    "capacity/grades",
                    "no usable capacity or grades",
                    "give both, or seats=",
                )
                continue
            base, extra = divmod(int(cap), len(gs))
            for k, g in enumerate(gs):
                table[i, g + 1] = base + (k < extra)
        return table
    index = {s: i for i, s in enumerate(school_ids)}
    for label, school, grade, n in zip(
        seats.index, _strings(seats["school"]), seats["grade"], seats["seats"], strict=True
    ):
        if school not in index:
            problems.add(
                "seats", label, "school", f"unknown school {school!r}", "use an id of the schools table"
            )
        elif is_missing(grade) or int(grade) not in _GRADES:
            problems.add("seats", label, "grade", f"grade {grade!r} is not PK..12", "use -1 (PK), 0 (K)..12")
        elif is_missing(n) or int(n) < 0:
            problems.add("seats", label, "seats", f"{n!r} is not a number of seats", "give 0 or more")
        elif table[index[school], int(grade) + 1]:
            problems.add(
                "seats", label, "grade", f"school {school!r} grade {grade} repeats", "give one row each"
            )
        else:
            table[index[school], int(grade) + 1] = int(n)
    return table


def _choice_array(
    choices: pd.DataFrame, student_ids: np.ndarray, school_ids: np.ndarray, problems: Problems
) -> np.ndarray:
    stu = _strings(choices["student"])
    sch = _strings(choices["school"])
    rank = pd.to_numeric(choices["rank"], errors="coerce").to_numpy(float)
    rows_s = pd.Index(student_ids).get_indexer(stu)
    rows_k = pd.Index(school_ids).get_indexer(sch)
    labels = choices.index
    bad_rank = ~np.isfinite(rank) | (rank < 1) | (rank != np.round(rank))
    for i in np.flatnonzero((rows_s < 0) | (rows_k < 0) | bad_rank):
        if rows_s[i] < 0:
            problems.add(
                "choices",
                labels[i],
                "student",
                f"unknown student {stu[i]!r}",
                "use an id of the students table",
            )
        if rows_k[i] < 0:
            problems.add(
                "choices", labels[i], "school", f"unknown school {sch[i]!r}", "use an id of the schools table"
            )
        if bad_rank[i]:
            problems.add(
                "choices", labels[i], "rank", f"rank {choices['rank'].iloc[i]!r}", "give ranks 1, 2, 3, ..."
            )
    ok = (rows_s >= 0) & (rows_k >= 0) & ~bad_rank
    frame = pd.DataFrame({"s": rows_s[ok], "k": rows_k[ok], "r": rank[ok], "label": np.asarray(labels)[ok]})
    for cols, what in (
        (["s", "k"], "ranks the same school twice"),
        (["s", "r"], "gives the same rank twice"),
    ):
        dup = frame[frame.duplicated(cols)]
        for label, s in zip(dup["label"], dup["s"].to_numpy(), strict=True):
            column = "school" if "k" in cols else "rank"
            problems.add("choices", label, column, f"student {student_ids[s]!r} {what}", "keep one row")
    if problems:
        return np.empty((len(student_ids), 0), dtype=np.int64)
    frame = frame.sort_values(["s", "r"], kind="stable")
    pos = frame.groupby("s").cumcount().to_numpy()
    width = int(pos.max()) + 1 if len(pos) else 0
    out = np.full((len(student_ids), width), -1, dtype=np.int64)
    out[frame["s"].to_numpy(), pos] = frame["k"].to_numpy()
    return out


def _tiers(
    tiers_of: Mapping[str, int],
    students: pd.DataFrame,
    schools: pd.DataFrame,
    student_ids: np.ndarray,
    school_ids: np.ndarray,
    choices: np.ndarray,
    student_xy: np.ndarray | None,
    school_xy: np.ndarray | None,
    proximity_m: float,
) -> np.ndarray:
    """Each (student, chosen school)'s tier: the best tier among the rules that hold."""
    worst = max(tiers_of.values(), default=-1) + 1
    tiers = np.full(choices.shape, worst, dtype=np.int64)
    valid = choices >= 0
    chosen = np.where(valid, school_ids[np.clip(choices, 0, None)] if len(school_ids) else "", "")
    for rule, tier in tiers_of.items():
        if rule in ("continuing", "staff"):
            holds = chosen == _strings(students[PRIORITY_RULES[rule]])[:, None]
        elif rule == "sibling":
            sets = [
                set() if is_missing(v) else set(v if isinstance(v, (list, tuple)) else parse_list(v))
                for v in students["siblings"]
            ]
            holds = np.array([[c in s for c in row] for s, row in zip(sets, chosen, strict=True)], dtype=bool)
            holds = holds.reshape(choices.shape)
        elif rule == "zone":
            zone_of = _strings(schools["zone"])[np.clip(choices, 0, None)]
            home = _strings(students["zone"])[:, None]
            holds = (zone_of == home) & (home != "")
        elif rule == "proximity":
            assert student_xy is not None and school_xy is not None
            d = np.hypot(*(student_xy[:, None, :] - school_xy[np.clip(choices, 0, None)]).transpose(2, 0, 1))
            holds = d <= proximity_m
        else:  # equity
            holds = np.broadcast_to(students["equity"].to_numpy(bool)[:, None], choices.shape)
        tiers = np.where(holds & valid, np.minimum(tiers, tier), tiers)
    return tiers


# ---------------------------------------------------------------------------------------------
# Solving
