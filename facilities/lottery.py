"""A unified lottery: student-proposing deferred acceptance across every sector's schools.

Families rank schools of any sector; each school orders its applicants by priority tier
(continuing students, siblings, zone residents, proximity, equitable-access categories, staff
children — in the order the city chooses) and then by lottery number; seats are counted by grade.
Student-proposing deferred acceptance (Gale and Shapley 1962; Abdulkadiroğlu and Sönmez 2003) gives
the stable assignment that every student likes at least as much as any other stable assignment.
An optional zone guarantee then places unmatched residents of a zone in the zone's schools that
still have room, closest first.

Typical use::

    data = LotteryData.from_frames(students, choices, schools, priorities=["continuing", "sibling", "zone"])
    result = solve(data, seed=7, guarantee={"east": ["s1", "s4"]})
    result.aggregates(by=["sector"])        # matched, first choice, top three, unassigned
    result.to_csv("private/assignment.csv")  # each student's school: private, written only on request

When a city has no real rankings, :func:`simulate_choices` draws families' lists from a documented
random-utility model; results built on them say so (``LotteryResult.simulated``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from facilities._validate import Problems, is_missing, parse_list
from facilities.io import atomic_write

__all__ = [
    "PRIORITY_RULES",
    "LotteryData",
    "LotteryResult",
    "solve",
    "simulate_choices",
    "AGGREGATE_KEYS",
]

logger = logging.getLogger(__name__)

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
    s = values.reset_index(drop=True) if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
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
            problems.add("lottery", None, "choices", f"has shape {self.choices.shape}", f"give an (n={n}, L) array")
        for name, (arr, shape) in shapes.items():
            if np.shape(arr) != shape:
                problems.add("lottery", None, name, f"has shape {np.shape(arr)}", f"give shape {shape}")
        for name, arr, rows in (("student_xy", self.student_xy, n), ("school_xy", self.school_xy, m)):
            if arr is not None and np.shape(arr) != (rows, 2):
                problems.add("lottery", None, name, f"has shape {np.shape(arr)}", f"give shape {(rows, 2)}")
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
            problems.add("choices", int(row), "school", "ranks a school index out of range", f"use 0..{m - 1}")
        for row in np.flatnonzero(gaps.any(1))[:50]:
            problems.add("choices", int(row), "school", "has a gap in the ranking", "pad with -1 only at the end")
        for row in np.flatnonzero(dup.any(1))[:50]:
            problems.add("choices", int(row), "school", "ranks a school twice", "rank each school once")
        if ((self.grades < -1) | (self.grades > 12)).any():
            row = int(np.flatnonzero((self.grades < -1) | (self.grades > 12))[0])
            problems.add("students", row, "grade", f"grade {self.grades[row]} is not PK..12", "use -1 (PK), 0 (K)..12")
        if (self.seats < 0).any():
            problems.add("schools", None, "seats", "has negative seats", "give 0 or more seats")
        for row in np.flatnonzero(no_grade.any(1))[:50]:
            problems.add(
                "choices",
                int(row),
                "school",
                f"student {self.student_ids[row]} (grade {self.grades[row]}) ranks a school with no seats in that grade",
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

        student_xy = students[["x", "y"]].to_numpy(float) if {"x", "y"} <= set(students.columns) else None
        school_xy = schools[["x", "y"]].to_numpy(float) if {"x", "y"} <= set(schools.columns) else None
        tiers = _tiers(tiers_of, students, schools, sid, school_ids, choice_arr, student_xy, school_xy, proximity_m)
        simulated = "simulated" in choices.columns and bool(choices["simulated"].fillna(False).astype(bool).any())
        return cls(
            student_ids=sid,
            grades=grades.astype(np.int64),
            choices=choice_arr,
            tiers=tiers,
            school_ids=school_ids,
            seats=seat_table,
            sectors=_strings(schools["sector"]) if "sector" in schools else np.full(len(schools), "", dtype=object),
            neighborhoods=_optional_strings(students, "neighborhood"),
            zones=_optional_strings(students, "zone"),
            student_xy=student_xy,
            school_xy=school_xy,
            priorities=tuple(sorted(tiers_of, key=tiers_of.__getitem__)),
            simulated=simulated,
        )


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
            problems.add(name, label, column, f"id {value!r} repeats row {first[value]}", "give every row its own id")
        else:
            first[value] = label


def _tier_map(priorities: Sequence[str] | Mapping[str, int], problems: Problems) -> dict[str, int]:
    tiers = dict(priorities) if isinstance(priorities, Mapping) else {r: i for i, r in enumerate(priorities)}
    for rule, tier in tiers.items():
        if rule not in PRIORITY_RULES:
            problems.add("priorities", None, rule, "is not a priority rule", f"use any of {', '.join(PRIORITY_RULES)}")
        if not isinstance(tier, (int, np.integer)) or not 0 <= tier < 100:
            problems.add("priorities", None, rule, f"tier {tier!r} is not a whole number 0..99", "give tiers 0..99")
    return tiers


def _seat_table(
    schools: pd.DataFrame, seats: pd.DataFrame | None, school_ids: np.ndarray, problems: Problems
) -> np.ndarray:
    table = np.zeros((len(school_ids), _NG), dtype=np.int64)
    if seats is None:
        for i, (label, cap, grades) in enumerate(zip(schools.index, schools["capacity"], schools["grades"], strict=True)):
            gs = sorted({int(g) for g in grades}) if isinstance(grades, (tuple, list, np.ndarray)) else []
            if is_missing(cap) or not gs or any(g not in _GRADES for g in gs):
                problems.add("schools", label, "capacity/grades", "no usable capacity or grades", "give both, or seats=")
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
            problems.add("seats", label, "school", f"unknown school {school!r}", "use an id of the schools table")
        elif is_missing(grade) or int(grade) not in _GRADES:
            problems.add("seats", label, "grade", f"grade {grade!r} is not PK..12", "use -1 (PK), 0 (K)..12")
        elif is_missing(n) or int(n) < 0:
            problems.add("seats", label, "seats", f"{n!r} is not a number of seats", "give 0 or more")
        elif table[index[school], int(grade) + 1]:
            problems.add("seats", label, "grade", f"school {school!r} grade {grade} repeats", "give one row each")
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
            problems.add("choices", labels[i], "student", f"unknown student {stu[i]!r}", "use an id of the students table")
        if rows_k[i] < 0:
            problems.add("choices", labels[i], "school", f"unknown school {sch[i]!r}", "use an id of the schools table")
        if bad_rank[i]:
            problems.add("choices", labels[i], "rank", f"rank {choices['rank'].iloc[i]!r}", "give ranks 1, 2, 3, ...")
    ok = (rows_s >= 0) & (rows_k >= 0) & ~bad_rank
    frame = pd.DataFrame({"s": rows_s[ok], "k": rows_k[ok], "r": rank[ok], "label": np.asarray(labels)[ok]})
    for cols, what in ((["s", "k"], "ranks the same school twice"), (["s", "r"], "gives the same rank twice")):
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
            sets = [set() if is_missing(v) else set(v if isinstance(v, (list, tuple)) else parse_list(v))
                    for v in students["siblings"]]  # fmt: skip
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
            flag = students["equity"].map(lambda v: False if is_missing(v) else bool(v)).to_numpy(bool)
            holds = np.broadcast_to(flag[:, None], choices.shape)
        tiers = np.where(holds & valid, np.minimum(tiers, tier), tiers)
    return tiers


# ---------------------------------------------------------------------------------------------
# Solving


@dataclass(frozen=True, eq=False)
class LotteryResult:
    """The lottery's outcome.

    Attributes
    ----------
    data
        The instance solved.
    assignment
        ``(n,)`` school index of each student, -1 when unassigned.
    choice_rank
        ``(n,)`` 0-based position in the student's list of the assigned school (-1 when
        unassigned or placed by the guarantee outside the list).
    guaranteed
        ``(n,)`` whether the zone guarantee placed the student.
    keys
        ``(n, L)`` each school's ordering key for each applicant (tier, then lottery; lower first).
    lottery_number
        ``(n,)`` each student's lottery number (0 = luckiest); also the guarantee's order.
    seed, lottery
        How the lottery numbers were drawn.
    """

    data: LotteryData
    assignment: np.ndarray
    choice_rank: np.ndarray
    guaranteed: np.ndarray
    keys: np.ndarray
    lottery_number: np.ndarray
    seed: int
    lottery: str

    @property
    def simulated(self) -> bool:
        """Whether families' lists were simulated rather than real."""
        return self.data.simulated

    def table(self) -> pd.DataFrame:
        """Each student's assignment (private): id, grade, school, choice (1-based), how."""
        d = self.data
        how = np.where(self.guaranteed, "guarantee", np.where(self.assignment >= 0, "lottery", "unassigned"))
        return pd.DataFrame(
            {
                "student": d.student_ids,
                "grade": d.grades,
                "school": np.where(self.assignment >= 0, d.school_ids[np.clip(self.assignment, 0, None)], ""),
                "choice": np.where(self.choice_rank >= 0, self.choice_rank + 1, pd.NA),
                "how": how,
                "lottery_number": self.lottery_number,
            }
        )

    @cached_property
    def waitlists(self) -> pd.DataFrame:
        """Waitlists (private): each student waits at every school ranked above the one assigned.

        Columns ``school``, ``grade``, ``position`` (1 = next offered a seat), ``student``,
        ``choice`` (the student's rank of the school), sorted by school, grade and position.
        """
        d = self.data
        stop = np.where(self.choice_rank >= 0, self.choice_rank, d.choices.shape[1])
        cols = np.arange(d.choices.shape[1])[None, :]
        s, j = np.nonzero((cols < stop[:, None]) & (d.choices >= 0))
        prog, key = d.programs[s, j], self.keys[s, j]
        order = np.lexsort((key, prog))
        s, j, prog = s[order], j[order], prog[order]
        position = np.arange(len(prog)) - np.searchsorted(prog, prog)
        return pd.DataFrame(
            {
                "school": d.school_ids[prog // _NG],
                "grade": prog % _NG - 1,
                "position": position + 1,
                "student": d.student_ids[s],
                "choice": j + 1,
            }
        )

    def aggregates(self, by: Sequence[str] = (), *, min_count: int = 10) -> pd.DataFrame:
        """Counts of outcomes, overall or by groups of students.

        Parameters
        ----------
        by
            Any of :data:`AGGREGATE_KEYS`: ``sector`` (of the student's first choice),
            ``neighborhood`` (where the student lives), ``grade``.
        min_count
            Groups with fewer students have their counts blanked (NA), so no small group can be
            recognized; 0 shows everything.

        Returns
        -------
        DataFrame
            One row per group: ``students``, ``matched`` (lottery or guarantee), ``first_choice``,
            ``top_three``, ``guarantee``, ``unassigned``, and the shares of matched, first choice
            and top three; ``simulated`` says whether the lists were simulated.
        """
        by = [by] if isinstance(by, str) else list(by)
        unknown = [b for b in by if b not in AGGREGATE_KEYS]
        if unknown:
            raise ValueError(f"cannot aggregate by {unknown}; use any of {', '.join(AGGREGATE_KEYS)}")
        d = self.data
        first = d.choices[:, 0] if d.choices.shape[1] else np.full(d.n_students, -1)
        groups = {
            "sector": np.where(first >= 0, d.sectors[np.clip(first, 0, None)], "none"),
            "neighborhood": np.where(d.neighborhoods == "", "unknown", d.neighborhoods),
            "grade": d.grades,
        }
        frame = pd.DataFrame({k: groups[k] for k in by}, index=pd.RangeIndex(d.n_students))
        frame["students"] = 1
        frame["matched"] = self.assignment >= 0
        frame["first_choice"] = self.choice_rank == 0
        frame["top_three"] = (self.choice_rank >= 0) & (self.choice_rank < 3)
        frame["guarantee"] = self.guaranteed
        frame["unassigned"] = self.assignment < 0
        counts = ["students", "matched", "first_choice", "top_three", "guarantee", "unassigned"]
        out = frame.groupby(by, sort=True)[counts].sum().reset_index() if by else frame[counts].sum().to_frame().T
        out = out.astype({c: "Int64" for c in counts})
        for c in ("matched", "first_choice", "top_three"):
            out[f"{c}_share"] = (out[c] / out["students"]).astype(float).round(4)
        small = out["students"] < min_count
        out.loc[small, [c for c in out.columns if c not in by]] = pd.NA
        out["simulated"] = self.simulated
        return out

    def to_csv(self, path: str | os.PathLike, *, table: Literal["assignment", "waitlists"] = "assignment") -> Path:
        """Write each student's assignment (or the waitlists) to ``path``, atomically.

        These are private data: write them only where the user asked.
        """
        if table not in ("assignment", "waitlists"):
            raise ValueError(f"table={table!r}; use 'assignment' or 'waitlists'")
        frame = self.table() if table == "assignment" else self.waitlists
        with atomic_write(path) as tmp:
            frame.to_csv(tmp, index=False)
        return Path(path)


def _keys(data: LotteryData, rng: np.random.Generator, lottery: str) -> tuple[np.ndarray, np.ndarray]:
    """Schools' ordering keys (tier, then lottery number) and the single lottery numbers."""
    n = data.n_students
    number = rng.permutation(n).astype(np.int64)
    if lottery == "single":
        rank = np.broadcast_to(number[:, None], data.choices.shape)
    else:  # one number per (student, school): a random order of each school's applicants
        valid = data.choices >= 0
        noise = rng.random(data.choices.shape)
        flat = np.flatnonzero(valid)
        school = data.choices.ravel()[flat]
        order = np.lexsort((noise.ravel()[flat], school))
        start = np.searchsorted(school[order], school[order])
        rank = np.zeros(data.choices.size, dtype=np.int64)
        rank[flat[order]] = np.arange(len(flat)) - start
        rank = rank.reshape(data.choices.shape)
    return data.tiers * (n + 1) + rank, number


def _deferred_acceptance(programs: np.ndarray, keys: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Student-proposing deferred acceptance in rounds; returns each student's list position or -1.

    Each round every rejected student proposes to the next school on their list; each program
    keeps its best ``capacity`` applicants by key among those it held and the new ones.
    """
    n, width = programs.shape
    held = np.full(n, -1, dtype=np.int64)  # position in the list of the held proposal
    nxt = np.zeros(n, dtype=np.int64)
    length = (programs >= 0).sum(1)
    held_prog = np.full(n, -1, dtype=np.int64)
    touched = np.zeros(len(capacity), dtype=bool)
    active = np.flatnonzero(length > 0)
    while active.size:
        j = nxt[active]
        nxt[active] += 1
        prog = programs[active, j]
        touched[:] = False
        touched[prog] = True
        holders = np.flatnonzero(held_prog >= 0)
        holders = holders[touched[held_prog[holders]]]
        cand = np.concatenate([holders, active])
        cj = np.concatenate([held[holders], j])
        cp = np.concatenate([held_prog[holders], prog])
        ck = keys[cand, cj]
        order = np.lexsort((ck, cp))
        cand, cj, cp = cand[order], cj[order], cp[order]
        first = np.searchsorted(cp, cp)
        keep = np.arange(len(cp)) - first < capacity[cp]
        held[cand] = np.where(keep, cj, -1)
        held_prog[cand] = np.where(keep, cp, -1)
        active = cand[~keep]
        active = active[nxt[active] < length[active]]
    return held


def _guarantee(
    data: LotteryData,
    assignment: np.ndarray,
    number: np.ndarray,
    zones: Mapping[str, Sequence[str]],
) -> np.ndarray:
    """Place unmatched zone residents, in lottery order, in the closest zone school with room."""
    index = {s: i for i, s in enumerate(data.school_ids)}
    unknown = sorted({s for ids in zones.values() for s in ids if str(s) not in index})
    if unknown:
        raise ValueError(f"guarantee names unknown schools {unknown[:10]}; use ids of the schools table")
    used = np.bincount(
        (assignment * _NG + data.grades + 1)[assignment >= 0], minlength=data.n_schools * _NG
    ).reshape(data.n_schools, _NG)
    room = data.seats - used
    placed = np.zeros(data.n_students, dtype=bool)
    zone_schools = {str(z): np.array([index[str(s)] for s in ids], dtype=np.int64) for z, ids in zones.items()}
    waiting = np.flatnonzero((assignment < 0) & np.isin(data.zones, list(zone_schools)))
    for s in waiting[np.argsort(number[waiting])]:
        cands = zone_schools[data.zones[s]]
        cands = cands[room[cands, data.grades[s] + 1] > 0]
        if not cands.size:
            continue
        if data.student_xy is not None and data.school_xy is not None:
            cands = cands[np.argsort(np.hypot(*(data.school_xy[cands] - data.student_xy[s]).T), kind="stable")]
        assignment[s] = cands[0]
        room[cands[0], data.grades[s] + 1] -= 1
        placed[s] = True
    return placed


def solve(
    data: LotteryData,
    *,
    seed: int = 0,
    lottery: Literal["single", "per_school"] = "single",
    guarantee: Mapping[str, Sequence[str]] | None = None,
) -> LotteryResult:
    """Run the unified lottery.

    Parameters
    ----------
    data
        The instance.
    seed
        Seeds the lottery numbers; the same seed gives the same result.
    lottery
        ``"single"``: one number per student, used by every school (keeps the assignment
        efficient among students of a tier); ``"per_school"``: each school draws its own order.
    guarantee
        ``zone -> school ids``: after the lottery, unmatched residents of each zone (the students'
        ``zone``) are placed, in lottery order, in the closest of the zone's schools with room in
        their grade. ``None`` for no guarantee.

    Returns
    -------
    LotteryResult
    """
    if lottery not in _LOTTERIES:
        raise ValueError(f"lottery={lottery!r}; use 'single' or 'per_school'")
    rng = np.random.default_rng(seed)
    keys, number = _keys(data, rng, lottery)
    pos = _deferred_acceptance(data.programs, keys, data.seats.ravel())
    rows = np.arange(data.n_students)
    assignment = np.where(pos >= 0, data.choices[rows, np.clip(pos, 0, None)] if data.choices.size else -1, -1)
    placed = _guarantee(data, assignment, number, guarantee) if guarantee else np.zeros(data.n_students, bool)
    logger.debug("lottery: %d of %d matched", int((assignment >= 0).sum()), data.n_students)
    return LotteryResult(data, assignment, pos, placed, keys, number, seed, lottery)


# ---------------------------------------------------------------------------------------------
# Simulated families' lists

#: Default sector terms of the simulated utility (utility units; distance costs 1 per km).
SECTOR_TERMS: dict[str, float] = {"district": 0.0, "charter": 0.3, "catholic": -0.3, "private": -1.0}


def simulate_choices(
    students_xy: np.ndarray,
    schools_xy: np.ndarray,
    school_attrs: pd.DataFrame | None = None,
    *,
    seed: int,
    n_choices: int = 12,
    student_grades: np.ndarray | None = None,
    student_ids: Sequence[object] | None = None,
    distance_per_km: float = 1.0,
    quality_weight: float = 1.0,
    sector_terms: Mapping[str, float] | None = None,
    noise: float = 1.0,
) -> pd.DataFrame:
    """Simulate families' ranked lists from a random-utility model (when real rankings are absent).

    Family *i* values school *j* at ::

        U_ij = - distance_per_km * d_ij / 1000 + quality_weight * quality_j + sector_terms[sector_j]
               + noise * e_ij,        e_ij ~ Gumbel(0, 1) independent

    where ``d_ij`` is the straight-line distance in metres, and ranks the ``n_choices`` schools of
    highest utility among those serving its grade (a multinomial-logit "exploded" ranking, the
    model of e.g. Abdulkadiroğlu, Agarwal and Pathak 2017, here with illustrative weights).

    Parameters
    ----------
    students_xy, schools_xy
        ``(n, 2)`` and ``(m, 2)`` metric coordinates (metres).
    school_attrs
        Optional columns per school (row order of ``schools_xy``): ``id`` (default 0..m-1),
        ``sector``, ``quality`` (a standardized score, 0 = average), ``grades`` (tuple of ints;
        schools not serving a student's grade are never ranked).
    seed
        Seeds the noise; the same seed gives the same lists.
    n_choices
        Longest list (shorter when fewer schools serve the grade).
    student_grades
        ``(n,)`` grades, needed with ``grades`` in ``school_attrs``.
    student_ids
        Ids for the ``student`` column (default 0..n-1).
    distance_per_km, quality_weight, sector_terms, noise
        The model's weights (see the formula); ``sector_terms`` defaults to :data:`SECTOR_TERMS`.

    Returns
    -------
    DataFrame
        ``student``, ``school``, ``rank`` (1 = first) and ``simulated`` (True), ready for
        :meth:`LotteryData.from_frames`.
    """
    sxy = np.asarray(students_xy, dtype=float)
    kxy = np.asarray(schools_xy, dtype=float)
    n, m = len(sxy), len(kxy)
    attrs = school_attrs if school_attrs is not None else pd.DataFrame(index=range(m))
    terms = dict(SECTOR_TERMS if sector_terms is None else sector_terms)
    base = np.zeros(m)
    if "quality" in attrs:
        base += quality_weight * attrs["quality"].fillna(0).to_numpy(float)
    if "sector" in attrs:
        base += np.array([terms.get(str(s), 0.0) for s in attrs["sector"]])
    serves = None
    if "grades" in attrs:
        if student_grades is None:
            raise ValueError("school_attrs has grades: pass student_grades= too")
        serves = np.zeros((_NG, m), dtype=bool)
        for j, gs in enumerate(attrs["grades"]):
            serves[np.asarray(list(gs), dtype=np.int64) + 1, j] = True
        sg = np.asarray(student_grades, dtype=np.int64) + 1
    school_ids = _strings(attrs["id"]) if "id" in attrs else np.arange(m)
    ids = np.asarray(student_ids, dtype=object) if student_ids is not None else np.arange(n)
    rng = np.random.default_rng(seed)
    k = min(n_choices, m)
    parts = []
    for lo in range(0, n, 4096):
        hi = min(n, lo + 4096)
        d = np.hypot(sxy[lo:hi, None, 0] - kxy[None, :, 0], sxy[lo:hi, None, 1] - kxy[None, :, 1])
        u = base - distance_per_km * d / 1000.0 + noise * rng.gumbel(size=d.shape)
        if serves is not None:
            u[~serves[sg[lo:hi]]] = -np.inf
        top = np.argpartition(-u, k - 1, axis=1)[:, :k] if k < m else np.broadcast_to(np.arange(m), (hi - lo, m))
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(u, top, 1), axis=1, kind="stable"), 1)
        ok = np.isfinite(np.take_along_axis(u, top, 1))
        r, c = np.nonzero(ok)
        parts.append(pd.DataFrame({"student": ids[lo + r], "school": school_ids[top[r, c]], "rank": c + 1}))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["student", "school", "rank"])
    out["simulated"] = True
    return out
