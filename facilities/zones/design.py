"""Zone design: contiguous shared zones from units, by region growing, local search (AZP) or CP-SAT."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from facilities.schema import GRADE_NAMES
from facilities.zones.measure import _NG, _xy, fail
from facilities.zones.plan import ZoneData, ZonePlan, _default_grades, _serving

__all__ = ["design", "design_cpsat", "greedy_zones", "compare_plans"]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def _fail(layer: str, message: str, fix: str) -> None:
    fail(layer, None, None, message, fix, city="zone design")


def _grade_text(grades: Sequence[int]) -> str:
    return ", ".join(GRADE_NAMES[g + 1] for g in grades)


def _graph_distances(data: ZoneData, centers: np.ndarray) -> np.ndarray:
    """Shortest-path distance over unit adjacency (edge = centroid distance), from each center."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    xy = _xy(data.geometry)
    a = (
        np.concatenate([np.full(len(nb), i) for i, nb in enumerate(data.neighbors)]).astype(np.int64)
        if data.n_units
        else np.zeros(0, np.int64)
    )
    b = np.concatenate(data.neighbors).astype(np.int64) if data.n_units else np.zeros(0, np.int64)
    w = np.maximum(np.hypot(*(xy[a] - xy[b]).T), 1.0)
    graph = sp.csr_matrix((w, (a, b)), shape=(data.n_units, data.n_units))
    return dijkstra(graph, directed=False, indices=centers)


def _prepare(
    data: ZoneData, grades: Sequence[int] | None
) -> tuple[tuple[int, ...], list[str], np.ndarray, np.ndarray]:
    """Grades, issues named, the centers (units holding schools) and graph distances from them."""
    grades = tuple(sorted(set(int(g) for g in (grades if grades is not None else _default_grades(data)))))
    if not grades:
        _fail(
            "grades",
            "no grade has both residents and seats in the units",
            "give grades the schools serve (e.g. --grades K-5), or map the schools' capacity or enrollment "
            "and the residents' source (students, population by age)",
        )
    issues = []
    for g in grades:
        r, s = data.residents[:, g + 1].sum(), data.seats[:, g + 1].sum()
        if s < r:
            issues.append(
                f"grade {GRADE_NAMES[g + 1]}: the city has {int(s):,} seats for {int(round(r)):,} residents, "
                "so no plan can guarantee every resident a seat"
            )
    serving = _serving(data, grades)
    if not serving.any():
        _fail(
            "schools",
            f"no school has seats in grades {_grade_text(grades)}",
            "map the schools' grades and capacity (or enrollment), "
            "or choose grades the schools serve (--grades)",
        )
    centers = np.unique(data.school_unit[serving & (data.school_unit >= 0)])
    if not len(centers):
        _fail(
            "schools",
            f"no school serving grades {_grade_text(grades)} lies in any unit",
            "check the schools' and zones' locations and CRS, or choose grades the schools serve",
        )
    dist = _graph_distances(data, centers)
    unreachable = np.flatnonzero(~np.isfinite(dist).any(axis=0))
    if len(unreachable):
        names = ", ".join(map(str, data.unit_ids[unreachable][:10]))
        issues.append(
            f"{len(unreachable)} unit(s) touch no unit with a school and are left out of every zone: {names}"
        )
    return grades, issues, centers, dist


def _voronoi(dist: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Each unit's nearest center (by graph distance) as a center position, -1 when unreachable."""
    best = np.argmin(dist, axis=0)
    return np.where(np.isfinite(dist.min(axis=0)), best, -1)


def _renumber(labels: np.ndarray) -> np.ndarray:
    out = np.full(len(labels), -1, dtype=np.int64)
    ok = labels >= 0
    out[ok] = pd.factorize(labels[ok], sort=True)[0]
    return out


def greedy_zones(
    data: ZoneData,
    *,
    min_schools: int = 2,
    max_schools: int = 8,
    grades: Sequence[int] | None = None,
) -> ZonePlan:
    """A simple region-growing plan (the reference for :func:`design`).

    Every unit joins its nearest unit holding a school (shortest path over unit adjacency), then
    zones short of seats in a grade, or with fewer than ``min_schools`` schools, are merged into
    the adjacent zone that leaves the smallest shortfall (preferring at most ``max_schools``
    schools, then the closest), until no merge helps.
    """
    import time

    t0 = time.perf_counter()
    grades, issues, centers, dist = _prepare(data, grades)
    labels = _voronoi(dist, centers)
    mask = np.zeros(_NG, dtype=bool)
    mask[np.asarray(grades) + 1] = True
    res = data.residents * mask
    located = (data.school_unit >= 0) & _serving(data, grades)
    nschool = np.bincount(data.school_unit[located], minlength=data.n_units)
    seat_unit = np.zeros((data.n_units, _NG))
    np.add.at(seat_unit, data.school_unit[data.school_unit >= 0], data.seats[data.school_unit >= 0] * mask)
    xy = _xy(data.geometry)
    # zone label -> its units (numpy integers)
    zones: dict[Any, set[Any]] = {z: set(np.flatnonzero(labels == z)) for z in np.unique(labels[labels >= 0])}

    def stats(members: set[Any]) -> tuple[float, int]:
        idx = list(members)
        return float(np.clip(res[idx].sum(0) - seat_unit[idx].sum(0), 0, None).sum()), int(nschool[idx].sum())

    def centroid(members: set[Any]) -> np.ndarray:
        idx = list(members)
        w = res[idx].sum(1) + 1e-9
        return (xy[idx] * w[:, None]).sum(0) / w.sum()

    blocked: set[int] = set()
    while True:
        bad = [
            (stats(m)[0], -stats(m)[1], z)
            for z, m in zones.items()
            if z not in blocked and (stats(m)[0] > 0 or stats(m)[1] < min_schools)
        ]
        if not bad:
            break
        _, _, z = max(bad)
        members = zones[z]
        adjacent = {labels[k] for i in members for k in data.neighbors[i]} - {z, -1}
        if not adjacent:
            blocked.add(z)
            continue
        here = centroid(members)
        options = []
        for o in adjacent:
            short, n = stats(members | zones[o])
            options.append((short, n > max_schools, float(np.hypot(*(centroid(zones[o]) - here))), o))
        short_now = stats(members)[0]
        best = min(options)
        if best[0] >= short_now and stats(members)[1] >= min_schools:
            blocked.add(z)
            continue
        o = best[3]
        zones[o] |= members
        labels[list(members)] = o
        del zones[z]
    for z in blocked & set(zones):
        short, n = stats(zones[z])
        if short > 0:
            issues.append(
                f"zone of units {', '.join(map(str, data.unit_ids[sorted(zones[z])][:5]))}: "
                f"{int(round(short)):,} residents short of seats and no merge helps"
            )
    return ZonePlan(
        data, _renumber(labels), "greedy", "HEURISTIC", tuple(issues), grades, time.perf_counter() - t0
    )


def design_cpsat(
    data: ZoneData,
    *,
    min_schools: int = 2,
    max_schools: int = 8,
    grades: Sequence[int] | None = None,
    candidates: int = 6,
    time_limit: float = 60.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> ZonePlan:
    """Design contiguous shared zones with CP-SAT (exact model; best on up to a few hundred units).

    Each zone grows around a *center*, a unit holding a school. Unit *i* may join center *c* only
    if one of its neighbours closer to *c* (by shortest path over unit adjacency) joins *c* too,
    which makes every zone contiguous and star-shaped around its center (the "shortest-path
    contiguity" model of Oehrlein and Haunert 2017); each unit considers its ``candidates``
    nearest centers. Subject to that, the model minimizes the residents' travel to their zone's
    center (seconds, or metres without travel), with heavy penalties for residents short of a
    seat in any grade (``seats >= residents``, per zone and grade) and for zones with fewer
    than ``min_schools`` or more than ``max_schools`` schools, so a plan is always returned and
    what could not be met is reported. The nearest-center plan is the solver's starting hint.

    Parameters
    ----------
    data
        The instance.
    min_schools, max_schools
        Schools a zone should hold.
    grades
        Grades whose seats must cover residents (default every grade with residents and seats).
    candidates
        Nearest centers each unit may join.
    time_limit
        Seconds for CP-SAT.
    seed
        CP-SAT's random seed (one worker: the same seed gives the same plan).
    progress
        Called as ``progress(step, 3)`` after building, after solving and when done.

    Returns
    -------
    ZonePlan
        ``method="cp-sat"``; falls back to :func:`greedy_zones` (``status`` says so) when CP-SAT
        finds no plan in time.
    """
    import time

    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    if min_schools < 1 or max_schools < min_schools:
        raise ValueError(f"need 1 <= min_schools <= max_schools, got {min_schools} and {max_schools}")
    grades, issues, centers, dist = _prepare(data, grades)
    n, nc = data.n_units, len(centers)
    reach = np.isfinite(dist)
    rank = np.argsort(np.where(reach, dist, np.inf), axis=0, kind="stable")[
        :candidates
    ]  # (K, n) center positions
    cand = [[int(c) for c in rank[:, i] if reach[c, i]] for i in range(n)]
    cand_set = [set(c) for c in cand]
    for k, c in enumerate(centers):  # a center always may hold itself
        if k not in cand_set[c]:
            cand[c].append(k)
            cand_set[c].add(k)
    cost_to = np.full((n, nc), np.inf)
    for k, c in enumerate(centers):
        own = np.flatnonzero((data.school_unit == c) & _serving(data, grades))
        cost_to[:, k] = data.travel[:, own].min(axis=1)
    finite = cost_to[np.isfinite(cost_to)]
    scale = max(float(finite.max()) if finite.size else 1.0, 1.0)
    mask = np.zeros(_NG, dtype=bool)
    mask[np.asarray(grades) + 1] = True
    res = np.round(data.residents * mask).astype(np.int64)
    weight = res.sum(axis=1)
    located = (data.school_unit >= 0) & _serving(data, grades)
    nschool = np.bincount(data.school_unit[located], minlength=n)
    seat_unit = np.zeros((n, _NG), dtype=np.int64)
    np.add.at(seat_unit, data.school_unit[data.school_unit >= 0], data.seats[data.school_unit >= 0])
    penalty_seat = int(10 * min(scale, 1e5))  # a resident without a seat costs more than any trip
    penalty_school = penalty_seat * max(int(weight.max()), 1)

    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for i in range(n):
        for k in cand[i]:
            x[i, k] = model.new_bool_var(f"x{i}_{k}")
    for i in range(n):
        if cand[i]:
            model.add_exactly_one(x[i, k] for k in cand[i])
    members: dict[int, list[int]] = {k: [] for k in range(nc)}
    for i, k in x:
        members[k].append(i)
    terms = []
    for k, c in enumerate(centers):
        open_k = x[c, k]
        for i in members[k]:
            if i == c:
                continue
            model.add_implication(x[i, k], open_k)
            closer = [x[j, k] for j in data.neighbors[i] if (j, k) in x and dist[k, j] < dist[k, i]]
            if closer:
                model.add_bool_or(closer).only_enforce_if(x[i, k])
            else:
                model.add(x[i, k] == 0)
        for g in np.flatnonzero(mask):
            coef = {i: int(seat_unit[i, g] - res[i, g]) for i in members[k]}
            if all(v >= 0 for v in coef.values()):
                continue
            short = model.new_int_var(0, int(res[members[k], g].sum()), f"short{k}_{g}")
            model.add(sum(v * x[i, k] for i, v in coef.items() if v) + short >= 0)
            terms.append(penalty_seat * short)
        count = sum(int(nschool[i]) * x[i, k] for i in members[k] if nschool[i])
        total_schools = int(nschool[members[k]].sum())
        under = model.new_int_var(0, min_schools, f"under{k}")
        over = model.new_int_var(0, max(total_schools, 0), f"over{k}")
        model.add(count + under >= min_schools * open_k)
        model.add(count - over <= max_schools)
        terms += [penalty_school * under, penalty_school * over]
    unit_scale = 1e4 / scale  # travel costs in 1/10000 of the longest trip
    terms += [
        int(round(weight[i] * cost_to[i, k] * unit_scale)) * v
        for (i, k), v in x.items()
        if np.isfinite(cost_to[i, k])
    ]
    model.minimize(sum(terms))
    hint = _voronoi(dist, centers)
    for (i, k), v in x.items():
        model.add_hint(v, int(hint[i] == k))
    if progress:
        progress(1, 3)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    status = solver.solve(model)
    if progress:
        progress(2, 3)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        logger.info("zone design: CP-SAT found no plan (%s); using the greedy plan", name)
        fallback = greedy_zones(data, min_schools=min_schools, max_schools=max_schools, grades=grades)
        return ZonePlan(
            data,
            fallback.labels,
            "greedy",
            f"CP-SAT {name}; greedy plan",
            fallback.issues,
            grades,
            time.perf_counter() - t0,
        )
    labels = np.full(n, -1, dtype=np.int64)
    for (i, k), v in x.items():
        if solver.boolean_value(v):
            labels[i] = k
    plan = ZonePlan(data, _renumber(labels), "cp-sat", name, tuple(issues), grades, time.perf_counter() - t0)
    g = plan.guarantee()
    for rec in g[g["shortfall"] > 0].itertuples(index=False):
        issues.append(f"{rec.zone} grade {rec.grade_name}: {rec.shortfall:,} residents short of seats")
    for z, s in enumerate(plan.zone_schools()):
        if not min_schools <= len(s) <= max_schools:
            issues.append(f"Z{z + 1}: {len(s)} schools, outside {min_schools}..{max_schools}")
    if progress:
        progress(3, 3)
    return ZonePlan(data, plan.labels, "cp-sat", name, tuple(issues), grades, time.perf_counter() - t0)


def compare_plans(plans: Mapping[str, ZonePlan], **kwargs: Any) -> pd.DataFrame:
    """Plans side by side: one column per plan, one row per measure of :meth:`ZonePlan.metrics`."""
    return pd.DataFrame({name: plan.metrics(**kwargs) for name, plan in plans.items()})


def _contiguous_without(members: set[int], unit: int, neighbors: tuple[np.ndarray, ...]) -> bool:
    """Whether ``members`` minus ``unit`` is still connected (and not empty)."""
    rest = members - {unit}
    if not rest:
        return False
    start = next(iter(rest))
    seen, stack = {start}, [start]
    while stack:
        for k in neighbors[stack.pop()]:
            if k in rest and k not in seen:
                seen.add(k)
                stack.append(int(k))
    return len(seen) == len(rest)


def design(
    data: ZoneData,
    *,
    min_schools: int = 2,
    max_schools: int = 8,
    grades: Sequence[int] | None = None,
    time_limit: float = 60.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> ZonePlan:
    """Design contiguous shared zones with enough seats, short travel and compact shapes.

    Starts from :func:`greedy_zones` (region growing around the units holding schools, then
    merges until each zone has seats for its residents in every grade and ``min_schools``
    schools) and improves it by local search in the manner of AZP (Openshaw 1977): units
    without schools move, one at a time and in a seeded random order, to an adjacent zone when
    the donor zone stays contiguous and the move lowers

        ``penalty * residents short of a seat + sum over units of residents * expected trip``

    where a unit's expected trip is its travel to its zone's schools weighted by their seats in
    the grades (the trip a guaranteed seat implies). Passes repeat until none improves or
    ``time_limit`` runs out. Units holding schools stay put, so zones keep their schools.

    Parameters
    ----------
    data
        The instance.
    min_schools, max_schools
        Schools a zone should hold (merges prefer at most ``max_schools``).
    grades
        Grades whose seats must cover residents (default every grade with residents and seats).
    time_limit
        Seconds for the local search.
    seed
        Orders the moves: the same seed gives the same plan.
    progress
        Called as ``progress(pass, max_passes)`` after each pass.

    Returns
    -------
    ZonePlan
        ``method="local search"``; ``issues`` names the grades and zones still short of seats.
    """
    import time

    t0 = time.perf_counter()
    start = greedy_zones(data, min_schools=min_schools, max_schools=max_schools, grades=grades)
    grades = start.grades
    labels = start.labels.copy()
    nz = start.n_zones
    mask = np.zeros(_NG, dtype=bool)
    mask[np.asarray(grades) + 1] = True
    res = data.residents * mask
    weight = res.sum(axis=1)
    seats_z = start._zone_seats() * mask
    res_z = start._zone_residents() * mask
    seat_w = data.seats[:, mask].sum(axis=1).astype(float)
    w = np.zeros((len(data.school_ids), nz))
    for z, sch in enumerate(start.zone_schools()):
        if seat_w[sch].sum() > 0:
            w[sch, z] = seat_w[sch] / seat_w[sch].sum()
    expected = np.where(np.isfinite(data.travel), data.travel, 0.0) @ w  # (n, zones)
    penalty = 10.0 * max(float(np.nanmax(np.where(np.isfinite(data.travel), data.travel, 0))), 1.0)
    fixed = np.zeros(data.n_units, dtype=bool)
    fixed[data.school_unit[data.school_unit >= 0]] = True
    members = [set(np.flatnonzero(labels == z).tolist()) for z in range(nz)]
    rng = np.random.default_rng(seed)
    max_passes = 50
    for step in range(max_passes):
        moved = 0
        for i in rng.permutation(np.flatnonzero(~fixed & (labels >= 0))):
            a = labels[i]
            targets = {int(labels[k]) for k in data.neighbors[i]} - {a, -1}
            if not targets:
                continue
            short_a = np.clip(res_z[a] - seats_z[a], 0, None).sum()
            short_a2 = np.clip(res_z[a] - res[i] - seats_z[a], 0, None).sum()
            best, gain_best = -1, 1e-9
            for b in sorted(targets):
                short_b = np.clip(res_z[b] - seats_z[b], 0, None).sum()
                short_b2 = np.clip(res_z[b] + res[i] - seats_z[b], 0, None).sum()
                gain = penalty * (short_a + short_b - short_a2 - short_b2) + weight[i] * (
                    expected[i, a] - expected[i, b]
                )
                if gain > gain_best:
                    best, gain_best = b, gain
            if best >= 0 and _contiguous_without(members[a], int(i), data.neighbors):
                members[a].discard(int(i))
                members[best].add(int(i))
                res_z[a] -= res[i]
                res_z[best] += res[i]
                labels[i] = best
                moved += 1
        if progress:
            progress(step + 1, max_passes)
        if not moved or time.perf_counter() - t0 > time_limit:
            break
    plan = ZonePlan(data, labels, "local search", "HEURISTIC", grades=grades)
    issues = [m for m in start.issues if not m.startswith("zone of units")]
    g = plan.guarantee()
    for rec in g[g["shortfall"] > 0].itertuples(index=False):
        issues.append(f"{rec.zone} grade {rec.grade_name}: {rec.shortfall:,} residents short of seats")
    return ZonePlan(
        data, labels, "local search", "HEURISTIC", tuple(issues), grades, time.perf_counter() - t0
    )
