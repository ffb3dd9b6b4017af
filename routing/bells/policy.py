"""The bell-time policy: candidate times, rules per sector, grade band or school, the times each
school may take, and the tiers of a sector.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from facilities import Problem, ValidationError
from facilities.schema import format_time, parse_grades, parse_time

Progress = Callable[[str, float], None]

#: Grade bands used by the rules' reports: elementary (PK-5), middle (6-8), high (9-12).
BANDS: dict[str, tuple[int, ...]] = {
    "elementary": tuple(range(-1, 6)),
    "middle": (6, 7, 8),
    "high": (9, 10, 11, 12),
}


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
            math.isnan(self.max_day_change)
            or abs((end - start) - (current_end - current)) <= self.max_day_change,
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
        given = transport.get("bells") or {}
        raw: Mapping[str, Any] = given if isinstance(given, Mapping) else {}  # parsed TOML
        problems: list[Problem] = []
        where = "city.toml [transport.bells]"

        def clock(table: Mapping[str, object], key: str, row: int | None) -> float:
            if key not in table:
                return math.nan
            try:
                return parse_time(table[key])
            except ValueError as err:
                problems.append(
                    Problem(where if row is None else f"{where}.rules", row, key, str(err), 'write "HH:MM"')
                )
                return math.nan

        def names(value: object) -> tuple[str, ...]:
            if isinstance(value, str):
                return (value,)
            return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else ()

        rules = []
        listed = raw.get("rules") or []
        for k, r in enumerate(listed if isinstance(listed, list) else []):
            keys = (
                "label",
                "sector",
                "sectors",
                "grades",
                "schools",
                "earliest",
                "latest",
                "end_before",
                "end_after",
                "max_change_minutes",
                "max_day_change_minutes",
                "times",
                "fixed",
            )
            unknown = set(r) - set(keys)
            if unknown:
                problems.append(
                    Problem(
                        f"{where}.rules",
                        k + 1,
                        sorted(unknown)[0],
                        "unknown key",
                        f"use {', '.join(k for k in keys if k != 'sectors')}",
                    )
                )
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
                    problems.append(
                        Problem(
                            f"{where}.rules", k + 1, "times", str(err), 'write times = ["07:30", "08:30"]'
                        )
                    )
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
                    max_day_change=float(r["max_day_change_minutes"]) * 60
                    if "max_day_change_minutes" in r
                    else math.nan,
                )
            )
        policy = cls(
            earliest=clock(raw, "earliest", None) if "earliest" in raw else cls.earliest,
            latest=clock(raw, "latest", None) if "latest" in raw else cls.latest,
            step=float(raw.get("step_minutes", cls.step / 60)) * 60,
            shifts=tuple(float(m) * 60 for m in raw.get("shifts_minutes", []) or []),
            max_change=float(raw["max_change_minutes"]) * 60 if "max_change_minutes" in raw else math.inf,
            rules=tuple(rules),
            max_day_change=float(raw["max_day_change_minutes"]) * 60
            if "max_day_change_minutes" in raw
            else math.inf,
        )
        if not policy.step > 0:
            problems.append(
                Problem(
                    where,
                    None,
                    "step_minutes",
                    f"must be positive, got {policy.step / 60}",
                    "give minutes > 0",
                )
            )
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

    def violations(
        self, schools: pd.DataFrame, starts: Mapping[str, float], ends: Mapping[str, float] | None = None
    ) -> list[str]:
        """The broken rules, one line per school and rule (empty when the times satisfy the policy).

        ``ends`` are the dismissals (default: each school day keeps its length).
        """
        out = []
        for _, s in schools.iterrows():
            sid = str(s["id"])
            start = float(starts[sid])
            end = (
                float(ends[sid])
                if ends is not None and sid in ends
                else start + float(s["bell_end"] - s["bell_start"])
            )
            out += [
                f"{sid}: {label} ({format_time(start)}-{format_time(end)})"
                for label in self.broken(s, start, end)
            ]
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
            t
            for t in cands
            if abs(t - start) <= policy.max_change and all(r.allows(t, t + end - start, start) for r in rules)
        )
        binding[sid] = tuple(r.label for r in rules if not r.allows(start, end, start))
        if not ok:
            labels = "; ".join(r.label for r in rules) or "the window and largest change"
            bad.append((sid, f"no start time satisfies every rule ({labels})"))
            continue
        times[sid] = ok
    return Allowed(times, binding, pd.DataFrame(bad, columns=["school", "reason"]))


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


def _tier_options(
    school: Mapping[str, object], tiers: Sequence[tuple[float, float]], policy: BellPolicy, align: Align
) -> dict[tuple[float, float], str]:
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
            ends = sorted(
                {
                    start + day,
                    *(start + day + c * sign for c in caps if math.isfinite(c) for sign in (-1, 1)),
                },
                key=lambda e: (abs(e - end), e),
            )
            ok = next((e for e in ends if not policy.broken(school, start, e)), None)
            if ok is not None:
                out.setdefault(
                    (start, ok), f"the tier's dismissal {format_time(end)} breaks: {'; '.join(broken)}"
                )
    return out
