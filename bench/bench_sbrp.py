"""The school bus routing benchmark: our buses against BiRD, Chen et al. and Park et al.

Every plan (single and mixed loads) is written as an itinerary CSV and checked by
:mod:`routing.check` (independent of the solver). The reference measured in the same run is the
plain pipeline: one run set per school (fewest runs, the same PyVRP iterations per run set) and
the exact chaining.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "sbrp"
INSTANCES = [f"RSRB0{i}" for i in range(1, 9)] + [f"CSCB0{i}" for i in range(1, 9)]


def _park_buses(folder: Path, max_ride: int) -> int:
    sol = pd.read_csv(folder / f"solution_{max_ride}.txt", sep=r"\s+")
    return int(sol["Veh_ID"].nunique())


def run(quick: bool) -> None:
    """Print, per instance and ride limit: buses (ours single and mixed, plain, BiRD, Chen, Park
    mixed), time, check."""
    from routing.buses import DEFAULT_ALTERNATIVES, solve
    from routing.check import check_plan
    from routing.sbrp import read_instance

    if not ROOT.exists():
        print(f"skipped: {ROOT} not found (the shared benchmark data)")
        return
    table = pd.read_csv(ROOT / "bird_results" / "pnas-tableS1.csv")
    published = table.pivot_table(index=["benchmark", "max_riding_time"], columns="exp_name", values="buses")
    instances = ["RSRB01", "CSCB01", "RSRB03"] if quick else INSTANCES
    rides = [2700] if quick else [2700, 5400]
    # time limit: 110 s at 250 stops, 260 s at 1000, 280 s at 2000 (the target: 5 minutes an instance)
    base, per_stop = (20.0, 0.05) if quick else (60.0, 0.2)
    recipes = len(DEFAULT_ALTERNATIVES)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for ride in rides:
            for name in instances:
                folder = ROOT / name[:4] / name
                data = read_instance(folder, max_ride=ride)
                limit = min(280.0, base + per_stop * len(data.stops))
                t0 = time.perf_counter()
                plan = solve(data, time_limit=limit, seed=0, alternatives=recipes)
                secs = time.perf_counter() - t0
                t0 = time.perf_counter()
                mixed = solve(data, time_limit=limit, seed=0, alternatives=recipes, mixed_loads=True)
                mixed_secs = time.perf_counter() - t0
                plain = solve(data, time_limit=limit / recipes, seed=0, alternatives=1)  # the same routing effort per run set
                checks = []
                for tag, p in (("single", plan), ("mixed", mixed)):
                    report = check_plan(folder, p.to_bird_csv(Path(tmp) / f"{name}_{ride}_{tag}.csv"), max_ride=ride)
                    checks.append("ok" if report.ok else f"{tag}: {len(report.violations)} violations")
                pub = published.loc[(name, float(ride))]
                rows.append({"instance": name, "max_ride": ride, "ours": plan.n_buses, "ours mixed": mixed.n_buses, "plain": plain.n_buses, "BiRD": int(pub["many"]), "Chen": int(pub["Chen"]), "Park (mixed)": _park_buses(folder, ride), "seconds": round(secs, 1), "mixed s": round(mixed_secs, 1), "checked": ", ".join(dict.fromkeys(checks))})
                print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
    frame = pd.DataFrame(rows)
    print()
    print(frame.to_string(index=False))
    totals = frame.groupby("max_ride")[["ours", "ours mixed", "plain", "BiRD", "Chen", "Park (mixed)", "seconds", "mixed s"]].sum()
    print("\nTotals over the instances run:")
    print(totals.to_string())
