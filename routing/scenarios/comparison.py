"""Several scenarios side by side, with savings against the first; the data every writer needs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely import LineString

from facilities import City
from facilities.schema import format_time
from routing.plan import Run
from routing.scenarios.evaluate import (
    ScenarioResult,
    no_worse_than,
    on_status_quo_runs,
    run_scenario,
)
from routing.scenarios.prepare import (
    Prepared,
    prepare,
)
from routing.scenarios.scenario import (
    DEFAULT_SCENARIOS,
    Progress,
    Scenario,
)
from routing.travel import (
    CompiledNetwork,
    route_geometry,
)


@dataclass(frozen=True, eq=False)
class Comparison:
    """Scenarios side by side, with savings against the first (the reference).

    Attributes
    ----------
    prepared
        The shared preparation.
    results
        One :class:`ScenarioResult` per scenario, the reference first.
    """

    prepared: Prepared
    results: tuple[ScenarioResult, ...]

    def summary(self) -> pd.DataFrame:
        """One row per scenario: the totals and the savings against the reference."""
        rows = [
            {
                "scenario": r.scenario.name,
                **r.metrics,
                "policy_violations": len(r.policy_violations),
                "clock_cap": ", ".join(r.clock_cap),
            }
            for r in self.results
        ]
        out = pd.DataFrame(rows)
        ref = out.iloc[0]
        out["buses_saved"] = ref["buses"] - out["buses"]
        out["dollars_saved_per_year"] = ref["dollars_per_year"] - out["dollars_per_year"]
        return out

    def by_sector(self) -> pd.DataFrame:
        """The sector tables of every scenario, stacked."""
        return pd.concat(
            [r.by_sector.assign(scenario=r.scenario.name) for r in self.results], ignore_index=True
        )

    def by_neighborhood(self) -> pd.DataFrame:
        """The neighborhood tables of every scenario, stacked (small cells blanked)."""
        return pd.concat(
            [r.by_neighborhood.assign(scenario=r.scenario.name) for r in self.results], ignore_index=True
        )

    def changes(self) -> pd.DataFrame:
        """Every school's old and new times and the reason, per scenario."""
        return pd.concat(
            [r.bells.changes.assign(scenario=r.scenario.name) for r in self.results], ignore_index=True
        )

    def text(self) -> str:
        """A few lines for people: buses and dollars per scenario, savings against the reference."""
        s = self.summary()
        engine = (
            "runs chosen among run sets with the chaining"
            if self.prepared.engine == "select"
            else "fixed runs (reference engine)"
        )
        lines = [
            f"{self.prepared.city_name}: {int(s['riders'].iloc[0]):,} riders, "
            f"{len(self.prepared.stops.stops):,} stops; {engine}"
        ]
        types = [b.id for b in self.prepared.data.bus_types]
        for _, row in s.iterrows():
            by_type = ", ".join(f"{int(row[f'buses_{t}'])} {t}" for t in types if row.get(f"buses_{t}", 0))
            lines.append(
                f"  {row['scenario']:<24} {int(row['buses']):>5} buses ({by_type})  "
                f"${row['dollars_per_year'] / 1e6:,.2f}M/yr  "
                f"saves {int(row['buses_saved'])} buses, ${row['dollars_saved_per_year'] / 1e6:,.2f}M/yr; "
                f"ride {row['mean_ride_min']:.1f} min (p95 {row['p95_ride_min']:.1f}); before 8:00 "
                "(elem/mid/high) "
                f"{int(row['before_8_elementary'])}/{int(row['before_8_middle'])}/{int(row['before_8_high'])}"
            )
            if row["mixed_runs"]:
                lines.append(
                    f"  {'':<24} {int(row['mixed_runs'])} runs carry students of several schools "
                    "(mixed loads)"
                )
        if len(self.prepared.infeasible):
            lines.append(f"  left out: {len(self.prepared.infeasible)} (see infeasible.csv)")
        capped = self.clock_cap()
        if capped:
            lines.append(
                f"  WARNING: the clock's safety cap stopped {', '.join(capped)}: this result may differ "
                "from the next run with the same seed"
            )
        return "\n".join(lines)

    def clock_cap(self) -> tuple[str, ...]:
        """The stages the clock's safety cap stopped in any scenario (empty: reproducible)."""
        return tuple(dict.fromkeys(c for r in self.results for c in r.clock_cap)) or self.prepared.clock_cap

    def runs_frame(self, *, homes: bool = True) -> gpd.GeoDataFrame:
        """Runs as street-following lines (straight legs without a network), per scenario and session.

        With ``homes=False`` a line skips the run's door-to-door and wheelchair stops (each at a
        student's home), going from the place before to the place after: no line leads to a home.
        A run left with fewer than two places has no line.
        """
        data, net = self.prepared.data, self.prepared.network
        skip = (
            frozenset()
            if homes
            else frozenset(k for k, s in enumerate(data.stops) if s.service in HOME_SERVICES)
        )
        geoms: dict[tuple[str, int], LineString | None] = {}
        rows = []
        xy = _location_xy(self.prepared)
        for r in self.results:
            for session, plan in r.plans.items():
                for b, bus in enumerate(plan.buses):
                    for k in bus.runs:
                        run = plan.runs[k]
                        key = (session, k)
                        if key not in geoms:
                            geoms[key] = _run_line(run, xy, net, skip=skip)
                        rows.append(
                            (
                                r.scenario.name,
                                session,
                                b + 1,
                                k + 1,
                                data.schools[run.schools[0]].id,
                                run.students,
                                format_time(run.start),
                                format_time(run.end),
                                geoms[key],
                            )
                        )
        cols = ["scenario", "session", "bus", "run", "school", "students", "start", "end", "geometry"]
        return gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs=self.prepared.crs)

    def stops_frame(self) -> gpd.GeoDataFrame:
        """Stops with their school, service and number of riders."""
        return self.prepared.stops.stops.drop(columns=["node"])

    def to_json(self) -> dict[str, object]:
        """Everything in :meth:`summary`, by sector, by neighborhood and the changes, as plain data."""
        return {
            "city": self.prepared.city_name,
            "engine": self.prepared.engine,
            "clock_cap": list(self.clock_cap()),
            "cost_model": self.prepared.costs.__dict__,
            "scenarios": _records(self.summary()),
            "by_sector": _records(self.by_sector()),
            "by_neighborhood": _records(self.by_neighborhood()),
            "changes": _records(self.changes()),
            "policy_violations": {r.scenario.name: list(r.policy_violations) for r in self.results},
            "infeasible": _records(
                self.prepared.infeasible.groupby(["kind", "reason"]).size().rename("count").reset_index()
            ),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


#: Stop services placed at a student's home: public run lines skip them.
HOME_SERVICES = frozenset({"door-to-door", "wheelchair"})


def _location_xy(prepared: Prepared) -> np.ndarray:
    """x/y of each matrix location (its first yard, school or stop)."""
    data = prepared.data
    xy = np.zeros((data.durations.shape[0], 2))
    stops = prepared.stops.stops
    school_xy = dict(zip(prepared.schools["id"], zip(prepared.schools["x"], prepared.schools["y"])))
    for s in data.schools:
        xy[s.location] = school_xy[s.id]
    stop_xy = dict(zip(stops["id"], zip(stops.geometry.x, stops.geometry.y)))
    for st in data.stops:
        xy[st.location] = stop_xy[st.id]
    return xy


def _run_line(
    run: Run, xy: np.ndarray, net: CompiledNetwork | None, *, skip: frozenset[int] = frozenset()
) -> LineString | None:
    pts = xy[[v.location for v in run.visits if v.stop is None or v.stop not in skip]]
    if skip and len(pts) < 2:
        return None
    if net is None:
        return LineString(pts if len(pts) > 1 else np.vstack([pts, pts]))
    nodes = net.node_ids[net.kdtree.query(pts)[1]]
    return route_geometry(net, list(nodes))


def _part(say: Progress, base: float, share: float) -> Progress:
    """``say`` for a part of the work: its fraction done maps to ``base + share * fraction``."""
    return lambda message, fraction: say(message, base + share * fraction)


def compare(
    city: City | Prepared,
    *,
    scenarios: Sequence[Scenario] = DEFAULT_SCENARIOS,
    time_limit: float = 60.0,
    seed: int = 0,
    progress: Progress | None = None,
    **prepare_options: Any,
) -> Comparison:
    """Run scenarios on a city (the first is the reference for savings): one call for CLI and app.

    Parameters
    ----------
    city
        A city, or a :class:`Prepared` to reuse.
    scenarios
        Default: status quo, charter and Catholic schools aligned to the district's tiers, optimized.
    time_limit
        Seconds in all: half for the runs (when preparing), the rest for the bell-time search.
    seed
        Seeds everything; the same seed gives the same result.
    progress
        Called with ``(message, fraction done)``.
    **prepare_options
        Passed to :func:`prepare` (``network``, ``sessions``, ``engine``, ``mixed_loads``, ``workers``).

    Returns
    -------
    Comparison

    Notes
    -----
    The status quo runs first, whatever its place in ``scenarios``: with the ``"select"`` engine the
    aligned and optimized bell searches count the runs its selection chose
    (:func:`on_status_quo_runs`), then one selection at the bells found. An optimized scenario
    that needs more buses than an aligned one of the same sectors takes its times and plans where
    its policy allows them (:func:`no_worse_than`).
    """
    say = progress or (lambda message, fraction: None)
    if isinstance(city, Prepared):
        prepared = city
        search = time_limit
    else:
        prepared = prepare(
            city,
            time_limit=time_limit / 2,
            seed=seed,
            progress=lambda m, f: say(m, 0.5 * f),
            **prepare_options,
        )
        search = time_limit / 2
    n_opt = max(sum(s.kind == "optimized" for s in scenarios), 1)
    # the status quo first: the bell searches of the others count the runs its selection chose
    order = sorted(range(len(scenarios)), key=lambda k: scenarios[k].kind != "status_quo")
    results: dict[int, ScenarioResult] = {}
    for done, k in enumerate(order):
        scenario = scenarios[k]
        if scenario.kind in ("aligned", "optimized"):
            quo = next((r for r in results.values() if r.scenario.kind == "status_quo"), None)
            prepared = on_status_quo_runs(
                prepared, plans=quo.plans if quo else None, time_limit=search / n_opt
            )
        base = 0.5 + 0.5 * done / len(scenarios)
        results[k] = run_scenario(
            prepared,
            scenario,
            time_limit=search / n_opt,
            seed=seed,
            progress=_part(say, base, 0.5 / len(scenarios)),
        )
    for k, r in results.items():  # optimized never above an aligned scenario of the same sectors
        if r.scenario.kind == "optimized":
            for a in results.values():
                if a.scenario.kind == "aligned" and _same_sectors(a.scenario, r.scenario):
                    r = no_worse_than(prepared, r, a)
            results[k] = r
    return Comparison(prepared, tuple(results[k] for k in range(len(scenarios))))


def _same_sectors(a: Scenario, b: Scenario) -> bool:
    """Whether two scenarios align the same sectors onto the same tiers the same way."""
    return (a.sectors, a.to, a.align) == (b.sectors, b.to, b.align)
