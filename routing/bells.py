"""Bell times: policy rules, allowed times, alignment and optimization, with an explanation per school.

A school's runs do not depend on its bell (the *fixed-run* model): moving a start by ``d`` moves
all its morning runs by ``d``, and moving a dismissal by ``e`` all its afternoon runs by ``e``
(``e == d`` when the school day keeps its length). Which runs one bus can drive in a row then
depends only on the bells, and the fewest buses for given bells is a
minimum path cover of the runs' "can follow" graph, i.e. the number of runs minus a maximum
bipartite matching (Hopcroft–Karp, :func:`scipy.sparse.csgraph.maximum_bipartite_matching`): an
exact count in milliseconds. :class:`RunChains` holds that evaluator; :func:`optimize_bells` runs
a seeded iterated local search over the allowed times of every school (whole tiers first, then
school by school; then restarts from perturbed best times, within a deterministic budget of
counts, :func:`search_budget`) with it, in the spirit of the bell-time step of BiRD (Bertsimas,
Delarue & Martin, PNAS 2019), which selects bells against the run schedule in the same way.
:func:`align_bells` moves charter and Catholic schools onto the district's tiers, each a start and
its dismissal (:func:`district_tiers`), as Boston's charters did with their drop-off and pick-up
times; the same search keeps only moves that cost no bus.

Policy (``[transport.bells]`` in ``city.toml``)::

    [transport.bells]
    earliest = "07:00"             # window of start times considered
    latest = "09:30"
    step_minutes = 30              # candidate starts: this grid, plus each school's current time
    shifts_minutes = [-10, -5, 5, 10]   # and small shifts of the current time (Framingham's 5-10 min)
    max_change_minutes = 90        # largest change for any school
    max_day_change_minutes = 30    # largest change of a school day's length (alignment of start and end)
    [[transport.bells.rules]]
    label = "no high school before 8:00"
    grades = "9-12"                # schools serving any of these grades
    earliest = "08:00"
    [[transport.bells.rules]]
    label = "elementary dismissal before 16:00"
    grades = "PK-5"
    end_before = "16:00"
    [[transport.bells.rules]]
    label = "Catholic schools keep their tiers"
    sector = "catholic"            # or a list
    times = ["07:45", "08:15"]     # allowed starts (a tier set)
    [[transport.bells.rules]]
    schools = ["Latin Academy"]    # by id
    fixed = true                   # cannot move
    [[transport.bells.rules]]
    label = "charter days keep their length within 20 min"
    sector = "charter"
    max_day_change_minutes = 20

>>> from routing.bells import BellPolicy, allowed_times, optimize_bells
>>> policy = BellPolicy.from_settings(city.settings.get("transport", {}))  # doctest: +SKIP
>>> result = optimize_bells(chains, schools, policy=policy, time_limit=30, seed=1)  # doctest: +SKIP
>>> result.changes[["school", "old_start", "new_start", "reason"]]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from facilities import Problem, ValidationError
from facilities._validate import parse_grades, parse_time
from facilities.schema import format_time
from routing.budget import Deadline, safety_cap
from routing.chaining import can_follow, fewest_buses
from routing.problem import ProblemData, Run

__all__ = [
    "BANDS",
    "grade_band",
    "BellRule",
    "BellPolicy",
    "Allowed",
    "allowed_times",
    "RunChains",
    "BellTimes",
    "current_bells",
    "Align",
    "district_tiers",
    "align_bells",
    "search_budget",
    "optimize_bells",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

#: Grade bands used by the rules' reports: elementary (PK-5), middle (6-8), high (9-12).
BANDS: dict[str, tuple[int, ...]] = {"elementary": tuple(range(-1, 6)), "middle": (6, 7, 8), "high": (9, 10, 11, 12)}


def grade_band(grade: int) -> str:
    """The band of one grade: ``"elementary"``, ``"middle"`` or ``"high"``."""
    return next(name for name, grades in BANDS.items() if int(grade) in grades)


@dataclass(frozen=True)
class BellRule:
    """A policy rule over some schools (all of the given sectors, grades and ids; empty = any).

    Parameters
    ----------
    label
        How the rule is named in explanations.
    sectors, grades, schools
        Which schools it applies to: a school's sector is one of ``sectors``, it serves any of
        ``grades``, or its id is in ``schools`` (each empty criterion matches every school).
    earliest, latest
        Bounds on the start time (seconds after midnight; NaN for none).
    end_before, end_after
        Bounds on the dismissal time.
    max_change
        Largest change of the start time, seconds.
    times
        Allowed start times (a tier set); empty for any.
    fixed
        The school keeps its current times.
    max_day_change
        Largest change of the school day's length (dismissal minus start), seconds.
    """

    label: str
    sectors: tuple[str, ...] = ()
    grades: tuple[int, ...] = ()
    schools: tuple[str, ...] = ()
    earliest: float = math.nan
    latest: float = math.nan
    end_before: float = math.nan
    end_after: float = math.nan
    max_change: float = math.nan
    times: tuple[float, ...] = ()
    fixed: bool = False
    max_day_change: float = math.nan

    def applies(self, school: Mapping[str, object]) -> bool:
        """Whether the rule covers ``school`` (a row with ``id``, ``sector``, ``grades``)."""
        if self.sectors and school["sector"] not in self.sectors:
            return False
        if self.schools and str(school["id"]) not in self.schools:
            return False
        if self.grades:
            grades = school.get("grades")
            if not isinstance(grades, tuple) or not set(grades) & set(self.grades):
                return False
        return True

    def allows(self, start: float, end: float, current: float, current_end: float = math.nan) -> bool:
        """Whether a start and dismissal satisfy the rule, for a school now at ``current``-``current_end``
        (without ``current_end`` the day is taken to keep its length)."""
        if math.isnan(current_end):
            current_end = current + end - start
        if self.fixed:
            return start == current and end == current_end
        checks = (
            math.isnan(self.earliest) or start >= self.earliest,
            math.isnan(self.latest) or start <= self.latest,
            math.isnan(self.end_before) or end <= self.end_before,
            math.isnan(self.end_after) or end >= self.end_after,
            math.isnan(self.max_change) or abs(start - current) <= self.max_change,
            not self.times or start in self.times,
            math.isnan(self.max_day_change) or abs((end - start) - (current_end - current)) <= self.max_day_change,
        )
        return all(checks)


@dataclass(frozen=True)
class BellPolicy:
    """The candidate start times and the rules they must satisfy.

    Parameters
    ----------
    earliest, latest
        Window of candidate start times (seconds after midnight).
    step
        Candidate starts every ``step`` seconds in the window, plus each school's current start.
    shifts
        Small shifts (seconds) of each school's current start added to its candidates.
    max_change
        Largest change of any start, seconds.
    rules
        Rules per sector, grade band or school.
    max_day_change
        Largest change of any school day's length, seconds (a school aligned on start and end
        takes the tier's day length; without a cap it may change by any amount).
    """

    earliest: float = 7 * 3600.0
    latest: float = 9.5 * 3600
    step: float = 1800.0
    shifts: tuple[float, ...] = ()
    max_change: float = math.inf
    rules: tuple[BellRule, ...] = ()
    max_day_change: float = math.inf

    @classmethod
    def from_settings(cls, transport: Mapping[str, object]) -> BellPolicy:
        """Read ``[transport.bells]`` (see the module docstring); defaults for whatever is absent.

        Raises
        ------
        facilities.ValidationError
            Naming each bad key of each rule, and what to write instead.
        """
        raw = dict(transport.get("bells", {}) or {})
        problems: list[Problem] = []
        where = "city.toml [transport.bells]"

        def clock(table: Mapping[str, object], key: str, row: int | None) -> float:
            if key not in table:
                return math.nan
            try:
                return parse_time(table[key])
            except ValueError as err:
                problems.append(Problem(where if row is None else f"{where}.rules", row, key, str(err), 'write "HH:MM"'))
                return math.nan

        def names(value: object) -> tuple[str, ...]:
            return (value,) if isinstance(value, str) else tuple(str(v) for v in (value or ()))

        rules = []
        for k, r in enumerate(raw.get("rules", []) or []):
            keys = ("label", "sector", "sectors", "grades", "schools", "earliest", "latest", "end_before", "end_after", "max_change_minutes", "max_day_change_minutes", "times", "fixed")
            unknown = set(r) - set(keys)
            if unknown:
                problems.append(Problem(f"{where}.rules", k + 1, sorted(unknown)[0], "unknown key", f"use {', '.join(k for k in keys if k != 'sectors')}"))
            try:
                grades = parse_grades(r["grades"]) if "grades" in r else ()
            except ValueError as err:
                problems.append(Problem(f"{where}.rules", k + 1, "grades", str(err), 'write grades = "9-12"'))
                grades = ()
            times = []
            for t in r.get("times", []) or []:
                try:
                    times.append(parse_time(t))
                except ValueError as err:
                    problems.append(Problem(f"{where}.rules", k + 1, "times", str(err), 'write times = ["07:30", "08:30"]'))
            rules.append(
                BellRule(
                    label=str(r.get("label", f"rule {k + 1}")),
                    sectors=names(r.get("sectors", r.get("sector"))),
                    grades=grades,
                    schools=names(r.get("schools")),
                    earliest=clock(r, "earliest", k + 1),
                    latest=clock(r, "latest", k + 1),
                    end_before=clock(r, "end_before", k + 1),
                    end_after=clock(r, "end_after", k + 1),
                    max_change=float(r["max_change_minutes"]) * 60 if "max_change_minutes" in r else math.nan,
                    times=tuple(times),
                    fixed=bool(r.get("fixed", False)),
                    max_day_change=float(r["max_day_change_minutes"]) * 60 if "max_day_change_minutes" in r else math.nan,
                )
            )
        policy = cls(
            earliest=clock(raw, "earliest", None) if "earliest" in raw else cls.earliest,
            latest=clock(raw, "latest", None) if "latest" in raw else cls.latest,
            step=float(raw.get("step_minutes", cls.step / 60)) * 60,
            shifts=tuple(float(m) * 60 for m in raw.get("shifts_minutes", []) or []),
            max_change=float(raw["max_change_minutes"]) * 60 if "max_change_minutes" in raw else math.inf,
            rules=tuple(rules),
            max_day_change=float(raw["max_day_change_minutes"]) * 60 if "max_day_change_minutes" in raw else math.inf,
        )
        if not policy.step > 0:
            problems.append(Problem(where, None, "step_minutes", f"must be positive, got {policy.step / 60}", "give minutes > 0"))
        if problems:
            raise ValidationError(problems, city="bell-time policy")
        return policy

    def with_rules(self, *rules: BellRule) -> BellPolicy:
        """A copy with more rules."""
        return replace(self, rules=self.rules + tuple(rules))

    def broken(self, school: Mapping[str, object], start: float, end: float) -> list[str]:
        """What the times ``start``-``end`` break for one school (a row with ``id``, ``sector``,
        ``grades``, ``bell_start``, ``bell_end``): the largest changes and the rules' labels."""
        old, old_end = float(school["bell_start"]), float(school["bell_end"])  # type: ignore[arg-type]
        out = []
        if abs(start - old) > self.max_change:
            out.append(f"changes by more than {self.max_change / 60:.0f} min")
        if abs((end - start) - (old_end - old)) > self.max_day_change:
            out.append(f"school day changes by more than {self.max_day_change / 60:.0f} min")
        out += [r.label for r in self.rules if r.applies(school) and not r.allows(start, end, old, old_end)]
        return out

    def violations(self, schools: pd.DataFrame, starts: Mapping[str, float], ends: Mapping[str, float] | None = None) -> list[str]:
        """The broken rules, one line per school and rule (empty when the times satisfy the policy).

        ``ends`` are the dismissals (default: each school day keeps its length).
        """
        out = []
        for _, s in schools.iterrows():
            sid = str(s["id"])
            start = float(starts[sid])
            end = float(ends[sid]) if ends is not None and sid in ends else start + float(s["bell_end"] - s["bell_start"])
            out += [f"{sid}: {label} ({format_time(start)}-{format_time(end)})" for label in self.broken(s, start, end)]
        return out


@dataclass(frozen=True)
class Allowed:
    """Allowed start times per school, and the schools with none.

    Attributes
    ----------
    times
        School id -> sorted allowed starts (seconds after midnight).
    binding
        School id -> labels of the rules that removed its current start (empty when it is allowed).
    infeasible
        Schools with no allowed time (``school``, ``reason``): they keep their current times.
    """

    times: Mapping[str, tuple[float, ...]]
    binding: Mapping[str, tuple[str, ...]]
    infeasible: pd.DataFrame


def allowed_times(schools: pd.DataFrame, policy: BellPolicy) -> Allowed:
    """The start times each school may take under ``policy``.

    Parameters
    ----------
    schools
        ``id``, ``sector``, ``grades``, ``bell_start``, ``bell_end`` (seconds after midnight).
    policy
        The candidate grid and the rules.

    Returns
    -------
    Allowed
        Schools without current bell times or with no time satisfying every rule are listed in
        ``infeasible``, by name and why.
    """
    grid = np.arange(policy.earliest, policy.latest + 1e-9, policy.step)
    times: dict[str, tuple[float, ...]] = {}
    binding: dict[str, tuple[str, ...]] = {}
    bad: list[tuple[str, str]] = []
    for _, s in schools.iterrows():
        sid, start, end = str(s["id"]), float(s["bell_start"]), float(s["bell_end"])
        if not (math.isfinite(start) and math.isfinite(end)):
            bad.append((sid, "no current start and end times"))
            continue
        rules = [r for r in policy.rules if r.applies(s)]
        extra = [t for r in rules for t in r.times]
        cands = sorted({start, *grid.tolist(), *(start + d for d in policy.shifts), *extra})
        ok = tuple(
            t for t in cands
            if abs(t - start) <= policy.max_change and all(r.allows(t, t + end - start, start) for r in rules)
        )  # fmt: skip
        binding[sid] = tuple(r.label for r in rules if not r.allows(start, end, start))
        if not ok:
            labels = "; ".join(r.label for r in rules) or "the window and largest change"
            bad.append((sid, f"no start time satisfies every rule ({labels})"))
            continue
        times[sid] = ok
    return Allowed(times, binding, pd.DataFrame(bad, columns=["school", "reason"]))


# ====================================================================== evaluator
@dataclass(frozen=True, eq=False)
class RunChains:
    """The fewest buses for any bell times, for fixed runs: an exact, fast evaluator.

    Build it with :meth:`from_runs`. For each session, run ``j`` can follow run ``i`` on one bus
    when both have the same bus type and, with every run moved by its school's shift (of the start
    in the ``"am"`` session, of the dismissal in the ``"pm"`` session),
    :func:`routing.chaining.can_follow` of ``end[i] + shift[i]``, ``drive[i, j]`` and
    ``start[j] + shift[j]``, and the count is :func:`routing.chaining.fewest_buses`: the very test
    and count of :func:`routing.chaining.chain`, so the count is the one the final plan of the
    same shifted runs has. Only pairs that can chain for *some* shifts no further apart
    than ``max_shift`` are kept; beyond that the count is an upper bound.

    Attributes
    ----------
    school_ids
        School ids, in the order of the shift vectors.
    sessions
        Session name -> ``(school, start, end, rows, cols, drive)`` arrays: each run's school
        index, start and end at the current bells, and the candidate successor pairs with the
        drive (seconds) from the end of ``rows`` to the start of ``cols``.
    max_shift
        Largest difference of two schools' shifts for which the count is exact.
    """

    school_ids: tuple[str, ...]
    sessions: Mapping[str, tuple[np.ndarray, ...]] = field(repr=False)
    max_shift: float = 4 * 3600.0
    _pairs: Mapping[str, tuple[np.ndarray, ...]] = field(init=False, repr=False)

    _touching: Mapping[str, list[np.ndarray]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # per candidate pair: end of the first run, start of the second, and both schools; and
        # per school the pairs whose test its shift changes (for the search's incremental counts)
        pairs = {k: (end[rows], start[cols], school[rows], school[cols]) for k, (school, start, end, rows, cols, _) in self.sessions.items()}
        n = len(self.school_ids)
        touching = {k: [np.flatnonzero((a == i) | (b == i)) for i in range(n)] for k, (_, _, a, b) in pairs.items()}
        object.__setattr__(self, "_pairs", pairs)
        object.__setattr__(self, "_touching", touching)

    @classmethod
    def from_runs(cls, data: ProblemData, runs: Mapping[str, Sequence[Run]], *, max_shift: float = 4 * 3600) -> RunChains:
        """Build the evaluator from each session's runs (timed at the current bells of ``data``).

        Parameters
        ----------
        data
            The problem (its ``durations`` give the drives between runs).
        runs
            ``{"am": [...], "pm": [...]}``; a run's school is its first school.
        max_shift
            Largest difference of two schools' shifts considered; pairs needing more never chain.
        """
        T = data.durations
        out = {}
        for session, rs in runs.items():
            if not rs:
                continue
            school = np.array([r.schools[0] for r in rs], dtype=np.intp)
            start = np.array([r.start for r in rs], dtype=float)
            end = np.array([r.end for r in rs], dtype=float)
            drive = T[np.ix_([r.end_location for r in rs], [r.start_location for r in rs])]
            kind = np.array([r.bus_type for r in rs])
            near = (end[:, None] + drive - start[None, :] <= max_shift + 1.0) & (kind[:, None] == kind[None, :])
            np.fill_diagonal(near, False)  # a bus type drives its own runs (as routing.buses.chain)
            rows, cols = np.nonzero(near)
            out[session] = (school, start, end, rows.astype(np.int32), cols.astype(np.int32), drive[rows, cols])
        return cls(tuple(s.id for s in data.schools), out, float(max_shift))

    def _follows(self, session: str, shift: np.ndarray, base: np.ndarray | None = None, moved: Sequence[int] = ()) -> np.ndarray:
        """Which candidate pairs can chain: all tested, or ``base`` with the pairs of ``moved`` schools retested."""
        drive = self.sessions[session][5]
        end, start, first, then = self._pairs[session]
        if base is None:
            return can_follow(end + shift[first], drive, start + shift[then])
        ok = base.copy()
        k = np.concatenate([self._touching[session][i] for i in moved]) if moved else np.zeros(0, dtype=np.intp)
        ok[k] = can_follow(end[k] + shift[first[k]], drive[k], start[k] + shift[then[k]])
        return ok

    def _count(self, session: str, shift: np.ndarray, ok: np.ndarray | None = None) -> int:
        """Fewest buses of one session: its runs minus a maximum matching of "can follow"."""
        school, _, _, rows, cols, _ = self.sessions[session]
        ok = self._follows(session, shift) if ok is None else ok
        return fewest_buses(len(school), rows[ok], cols[ok])

    def _shifts(self, shift: np.ndarray | None, end_shift: np.ndarray | None) -> dict[str, np.ndarray]:
        start = np.zeros(len(self.school_ids)) if shift is None else np.asarray(shift, dtype=float)
        end = start if end_shift is None else np.asarray(end_shift, dtype=float)
        return {k: end if k == "pm" else start for k in self.sessions}

    def buses(self, shift: np.ndarray | None = None, *, end_shift: np.ndarray | None = None) -> int:
        """Fewest buses for starts shifted by ``shift`` and dismissals by ``end_shift`` seconds per
        school (default: as the starts): the busier session."""
        return max(self.session_buses(shift, end_shift=end_shift).values(), default=0)

    def session_buses(self, shift: np.ndarray | None = None, *, end_shift: np.ndarray | None = None) -> dict[str, int]:
        """Fewest buses per session (the number of buses :func:`routing.buses.chain` uses)."""
        return {k: self._count(k, x) for k, x in self._shifts(shift, end_shift).items()}

    def _at_most(self, limit: int, shift: np.ndarray, end_shift: np.ndarray, *, first: str = "", base: Mapping[str, np.ndarray] | None = None, moved: Sequence[int] = ()) -> tuple[int, int]:
        """:meth:`buses` and the sum over sessions, or the first session's count (twice) when it is
        above ``limit`` (the search's quick rejection; pass the busiest session as ``first``).
        With ``base`` (:meth:`_follows` per session for shifts that differ only for the ``moved``
        schools) only their pairs are retested."""
        counts = []
        for k, x in sorted(self._shifts(shift, end_shift).items(), key=lambda kx: kx[0] != first):
            counts.append(self._count(k, x, None if base is None else self._follows(k, x, base[k], moved)))
            if counts[-1] > limit:
                return counts[-1], counts[-1]
        return max(counts, default=0), sum(counts)


# ====================================================================== results
@dataclass(frozen=True)
class BellTimes:
    """Bell times of a scenario and why each school has its time.

    Attributes
    ----------
    starts, ends
        School id -> start and dismissal (seconds after midnight).
    changes
        One row per school: ``school``, ``sector``, ``old_start``, ``new_start``, ``old_end``,
        ``new_end`` (``HH:MM``), ``change_min`` (of the start), ``end_change_min``, ``reason``.
    infeasible
        Schools that could not be given an allowed time (``school``, ``reason``).
    buses
        Fewest buses for these times with the fixed runs (``None`` when not evaluated).
    clock_cap
        Whether the clock cap, not the search's budget, ended the search (the times may then
        differ between two runs on a loaded machine).
    """

    starts: Mapping[str, float]
    ends: Mapping[str, float]
    changes: pd.DataFrame
    infeasible: pd.DataFrame
    buses: int | None = None
    clock_cap: bool = False

    @classmethod
    def from_times(
        cls,
        schools: pd.DataFrame,
        starts: Mapping[str, float],
        *,
        ends: Mapping[str, float] | None = None,
        reasons: Mapping[str, str] | None = None,
        infeasible: pd.DataFrame | None = None,
        buses: int | None = None,
    ) -> BellTimes:
        """Bell times from new ``starts`` and ``ends`` by school id (others keep theirs; a school
        without a new dismissal keeps its day's length), with the ``changes`` table.

        Parameters
        ----------
        schools
            ``id``, ``sector``, ``bell_start``, ``bell_end``: the current times.
        starts, ends
            New times, seconds after midnight.
        reasons
            Why, per school (default ``"unchanged"``).
        infeasible
            Schools that could not be given an allowed time (``school``, ``reason``).
        buses
            Their bus count, when known.
        """
        reasons = reasons or {}
        rows = []
        new_starts, new_ends = {}, {}
        for _, s in schools.iterrows():
            sid, old, old_end = str(s["id"]), float(s["bell_start"]), float(s["bell_end"])
            new = new_starts[sid] = float(starts.get(sid, old))
            end = new_ends[sid] = float(ends[sid]) if ends is not None and sid in ends else new + (old_end - old)
            moved = ((new - old) / 60 if math.isfinite(old) else math.nan, (end - old_end) / 60 if math.isfinite(old_end) else math.nan)
            rows.append((sid, s.get("sector", ""), format_time(old), format_time(new), format_time(old_end), format_time(end), *moved, reasons.get(sid, "unchanged")))
        changes = pd.DataFrame(rows, columns=["school", "sector", "old_start", "new_start", "old_end", "new_end", "change_min", "end_change_min", "reason"])
        if infeasible is None:
            infeasible = pd.DataFrame(columns=["school", "reason"])
        return cls(new_starts, new_ends, changes, infeasible, buses)

    def shift(self, school_ids: Sequence[str], current: Mapping[str, float]) -> np.ndarray:
        """Shifts (seconds) from ``current`` starts, in the order of ``school_ids`` (0 for others)."""
        return _offsets(self.starts, current, school_ids)

    def end_shift(self, school_ids: Sequence[str], current_ends: Mapping[str, float]) -> np.ndarray:
        """Shifts (seconds) from ``current_ends`` dismissals, in the order of ``school_ids`` (0 for others)."""
        return _offsets(self.ends, current_ends, school_ids)


def _offsets(new: Mapping[str, float], old: Mapping[str, float], ids: Sequence[str]) -> np.ndarray:
    return np.array([new.get(s, old.get(s, 0.0)) - old.get(s, 0.0) for s in ids], dtype=float)


def _span(start: float, end: float) -> str:
    return f"{format_time(start)}-{format_time(end)}"


def _was(old: tuple[float, float], new: tuple[float, float]) -> str:
    """``07:50-14:50 -> 07:30-14:00, day 20 min shorter``."""
    day = (new[1] - new[0]) - (old[1] - old[0])
    length = "day length kept" if day == 0 else f"day {abs(day) / 60:.0f} min {'longer' if day > 0 else 'shorter'}"
    return f"{_span(*old)} -> {_span(*new)}, {length}"


def current_bells(schools: pd.DataFrame) -> BellTimes:
    """The status quo: every school keeps its times (schools without times are listed as infeasible)."""
    missing = schools[~np.isfinite(schools["bell_start"].astype(float)) | ~np.isfinite(schools["bell_end"].astype(float))]
    infeasible = pd.DataFrame({"school": missing["id"].astype(str), "reason": "no current start and end times"})
    return BellTimes.from_times(schools, {}, infeasible=infeasible.reset_index(drop=True))


#: What alignment moves: the start only (the day keeps its length), or the start and the dismissal.
Align = Literal["start", "start_and_end"]


def district_tiers(schools: pd.DataFrame, *, sector: str = "district") -> tuple[tuple[float, float], ...]:
    """The tiers of one sector: each distinct start of its schools with the most common dismissal
    at that start (the earliest of equally common ones), by start.

    Parameters
    ----------
    schools
        ``sector``, ``bell_start``, ``bell_end`` (seconds after midnight).
    sector
        Whose tiers.

    Returns
    -------
    tuple of (start, dismissal)
        E.g. ``((27000.0, 50400.0), (30600.0, 54000.0))`` for 07:30-14:00 and 08:30-15:00.
    """
    own = schools.loc[schools["sector"] == sector, ["bell_start", "bell_end"]].astype(float)
    own = own[np.isfinite(own.to_numpy()).all(axis=1)]
    tiers = []
    for start, ends in own.groupby("bell_start")["bell_end"]:
        counts = ends.value_counts()
        tiers.append((float(start), float(counts.index[counts == counts.max()].min())))
    return tuple(tiers)


def _tier_options(school: Mapping[str, object], tiers: Sequence[tuple[float, float]], policy: BellPolicy, align: Align) -> dict[tuple[float, float], str]:
    """The (start, dismissal) pairs the policy lets ``school`` take on ``tiers``, each with a note
    ("" when it is the tier itself; else why the dismissal is not the tier's)."""
    old, old_end = float(school["bell_start"]), float(school["bell_end"])  # type: ignore[arg-type]
    day = old_end - old
    caps = [policy.max_day_change, *(r.max_day_change for r in policy.rules if r.applies(school))]
    out: dict[tuple[float, float], str] = {}
    for start, end in tiers:
        if not (policy.earliest <= start <= policy.latest or start == old):
            continue
        end = end if align == "start_and_end" else start + day
        broken = policy.broken(school, start, end)
        if not broken:
            out[(start, end)] = ""
        elif align == "start_and_end":  # the tier's start, and the allowed dismissal nearest the tier's
            ends = sorted({start + day, *(start + day + c * sign for c in caps if math.isfinite(c) for sign in (-1, 1))}, key=lambda e: (abs(e - end), e))
            ok = next((e for e in ends if not policy.broken(school, start, e)), None)
            if ok is not None:
                out.setdefault((start, ok), f"the tier's dismissal {format_time(end)} breaks: {'; '.join(broken)}")
    return out


#: Pair tests a second the searches' budgets count on: about half of what one core of a 2020s
#: laptop does, so that the budget, not the clock, ends a search (reproducibility).
_PAIR_TESTS_PER_SECOND = 3e7
#: What one bus count costs beyond its pair tests (building the graph, the matching), in pair tests.
_COUNT_OVERHEAD = 4000

Score = tuple[float, ...]


def search_budget(chains: RunChains, *, time_limit: float) -> int:
    """Bus counts a bell-time search may evaluate in ``time_limit`` seconds on ``chains``.

    Deterministic (from the time limit and the problem's size: its runs and candidate pairs),
    so the same seed gives the same times whatever the machine's load, as long as the clock
    (a safety cap) is not reached first.
    """
    work = sum(len(v[0]) + len(v[3]) + _COUNT_OVERHEAD for v in chains.sessions.values())
    return max(int(time_limit * _PAIR_TESTS_PER_SECOND / max(work, 1)), 1)


@dataclass
class _Search:
    """Seeded iterated local search over each school's (start shift, dismissal shift) options.

    A descent tries moving whole groups of schools that share their times to each option they
    all have, then each school alone to each of its options (in a seeded order), keeping a move
    when the score -- (buses, *ties(x, y, buses summed over the sessions)) -- is lower, pass after pass until a pass improves
    nothing. Each further descent starts from the best times found with a few schools (seeded)
    moved to random options. It ends after ``budget`` bus counts or ``2 * schools + 5`` restarts
    (both deterministic: the same seed gives the same times), or at the clock's safety cap
    (:func:`routing.budget.safety_cap`; the result's ``clock_cap`` then says so).
    """

    chains: RunChains
    options: Mapping[int, np.ndarray]
    current: np.ndarray
    ties: Callable[[np.ndarray, np.ndarray, int], tuple[float, ...]]
    budget: int
    deadline: Deadline
    rng: np.random.Generator
    progress: Progress | None = None
    used: int = 0
    restarts: int = 0
    t0: float = field(default_factory=time.perf_counter)
    movable: list[int] = field(init=False)
    first: str = ""  # the busiest session, counted first

    def __post_init__(self) -> None:
        self.movable = [i for i, o in self.options.items() if len(o) > 1]

    def score(self, x: np.ndarray, y: np.ndarray, limit: float = math.inf, base: Mapping[str, np.ndarray] | None = None, moved: Sequence[int] = ()) -> Score:
        """(buses, *ties); a count above ``limit`` is returned as soon as a session exceeds it
        (``base``, ``moved``: see :meth:`RunChains._at_most`)."""
        self.used += 1
        buses, total = self.chains._at_most(int(min(limit, 1e9)), x, y, first=self.first, base=base, moved=moved)
        return (buses, *self.ties(x, y, total))

    def follows(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        return {k: self.chains._follows(k, shift) for k, shift in self.chains._shifts(x, y).items()}

    def done(self, label: str) -> bool:
        if self.progress is not None:
            self.progress(label, min(self.used / self.budget, 1.0))
        return self.used >= self.budget or self.deadline.passed()

    def descend(self, x: np.ndarray, y: np.ndarray, now: Score) -> tuple[np.ndarray, np.ndarray, Score]:
        improved = True
        base = self.follows(x, y)
        while improved and not self.done(f"bell times: {now[0]:.0f} buses"):
            improved = False
            groups: dict[tuple[float, float], list[int]] = {}
            for i in self.movable:
                groups.setdefault((self.current[i, 0] + x[i], self.current[i, 1] + y[i]), []).append(i)
            moves: list[list[tuple[int, np.ndarray]]] = []
            for at, members in sorted(groups.items()):
                common = set.intersection(*({tuple(p) for p in (self.options[i] + self.current[i]).tolist()} for i in members)) - {at}
                moves += [[(i, np.array(t) - self.current[i]) for i in members] for t in sorted(common)]
            for i in self.rng.permutation(self.movable).tolist():
                moves += [[(i, o)] for o in self.rng.permutation(self.options[i]) if (o[0], o[1]) != (x[i], y[i])]
            for move in moves:
                tx, ty = x.copy(), y.copy()
                for i, (d, e) in move:
                    tx[i], ty[i] = d, e
                value = self.score(tx, ty, limit=now[0], base=base, moved=[i for i, _ in move])
                if value < now:
                    x, y, now, improved = tx, ty, value, True
                    base = self.follows(x, y)
                if self.done(f"bell times: {now[0]:.0f} buses"):
                    break
        return x, y, now

    def run(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, Score]:
        """The best times found from ``x``, ``y`` (never worse than them)."""
        self.first = max(self.chains.session_buses(x, end_shift=y).items(), key=lambda kv: kv[1], default=("", 0))[0]
        bx, by, best = self.descend(x, y, self.score(x, y))
        ax, ay, at = bx, by, best  # where the next perturbation starts: the last descent as good in buses
        while self.movable and self.restarts < 2 * len(self.movable) + 5 and not self.done(f"bell times: {best[0]:.0f} buses"):
            tx, ty = ax.copy(), ay.copy()
            k = int(self.rng.integers(2, max(3, len(self.movable) // 8) + 1))
            for i in self.rng.choice(self.movable, size=min(len(self.movable), k), replace=False).tolist():
                tx[i], ty[i] = self.options[i][self.rng.integers(len(self.options[i]))]
            tx, ty, value = self.descend(tx, ty, self.score(tx, ty))
            self.restarts += 1
            if value[0] <= at[0]:
                ax, ay, at = tx, ty, value
            if value < best:
                bx, by, best = tx, ty, value
        log.info("bell times: %d buses, %d restarts, %d of %d counts in %.1f s", best[0], self.restarts, self.used, self.budget, time.perf_counter() - self.t0)
        return bx, by, best


def align_bells(
    schools: pd.DataFrame,
    *,
    policy: BellPolicy,
    sectors: Sequence[str] = ("charter", "catholic"),
    to: str = "district",
    chains: RunChains | None = None,
    align: Align = "start_and_end",
    time_limit: float = 10.0,
    seed: int = 0,
) -> BellTimes:
    """Schools of ``sectors`` move onto the tiers of the ``to`` sector.

    A tier is a start of the ``to`` sector's schools with its most common dismissal
    (:func:`district_tiers`, e.g. 07:30-14:00, 08:30-15:00, 09:30-16:00). With
    ``align="start_and_end"`` an aligned school takes the tier's start *and* dismissal, so its day
    may lengthen or shorten, within the policy (``max_day_change`` and the rules); where the policy
    forbids the tier's dismissal the school takes the tier's start and the allowed dismissal
    nearest the tier's. With ``align="start"`` it takes the tier's start and keeps its day's length.

    Without ``chains`` each school takes its nearest allowed option (whole tiers first). With
    ``chains`` alignment is a choice per school between its allowed options and its current times
    (the status quo), made by the seeded search of :func:`optimize_bells` starting from the current
    times and scoring (buses, schools kept off the tiers, schools not exactly on a tier, buses
    summed over the sessions, total change): it keeps only what lowers that score, so alignment never needs more buses than the
    status quo. A school whose every option needs more buses keeps its times, even ones a rule
    forbids (its reason names the rule; the scenario lists it among the policy violations); a
    school the policy allows no tier keeps them too.

    Parameters
    ----------
    schools
        ``id``, ``sector``, ``grades``, ``bell_start``, ``bell_end``.
    policy
        What the schools may take.
    sectors, to
        Who moves, and onto whose tiers.
    chains
        The evaluator; without it, buses are not counted.
    align
        ``"start_and_end"`` or ``"start"``.
    time_limit, seed
        The search's budget (:func:`search_budget`) and seed: the same seed, the same times.

    Returns
    -------
    BellTimes
        ``reason`` per school, with its old and new start and dismissal.
    """
    if align not in ("start", "start_and_end"):
        raise ValueError(f"align must be 'start' or 'start_and_end', got {align!r}")
    allowed = allowed_times(schools, policy)
    tiers = district_tiers(schools, sector=to)
    on_pairs = align == "start_and_end"
    tier_text = ", ".join(_span(*t) if on_pairs else format_time(t[0]) for t in tiers)
    rows = {str(r["id"]): r for _, r in schools.iterrows()}
    current = {sid: (float(r["bell_start"]), float(r["bell_end"])) for sid, r in rows.items()}
    movers = sorted(sid for sid, r in rows.items() if r["sector"] in sectors and sid in allowed.times)
    options = {sid: _tier_options(rows[sid], tiers, policy, align) for sid in movers}
    reasons = {sid: f"kept {_span(*current[sid])}: no {to} tier ({tier_text}) is allowed by the policy" for sid in movers if not options[sid]}
    movers = [sid for sid in movers if options[sid]]
    exact = set(tiers) if on_pairs else {t for t, _ in tiers}

    def on_tier(pair: tuple[float, float]) -> bool:
        return (pair if on_pairs else pair[0]) in exact

    if chains is None:
        chosen = {sid: min(options[sid], key=lambda o, sid=sid: (not on_tier(o), abs(o[0] - current[sid][0]) + abs(o[1] - current[sid][1]), o)) for sid in movers}
        buses = None
    else:
        index = {s: i for i, s in enumerate(chains.school_ids)}
        now = np.array([current[s] for s in chains.school_ids])
        choices = {index[sid]: np.array(sorted({current[sid], *options[sid]})) - now[index[sid]] for sid in movers}
        kept_off = [index[sid] for sid in movers if current[sid] not in options[sid]]

        def ties(x: np.ndarray, y: np.ndarray, total: int) -> tuple[float, ...]:
            kept = sum(x[i] == 0 and y[i] == 0 for i in kept_off)
            inexact = sum(not on_tier((now[i, 0] + x[i], now[i, 1] + y[i])) for i in choices)
            return (kept, inexact, total, float(np.abs(x).sum() + np.abs(y).sum()))

        search = _Search(chains, choices, now, ties, search_budget(chains, time_limit=time_limit), Deadline(safety_cap(time_limit)), np.random.default_rng(seed))
        x, y, best = search.run(np.zeros(len(now)), np.zeros(len(now)))
        buses = int(best[0])
        chosen = {sid: (current[sid][0] + x[index[sid]], current[sid][1] + y[index[sid]]) for sid in movers}
        for sid in movers:
            if chosen[sid] != current[sid] or on_tier(current[sid]):
                continue
            i = index[sid]
            more = min(_alone(chains, x, y, i, o[0] - current[sid][0], o[1] - current[sid][1]) for o in options[sid]) - buses
            broken = "" if not allowed.binding.get(sid) else f"; its current time breaks {'; '.join(allowed.binding[sid])}"
            why = f"the {to} tiers would need {more} more bus{'es' if more > 1 else ''}" if more > 0 else f"the search kept it off the {to} tiers"
            reasons[sid] = f"kept {_span(*current[sid])}: {why}{broken}"
    for sid in movers:
        new, old = chosen[sid], current[sid]
        if sid in reasons:
            continue
        tier = _span(*new) if on_pairs else format_time(new[0])
        if new == old:
            reasons[sid] = f"already on the {to} tier {tier}"
        elif on_tier(new):
            reasons[sid] = f"aligned to the {to} tier {tier} ({_was(old, new)})"
        else:
            reasons[sid] = f"aligned to the {to} start {format_time(new[0])} ({_was(old, new)}); {options[sid][new]}"
    times = BellTimes.from_times(schools, {s: p[0] for s, p in chosen.items()}, ends={s: p[1] for s, p in chosen.items()}, reasons=reasons, infeasible=allowed.infeasible, buses=buses)
    return replace(times, clock_cap=chains is not None and search.deadline.fired)


def _alone(chains: RunChains, x: np.ndarray, y: np.ndarray, i: int, d: float, e: float) -> int:
    """Buses with school ``i`` alone shifted by ``d`` (start) and ``e`` (dismissal), the rest as in ``x``, ``y``."""
    tx, ty = x.copy(), y.copy()
    tx[i], ty[i] = d, e
    return chains.buses(tx, end_shift=ty)


def optimize_bells(
    chains: RunChains,
    schools: pd.DataFrame,
    *,
    policy: BellPolicy,
    time_limit: float = 30.0,
    seed: int = 0,
    tiers: Sequence[tuple[float, float]] = (),
    progress: Progress | None = None,
) -> BellTimes:
    """Choose allowed bell times that need the fewest buses, and explain each change.

    Seeded iterated local search. A descent tries moving whole groups of schools that share their
    times (tiers), then each school alone, to each of its allowed times, keeping a move when it
    needs fewer buses (ties: fewer buses summed over the sessions, fewer schools changed, less
    total change), pass after pass until
    a pass improves nothing. The first descent starts from the current times (moved to the nearest
    allowed time where the policy forbids them); each further one from the best times found, with a
    few schools (seeded) moved to random allowed times. The search ends after
    :func:`search_budget` bus counts or twice as many restarts as schools that can move (plus five)
    -- deterministic, so the same seed gives the same times; the clock only stops a search far past
    its time limit (:func:`routing.budget.safety_cap`), and ``clock_cap`` then says so. Every kept time satisfies the policy.

    Parameters
    ----------
    chains
        The evaluator built from the runs (:meth:`RunChains.from_runs`).
    schools
        ``id``, ``sector``, ``grades``, ``bell_start``, ``bell_end``.
    policy
        Allowed times and rules.
    time_limit
        Seconds of search (sets the budget; the clock is a safety cap).
    seed
        Order of the moves and the restarts; the same seed gives the same times.
    tiers
        (start, dismissal) pairs any school may also take when the policy allows it (e.g. the
        district's, :func:`district_tiers`): these change the length of a school's day.
    progress
        Called with ``(message, fraction of the budget used)``.

    Returns
    -------
    BellTimes
        ``reason`` per school: the rule that forced a move, or the buses a change saves (the buses
        needed if that school alone went back to its current times).
    """
    allowed = allowed_times(schools, policy)
    ids = list(chains.school_ids)
    rows = {str(r["id"]): r for _, r in schools.iterrows()}
    current = {sid: (float(r["bell_start"]), float(r["bell_end"])) for sid, r in rows.items()}
    now = np.array([current[s] for s in ids])
    options: dict[int, np.ndarray] = {}
    for i, s in enumerate(ids):
        if s in allowed.times:
            pairs = {(t, t + now[i, 1] - now[i, 0]) for t in allowed.times[s]} | set(_tier_options(rows[s], tiers, policy, "start_and_end") if tiers else ())
            options[i] = np.array(sorted(pairs)) - now[i]
    x, y = np.zeros(len(ids)), np.zeros(len(ids))
    for i, opts in options.items():  # the policy may forbid the current times
        if not np.any((opts == 0).all(axis=1)):
            x[i], y[i] = opts[np.argmin(np.abs(opts).sum(axis=1))]

    def ties(x: np.ndarray, y: np.ndarray, total: int) -> tuple[float, ...]:
        return (total, int(np.count_nonzero((x != 0) | (y != 0))), float(np.abs(x).sum() + np.abs(y).sum()))

    search = _Search(chains, options, now, ties, search_budget(chains, time_limit=time_limit), Deadline(safety_cap(time_limit)), np.random.default_rng(seed), progress)
    x, y, best = search.run(x, y)
    reasons = _explain(chains, x, y, ids, current, allowed)
    starts = {s: current[s][0] + x[i] for i, s in enumerate(ids)}
    ends = {s: current[s][1] + y[i] for i, s in enumerate(ids)}
    times = BellTimes.from_times(schools, starts, ends=ends, reasons=reasons, infeasible=allowed.infeasible, buses=int(best[0]))
    return replace(times, clock_cap=search.deadline.fired)


def _explain(chains: RunChains, x: np.ndarray, y: np.ndarray, ids: list[str], current: Mapping[str, tuple[float, float]], allowed: Allowed) -> dict[str, str]:
    """Why each school has its times: the rule that forced them, or the buses they save."""
    buses = chains.buses(x, end_shift=y)
    bad = dict(zip(allowed.infeasible["school"], allowed.infeasible["reason"]))
    reasons = {}
    for i, s in enumerate(ids):
        old = current[s]
        new = (old[0] + x[i], old[1] + y[i])
        if s in bad:
            reasons[s] = f"kept: {bad[s]}"
        elif s not in allowed.times:
            continue
        elif new == old:
            reasons[s] = "kept: fixed by policy" if len(allowed.times[s]) == 1 else "kept: no allowed change saves a bus"
        elif allowed.binding.get(s):
            reasons[s] = f"moved by policy ({_was(old, new)}): {'; '.join(allowed.binding[s])}"
        else:
            more = _alone(chains, x, y, i, 0.0, 0.0) - buses
            if more > 0:
                reasons[s] = f"{_was(old, new)}: keeping {_span(*old)} would need {more} more bus{'es' if more > 1 else ''}"
            else:
                reasons[s] = f"{_was(old, new)}: part of a joint move with other schools that saves buses"
    return reasons
