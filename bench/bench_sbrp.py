"""The school bus routing benchmark: our buses against BiRD, Chen et al. and Park et al.

Every plan (single loads, and mixed loads: :func:`~routing.buses.mix_loads` applied to the
single-load plan) is written as an itinerary CSV and checked by
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
    measure(quick, arrive_by="early")


def measure(quick: bool, *, arrive_by: str) -> None:
    """The table of :func:`run`, with the unloading ending by ``AMEARLY`` (BiRD's convention:
    every column) or by ``AMLATE`` (Park et al.'s window: ours and Park's only)."""
    from routing.buses import DEFAULT_ALTERNATIVES, mix_loads, solve
    from routing.check import check_plan
    from routing.sbrp import read_instance

    if not ROOT.exists():
        print(f"skipped: {ROOT} not found (the shared benchmark data)")
        return
    table = pd.read_csv(ROOT / "bird_results" / "pnas-tableS1.csv")
    published = table.pivot_table(index=["benchmark", "max_riding_time"], columns="exp_name", values="buses")
    instances = ["RSRB01", "CSCB01", "RSRB03"] if quick else INSTANCES
    rides = [2700] if quick else [2700, 5400]
    bird = arrive_by == "early"
    # time limit: 110 s at 250 stops, 260 s at 1000, 280 s at 2000 (the target: 5 minutes an instance)
    base, per_stop = (20.0, 0.05) if quick else (60.0, 0.2)
    recipes = len(DEFAULT_ALTERNATIVES)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for ride in rides:
            for name in instances:
                folder = ROOT / name[:4] / name
                data = read_instance(folder, max_ride=ride, arrive_by=arrive_by)  # type: ignore[arg-type]
                limit = min(280.0, base + per_stop * len(data.stops))
                t0 = time.perf_counter()
                plan = solve(data, time_limit=limit, seed=0, alternatives=recipes)
                secs = time.perf_counter() - t0
                t0 = time.perf_counter()
                mixed = mix_loads(
                    plan, time_limit=limit
                )  # mixing the single-load plan: half the time of solve(mixed_loads=True)
                mixed_secs = secs + time.perf_counter() - t0
                checks = []
                for tag, p in (("single", plan), ("mixed", mixed)):
                    report = check_plan(
                        folder,
                        p.to_bird_csv(Path(tmp) / f"{name}_{ride}_{tag}.csv"),
                        max_ride=ride,
                        arrive_by=arrive_by,
                    )
                    checks.append("ok" if report.ok else f"{tag}: {len(report.violations)} violations")
                row = {"instance": name, "max_ride": ride, "ours": plan.n_buses, "ours mixed": mixed.n_buses}
                if bird:
                    pub = published.loc[(name, float(ride))]
                    plain = solve(
                        data, time_limit=limit / recipes, seed=0, alternatives=1
                    )  # the same routing effort per run set
                    row.update({"plain": plain.n_buses, "BiRD": int(pub["many"]), "Chen": int(pub["Chen"])})
                rows.append(
                    {
                        **row,
                        "Park (mixed)": _park_buses(folder, ride),
                        "seconds": round(secs, 1),
                        "mixed s": round(mixed_secs, 1),
                        "checked": ", ".join(dict.fromkeys(checks)),
                    }
                )
                print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
    frame = pd.DataFrame(rows)
    print()
    print(frame.to_string(index=False))
    totals = frame.groupby("max_ride")[
        [c for c in frame.columns if c not in ("instance", "max_ride", "checked")]
    ].sum()
    print("\nTotals over the instances run:")
    print(totals.to_string())
