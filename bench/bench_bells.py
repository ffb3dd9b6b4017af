"""Bell-time scenarios on real and Boston-scale data: buses for the status quo, aligned (charter and
Catholic schools on the district's start-and-dismissal tiers) and optimized times, time and peak memory.

Cities: the 2017 BPS Transportation Challenge (``tests/cities/bps2017`` reading ../shared/data/boston
in place: 22,420 riders, 137 schools; bell times taken from the students file, 754 buses and their
yards from ``bps_buses.xlsx``) on the network-free model; the part of it inside the Back Bay street
network, on streets; and the Boston-scale Riverton demo city (``facilities.demo`` size ``city``).
The reference in each row is the status quo, measured in the same run.
"""

from __future__ import annotations

import dataclasses
import resource
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd

from facilities import City, read_city
from routing.scenarios import DEFAULT_SCENARIOS, compare

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "boston"

#: Boston's bell policy for the benchmark: the three tiers, each school free to take any of them.
BPS_TRANSPORT = {"max_ride": 3600, "bell_tiers": ["07:30", "08:30", "09:30"], "cost_per_bus_year": 100_000}


def load_bps2017() -> City:
    """The BPS challenge city with each school's bell times (the most common among its students)
    and the fleet's yards and bus types; reads ../shared/data/boston in place."""
    city = read_city(ROOT / "tests" / "cities" / "bps2017")
    raw = pd.read_excel(SHARED / "bps_simulated_students.xlsx", usecols=["Assigned School", "Current School Start Time", "Current School End Time"])
    seconds = {c: pd.to_timedelta(raw[c].astype(str)).dt.total_seconds() for c in raw.columns[1:]}
    bells = pd.DataFrame({"school": raw["Assigned School"], "start": seconds["Current School Start Time"], "end": seconds["Current School End Time"]})
    mode = bells.groupby("school").agg(lambda s: s.mode().iloc[0])
    schools = city.schools.assign(bell_start=city.schools["id"].map(mode["start"]), bell_end=city.schools["id"].map(mode["end"]))
    buses = pd.read_excel(SHARED / "bps_buses.xlsx", header=0).dropna(subset=["Bus ID"])
    yards = buses.groupby("Bus Yard").agg(buses=("Bus ID", "size"), lon=("Bus Longitude", "first"), lat=("Bus Latitude", "first")).reset_index()
    yards = gpd.GeoDataFrame({"id": yards["Bus Yard"], "name": yards["Bus Yard"], "buses": yards["buses"]}, geometry=gpd.points_from_xy(yards["lon"], yards["lat"]), crs=4326).to_crs(city.crs)
    types = buses.groupby(["Bus Type", "Bus Capacity"]).size().rename("count").reset_index()
    bus_types = pd.DataFrame({"id": [f"{t}-{c}" for t, c in zip(types["Bus Type"], types["Bus Capacity"])], "seats": types["Bus Capacity"].astype(int), "wheelchair": False, "count": types["count"], "cost_per_year": 100_000.0})
    return dataclasses.replace(city, schools=schools, yards=yards, bus_types=bus_types, settings={**city.settings, "transport": BPS_TRANSPORT})


def back_bay(city: City):  # type: ignore[no-untyped-def]
    """The part of ``city`` inside the Back Bay street network (schools and their riders there), and the network."""
    from routing.network import load_network
    from routing.travel import compile_network

    net = compile_network(load_network(SHARED / "boston_backbay_drive.graphml", crs=city.crs))
    (x0, y0), (x1, y1) = net.xy.min(axis=0) + 200, net.xy.max(axis=0) - 200
    schools = city.schools.cx[x0:x1, y0:y1]
    students = city.students.cx[x0:x1, y0:y1]
    students = students[students["school"].isin(schools["id"])]
    return dataclasses.replace(city, name=f"{city.name}, Back Bay", schools=schools.reset_index(drop=True), students=students.reset_index(drop=True)), net


def _row(label: str, city: City, *, time_limit: float, sessions: tuple[str, ...], network: object = "city") -> dict[str, object]:
    t0 = time.perf_counter()
    result = compare(city, scenarios=DEFAULT_SCENARIOS, time_limit=time_limit, seed=1, network=network, sessions=sessions)
    s = result.summary()
    return {
        "city": label,
        "riders": int(s["riders"].iloc[0]),
        "runs": sum(len(r) for r in result.prepared.runs.values()),
        "sessions": "+".join(sessions),
        "buses (status quo)": int(s["buses"].iloc[0]),
        "buses (aligned)": int(s["buses"].iloc[1]),
        "buses (optimized)": int(s["buses"].iloc[2]),
        "saved $M/yr (aligned)": round(float(s["dollars_saved_per_year"].iloc[1]) / 1e6, 2),
        "saved $M/yr (optimized)": round(float(s["dollars_saved_per_year"].iloc[2]) / 1e6, 2),
        "prepare s": round(result.prepared.seconds, 1),
        "total s": round(time.perf_counter() - t0, 1),
        "peak GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def run(quick: bool) -> None:
    """Print the table (``quick``: the morning only, shorter time limits, no Boston-scale demo)."""
    sessions = ("am",) if quick else ("am", "pm")
    rows = []
    if SHARED.exists():
        boston = load_bps2017()
        rows.append(_row("BPS 2017 (network-free)", boston, time_limit=120 if quick else 400, sessions=sessions, network=None))
        sub, net = back_bay(boston)
        rows.append(_row("BPS 2017 in Back Bay (streets)", sub, time_limit=20 if quick else 60, sessions=sessions, network=net))
    else:
        print(f"(skipping Boston: {SHARED} is absent)")
    if not quick:
        from facilities.demo import generate

        with tempfile.TemporaryDirectory() as tmp:
            city = read_city(generate(size="city", seed=2026, out=Path(tmp) / "riverton"))
            rows.append(_row("Riverton, Boston-scale demo (streets)", city, time_limit=400, sessions=sessions))
    print(pd.DataFrame(rows).to_string(index=False))
