"""Site selection: where should ``p`` new seats or campuses go to minimize students' travel.

A p-median over candidate buildings: open ``p`` sites (besides any already open) so that the
weighted travel of every demand point (a block, a neighborhood, a group of students) to the site
serving it is least.

Formulations (solved exactly with HiGHS through :func:`scipy.optimize.milp`):

- **Uncapacitated** (each demand goes to its nearest open site): the compact "radius" formulation
  of Elloumi (2010) / Cornuéjols, Nemhauser and Wolsey (1980). For each demand point *i* with
  distinct site distances ``D_i1 < D_i2 < ...``, a variable ``z_ik`` says "no open site within
  ``D_ik``"::

      min  sum_i w_i (D_i1 + sum_k (D_i,k+1 - D_ik) z_ik)
      s.t. z_ik + sum_{j : d_ij <= D_ik} y_j >= 1,   sum_j y_j = p,   y binary, z >= 0

  written in its sparse, equally tight form ``z_i1 + sum_{d_ij = D_i1} y_j >= 1`` and
  ``z_ik - z_i,k-1 + sum_{d_ij = D_ik} y_j >= 0`` (each site appears once per demand point).

  Levels that an open site always reaches are dropped (among the ``m - p + 1`` nearest sites
  one is open; an already open site caps the distance), so the model is far smaller than the
  classic one with an ``x_ij`` per pair.
- **Capacitated** (sites with seats): the classic formulation, each site serving at most its
  capacity of weight, ``x_ij <= y_j``. ``single_source=True`` sends every demand point wholly to one
  site (binary ``x``: a block's students stay together); ``False`` lets demand split (continuous
  ``x``), a lower bound on the single-source answer.

Example::

    model = PMedian.from_cost_matrix(cost, weights, p=2, name="new K-8")
    result = model.solve(time_limit=30, seed=0)
    result.sites, result.objective, result.optimal
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from facilities.travel import Travel, describe, travel_seconds

if TYPE_CHECKING:
    from facilities.city import City

__all__ = ["PMedian", "SitingResult", "CampusSiting", "site_campuses"]

#: A built model: costs, integrality, bounds, constraints, a decoder x -> (open sites, assignment),
#: and the constant left out of the objective.
_Model = tuple[np.ndarray, np.ndarray, Bounds, list[LinearConstraint], Callable, float]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SitingResult:
    """A chosen set of sites.

    Attributes
    ----------
    sites
        Indices of the open sites (already open ones included), ascending.
    site_ids
        Their ids.
    assignment
        ``(n,)`` index of the site serving each demand point (for split capacitated demand, the
        site serving most of it).
    objective
        Weighted travel of the solution (the model's objective).
    bound
        The best proven lower bound.
    optimal
        Whether the solution is proven optimal.
    seconds
        Wall time of the solve, model building included.
    formulation
        ``"compact"`` or ``"classic"``.
    """

    sites: np.ndarray
    site_ids: np.ndarray
    assignment: np.ndarray
    objective: float
    bound: float
    optimal: bool
    seconds: float
    formulation: str

    @property
    def gap(self) -> float:
        """Relative gap between the objective and the bound (0 when proven optimal)."""
        return 0.0 if self.optimal else max(0.0, self.objective - self.bound) / max(abs(self.objective), 1e-9)


@dataclass(frozen=True, eq=False)
class PMedian:
    """A p-median problem over candidate sites.

    Build it with :meth:`from_cost_matrix` or :meth:`from_geodataframe`.

    Parameters
    ----------
    cost
        ``(n, m)`` travel from each demand point to each candidate site (metres or seconds);
        ``inf`` where a site cannot serve a point.
    weights
        ``(n,)`` demand of each point (students).
    p
        Number of sites to open, besides the ``fixed`` ones.
    capacities
        ``(m,)`` weight each site can serve, or ``None`` for no limits.
    fixed
        ``(m,)`` sites already open (existing schools), or ``None``.
    single_source
        With capacities: serve each demand point from one site.
    name
        A label for tables.
    demand_ids, site_ids
        Ids of the rows and columns (default 0..n-1, 0..m-1).
    """

    cost: np.ndarray
    weights: np.ndarray
    p: int
    capacities: np.ndarray | None = None
    fixed: np.ndarray | None = None
    single_source: bool = True
    name: str = "p-median"
    demand_ids: np.ndarray | None = None
    site_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, m = np.shape(self.cost) if np.ndim(self.cost) == 2 else (0, 0)
        problems = []
        if np.ndim(self.cost) != 2 or m == 0:
            problems.append(f"cost has shape {np.shape(self.cost)}; give an (n demand, m sites) matrix")
        if np.shape(self.weights) != (n,):
            problems.append(f"weights has shape {np.shape(self.weights)}; give one weight per cost row ({n})")
        elif (np.asarray(self.weights) < 0).any() or not np.isfinite(self.weights).all():
            problems.append(
                f"weights row {int(np.flatnonzero(~(np.asarray(self.weights) >= 0))[0])} is negative "
                "or missing; give 0 or more"
            )
        if np.ndim(self.cost) == 2 and (np.isnan(self.cost).any() or (np.asarray(self.cost) < 0).any()):
            row = int(np.flatnonzero((np.isnan(self.cost) | (np.asarray(self.cost) < 0)).any(1))[0])
            problems.append(
                f"cost row {row} has a negative or missing travel; use inf where a site cannot serve"
            )
        for label, arr in (("capacities", self.capacities), ("fixed", self.fixed)):
            if arr is not None and np.shape(arr) != (m,):
                problems.append(f"{label} has shape {np.shape(arr)}; give one value per site ({m})")
        n_fixed = 0 if self.fixed is None or np.shape(self.fixed) != (m,) else int(np.sum(self.fixed))
        if not isinstance(self.p, (int, np.integer)) or not 0 <= self.p <= m - n_fixed:
            problems.append(
                f"p = {self.p!r} must be a whole number 0..{m - n_fixed} (sites not already open)"
            )
        if problems:
            raise ValueError(f"PMedian {self.name!r}: " + "; ".join(problems))

    @classmethod
    def from_cost_matrix(
        cls,
        cost: np.ndarray,
        weights: np.ndarray,
        p: int,
        *,
        capacities: np.ndarray | None = None,
        fixed: np.ndarray | None = None,
        single_source: bool = True,
        name: str = "p-median",
        demand_ids: Sequence[object] | np.ndarray | None = None,
        site_ids: Sequence[object] | np.ndarray | None = None,
    ) -> PMedian:
        """Build the problem from a travel matrix (see the class parameters)."""
        cost = np.asarray(cost, dtype=float)
        return cls(
            cost=cost,
            weights=np.asarray(weights, dtype=float),
            p=int(p),
            capacities=None if capacities is None else np.asarray(capacities, dtype=float),
            fixed=None if fixed is None else np.asarray(fixed, dtype=bool),
            single_source=single_source,
            name=name,
            demand_ids=np.asarray(
                demand_ids if demand_ids is not None else np.arange(cost.shape[0]), dtype=object
            ),
            site_ids=np.asarray(site_ids if site_ids is not None else np.arange(cost.shape[1]), dtype=object),
        )

    @classmethod
    def from_geodataframe(
        cls,
        demand: pd.DataFrame,
        sites: pd.DataFrame,
        *,
        weights_col: str,
        p: int,
        travel: Callable[[pd.DataFrame, pd.DataFrame], np.ndarray] | np.ndarray | None = None,
        capacities_col: str | None = None,
        fixed_col: str | None = None,
        id_col: str = "id",
        single_source: bool = True,
        name: str = "p-median",
    ) -> PMedian:
        """Build the problem from demand points and candidate sites (GeoDataFrames in a metric CRS).

        Parameters
        ----------
        demand, sites
            Demand points (e.g. blocks with a student count) and candidate buildings.
        weights_col
            Demand column with the weights.
        p
            Sites to open besides the fixed ones.
        travel
            ``(n, m)`` travel matrix, or a function ``travel(demand, sites) -> matrix`` (e.g. street
            travel times); ``None`` uses straight-line distance between centroids.
        capacities_col, fixed_col
            Site columns with capacities and an "already open" flag.
        id_col
            Column with ids in both frames (row numbers when absent).
        """
        for frame, label, cols in (
            (demand, "demand", [weights_col]),
            (sites, "sites", [capacities_col, fixed_col]),
        ):
            missing = [c for c in cols if c is not None and c not in frame.columns]
            if missing:
                raise ValueError(f"{label} has no column {missing[0]!r}; pass the name of an existing column")
        if travel is None:
            a, b = demand.geometry.centroid, sites.geometry.centroid
            matrix = np.hypot(
                a.x.to_numpy()[:, None] - b.x.to_numpy(), a.y.to_numpy()[:, None] - b.y.to_numpy()
            )
        else:
            matrix = np.asarray(travel(demand, sites) if callable(travel) else travel, dtype=float)
        ids = lambda f: f[id_col].to_numpy() if id_col in f.columns else np.arange(len(f))  # noqa: E731
        return cls.from_cost_matrix(
            matrix,
            demand[weights_col].to_numpy(float),
            p,
            capacities=None if capacities_col is None else sites[capacities_col].to_numpy(float),
            fixed=None if fixed_col is None else sites[fixed_col].fillna(False).to_numpy(bool),
            single_source=single_source,
            name=name,
            demand_ids=ids(demand),
            site_ids=ids(sites),
        )

    @property
    def n_demand(self) -> int:
        """Number of demand points."""
        return self.cost.shape[0]

    @property
    def n_sites(self) -> int:
        """Number of candidate sites."""
        return self.cost.shape[1]

    def solve(self, *, time_limit: float = 60.0, seed: int = 0) -> SitingResult:
        """Choose the sites.

        Parameters
        ----------
        time_limit
            Seconds for the solver; the best solution found is returned with ``optimal=False``
            and its gap when the limit is reached.
        seed
            Kept for the solver interface: HiGHS's branch and bound is deterministic, so the same
            problem always gives the same answer.

        Raises
        ------
        ValueError
            When no choice of sites can serve every demand point (naming a point no site can
            reach, or the missing capacity).
        """
        del seed  # HiGHS is deterministic; see the docstring
        t0 = time.perf_counter()
        self._check_feasible()
        formulation = "compact" if self.capacities is None else "classic"
        build = self._compact if self.capacities is None else self._classic
        c, integrality, bounds, constraints, decode, offset = build()
        res = milp(
            c,
            integrality=integrality,
            bounds=bounds,
            constraints=constraints,
            options={"time_limit": float(time_limit), "mip_rel_gap": 1e-9},
        )
        if res.x is None:
            raise RuntimeError(
                f"{self.name}: no solution within {time_limit} s ({res.message}); allow more time"
            )
        open_mask, assignment = decode(res.x)
        sites = np.flatnonzero(open_mask)
        weights = self.weights
        objective = float(np.sum(weights * self.cost[np.arange(self.n_demand), assignment]))
        if formulation == "classic" and not self.single_source:
            objective = float(res.fun)
        bound = offset + float(
            res.mip_dual_bound if getattr(res, "mip_dual_bound", None) is not None else res.fun
        )
        logger.debug(
            "%s: %s formulation, status %s, objective %.6g", self.name, formulation, res.status, objective
        )
        return SitingResult(
            sites=sites,
            site_ids=self.site_ids[sites] if self.site_ids is not None else sites,
            assignment=assignment,
            objective=objective,
            bound=min(bound, objective),
            optimal=res.status == 0,
            seconds=time.perf_counter() - t0,
            formulation=formulation,
        )

    def _fixed(self) -> np.ndarray:
        return (
            np.zeros(self.n_sites, dtype=bool) if self.fixed is None else np.asarray(self.fixed, dtype=bool)
        )

    def _check_feasible(self) -> None:
        unreachable = np.flatnonzero(~np.isfinite(self.cost).any(1) & (self.weights > 0))
        if unreachable.size:
            who = self.demand_ids[unreachable[0]] if self.demand_ids is not None else unreachable[0]
            raise ValueError(
                f"{self.name}: demand point {who!r} cannot reach any site; give it a finite travel"
            )
        if self.p + self._fixed().sum() == 0 and self.weights.sum() > 0:
            raise ValueError(f"{self.name}: no site is open or to be opened (p = 0); raise p")
        if self.capacities is not None:
            biggest = (
                np.sort(self.capacities[~self._fixed()])[::-1][: self.p].sum()
                + self.capacities[self._fixed()].sum()
            )
            if biggest < self.weights.sum():
                raise ValueError(
                    f"{self.name}: the {self.p} largest sites and the open ones hold {biggest:g} "
                    f"but the demand is {self.weights.sum():g}; raise p or capacities"
                )

    def _compact(self) -> _Model:
        """The radius formulation: variables y (sites) then z (levels per demand point)."""
        m = self.n_sites
        fixed = self._fixed()
        cost = self.cost
        order = np.argsort(cost, axis=1, kind="stable")
        dist = np.take_along_axis(cost, order, 1)
        # the distance every solution meets: the (m - p - fixed + 1)-th nearest, or the nearest fixed site
        reach = np.minimum(dist[:, m - self.p - int(fixed.sum())], np.where(fixed, cost, np.inf).min(1))
        base, rows, cols, vals, z_cost, z_upper, first_rows = 0.0, [], [], [], [], [], []
        n_z = 0
        for i in np.flatnonzero(self.weights > 0):
            d = dist[i]
            # level k: "no open site within d[k]"; a new level starts where the distance grows
            ends = np.flatnonzero(np.r_[d[1:] > d[:-1], True])  # last index of each distinct distance
            levels = ends[d[ends] < reach[i]]
            base += self.weights[i] * d[0]
            if not levels.size:
                continue
            k = levels.size
            # row r: z_r - z_(r-1) + (sites at distance level r) >= 0, and z_0 + (nearest sites) >= 1
            at = np.searchsorted(levels, np.arange(levels[-1] + 1))
            rows += [n_z + at, n_z + np.arange(k), n_z + np.arange(1, k)]
            cols += [order[i, : levels[-1] + 1], m + n_z + np.arange(k), m + n_z + np.arange(k - 1)]
            vals += [np.ones(levels[-1] + 1), np.ones(k), -np.ones(k - 1)]
            step = d[levels + 1] - d[levels]  # inf: beyond lies no site, so the point must be served
            z_cost.append(np.where(np.isfinite(step), self.weights[i] * step, 0.0))
            z_upper.append(np.isfinite(step).astype(float))
            first_rows.append(n_z)
            n_z += k
        cat = lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype)  # noqa: E731
        a = sp.csr_array((cat(vals, float), (cat(rows, int), cat(cols, int))), shape=(n_z, m + n_z))
        c = np.r_[np.zeros(m), cat(z_cost, float)]
        lower = np.zeros(n_z)
        lower[cat([first_rows], int)] = 1.0
        cardinality = sp.csr_array(np.r_[np.ones(m), np.zeros(n_z)][None, :])
        total = self.p + int(fixed.sum())
        constraints = [LinearConstraint(a, lower, np.inf), LinearConstraint(cardinality, total, total)]
        bounds = Bounds(np.r_[fixed.astype(float), np.zeros(n_z)], np.r_[np.ones(m), cat(z_upper, float)])
        integrality = np.r_[np.ones(m), np.zeros(n_z)]

        def decode(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            open_mask = x[:m] > 0.5
            masked = np.where(open_mask[None, :], cost, np.inf)
            return open_mask, masked.argmin(1)

        return c, integrality, bounds, constraints, decode, base

    def _classic(self) -> _Model:
        """The capacitated formulation: y (sites) then x (demand × site, finite travel only)."""
        n, m = self.n_demand, self.n_sites
        fixed = self._fixed()
        assert self.capacities is not None
        i, j = np.nonzero(np.isfinite(self.cost))
        n_x = len(i)
        w = self.weights
        c = np.r_[np.zeros(m), w[i] * self.cost[i, j]]
        x_cols = m + np.arange(n_x)
        assign = sp.csr_array((np.ones(n_x), (i, x_cols)), shape=(n, m + n_x))
        # capacity: sum_i w_i x_ij - C_j y_j <= 0
        cap = sp.csr_array(
            (np.r_[w[i], -self.capacities], (np.r_[j, np.arange(m)], np.r_[x_cols, np.arange(m)])),
            shape=(m, m + n_x),
        )
        # x_ij <= y_j
        link = sp.csr_array(
            (np.r_[np.ones(n_x), -np.ones(n_x)], (np.r_[np.arange(n_x), np.arange(n_x)], np.r_[x_cols, j])),
            shape=(n_x, m + n_x),
        )
        cardinality = sp.csr_array(np.r_[np.ones(m), np.zeros(n_x)][None, :])
        total = self.p + int(fixed.sum())
        constraints = [
            LinearConstraint(assign, 1, 1),
            LinearConstraint(cap, -np.inf, 0),
            LinearConstraint(link, -np.inf, 0),
            LinearConstraint(cardinality, total, total),
        ]
        bounds = Bounds(np.r_[fixed.astype(float), np.zeros(n_x)], np.ones(m + n_x))
        integrality = np.r_[np.ones(m), np.full(n_x, 1 if self.single_source else 0)]

        def decode(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            share = np.zeros((n, m))
            share[i, j] = x[m:]
            return x[:m] > 0.5, share.argmax(1)

        return c, integrality, bounds, constraints, decode, 0.0


#: Students are grouped into square cells of this side (metres) before siting; homes never leave the solver.
CELL = 400.0


@dataclass(frozen=True)
class CampusSiting:
    """Where new campuses should go: the chosen buildings and how the answer was found.

    Attributes
    ----------
    chosen
        The chosen buildings (GeoDataFrame in the city's CRS) with ``students_served`` and
        ``mean_travel`` (minutes).
    result
        The p-median answer.
    summary
        Counts and settings for reports (no student-level data).
    """

    chosen: pd.DataFrame
    result: SitingResult
    summary: dict

    def table(self) -> pd.DataFrame:
        """The chosen buildings as a plain table."""
        columns = [
            "id",
            "name",
            "owner",
            "status",
            "neighborhood",
            "spare_seats",
            "students_served",
            "mean_travel",
        ]
        return pd.DataFrame(self.chosen[columns])


def site_campuses(
    city: City,
    *,
    p: int,
    grades: Sequence[int] | None = None,
    capacitated: bool = False,
    travel: Travel = None,
    time_limit: float = 60.0,
) -> CampusSiting:
    """Choose ``p`` of a city's vacant and under-used buildings for new campuses, minimizing students' travel.

    Parameters
    ----------
    city
        A :class:`facilities.City` with students and buildings.
    p
        How many campuses to open.
    grades
        Only students of these grades travel to the new campuses (default all).
    capacitated
        A campus seats at most its building's spare seats (from :func:`facilities.capacity.utilization`).
    travel
        A travel model or ``travel(origins, destinations) -> seconds`` on points
        (:data:`facilities.travel.Travel`); ``None`` uses the straight-line model. The summary's
        ``travel`` says which.
    time_limit
        Seconds for the solver.

    Raises
    ------
    ValueError
        When there are no such students, fewer candidates than ``p``, or too few seats (saying which).
    """
    import geopandas as gpd

    from facilities.capacity import utilization

    students = city.students if grades is None else city.students[city.students["grade"].isin(list(grades))]
    if not len(students):
        raise ValueError(
            f"{city.name} has no students{' in those grades' if grades else ''} to site campuses for"
        )
    xy = np.column_stack([students.geometry.x, students.geometry.y])
    cells = pd.DataFrame(
        {"cx": np.floor(xy[:, 0] / CELL), "cy": np.floor(xy[:, 1] / CELL), "x": xy[:, 0], "y": xy[:, 1]}
    )
    demand = (
        cells.groupby(["cx", "cy"], sort=True)
        .agg(x=("x", "mean"), y=("y", "mean"), students=("x", "size"))
        .reset_index(drop=True)
    )
    demand = gpd.GeoDataFrame(demand, geometry=gpd.points_from_xy(demand["x"], demand["y"]), crs=city.crs)
    use = utilization(city).buildings.set_index("building")
    candidates = city.buildings[city.buildings["status"].isin(["vacant", "under-used"])].copy()
    candidates["spare_seats"] = use.loc[candidates["id"], "spare_seats"].to_numpy()
    if len(candidates) < p:
        raise ValueError(
            f"{city.name} has {len(candidates)} vacant or under-used buildings, fewer than p = {p}"
        )

    def matrix(d: pd.DataFrame, s: pd.DataFrame) -> np.ndarray:
        return travel_seconds(travel, d.geometry, s.geometry)

    problem = PMedian.from_geodataframe(
        demand,
        candidates,
        weights_col="students",
        p=p,
        travel=matrix,
        capacities_col="spare_seats" if capacitated else None,
        name=f"{city.name} campuses",
    )
    result = problem.solve(time_limit=time_limit, seed=0)
    weights = demand["students"].to_numpy()
    served = np.bincount(result.assignment, weights=weights, minlength=len(candidates))
    per = np.asarray(problem.cost)[np.arange(len(demand)), result.assignment] * weights
    scale = 60.0
    chosen = candidates.iloc[result.sites].copy()
    chosen["students_served"] = served[result.sites].astype(int)
    chosen["mean_travel"] = [
        round(per[result.assignment == k].sum() / max(served[k], 1) / scale, 1) for k in result.sites
    ]
    summary = {
        "p": p,
        "students": int(weights.sum()),
        "candidates": len(candidates),
        "sites": list(map(str, chosen["id"])),
        "optimal": bool(result.optimal),
        "gap": float(result.gap),
        "seconds": round(result.seconds, 2),
        "travel_unit": "minutes",
        "travel": describe(travel),
        "capacitated": capacitated,
        "grades": list(grades) if grades else "all",
        "cell_m": CELL,
    }
    return CampusSiting(chosen=chosen, result=result, summary=summary)
