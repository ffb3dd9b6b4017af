"""Ride times of a bus plan, per student: the distribution per school and sector, and who rides too long.

The rides are read from the plan itself (each run's visits, after its bells were shifted and its
runs chained), so they change whenever the plan does: a plan whose runs were reordered, merged or
moved gives its own distribution. A student's ride follows the engine's convention
(:meth:`routing.problem.Run.ride_times`): from the moment the bus leaves their stop to its arrival
at school (AM), or from leaving school to reaching their stop (PM).

>>> from routing.rides import stop_rides, ride_distribution
>>> rides = stop_rides(result.plans, sectors=sector_of)  # doctest: +SKIP
>>> ride_distribution(rides, by="sector", max_ride=3600)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from routing.problem import BusPlan

__all__ = ["PERCENTILES", "ride_distribution", "stop_rides"]

#: Percentiles of the ride reported per group (of students, not of stops).
PERCENTILES: tuple[int, ...] = (50, 90, 95)


def stop_rides(
    plans: BusPlan | Mapping[str, BusPlan], *, sectors: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One row per stop served by a plan: its students and their ride.

    Parameters
    ----------
    plans
        A plan, or plans by session (``{"am": ..., "pm": ...}``, e.g. ``ScenarioResult.plans``).
    sectors
        School id -> sector; without it the ``sector`` column is ``"unknown"``.

    Returns
    -------
    pandas.DataFrame
        ``session``, ``school``, ``sector``, ``stop``, ``service``, ``students``, ``ride_s`` and
        ``max_ride_s`` (the plan's limit).
    """
    items = {plans.session: plans}.items() if isinstance(plans, BusPlan) else plans.items()
    rows = []
    for session, plan in items:
        data = plan.data
        for run in plan.runs:
            pickups = [(v.school, v.stop) for v in run.visits if v.stop is not None]
            for (at_school, at_stop), (students, seconds) in zip(pickups, run.ride_times(), strict=True):
                school = data.schools[at_school].id
                sector = (sectors or {}).get(school, "unknown")
                stop = data.stops[at_stop]
                rows.append(
                    (session, school, sector, stop.id, stop.service, students, seconds, data.max_ride)
                )
    cols = ["session", "school", "sector", "stop", "service", "students", "ride_s", "max_ride_s"]
    return pd.DataFrame(rows, columns=cols).astype({"students": int, "ride_s": float, "max_ride_s": float})


def ride_distribution(
    rides: pd.DataFrame,
    *,
    by: str | Sequence[str] = "school",
    max_ride: float | None = None,
    percentiles: Sequence[int] = PERCENTILES,
) -> pd.DataFrame:
    """The ride distribution of students (weighted by the students of each stop) per group.

    Parameters
    ----------
    rides
        From :func:`stop_rides`.
    by
        Column(s) to group by: ``"school"``, ``"sector"``, ``["session", "sector"]``...
    max_ride
        The limit in seconds; default: each stop's own ``max_ride_s``.
    percentiles
        Percentiles to report, of students.

    Returns
    -------
    pandas.DataFrame
        Per group: ``students``, ``mean_min``, ``p<k>_min`` for each percentile, ``max_min`` and
        ``above_limit`` (students riding longer than the limit: 0 in a feasible plan).
    """
    keys = [by] if isinstance(by, str) else list(by)
    limit = rides["max_ride_s"] if max_ride is None else pd.Series(float(max_ride), index=rides.index)
    frame = rides.assign(_over=np.where(rides["ride_s"] > limit + 1e-6, rides["students"], 0))
    rows = []
    for key, g in frame.groupby(keys, sort=True):
        minutes = np.repeat(g["ride_s"].to_numpy() / 60, g["students"].to_numpy())
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row["students"] = int(g["students"].sum())
        row["mean_min"] = float(minutes.mean()) if len(minutes) else float("nan")
        for p in percentiles:
            row[f"p{p}_min"] = float(np.percentile(minutes, p)) if len(minutes) else float("nan")
        row["max_min"] = float(minutes.max()) if len(minutes) else float("nan")
        row["above_limit"] = int(g["_over"].sum())
        rows.append(row)
    cols = keys + ["students", "mean_min"] + [f"p{p}_min" for p in percentiles] + ["max_min", "above_limit"]
    return pd.DataFrame(rows, columns=cols)
