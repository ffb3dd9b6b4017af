"""Route sheets: what each bus driver does all day, and the runs drawn on the streets.

A route sheet lists one bus's day in order: it leaves its yard, drives (deadhead) to the first
stop of its first run, picks students up stop by stop (each with the time and the school they
ride to), drops them at school, drives empty to its next run, and returns to the yard. Times come
from the plan's runs and the travel matrix, so that a bus reaching a visit arrives exactly the
matrix's travel time after leaving the previous one, and leaves it after the service time (the
stop time of its students, or the school's dwell).

Privacy: a stop serving fewer than :data:`MIN_STUDENTS` students locates them (a door-to-door or
wheelchair stop sits at the street corner nearest a home; a small corner stop names the corner of a
few homes). :func:`public_sheets` merges such visits of a run into one row ("2 door-to-door
pickups", "3 corner pickups") with no location, and :func:`run_lines` and
:func:`bus_days` with ``public=True`` draw the runs through the other stops only; the exact sheets
and lines belong in the private output folder.

>>> from routing.sheets import route_sheets, public_sheets, run_lines, bus_days
>>> sheets = route_sheets(plan, points=xy)  # doctest: +SKIP
>>> public_sheets(sheets)  # doctest: +SKIP
>>> run_lines(plan, points=xy, network=net, public=True)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra
from shapely import LineString

from facilities.privacy import MIN_CELL
from routing.problem import METRES_PER_MILE, BusPlan, Visit
from routing.travel import CompiledNetwork
from routing.travel import _edge_coords as edge_coords  # the street geometry of one edge

__all__ = [
    "MIN_STUDENTS",
    "SHEET_COLUMNS",
    "StreetLines",
    "bus_days",
    "private_stops",
    "public_sheets",
    "route_sheets",
    "run_lines",
]

#: Fewest students a stop may serve and still be shown where it is (:data:`facilities.privacy.MIN_CELL`).
MIN_STUDENTS = MIN_CELL
#: The columns of a route sheet, in order.
SHEET_COLUMNS = [
    "session",
    "bus",
    "bus_type",
    "step",
    "kind",
    "run",
    "from",
    "location",
    "school",
    "service",
    "students",
    "arrive",
    "service_start",
    "depart",
    "arrive_time",
    "depart_time",
    "wait_min",
    "miles",
    "x",
    "y",
]


def _clock(seconds: float) -> str:
    s = round(float(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def private_stops(plan: BusPlan, *, min_students: int = MIN_STUDENTS) -> np.ndarray:
    """Whether each stop of ``plan.data`` locates a student: it serves fewer than ``min_students``
    (door-to-door and wheelchair stops at a home, and small corner stops alike, as
    :func:`facilities.privacy.public_points` pools them in the public stop files)."""
    return np.array([st.students < min_students for st in plan.data.stops], dtype=bool)


def route_sheets(plan: BusPlan, *, points: np.ndarray | None = None) -> pd.DataFrame:
    """Every bus's day, one row per leg or visit, in order (the exact sheet: private).

    Parameters
    ----------
    plan
        A bus plan (one session).
    points
        ``(n, 2)`` x/y of each matrix location, for the ``x``/``y`` columns (NaN without).

    Returns
    -------
    pandas.DataFrame
        :data:`SHEET_COLUMNS`. ``kind`` is ``"leave yard"`` (the leg from the yard to the first
        stop), ``"pickup"``, ``"dropoff"``, ``"deadhead"`` (an empty leg between runs) or
        ``"return to yard"``. A leg goes ``from`` -> ``location``, leaving at ``depart`` and arriving
        at ``arrive``; ``wait_min`` is the time parked before it leaves. A visit happens at
        ``location``: the bus arrives at ``arrive``, serves from ``service_start`` (``wait_min``
        later) and leaves at ``depart``; ``students`` board (pickup) or alight (dropoff) for
        ``school``. ``miles`` is driven from the previous row's place. Times are seconds after
        midnight, and as ``HH:MM:SS``.
    """
    data = plan.data
    T, D = data.durations, data.distances
    xy = np.full((T.shape[0], 2), np.nan) if points is None else np.asarray(points, dtype=float)
    rows: list[tuple] = []

    def leg(kind: str, bus: int, a: int, a_id: str, b: int, b_id: str, depart: float, parked: float) -> None:
        arrive = depart + T[a, b]
        rows.append(
            (
                bus,
                kind,
                None,
                a_id,
                b_id,
                "",
                "",
                0,
                arrive,
                np.nan,
                depart,
                parked / 60,
                D[a, b] / METRES_PER_MILE,
                *xy[b],
            )
        )

    def visit_id(v: Visit) -> str:
        return data.stops[v.stop].id if v.stop is not None else data.schools[v.school].id

    for b, bus in enumerate(plan.buses):
        yard = data.yards[bus.start_yard]
        here, here_id, free = yard.location, yard.id, np.nan
        for k, r in enumerate(bus.runs):
            run = plan.runs[r]
            first = run.visits[0]
            depart = first.start - T[here, first.location]
            leg(
                "leave yard" if k == 0 else "deadhead",
                b,
                here,
                here_id,
                first.location,
                visit_id(first),
                depart,
                0.0 if k == 0 else depart - free,
            )
            for j, v in enumerate(run.visits):
                prev = run.visits[j - 1] if j else None
                arrive = v.start if prev is None else prev.end + T[prev.location, v.location]
                miles = 0.0 if prev is None else D[prev.location, v.location] / METRES_PER_MILE
                service = data.stops[v.stop].service if v.stop is not None else ""
                prev_id = visit_id(prev) if prev is not None else ""
                rows.append(
                    (
                        b,
                        v.action,
                        r,
                        prev_id,
                        visit_id(v),
                        data.schools[v.school].id,
                        service,
                        v.students,
                        arrive,
                        v.start,
                        v.end,
                        (v.start - arrive) / 60,
                        miles,
                        *xy[v.location],
                    )
                )
            here, here_id, free = run.end_location, visit_id(run.visits[-1]), run.end
        if bus.runs:
            end_yard = data.yards[bus.end_yard]
            leg("return to yard", b, here, here_id, end_yard.location, end_yard.id, free, 0.0)
    frame = pd.DataFrame(
        rows,
        columns=[
            "bus",
            "kind",
            "run",
            "from",
            "location",
            "school",
            "service",
            "students",
            "arrive",
            "service_start",
            "depart",
            "wait_min",
            "miles",
            "x",
            "y",
        ],
    )
    frame["bus"] += 1
    frame["run"] = (frame["run"] + 1).astype("Int64")
    frame.insert(0, "session", plan.session)
    frame.insert(2, "bus_type", [data.bus_types[plan.buses[b - 1].bus_type].id for b in frame["bus"]])
    frame.insert(3, "step", frame.groupby("bus").cumcount() + 1)
    frame["arrive_time"] = [_clock(t) for t in frame["arrive"]]
    frame["depart_time"] = [_clock(t) for t in frame["depart"]]
    return frame[SHEET_COLUMNS]


def public_sheets(sheets: pd.DataFrame, *, private: Iterable[str]) -> pd.DataFrame:
    """Route sheets with every visit that locates a student merged away: safe outside ``--private-out``.

    Consecutive private visits of one run (stops serving fewer than :data:`MIN_STUDENTS` students,
    e.g. from :func:`private_stops`) become one row with no
    location, coordinates or street, and a ``note`` such as ``"2 door-to-door pickups"``; a leg
    or visit that starts or ends at such a stop names it only as ``"hidden stop"``. Times,
    students and miles are kept (summed over the merged visits), so the sheet still adds up.

    Parameters
    ----------
    sheets
        From :func:`route_sheets` (several plans may be stacked, with extra leading columns
        such as ``scenario``).
    private
        Stop ids that locate a student.

    Returns
    -------
    pandas.DataFrame
        The same columns, plus ``note``.
    """
    private = set(private)
    same = [c for c in sheets.columns if c not in SHEET_COLUMNS] + [
        "session",
        "bus",
        "run",
        "kind",
        "service",
    ]
    out: list[dict] = []
    hidden_rows: list[bool] = []
    merged: list[int] = []
    for row in sheets.to_dict("records"):
        hidden = row["kind"] in ("pickup", "dropoff") and row["location"] in private
        if (
            hidden
            and hidden_rows
            and hidden_rows[-1]
            and all(out[-1][k] == row[k] or (pd.isna(out[-1][k]) and pd.isna(row[k])) for k in same)
        ):
            last = out[-1]
            last["students"] += row["students"]
            last["miles"] += row["miles"]
            last["wait_min"] += row["wait_min"]
            last["depart"], last["depart_time"] = row["depart"], row["depart_time"]
            merged[-1] += 1
            continue
        if hidden:
            row["location"] = ""
        if row["location"] in private:
            row["location"] = "hidden stop"
        if row["location"] in ("", "hidden stop"):
            row["x"] = row["y"] = np.nan
        if row["from"] in private:
            row["from"] = "hidden stop"
        out.append(row)
        hidden_rows.append(hidden)
        merged.append(1)
    frame = pd.DataFrame(out, columns=sheets.columns).astype(sheets.dtypes.to_dict())
    frame["note"] = [
        f"{n} {r['service']} {r['kind']}{'s' if n > 1 else ''}" if h else ""
        for n, h, r in zip(merged, hidden_rows, out)
    ]
    by_day = [c for c in same if c not in ("run", "kind", "service")]
    frame["step"] = frame.groupby(by_day, sort=False, dropna=False).cumcount() + 1
    return frame


@dataclass
class StreetLines:
    """Draws legs between matrix locations: along the streets when there is a network, else straight.

    Legs are cached, and :meth:`prefetch` finds many at once (one bounded shortest-path search per
    block of origins), so drawing every scenario's runs costs about one short search per origin.

    Parameters
    ----------
    points
        ``(n, 2)`` x/y of each matrix location (in the network's CRS).
    network
        The compiled street network, or ``None`` for straight legs.
    durations
        The plan's travel-time matrix over the same locations: bounds each search (optional).
    """

    points: np.ndarray
    network: CompiledNetwork | None = None
    durations: np.ndarray | None = None
    _nodes: np.ndarray | None = field(default=None, init=False, repr=False)
    _legs: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=float)
        if self.network is not None:
            self._nodes = self.network.kdtree.query(self.points)[1]  # node positions

    def prefetch(self, pairs: Iterable[tuple[int, int]], *, block: int = 128) -> None:
        """Find the street path of every leg ``(a, b)`` not yet cached."""
        net, nodes = self.network, self._nodes
        if net is None or nodes is None:
            return
        todo = sorted({(a, b) for a, b in pairs if (a, b) not in self._legs and nodes[a] != nodes[b]})
        by_source: dict[int, list[tuple[int, int]]] = {}
        for a, b in todo:
            by_source.setdefault(int(nodes[a]), []).append((a, b))
        sources = sorted(by_source)
        for k in range(0, len(sources), block):
            chunk = sources[k : k + block]
            legs = [leg for src in chunk for leg in by_source[src]]
            limit = (
                np.inf if self.durations is None else max(self.durations[a, b] for a, b in legs) * 1.01 + 60
            )
            _, pred = dijkstra(net.time, directed=True, indices=chunk, return_predecessors=True, limit=limit)
            row = {src: i for i, src in enumerate(chunk)}
            for a, b in legs:
                start, end = int(nodes[a]), int(nodes[b])
                self._legs[(a, b)] = self._trace(net, pred[row[start]], start, end, a, b)

    def _trace(
        self, net: CompiledNetwork, pred: np.ndarray, start: int, end: int, a: int, b: int
    ) -> np.ndarray:
        path = [end]
        while path[-1] != start:
            path.append(int(pred[path[-1]]))
            if path[-1] < 0:  # not reached within the bound: a straight leg
                return self.points[[a, b]]
        path.reverse()
        return np.concatenate(
            [edge_coords(net, u, v)[(1 if i else 0) :] for i, (u, v) in enumerate(itertools.pairwise(path))]
        )

    def leg(self, a: int, b: int) -> np.ndarray:
        """Coordinates from location ``a`` to location ``b``."""
        if (a, b) not in self._legs:
            if self._nodes is None or self._nodes[a] == self._nodes[b]:
                self._legs[(a, b)] = self.points[[a, b]]
            else:
                self.prefetch([(a, b)])
        return self._legs[(a, b)]

    def line(self, locations: Sequence[int]) -> LineString | None:
        """The line through ``locations`` in order (``None`` when fewer than two)."""
        if len(locations) < 2:
            return None
        parts = [self.leg(a, b) for a, b in itertools.pairwise(locations)]
        return LineString(np.concatenate([parts[0]] + [p[1:] for p in parts[1:]]))


def _shown(plan: BusPlan, visits: Sequence[Visit], hide: np.ndarray | None) -> list[int]:
    return [v.location for v in visits if hide is None or v.stop is None or not hide[v.stop]]


def run_lines(
    plan: BusPlan, *, lines: StreetLines, public: bool = False, crs: object = None
) -> gpd.GeoDataFrame:
    """Each run of the plan drawn through its stops, in order (on the streets when there are).

    Parameters
    ----------
    plan
        A bus plan.
    lines
        The :class:`StreetLines` drawer (shared by the plans of a comparison).
    public
        Draw each run through its schools and its stops that locate no student only (see
        :func:`private_stops`); ``hidden_stops`` counts those left out.
    crs
        CRS of the points.

    Returns
    -------
    geopandas.GeoDataFrame
        ``session``, ``bus``, ``run``, ``school``, ``students``, ``stops``, ``hidden_stops``,
        ``start``, ``end`` (``HH:MM:SS``) and the line (``None`` when nothing is left to draw).
    """
    hide = private_stops(plan) if public else None
    bus_of = {r: b + 1 for b, bus in enumerate(plan.buses) for r in bus.runs}
    shown_of = [_shown(plan, run.visits, hide) for run in plan.runs]
    lines.prefetch(pair for shown in shown_of for pair in itertools.pairwise(shown))
    rows = []
    for r, (run, shown) in enumerate(zip(plan.runs, shown_of, strict=True)):
        schools = "+".join(plan.data.schools[s].id for s in run.schools)
        n_hidden = 0 if hide is None else int(sum(hide[s] for s in run.stops))
        rows.append(
            (
                plan.session,
                bus_of.get(r),
                r + 1,
                schools,
                run.students,
                len(run.stops),
                n_hidden,
                _clock(run.start),
                _clock(run.end),
                lines.line(shown),
            )
        )
    cols = [
        "session",
        "bus",
        "run",
        "school",
        "students",
        "stops",
        "hidden_stops",
        "start",
        "end",
        "geometry",
    ]
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs=crs)


def bus_days(
    plan: BusPlan, *, lines: StreetLines, public: bool = False, crs: object = None
) -> gpd.GeoDataFrame:
    """Each bus's whole day as one line: yard, every run's visits in order, yard.

    Parameters
    ----------
    plan, lines, public, crs
        As for :func:`run_lines`.

    Returns
    -------
    geopandas.GeoDataFrame
        ``session``, ``bus``, ``bus_type``, ``runs``, ``students``, ``leave_yard``, ``return_to_yard``
        (``HH:MM:SS``), ``miles`` (driven, exact) and the line.
    """
    data = plan.data
    hide = private_stops(plan) if public else None
    T, D = data.durations, data.distances
    days = []
    for bus in plan.buses:
        runs = [plan.runs[r] for r in bus.runs]
        start, end = data.yards[bus.start_yard].location, data.yards[bus.end_yard].location
        shown = [start] + [loc for run in runs for loc in _shown(plan, run.visits, hide)] + [end]
        days.append((bus, runs, start, end, shown))
    lines.prefetch(pair for *_, shown in days for pair in itertools.pairwise(shown))
    rows = []
    for b, (bus, runs, start, end, shown) in enumerate(days):
        if not runs:
            continue
        every = [start] + [v.location for run in runs for v in run.visits] + [end]
        miles = float(sum(D[a, c] for a, c in itertools.pairwise(every))) / METRES_PER_MILE
        leave = runs[0].start - T[start, runs[0].start_location]
        back = runs[-1].end + T[runs[-1].end_location, end]
        rows.append(
            (
                plan.session,
                b + 1,
                data.bus_types[bus.bus_type].id,
                len(runs),
                sum(r.students for r in runs),
                _clock(leave),
                _clock(back),
                miles,
                lines.line(shown),
            )
        )
    cols = [
        "session",
        "bus",
        "bus_type",
        "runs",
        "students",
        "leave_yard",
        "return_to_yard",
        "miles",
        "geometry",
    ]
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs=crs)
