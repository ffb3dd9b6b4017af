"""Who rides and where they board: eligibility by grade and walk distance, and corner stops.

Eligibility follows a city's rules (``[[transport.eligibility]]`` in its ``city.toml``): a
student rides when their walk to school is longer than their grade band's limit; a band may
instead get a transit pass (high school, as in Boston). Door-to-door and wheelchair students
always ride, from their own stop.

Corner stops are chosen per school by a greedy set cover: candidate stops are street nodes (on a
network) or the corners of a nominal street grid (network-free); a candidate covers the students
whose *walking* distance to it (on the network, both ways along one-way streets; else the
Manhattan distance) is within their own maximum walk, and the candidate covering the most
uncovered students is opened until everyone is covered. Stops are therefore always on a street
node (never in a river) and nobody walks farther than their own limit; students who cannot reach
any street within their limit are reported by id.

Hazards (``[transport.hazards]`` in ``city.toml``: polygons or lines such as highways, rail and
rivers, :func:`read_hazards`) are never walked across: a student whose walk to school would cross
one rides whatever the distance, and no student is given a stop whose walk crosses one. A walk
crosses a hazard when the straight line from home to school (or stop) meets it: a student who
could walk around the end of a river still counts as crossing it (they ride; the safe side).

>>> from routing.stops import eligibility_rules, eligible_riders, place_stops
>>> rules = eligibility_rules(city.settings.transport)  # doctest: +SKIP
>>> hazards = read_hazards(city)  # doctest: +SKIP
>>> riders = eligible_riders(city.students, city.schools, rules=rules, hazards=hazards)  # doctest: +SKIP
>>> plan = place_stops(riders[riders.eligible], max_walk=800, hazards=hazards, seed=1)  # doctest: +SKIP
>>> hazard_riders(riders)  # riders by school, and those who ride because of a hazard  # doctest: +SKIP
>>> plan.stops.head(), plan.infeasible  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facilities import City, Problem, ValidationError
from facilities.io import read_layer_file
from facilities.settings import EligibilityBand, TransportSettings, parse_transport
from routing.network import point_coordinates
from routing.problem import METRES_PER_MILE
from routing.travel import CompiledNetwork, distance_matrix

__all__ = [
    "DEFAULT_MAX_WALK_M",
    "GRID_SPACING_M",
    "EligibilityRule",
    "Hazards",
    "StopPlan",
    "eligibility_rules",
    "eligible_riders",
    "hazard_riders",
    "place_stops",
    "read_hazards",
]

log = logging.getLogger(__name__)

#: Longest walk to a corner stop when a student's record gives none: half a mile (Boston's
#: largest; its 2017 challenge data uses 0.2–0.5 mi by grade and neighborhood safety).
DEFAULT_MAX_WALK_M = 0.5 * METRES_PER_MILE
#: Spacing (metres) of the nominal street grid whose corners are the network-free stop candidates
#: (a Boston block is about 80–120 m).
GRID_SPACING_M = 100.0
_SPECIAL = ("door-to-door", "wheelchair")
_HAZARD_REASON = "rides: the walk to school crosses"


#: Who of a grade band rides a school bus: students of ``grades`` (``PK = -1``, ``K = 0``) living
#: farther than ``walk_beyond`` metres (walking) from their school; a band with ``transit_pass``
#: rides public transit instead (e.g. Boston's high schools), whatever the distance.
EligibilityRule = EligibilityBand


def eligibility_rules(transport: TransportSettings | Mapping[str, Any]) -> tuple[EligibilityRule, ...]:
    """A city's eligibility rules, from its typed ``[transport]`` settings.

    Parameters
    ----------
    transport
        ``city.settings.transport``, or a ``[transport]`` table as written (read by
        :func:`facilities.settings.parse_transport`), whose ``eligibility`` array holds one table
        per band::

            [[transport.eligibility]]
            grades = "K-5"
            walk_beyond_mi = 1.0          # or walk_beyond_m = 1609
            [[transport.eligibility]]
            grades = "9-12"
            transit_pass = true

        or, in short, a table of walking distances (metres) by grades::

            [transport.eligibility]
            "K-5" = 1609
            "6-8" = 2414

    Returns
    -------
    tuple of EligibilityRule
        Empty when the city gives none: then every student of the students layer rides.

    Raises
    ------
    facilities.ValidationError
        Naming each bad rule and what to write instead (a table as written only: typed settings
        were checked when the city was read).
    """
    typed = transport if isinstance(transport, TransportSettings) else parse_transport(transport)
    return typed.eligibility


@dataclass(frozen=True, eq=False)
class Hazards:
    """Polygons or lines no student walks across (highways, rail, rivers), in the city's metric CRS.

    Parameters
    ----------
    shapes
        ``label`` and line or polygon geometry.
    """

    shapes: gpd.GeoDataFrame
    _union: shapely.Geometry = field(init=False, repr=False)  # every hazard, prepared for queries

    def __post_init__(self) -> None:
        union = shapely.union_all(self.shapes.geometry.to_numpy())
        shapely.prepare(union)
        object.__setattr__(self, "_union", union)

    def crossing(
        self, a: np.ndarray, b: np.ndarray, *, pairs: tuple[np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray:
        """Whether each straight walk ``a[i] -> b[i]`` (``(n, 2)`` x/y) meets a hazard.

        With ``pairs = (i, j)``, the walks ``a[i[k]] -> b[j[k]]`` instead: each start's distance
        to the hazards is then computed once, however many walks leave from it.
        """
        a, b = np.asarray(a, dtype=float).reshape(-1, 2), np.asarray(b, dtype=float).reshape(-1, 2)
        i, j = pairs if pairs is not None else (np.arange(len(a)), np.arange(len(a)))
        out = np.zeros(len(i), dtype=bool)
        if not len(i):
            return out
        gap = np.asarray(shapely.distance(shapely.points(a), self._union), dtype=float)
        # only walks that reach as far as a hazard can meet it
        near = gap[i] <= np.hypot(*(b[j] - a[i]).T) + 1e-9
        if near.any():
            lines = shapely.linestrings(np.stack([a[i[near]], b[j[near]]], axis=1))
            out[near] = shapely.intersects(lines, self._union)
        return out

    def labels(self, a: np.ndarray, b: np.ndarray) -> list[str]:
        """The first hazard each straight walk ``a[i] -> b[i]`` meets (``""`` for none)."""
        walks = np.stack([np.asarray(a, float).reshape(-1, 2), np.asarray(b, float).reshape(-1, 2)], axis=1)
        lines = shapely.linestrings(walks)
        tree = shapely.STRtree(self.shapes.geometry.to_numpy())
        which, hit = tree.query(lines, predicate="intersects")
        first: dict[int, str] = {}
        for i, h in zip(which.tolist(), hit.tolist()):
            first.setdefault(i, str(self.shapes["label"].iloc[h]))
        return [first.get(i, "") for i in range(len(walks))]


def read_hazards(city: City) -> Hazards | None:
    """The city's hazards, from ``[transport.hazards]`` in its ``city.toml``, or ``None``.

    Format::

        [transport.hazards]      # a student may not walk across these
        file = "river.geojson"   # or files = ["rail.gpkg", "highways.geojson"]
        label = "name"           # optional: the column naming each hazard

    Raises
    ------
    facilities.ValidationError
        Naming the file that is missing or unreadable, or holds points instead of lines or polygons.
    """
    cfg = city.settings.transport.hazards
    if cfg is None:
        return None
    where = "city.toml [transport.hazards]"
    problems: list[Problem] = []
    frames = []
    for name in cfg.files:
        path = (city.root or Path(".")) / str(name)
        try:
            frame = read_layer_file(path)
        except Exception as err:  # noqa: BLE001 - any reader failure is a problem of this file
            problems.append(
                Problem(
                    str(name),
                    None,
                    None,
                    f"cannot read the hazards file: {err}",
                    f"put it in the city folder or fix {where} file",
                )
            )
            continue
        if not isinstance(frame, gpd.GeoDataFrame) or not len(frame):
            problems.append(
                Problem(
                    str(name),
                    None,
                    None,
                    "holds no geometry",
                    "give a GeoJSON, GeoPackage or shapefile of lines or polygons",
                )
            )
            continue
        kinds = frame.geometry.geom_type.fillna("none")
        bad = ~kinds.str.contains("Line|Polygon")
        if bad.any():
            problems.append(
                Problem(
                    str(name),
                    int(np.flatnonzero(bad)[0]) + 1,
                    "geometry",
                    f"{int(bad.sum())} shapes are {kinds[bad].iloc[0]}, not lines or polygons",
                    "draw hazards as lines (rail, highways) or polygons (rivers)",
                )
            )
            continue
        if frame.crs is None:
            frame = frame.set_crs(cfg.crs)
        column = cfg.label
        labels = (
            frame[column].astype(str)
            if column in frame
            else pd.Series(Path(str(name)).stem, index=frame.index)
        )
        frames.append(
            gpd.GeoDataFrame(
                {"label": labels.to_numpy()},
                geometry=frame.geometry.to_crs(city.crs).to_numpy(),
                crs=city.crs,
            )
        )
    if problems:
        raise ValidationError(problems, city=city.name)
    return Hazards(gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=city.crs))


def hazard_riders(riders: pd.DataFrame) -> pd.DataFrame:
    """Per school: its riders, and those who ride only because their walk crosses a hazard.

    Parameters
    ----------
    riders
        From :func:`eligible_riders` (``school``, ``eligible``, ``reason``).

    Returns
    -------
    pandas.DataFrame
        ``school``, ``riders``, ``hazard_riders``; a school with none of either is left out.
    """
    hazard = riders["reason"].astype(str).str.startswith(_HAZARD_REASON)
    g = (
        pd.DataFrame(
            {
                "school": riders["school"].astype(str),
                "riders": riders["eligible"].astype(int),
                "hazard_riders": hazard.astype(int),
            }
        )
        .groupby("school")
        .sum()
    )
    return g[(g["riders"] > 0) | (g["hazard_riders"] > 0)].reset_index()


def eligible_riders(
    students: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    *,
    rules: tuple[EligibilityRule, ...] = (),
    network: CompiledNetwork | None = None,
    circuity: float = 1.0,
    hazards: Hazards | None = None,
) -> gpd.GeoDataFrame:
    """Mark each student eligible for a bus or not, and why.

    Parameters
    ----------
    students
        Canonical students (``id``, ``grade``, ``school``, ``service``, ``max_walk``, geometry).
    schools
        Canonical schools (``id``, geometry), in the students' CRS.
    rules
        From :func:`eligibility_rules`; empty means everyone rides.
    network
        Walking distances follow its streets when given; else the Manhattan distance times
        ``circuity``.
    circuity
        Network-free walking distance over Manhattan distance.
    hazards
        From :func:`read_hazards`: a student who would walk (within their band's distance) but
        whose walk to school crosses a hazard rides, with the reason naming the hazard.

    Returns
    -------
    geopandas.GeoDataFrame
        The students with ``walk_to_school`` (metres), ``eligible`` (bool) and ``reason``.
    """
    out = students.copy()
    school_xy, school_ids = point_coordinates(schools)
    pos = pd.Index(school_ids).get_indexer(out["school"])
    if (pos < 0).any():
        missing = sorted(set(out["school"][pos < 0]))[:5]
        raise ValidationError(
            [
                Problem(
                    "students", None, "school", f"unknown schools {missing}", "use ids of the schools layer"
                )
            ],
            city="riders",
        )
    home_xy, _ = point_coordinates(out)
    if network is not None:
        walk = np.full(len(out), np.inf)
        for j in np.unique(pos):
            rows = np.flatnonzero(pos == j)
            walk[rows] = distance_matrix(network, home_xy[rows], school_xy[[j]], walking=True)[:, 0]
    else:
        walk = np.abs(home_xy - school_xy[pos]).sum(axis=1) * circuity
    out["walk_to_school"] = walk
    special = out["service"].isin(_SPECIAL).to_numpy()
    eligible = np.ones(len(out), dtype=bool) if not rules else np.zeros(len(out), dtype=bool)
    reason = np.full(
        len(out),
        "rides: every listed student rides" if not rules else "walks: no rule for the grade",
        dtype=object,
    )
    grades = out["grade"].astype(int).to_numpy()
    for rule in rules:
        band = np.isin(grades, rule.grades)
        if rule.transit_pass:
            reason[band] = "transit pass"
            continue
        far = band & (walk > rule.walk_beyond)
        eligible[band] = far[band]
        reason[band & far] = f"rides: lives beyond {rule.walk_beyond / METRES_PER_MILE:.2g} mi"
        reason[band & ~far] = f"walks: within {rule.walk_beyond / METRES_PER_MILE:.2g} mi"
        if hazards is not None:
            walkers = np.flatnonzero(band & ~far)
            cross = walkers[hazards.crossing(home_xy[walkers], school_xy[pos[walkers]])]
            eligible[cross] = True
            labels = hazards.labels(home_xy[cross], school_xy[pos[cross]])
            reason[cross] = [f"{_HAZARD_REASON} {label}" for label in labels]
    eligible |= special
    reason[special] = "rides: " + out["service"].to_numpy()[special].astype(object)
    out["eligible"] = eligible
    out["reason"] = reason
    return out


@dataclass(frozen=True)
class StopPlan:
    """Stops of every school and the students boarding at each.

    Attributes
    ----------
    stops
        One row per stop: ``id``, ``school``, ``service``, ``students``, ``max_walk_m`` (the
        longest walk of its students), ``node`` (network node id, or ``-1``) and its point.
    assignment
        One row per placed student: ``student``, ``stop``, ``walk_m``, ``max_walk_m`` (private:
        never shown unaggregated).
    infeasible
        Students who could not be given a stop, with the reason (``student``, ``school``, ``reason``).
    """

    stops: gpd.GeoDataFrame
    assignment: pd.DataFrame
    infeasible: pd.DataFrame

    def summary(self) -> str:
        """One line for people."""
        walk = self.assignment["walk_m"]
        text = (
            f"{len(self.stops)} stops for {len(self.assignment)} riders; "
            f"walk mean {walk.mean():.0f} m, max {walk.max():.0f} m"
            if len(walk)
            else "no stops"
        )
        if len(self.infeasible):
            text += f"; {len(self.infeasible)} students without a stop"
        return text


def place_stops(
    riders: gpd.GeoDataFrame,
    *,
    network: CompiledNetwork | None = None,
    max_walk: float = DEFAULT_MAX_WALK_M,
    stop_capacity: int = 66,
    grid_spacing: float = GRID_SPACING_M,
    hazards: Hazards | None = None,
    seed: int = 0,
) -> StopPlan:
    """Place corner stops for corner riders and own stops for door-to-door and wheelchair riders.

    Parameters
    ----------
    riders
        The students who ride (e.g. ``eligible_riders(...)`` filtered on ``eligible``): ``id``,
        ``school``, ``service``, ``max_walk`` (metres, NaN for the default) and points.
    network
        Stops are street nodes and walks follow the streets; without it stops are corners of a
        grid of ``grid_spacing`` metres and walks are Manhattan distances.
    max_walk
        Longest walk (metres) for riders whose record gives none.
    stop_capacity
        Most students at one stop (a bus's seats): a fuller corner opens another stop.
    grid_spacing
        Network-free only: spacing of the grid of candidate corners.
    hazards
        From :func:`read_hazards`: no student is given a stop whose walk crosses one.
    seed
        Breaks ties between equally good candidates, reproducibly.

    Returns
    -------
    StopPlan
    """
    rng = np.random.default_rng(seed)
    xy, ids = point_coordinates(riders)
    limit = riders["max_walk"].astype(float).fillna(max_walk).to_numpy()
    services = riders["service"].astype(str).to_numpy()
    schools = riders["school"].astype(str).to_numpy()
    stop_rows: list[tuple[str, str, str, int, int, float, float]] = []
    assign: list[tuple[str, str, float, float]] = []
    bad: list[tuple[str, str, str]] = []
    for school in sorted(set(schools)):
        members = np.flatnonzero(schools == school)
        corner = members[services[members] == "corner"]
        if len(corner):
            cand_xy, cand_node, walk = _candidates(xy[corner], limit[corner], network, grid_spacing)
            covers = walk <= limit[corner, None]
            if hazards is not None:
                pupil, cand = np.nonzero(covers)
                covers[pupil, cand] = ~hazards.crossing(xy[corner], cand_xy, pairs=(pupil, cand))
            chosen = _cover(covers, walk, stop_capacity, rng)
            for k, (c, who) in enumerate(chosen):
                sid = f"{school}/c{k + 1}"
                stop_rows.append(
                    (
                        sid,
                        school,
                        "corner",
                        len(who),
                        int(cand_node[c]),
                        float(cand_xy[c, 0]),
                        float(cand_xy[c, 1]),
                    )
                )
                for w in who:
                    assign.append((str(ids[corner[w]]), sid, float(walk[w, c]), float(limit[corner[w]])))
            placed = {w for _, who in chosen for w in who}
            for w in sorted(set(range(len(corner))) - placed):
                safe = "" if hazards is None else " that the student reaches without crossing a hazard"
                bad.append(
                    (
                        str(ids[corner[w]]),
                        school,
                        f"no street corner within the student's {limit[corner[w]]:.0f} m walk{safe}",
                    )
                )
        for k, i in enumerate(members[services[members] != "corner"]):
            sid = f"{school}/d{k + 1}"
            node: int
            if network is None:
                node, (x, y) = -1, _round(xy[i], grid_spacing / 4)
            else:
                _, p = network.kdtree.query(xy[i])
                node, (x, y) = int(network.node_ids[p]), network.xy[p]
            stop_rows.append((sid, school, services[i], 1, node, float(x), float(y)))
            assign.append((str(ids[i]), sid, 0.0, float(limit[i])))
    stops = pd.DataFrame(stop_rows, columns=["id", "school", "service", "students", "node", "x", "y"])
    assignment = pd.DataFrame(assign, columns=["student", "stop", "walk_m", "max_walk_m"])
    longest = assignment.groupby("stop")["walk_m"].max()
    stops["max_walk_m"] = stops["id"].map(longest).fillna(0.0)
    geo = gpd.GeoDataFrame(
        stops.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(stops["x"], stops["y"]), crs=riders.crs
    )
    infeasible = pd.DataFrame(bad, columns=["student", "school", "reason"])
    if len(infeasible):
        log.info("%d riders have no stop within their walk", len(infeasible))
    return StopPlan(geo, assignment, infeasible)


def _round(xy: np.ndarray, spacing: float) -> np.ndarray:
    return np.round(np.asarray(xy) / spacing) * spacing


def _candidates(
    xy: np.ndarray, limit: np.ndarray, network: CompiledNetwork | None, spacing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate stops near these homes: their coordinates, node ids and the walk from each home."""
    if network is None:
        lo, hi = np.floor(xy / spacing), np.ceil(xy / spacing)
        four = [lo, hi, np.column_stack([lo[:, 0], hi[:, 1]]), np.column_stack([hi[:, 0], lo[:, 1]])]
        corners = np.unique(np.concatenate(four), axis=0) * spacing
        walk = np.abs(xy[:, None, :] - corners[None, :, :]).sum(axis=2)
        useful = (walk <= limit[:, None]).any(axis=0)
        return corners[useful], np.full(int(useful.sum()), -1), walk[:, useful]
    reach = float(limit.max())
    near = (
        np.unique(np.concatenate(network.kdtree.query_ball_point(xy, reach)).astype(np.intp))
        if len(xy)
        else np.empty(0, np.intp)
    )
    walk = distance_matrix(network, xy, network.node_ids[near], cutoff=reach, walking=True)
    useful = (walk <= limit[:, None]).any(axis=0)
    near = near[useful]
    return network.xy[near], network.node_ids[near], walk[:, useful]


def _cover(
    covers: np.ndarray, walk: np.ndarray, capacity: int, rng: np.random.Generator
) -> list[tuple[int, list[int]]]:
    """Greedy capacitated set cover: open the candidate covering most uncovered students each time.

    Returns ``(candidate, students)`` per opened stop; a student covered by no candidate is left out.
    """
    n, m = covers.shape
    if m == 0:
        return []
    todo = np.asarray(covers.any(axis=1), dtype=bool)
    noise = rng.random(m) * 1e-6  # reproducible tie-break
    walk_cost = np.where(covers, walk, 0.0).sum(axis=0)
    left = covers[todo].sum(axis=0)  # uncovered students each candidate covers (kept up to date)
    out: list[tuple[int, list[int]]] = []
    while todo.any():
        count = left.astype(float)
        # most students first, then the shortest total walk among them
        score = np.minimum(count, capacity) - walk_cost / (1e6 * max(n, 1)) + noise
        c = int(np.argmax(score))
        who = np.flatnonzero(todo & covers[:, c])
        who = who[np.argsort(walk[who, c], kind="stable")][:capacity]
        out.append((c, who.tolist()))
        todo[who] = False
        left -= covers[who].sum(axis=0)
        walk_cost -= np.where(covers[who], walk[who], 0.0).sum(axis=0)
        if math.isclose(float(count[c]), 0.0):
            break
    return out
