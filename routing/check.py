"""An independent checker of bus plans for the school bus routing benchmark.

It reads only an instance folder (``Schools.txt``, ``Stops.txt``) and an itinerary CSV in the
format of BiRD's published solutions (``bus_id,start_loc,end_loc,action,start_time,end_time``);
it shares no code with the solver. Rules checked, for every bus:

- the rows follow each other: each starts where and when the previous one ended, and no row
  ends before it starts (no bus in two places at once);
- the day starts and ends at the yard; ``wait``, ``pickup`` and ``dropoff`` stay in place;
- every move (``travel``, ``deadhead``) lasts at least the Manhattan distance at 20 mph;
- a pickup lasts 19 s + 2.6 s per student, which gives the students boarding; every stop is
  picked up exactly once, with all its students, and only at the stop's own location;
- seats (66) are never exceeded; a ``dropoff`` at a school lasts at least the dwell (154.4 s),
  unloads exactly the students of that school on board, and ends by the school's bell
  (``AMEARLY``; with ``arrive_by="late"``, Park et al.'s window: it starts from ``AMEARLY`` on
  and ends by ``AMLATE``);
- nobody rides longer than the limit, from the end of their pickup to the start of the dropoff;
- nobody is left on board at the end of the day.

>>> from routing.check import check_plan
>>> report = check_plan("../shared/data/sbrp/RSRB/RSRB01", "plan.csv", max_ride=2700)  # doctest: +SKIP
>>> report.ok, report.buses
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["CheckReport", "check_plan"]

_SPEED = 20 * 5280 / 3600  # ft/s
_SEATS = 66
_FIXED, _PER = 19.0, 2.6
_DWELL = 154.4
_YARD = ("900001", 105600.0, 105600.0)
_TOL = 0.01  # seconds: the CSV holds milliseconds


@dataclass
class CheckReport:
    """What :func:`check_plan` found.

    Attributes
    ----------
    instance
        The instance folder's name.
    buses
        Buses in the plan.
    violations
        One line per broken rule (empty when the plan is feasible).
    max_ride
        Longest ride found, seconds.
    """

    instance: str
    buses: int = 0
    violations: list[str] = field(default_factory=list)
    max_ride: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the plan breaks no rule."""
        return not self.violations

    def __str__(self) -> str:
        head = f"{self.instance}: {self.buses} buses, longest ride {self.max_ride:.1f} s, "
        if self.ok:
            return head + "feasible"
        shown = "\n  ".join(self.violations[:20])
        more = f"\n  ... {len(self.violations) - 20} more" if len(self.violations) > 20 else ""
        return head + f"{len(self.violations)} violations:\n  {shown}{more}"


def _seconds(text: str) -> float:
    h, m, s = str(text).split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def _hhmm(text: str) -> float:
    return (int(text) // 100) * 3600 + (int(text) % 100) * 60


def _read(path: Path) -> list[list[str]]:
    lines = path.read_text().split("\n")[1:]
    return [ln.split() for ln in lines if ln.strip()]


def check_plan(
    instance: str | os.PathLike[str],
    plan_csv: str | os.PathLike[str],
    *,
    max_ride: float,
    arrive_by: str = "early",
) -> CheckReport:
    """Check a plan's itinerary CSV against an instance; never raises on a bad plan.

    Parameters
    ----------
    instance
        Instance folder with ``Schools.txt`` and ``Stops.txt``.
    plan_csv
        The itinerary CSV.
    max_ride
        Longest allowed ride, seconds.
    arrive_by
        ``"early"`` (unloading ends by ``AMEARLY``) or ``"late"`` (it starts from ``AMEARLY``
        on and ends by ``AMLATE``).

    Returns
    -------
    CheckReport
    """
    if arrive_by not in ("early", "late"):
        raise ValueError(f"arrive_by must be 'early' or 'late', not {arrive_by!r}")
    root = Path(instance)
    report = CheckReport(root.name)
    xy: dict[str, tuple[float, float]] = {_YARD[0]: (_YARD[1], _YARD[2])}
    bell: dict[str, float] = {}
    opens: dict[str, float] = {}
    for sid, x, y, early, late in _read(root / "Schools.txt"):
        xy[sid] = (float(x), float(y))
        bell[sid] = _hhmm(late if arrive_by == "late" else early)
        opens[sid] = _hhmm(early) if arrive_by == "late" else float("-inf")
    stop_school: dict[str, str] = {}
    stop_students: dict[str, int] = {}
    for sid, x, y, school, count in _read(root / "Stops.txt"):
        xy[sid] = (float(x), float(y))
        stop_school[sid] = school
        stop_students[sid] = int(count)

    plan = pd.read_csv(plan_csv, dtype={"start_loc": str, "end_loc": str})
    need = ["bus_id", "start_loc", "end_loc", "action", "start_time", "end_time"]
    missing = [c for c in need if c not in plan.columns]
    if missing:
        report.violations.append(f"plan has no column {missing}")
        return report
    bad = report.violations
    picked: dict[str, int] = defaultdict(int)
    report.buses = plan["bus_id"].nunique()
    for bus, rows in plan.groupby("bus_id", sort=False):
        onboard: list[tuple[str, int, float]] = []  # (school, students, end of pickup)
        prev_loc: str | None = None
        prev_end = 0.0
        for r in rows.itertuples(index=False):
            a, b, act = str(r.start_loc), str(r.end_loc), str(r.action)
            t0, t1 = _seconds(r.start_time), _seconds(r.end_time)
            where = f"bus {bus} {act} {a}->{b} at {r.start_time}"
            if a not in xy or b not in xy:
                bad.append(f"{where}: unknown location")
                continue
            if t1 < t0 - _TOL:
                bad.append(f"{where}: ends before it starts")
            if prev_loc is None:
                if a != _YARD[0]:
                    bad.append(f"{where}: the day does not start at the yard")
            else:
                if a != prev_loc:
                    bad.append(f"{where}: starts at {a} but the bus is at {prev_loc}")
                if abs(t0 - prev_end) > _TOL:
                    bad.append(f"{where}: starts at {t0:.3f} but the previous action ends at {prev_end:.3f}")
            prev_loc, prev_end = b, t1
            if act in ("travel", "deadhead"):
                need_s = (abs(xy[a][0] - xy[b][0]) + abs(xy[a][1] - xy[b][1])) / _SPEED
                if t1 - t0 < need_s - _TOL:
                    bad.append(f"{where}: {t1 - t0:.2f} s for a {need_s:.2f} s move")
                if act == "deadhead" and onboard:
                    bad.append(f"{where}: deadhead with students on board")
            elif act in ("wait", "pickup", "dropoff"):
                if a != b:
                    bad.append(f"{where}: a {act} must stay in place")
                if act == "pickup":
                    if a not in stop_school:
                        bad.append(f"{where}: pickup at a place that is not a stop")
                        continue
                    k = (t1 - t0 - _FIXED) / _PER
                    n = round(k)
                    if abs(k - n) * _PER > _TOL or n < 1:
                        bad.append(f"{where}: pickup of {t1 - t0:.3f} s is not 19 s + 2.6 s per student")
                        continue
                    picked[a] += n
                    onboard.append((stop_school[a], n, t1))
                    if sum(s for _, s, _ in onboard) > _SEATS:
                        bad.append(
                            f"{where}: {sum(s for _, s, _ in onboard)} students on a {_SEATS}-seat bus"
                        )
                elif act == "dropoff":
                    if a not in bell:
                        bad.append(f"{where}: dropoff at a place that is not a school")
                        continue
                    mine = [o for o in onboard if o[0] == a]
                    if not mine:
                        bad.append(f"{where}: nobody on board for this school")
                    for _, n, left in mine:
                        ride = t0 - left
                        report.max_ride = max(report.max_ride, ride)
                        if ride > max_ride + _TOL:
                            bad.append(f"{where}: a ride of {ride:.1f} s exceeds {max_ride:.0f} s")
                    onboard = [o for o in onboard if o[0] != a]
                    if t1 - t0 < _DWELL - _TOL:
                        bad.append(
                            f"{where}: dropoff of {t1 - t0:.1f} s is shorter than the {_DWELL} s dwell"
                        )
                    if t1 > bell[a] + _TOL:
                        bad.append(f"{where}: ends after the bell at {bell[a]:.0f} s")
                    if t0 < opens[a] - _TOL:
                        bad.append(f"{where}: arrives before the window opens at {opens[a]:.0f} s")
            else:
                bad.append(f"{where}: unknown action")
        if prev_loc != _YARD[0]:
            bad.append(f"bus {bus}: the day does not end at the yard")
        if onboard:
            bad.append(f"bus {bus}: {sum(s for _, s, _ in onboard)} students still on board at the end")
    for stop, n in stop_students.items():
        if picked.get(stop, 0) != n:
            bad.append(f"stop {stop}: {picked.get(stop, 0)} of {n} students picked up")
    pickups = plan[plan["action"] == "pickup"]["start_loc"].astype(str).value_counts()
    for stop in pickups[pickups > 1].index:
        bad.append(f"stop {stop}: picked up {pickups[stop]} times")
    return report
