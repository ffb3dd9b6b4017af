"""Bell times: policy rules, allowed times, alignment and optimization, with an explanation per school.

A school's runs do not depend on its bell (the *fixed-run* model): moving a bell by ``d`` moves
all its runs by ``d``, morning and afternoon (the school day keeps its length). Which runs one bus
can drive in a row then depends only on the bells, and the fewest buses for given bells is a
minimum path cover of the runs' "can follow" graph, i.e. the number of runs minus a maximum
bipartite matching (Hopcroft–Karp, :func:`scipy.sparse.csgraph.maximum_bipartite_matching`): an
exact count in milliseconds. :class:`RunChains` holds that evaluator; :func:`optimize_bells` runs
a seeded local search over the allowed times of every school (whole tiers first, then school by
school) with it, in the spirit of the bell-time step of BiRD (Bertsimas, Delarue & Martin, PNAS
2019), which selects bells against the run schedule in the same way.

Policy (``[transport.bells]`` in ``city.toml``)::

    [transport.bells]
    earliest = "07:00"             # window of start times considered
    latest = "09:30"
    step_minutes = 30              # candidate starts: this grid, plus each school's current time
    shifts_minutes = [-10, -5, 5, 10]   # and small shifts of the current time (Framingham's 5-10 min)
    max_change_minutes = 90        # largest change for any school
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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_bipartite_matching

from facilities import Problem, ValidationError
from facilities._validate import parse_grades, parse_time
from facilities.schema import format_time
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
    "align_bells",
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

    def allows(self, start: float, end: float, current: float) -> bool:
        """Whether a start (and the matching dismissal) satisfies the rule."""
        if self.fixed:
            return start == current
        checks = (
            math.isnan(self.earliest) or start >= self.earliest,
            math.isnan(self.latest) or start <= self.latest,
            math.isnan(self.end_before) or end <= self.end_before,
            math.isnan(self.end_after) or end >= self.end_after,
            math.isnan(self.max_change) or abs(start - current) <= self.max_change,
            not self.times or start in self.times,
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
    """

    earliest: float = 7 * 3600.0
    latest: float = 9.5 * 3600
    step: float = 1800.0
    shifts: tuple[float, ...] = ()
    max_change: float = math.inf
    rules: tuple[BellRule, ...] = ()

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
            unknown = set(r) - {"label", "sector", "sectors", "grades", "schools", "earliest", "latest", "end_before", "end_after", "max_change_minutes", "times", "fixed"}
            if unknown:
                problems.append(Problem(f"{where}.rules", k + 1, sorted(unknown)[0], "unknown key", "use label, sector, grades, schools, earliest, latest, end_before, end_after, max_change_minutes, times, fixed"))
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
                )
            )
        policy = cls(
            earliest=clock(raw, "earliest", None) if "earliest" in raw else cls.earliest,
            latest=clock(raw, "latest", None) if "latest" in raw else cls.latest,
            step=float(raw.get("step_minutes", cls.step / 60)) * 60,
            shifts=tuple(float(m) * 60 for m in raw.get("shifts_minutes", []) or []),
            max_change=float(raw["max_change_minutes"]) * 60 if "max_change_minutes" in raw else math.inf,
            rules=tuple(rules),
        )
        if not policy.step > 0:
            problems.append(Problem(where, None, "step_minutes", f"must be positive, got {policy.step / 60}", "give minutes > 0"))
        if problems:
            raise ValidationError(problems, city="bell-time policy")
        return policy

    def with_rules(self, *rules: BellRule) -> BellPolicy:
        """A copy with more rules."""
        return BellPolicy(self.earliest, self.latest, self.step, self.shifts, self.max_change, self.rules + tuple(rules))

    def violations(self, schools: pd.DataFrame, starts: Mapping[str, float]) -> list[str]:
        """The broken rules, one line per school and rule (empty when the times satisfy the policy)."""
        out = []
        for _, s in schools.iterrows():
            start = float(starts[str(s["id"])])
            end = start + float(s["bell_end"] - s["bell_start"])
            if abs(start - float(s["bell_start"])) > self.max_change:
                out.append(f"{s['id']}: changes by more than {self.max_change / 60:.0f} min")
            for rule in self.rules:
                if rule.applies(s) and not rule.allows(start, end, float(s["bell_start"])):
                    out.append(f"{s['id']}: {rule.label} ({format_time(start)}-{format_time(end)})")
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
    when both have the same bus type and, with every run moved by its school's shift,
    ``(end[i] + shift[i]) + drive[i, j] <= (start[j] + shift[j]) + 1e-6`` -- the very test (same
    arithmetic, same tolerance) of :func:`routing.buses.chain`, so the count is the one the final
    plan of the same shifted runs has. Only pairs that can chain for *some* shifts no further apart
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

    def _matching(self, session: str, shift: np.ndarray) -> np.ndarray:
        school, start, end, rows, cols, drive = self.sessions[session]
        s = shift[school]
        ok = (end + s)[rows] + drive <= (start + s)[cols] + 1e-6
        n = len(school)
        graph = sp.csr_matrix((np.ones(int(ok.sum()), dtype=np.int8), (rows[ok], cols[ok])), shape=(n, n))
        return maximum_bipartite_matching(graph, perm_type="column")

    def buses(self, shift: np.ndarray | None = None) -> int:
        """Fewest buses for bells shifted by ``shift`` seconds per school: the busier session."""
        return max(self.session_buses(shift).values(), default=0)

    def session_buses(self, shift: np.ndarray | None = None) -> dict[str, int]:
        """Fewest buses per session (the number of buses :func:`routing.buses.chain` uses)."""
        shift = np.zeros(len(self.school_ids)) if shift is None else np.asarray(shift, dtype=float)
        return {k: int((self._matching(k, shift) < 0).sum()) for k in self.sessions}


# ====================================================================== results
@dataclass(frozen=True)
class BellTimes:
    """Bell times of a scenario and why each school has its time.

    Attributes
    ----------
    starts, ends
        School id -> start and dismissal (seconds after midnight).
    changes
        One row per school: ``school``, ``old_start``, ``new_start``, ``old_end``, ``new_end``
        (``HH:MM``), ``change_min``, ``reason``.
    infeasible
        Schools that could not be given an allowed time (``school``, ``reason``).
    buses
        Fewest buses for these times with the fixed runs (``None`` when not evaluated).
    """

    starts: Mapping[str, float]
    ends: Mapping[str, float]
    changes: pd.DataFrame
    infeasible: pd.DataFrame
    buses: int | None = None

    def shift(self, school_ids: Sequence[str], current: Mapping[str, float]) -> np.ndarray:
        """Shifts (seconds) from ``current`` starts, in the order of ``school_ids`` (0 for others)."""
        return np.array([self.starts.get(s, current.get(s, 0.0)) - current.get(s, 0.0) for s in school_ids], dtype=float)


def _times(schools: pd.DataFrame, starts: Mapping[str, float], reasons: Mapping[str, str], infeasible: pd.DataFrame, buses: int | None) -> BellTimes:
    rows = []
    ends = {}
    for _, s in schools.iterrows():
        sid, old, old_end = str(s["id"]), float(s["bell_start"]), float(s["bell_end"])
        new = float(starts.get(sid, old))
        ends[sid] = new + (old_end - old)
        rows.append((sid, s.get("sector", ""), format_time(old), format_time(new), format_time(old_end), format_time(ends[sid]), (new - old) / 60 if math.isfinite(old) else math.nan, reasons.get(sid, "unchanged")))
    changes = pd.DataFrame(rows, columns=["school", "sector", "old_start", "new_start", "old_end", "new_end", "change_min", "reason"])
    full = {str(s): float(starts.get(str(s), b)) for s, b in zip(schools["id"], schools["bell_start"])}
    return BellTimes(full, ends, changes, infeasible, buses)


def current_bells(schools: pd.DataFrame) -> BellTimes:
    """The status quo: every school keeps its times (schools without times are listed as infeasible)."""
    missing = schools[~np.isfinite(schools["bell_start"].astype(float)) | ~np.isfinite(schools["bell_end"].astype(float))]
    infeasible = pd.DataFrame({"school": missing["id"].astype(str), "reason": "no current start and end times"})
    return _times(schools, {}, {}, infeasible.reset_index(drop=True), None)


def align_bells(
    schools: pd.DataFrame,
    *,
    policy: BellPolicy,
    sectors: Sequence[str] = ("charter", "catholic"),
    to: str = "district",
    chains: RunChains | None = None,
) -> BellTimes:
    """Schools of ``sectors`` move onto the tiers of the ``to`` sector (its distinct current starts).

    Without ``chains`` each school takes its nearest allowed tier. With ``chains`` alignment is a
    choice per school between its allowed tiers and its current time (the status quo): starting
    from the current times, a school moves (in id order, pass after pass until nothing changes)
    when the move needs fewer buses, or as many buses with more schools on a tier, or the same
    with less total change. Every accepted move keeps or lowers the count, so alignment never
    needs more buses than the status quo. A school whose every allowed tier needs more buses keeps
    its time, even one a rule forbids (its reason names the rule; the scenario lists it among the
    policy violations); a school whose allowed times include no tier keeps its time too.

    Returns
    -------
    BellTimes
    """
    allowed = allowed_times(schools, policy)
    tiers = sorted({float(t) for t in schools.loc[schools["sector"] == to, "bell_start"] if math.isfinite(float(t))})
    tier_text = ", ".join(map(format_time, tiers))
    current = {str(s): float(b) for s, b in zip(schools["id"], schools["bell_start"])}
    movers = sorted(str(s) for s, sector in zip(schools["id"], schools["sector"]) if sector in sectors and str(s) in allowed.times)
    options = {sid: [t for t in allowed.times[sid] if t in tiers] for sid in movers}
    reasons = {sid: f"kept: no {to} tier ({tier_text}) is allowed by the policy" for sid in movers if not options[sid]}
    movers = [sid for sid in movers if options[sid]]
    if chains is None:
        starts = {sid: min(options[sid], key=lambda t: (abs(t - current[sid]), t)) for sid in movers}
        buses = None
    else:
        index = {s: i for i, s in enumerate(chains.school_ids)}
        shift = np.zeros(len(chains.school_ids))

        def key(x: np.ndarray) -> tuple[int, int, float]:
            off = sum(current[sid] + x[index[sid]] not in tiers for sid in movers)
            return (chains.buses(x), off, float(np.abs(x).sum()))

        best = key(shift)
        changed = True
        while changed:
            changed = False
            for sid in movers:
                for t in [*options[sid], current[sid]]:
                    trial = shift.copy()
                    trial[index[sid]] = t - current[sid]
                    if trial[index[sid]] == shift[index[sid]]:
                        continue
                    value = key(trial)
                    if value < best:
                        best, shift, changed = value, trial, True
        buses = best[0]
        starts = {sid: current[sid] + shift[index[sid]] for sid in movers}
        for sid in movers:
            if starts[sid] in tiers:
                continue
            more = min(_with(chains, shift, index[sid], t - current[sid]) for t in options[sid]) - buses
            broken = "" if not allowed.binding.get(sid) else f"; its current time breaks {'; '.join(allowed.binding[sid])}"
            reasons[sid] = f"kept: the {to} tiers would need {more} more bus{'es' if more > 1 else ''}{broken}"
    for sid in movers:
        new, old = starts[sid], current[sid]
        if sid not in reasons:
            reasons[sid] = f"aligned to the {to} tier {format_time(new)}" if new != old else f"already on the {to} tier {format_time(new)}"
    return _times(schools, starts, reasons, allowed.infeasible, buses)


def _with(chains: RunChains, shift: np.ndarray, i: int, d: float) -> int:
    """Buses with school ``i`` alone shifted by ``d`` (the rest as in ``shift``)."""
    trial = shift.copy()
    trial[i] = d
    return chains.buses(trial)


def optimize_bells(
    chains: RunChains,
    schools: pd.DataFrame,
    *,
    policy: BellPolicy,
    time_limit: float = 30.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> BellTimes:
    """Choose allowed bell times that need the fewest buses, and explain each change.

    Seeded local search: start from the current times (moved to the nearest allowed time where the
    policy forbids them), try moving whole groups of schools that share a start (tiers), then each
    school alone, to each of its allowed times, keeping a move when it needs fewer buses (ties:
    fewer schools changed, then less total change); repeat until a pass improves nothing or the
    time limit. Every kept time satisfies the policy.

    Parameters
    ----------
    chains
        The evaluator built from the runs (:meth:`RunChains.from_runs`).
    schools
        ``id``, ``sector``, ``grades``, ``bell_start``, ``bell_end``.
    policy
        Allowed times and rules.
    time_limit
        Seconds of search.
    seed
        Order of the moves tried; the same seed gives the same times.
    progress
        Called with ``(message, fraction of the time limit used)``.

    Returns
    -------
    BellTimes
        ``reason`` per school: the rule that forced a move, or the buses a change saves (the buses
        needed if that school alone went back to its current time).
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    allowed = allowed_times(schools, policy)
    ids = list(chains.school_ids)
    index = {s: i for i, s in enumerate(ids)}
    current = {str(s): float(b) for s, b in zip(schools["id"], schools["bell_start"])}
    options = {s: np.array(allowed.times[s]) - current[s] for s in ids if s in allowed.times}
    shift = np.zeros(len(ids))
    for s, opts in options.items():  # the policy may forbid the current time
        if not np.any(opts == 0):
            shift[index[s]] = opts[np.argmin(np.abs(opts))]

    def score(x: np.ndarray) -> tuple[int, int, float]:
        return (chains.buses(x), int(np.count_nonzero(x)), float(np.abs(x).sum()))

    best = score(shift)
    start_buses = best[0]
    movable = [s for s, o in options.items() if len(o) > 1]
    out_of_time = False

    def tick(label: str) -> bool:
        used = time.perf_counter() - t0
        if progress is not None:
            progress(label, min(used / time_limit, 1.0))
        return used >= time_limit

    improved = True
    while improved and not out_of_time:
        improved = False
        groups: dict[float, list[str]] = {}
        for s in movable:
            groups.setdefault(current[s] + shift[index[s]], []).append(s)
        moves: list[list[tuple[str, float]]] = []
        for at, members in sorted(groups.items()):
            common = set.intersection(*(set((options[s] + current[s]).tolist()) for s in members)) - {at}
            moves += [[(s, t - current[s]) for s in members] for t in sorted(common)]
        moves += [[(s, float(d))] for s in rng.permutation(movable).tolist() for d in rng.permutation(options[s]) if d != shift[index[s]]]
        for move in moves:
            trial = shift.copy()
            for s, d in move:
                trial[index[s]] = d
            value = score(trial)
            if value < best:
                best, shift, improved = value, trial, True
            if tick(f"bell times: {best[0]} buses (from {start_buses})"):
                out_of_time = True
                break
    reasons = _explain(chains, schools, shift, ids, current, allowed)
    starts = {s: current[s] + shift[index[s]] for s in ids if s in current}
    log.info("bell times: %d -> %d buses in %.1f s", start_buses, best[0], time.perf_counter() - t0)
    return _times(schools, starts, reasons, allowed.infeasible, best[0])


def _explain(chains: RunChains, schools: pd.DataFrame, shift: np.ndarray, ids: list[str], current: Mapping[str, float], allowed: Allowed) -> dict[str, str]:
    """Why each school has its time: the rule that forced it, or the buses it saves."""
    buses = chains.buses(shift)
    bad = dict(zip(allowed.infeasible["school"], allowed.infeasible["reason"]))
    reasons = {}
    for i, s in enumerate(ids):
        if s in bad:
            reasons[s] = f"kept: {bad[s]}"
        elif s not in allowed.times:
            continue
        elif shift[i] == 0:
            reasons[s] = "kept: fixed by policy" if len(allowed.times[s]) == 1 else "kept: no allowed change saves a bus"
        elif allowed.binding.get(s):
            reasons[s] = f"moved by policy: {'; '.join(allowed.binding[s])}"
        else:
            more = _with(chains, shift, i, 0.0) - buses
            when = f"{abs(shift[i]) / 60:.0f} min {'later' if shift[i] > 0 else 'earlier'}"
            if more > 0:
                reasons[s] = f"{when}: keeping {format_time(current[s])} would need {more} more bus{'es' if more > 1 else ''}"
            else:
                reasons[s] = f"{when}: part of a joint move with other schools that saves buses"
    return reasons
