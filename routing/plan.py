"""Bus plans: the visits of a run, runs, buses, and the plan with its itineraries and totals.

Conventions (times, the ride, dwell) are those of :mod:`routing.data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Literal

import pandas as pd

from facilities.io import atomic_write
from routing.data import ProblemData

__all__ = ["Session", "METRES_PER_MILE", "Visit", "Run", "Bus", "Infeasible", "BusPlan"]

Session = Literal["am", "pm"]
METRES_PER_MILE = 1609.344


@dataclass(frozen=True)
class Visit:
    """One stop of a run: students board (``pickup``) or alight (``dropoff``).

    ``stop`` is the stop index for a visit to a stop, ``None`` for a visit to a school; ``school``
    is the school index the students belong to. ``start``/``end`` bound the service.
    """

    action: Literal["pickup", "dropoff"]
    location: int
    school: int
    stop: int | None
    students: int
    start: float
    end: float


@dataclass(frozen=True)
class Run:
    """One trip of a bus with students on board, from its first visit to its last."""

    session: Session
    visits: tuple[Visit, ...]
    bus_type: int

    @property
    def start(self) -> float:
        """Start of the first service, seconds after midnight."""
        return self.visits[0].start

    @property
    def end(self) -> float:
        """End of the last service."""
        return self.visits[-1].end

    @property
    def start_location(self) -> int:
        """Location of the first visit."""
        return self.visits[0].location

    @property
    def end_location(self) -> int:
        """Location of the last visit."""
        return self.visits[-1].location

    @property
    def schools(self) -> tuple[int, ...]:
        """Schools served, in order of their visits."""
        return tuple(dict.fromkeys(v.school for v in self.visits if v.stop is None))

    @property
    def stops(self) -> tuple[int, ...]:
        """Stops served, in order."""
        return tuple(v.stop for v in self.visits if v.stop is not None)

    @property
    def students(self) -> int:
        """Students carried."""
        return sum(v.students for v in self.visits if v.stop is not None)

    def shifted(self, delta: float) -> Run:
        """The same run ``delta`` seconds later (earlier when negative)."""
        if delta == 0:
            return self
        return replace(
            self, visits=tuple(replace(v, start=v.start + delta, end=v.end + delta) for v in self.visits)
        )

    def ride_times(self) -> list[tuple[int, float]]:
        """``(students, seconds)`` per stop: from leaving the stop to reaching school (AM), or from
        leaving school to reaching the stop (PM)."""
        out = []
        for k, v in enumerate(self.visits):
            if v.stop is None:
                continue
            if self.session == "am":
                arrive = next(
                    w.start for w in self.visits[k + 1 :] if w.stop is None and w.school == v.school
                )
                out.append((v.students, arrive - v.end))
            else:
                leave = next(
                    w.end for w in reversed(self.visits[:k]) if w.stop is None and w.school == v.school
                )
                out.append((v.students, v.start - leave))
        return out


@dataclass(frozen=True)
class Bus:
    """One bus's day: the runs it drives (indices into :attr:`BusPlan.runs`) between its yards."""

    bus_type: int
    start_yard: int
    end_yard: int
    runs: tuple[int, ...]


@dataclass(frozen=True)
class Infeasible:
    """A stop the plan leaves out, and why."""

    stop: str
    school: str
    reason: str


@dataclass(frozen=True)
class BusPlan:
    """A solved bus plan: runs, buses, itineraries and totals.

    Attributes
    ----------
    data
        The problem solved.
    session
        ``"am"`` or ``"pm"``.
    runs
        Every run.
    buses
        Every bus, each driving some runs in order.
    infeasible
        Stops left out, with the reason (e.g. too far from school for the ride limit).
    stats
        Solver details: time, alternatives, per-stage counts.
    """

    data: ProblemData
    session: Session
    runs: tuple[Run, ...]
    buses: tuple[Bus, ...]
    infeasible: tuple[Infeasible, ...] = ()
    stats: Mapping[str, object] = field(default_factory=dict)

    @property
    def n_buses(self) -> int:
        """Number of buses."""
        return len(self.buses)

    @cached_property
    def _itineraries(self) -> list[list[tuple[int, int, str, float, float]]]:
        return [self._itinerary(b) for b in self.buses]

    def itinerary(self, bus: int) -> pd.DataFrame:
        """The day of bus ``bus``: one row per action (deadhead, pickup, travel, dropoff, wait)."""
        ids = self.data.location_ids()
        rows = [(ids[a], ids[b], act, s, e) for a, b, act, s, e in self._itineraries[bus]]
        return pd.DataFrame(rows, columns=["start_loc", "end_loc", "action", "start_time", "end_time"])

    def _itinerary(self, bus: Bus) -> list[tuple[int, int, str, float, float]]:
        T = self.data.durations
        yard_start = self.data.yards[bus.start_yard].location
        yard_end = self.data.yards[bus.end_yard].location
        rows: list[tuple[int, int, str, float, float]] = []
        here = yard_start
        for k, r in enumerate(bus.runs):
            run = self.runs[r]
            first = run.visits[0]
            if k == 0:
                rows.append(
                    (here, first.location, "deadhead", first.start - T[here, first.location], first.start)
                )
            else:
                leave = first.start - T[here, first.location]
                prev_end = rows[-1][4]
                if leave > prev_end:
                    rows.append((here, here, "wait", prev_end, leave))
                rows.append((here, first.location, "deadhead", max(leave, prev_end), first.start))
            for j, v in enumerate(run.visits):
                if j:
                    prev = run.visits[j - 1]
                    arrive = prev.end + T[prev.location, v.location]
                    rows.append((prev.location, v.location, "travel", prev.end, arrive))
                    if v.start > arrive:
                        rows.append((v.location, v.location, "wait", arrive, v.start))
                rows.append((v.location, v.location, v.action, v.start, v.end))
            here = run.end_location
        end = rows[-1][4]
        rows.append((here, yard_end, "deadhead", end, end + T[here, yard_end]))
        return rows

    def to_frame(self) -> pd.DataFrame:
        """Every bus's itinerary in one table, BiRD's columns plus nothing else."""
        frames = []
        for b in range(self.n_buses):
            f = self.itinerary(b)
            f.insert(0, "bus_id", b + 1)
            frames.append(f)
        cols = ["bus_id", "start_loc", "end_loc", "action", "start_time", "end_time"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)

    def to_bird_csv(self, path: str | Path) -> Path:
        """Write the itineraries as BiRD's solution CSV (times ``HH:MM:SS.fff``), atomically."""
        frame = self.to_frame()
        for c in ("start_time", "end_time"):
            frame[c] = [_hms(t) for t in frame[c]]
        with atomic_write(path) as tmp:
            frame.to_csv(tmp, index=False)
        return Path(path)

    def totals(self) -> dict[str, float]:
        """Buses, runs, deadhead and loaded miles, driver hours and ride-time statistics."""
        D = self.data.distances
        dead = loaded = hours = 0.0
        for rows in self._itineraries:
            hours += (rows[-1][4] - rows[0][3]) / 3600
            for a, b, act, _, _ in rows:
                if act == "deadhead":
                    dead += D[a, b]
                elif act == "travel":
                    loaded += D[a, b]
        rides = [rt for run in self.runs for rt in run.ride_times()]
        n = sum(k for k, _ in rides)
        return {
            "buses": self.n_buses,
            "runs": len(self.runs),
            "students": n,
            "deadhead_miles": dead / METRES_PER_MILE,
            "loaded_miles": loaded / METRES_PER_MILE,
            "driver_hours": hours,
            "mean_ride_s": sum(k * t for k, t in rides) / n if n else 0.0,
            "max_ride_s": max((t for _, t in rides), default=0.0),
            "infeasible_stops": len(self.infeasible),
        }

    def summary(self) -> str:
        """A few lines for people."""
        t = self.totals()
        text = (
            f"{self.data.name} ({self.session.upper()}): {t['buses']} buses, {t['runs']} runs, "
            f"{t['students']} students; "
            f"deadhead {t['deadhead_miles']:.0f} mi, loaded {t['loaded_miles']:.0f} mi, "
            f"{t['driver_hours']:.0f} driver-hours; "
            f"ride mean {t['mean_ride_s'] / 60:.1f} min, max {t['max_ride_s'] / 60:.1f} min"
        )
        if self.infeasible:
            text += f"\n{len(self.infeasible)} stops left out: " + "; ".join(
                f"{i.stop} ({i.reason})" for i in self.infeasible[:10]
            )
        return text


def _hms(t: float) -> str:
    ms = int(round(t * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"
