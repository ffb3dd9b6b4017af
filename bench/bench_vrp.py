"""The routing step alone: gap to the best-known solution at a fixed time, OR-Tools and PyVRP.

Both solvers run through :func:`routing.runs.solve_vrp`, the code path of the school runs, on
Solomon's VRPTW instances (distances x10, rounded; vehicles first through a large fixed cost,
compared with the best-known vehicles and distance) and Uchoa et al.'s X CVRP instances
(rounded Euclidean; distance only). Gaps are on the distances recomputed from the routes.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "vrp"
SOLOMON = ["c101", "r101", "rc101", "c201", "r201", "rc201", "r105", "rc105"]
X = ["X-n101-k25", "X-n110-k13", "X-n129-k18", "X-n153-k22", "X-n200-k36", "X-n251-k28"]


def _solomon(name: str):
    from routing.runs import VrpInput

    data = json.loads(next(ROOT.glob(f"solomon/*/*/{name}.json")).read_text())
    nodes = data["customers"]
    xy = np.array([[c["x"], c["y"]] for c in nodes], dtype=float)
    exact = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    d = np.rint(exact * 10).astype(np.int64)
    col = lambda k: np.array([c[k] for c in nodes], dtype=np.int64) * 10  # noqa: E731
    demand = np.array([c["demand"] for c in nodes], dtype=np.int64)
    inp = VrpInput(
        d,
        d,
        demand,
        col("cost"),
        col("earliest"),
        col("latest"),
        int(data["capacity"]),
        10**7,
        int(data["vehicle-nr"]),
        int(col("latest")[0]),
    )
    return inp, exact


def _x(name: str):
    from routing.runs import VrpInput

    text = (ROOT / "cvrplib_x" / f"{name}.vrp").read_text()
    cap = int(re.search(r"CAPACITY\s*:\s*(\d+)", text).group(1))
    coords = re.search(r"NODE_COORD_SECTION(.*?)DEMAND_SECTION", text, re.S).group(1).split()
    demands = re.search(r"DEMAND_SECTION(.*?)DEPOT_SECTION", text, re.S).group(1).split()
    xy = np.array(coords, dtype=float).reshape(-1, 3)[:, 1:]
    demand = np.array(demands, dtype=np.int64).reshape(-1, 2)[:, 1]
    d = np.rint(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    n = len(xy)
    zero = np.zeros(n, dtype=np.int64)
    big = int(d.sum())
    return VrpInput(d, d, demand, zero, zero, np.full(n, big), cap, 0, n - 1, big), d.astype(float)


def _length(routes, exact) -> float:
    return float(
        sum(
            exact[0, r[0]] + sum(exact[a, b] for a, b in zip(r, r[1:])) + exact[r[-1], 0] for r in routes if r
        )
    )


def run(quick: bool) -> None:
    """Print one row per instance and solver: vehicles, distance, gap to best-known, seconds."""
    from routing.runs import SOLVERS, solve_vrp

    if not ROOT.exists():
        print(f"skipped: {ROOT} not found (the shared benchmark data)")
        return
    seconds = 2.0 if quick else 10.0
    bks_s = pd.read_csv(ROOT / "solomon" / "bks_from_results.tsv", sep="\t").set_index("instance")
    bks_x = pd.read_csv(ROOT / "cvrplib_x" / "bks.tsv", sep="\t").set_index("instance")
    jobs = [("solomon", n) for n in (SOLOMON[:2] if quick else SOLOMON)] + [
        ("X", n) for n in (X[:2] if quick else X)
    ]
    rows = []
    for family, name in jobs:
        inp, exact = _solomon(name) if family == "solomon" else _x(name)
        if family == "solomon":
            ref_v, ref_d = (
                (int(bks_s.loc[name, "vehicles"]), float(bks_s.loc[name, "distance_2dp"]))
                if name in bks_s.index
                else (math.nan, math.nan)
            )
        else:
            ref_v, ref_d = (
                int(bks_x.loc[name, "routes_in_bks"]),
                float(bks_x.loc[name, "bks_cost_rounded_euc"]),
            )
        for solver in SOLVERS:
            t0 = time.perf_counter()
            # the iteration budget of the school runs is small; here the clock decides
            routes = solve_vrp(inp, solver=solver, time_limit=seconds, seed=1, iterations=10**9)
            secs = time.perf_counter() - t0
            dist = _length(routes, exact) if routes else math.nan
            rows.append(
                {
                    "family": family,
                    "instance": name,
                    "solver": solver,
                    "vehicles": len(routes),
                    "bks_vehicles": ref_v,
                    "distance": round(dist, 1),
                    "bks": ref_d,
                    "gap_%": round(100 * (dist / ref_d - 1), 2),
                    "seconds": round(secs, 1),
                }
            )
            print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
    frame = pd.DataFrame(rows)
    print()
    print(frame.to_string(index=False))
    print(f"\nGap to best-known at {seconds:.0f} s per instance (mean over instances solved; solved/run):")
    summary = frame.groupby(["family", "solver"]).agg(
        mean_gap_pct=("gap_%", "mean"),
        solved=("vehicles", lambda v: int((v > 0).sum())),
        run=("vehicles", "size"),
    )
    print(summary.round(2).to_string())
