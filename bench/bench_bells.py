"""Bell-time scenarios on real and Boston-scale data: buses for the status quo, aligned (charter and
Catholic schools on the district's start-and-dismissal tiers) and optimized times, time and peak memory.

Cities: the 2017 BPS Transportation Challenge (``tests/cities/bps2017`` reading ../shared/data/boston
in place: 22,420 riders, 137 schools; bell times taken from the students file, 754 buses and their
yards from ``bps_buses.xlsx``) on the network-free model; the part of it inside the Back Bay street
network, on streets; and the Boston-scale Riverton demo city (``facilities.demo`` size ``city``).
Each city runs twice at the same time limit, each in its own process: today's fixed-run engine
(``engine="fixed"``: one run set per school, the same runs in every scenario; the reference) and the
run-selection engine (``engine="select"``: each scenario's runs chosen among several run sets per
school jointly with the chaining); then the change in buses per scenario.
"""

from __future__ import annotations

import dataclasses
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import geopandas as gpd
import pandas as pd

from facilities import City, read_city
from routing.scenarios import DEFAULT_SCENARIOS, compare

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "boston"

#: The default time limit of ``compact bells compare`` (the targets are measured at it).
DEFAULT_TIME_LIMIT = 60.0

#: Boston's bell policy for the benchmark: the three tiers, each school free to take any of them.
BPS_TRANSPORT = {"max_ride": 3600, "bell_tiers": ["07:30", "08:30", "09:30"], "cost_per_bus_year": 100_000}


def load_bps2017() -> City:
    """The BPS challenge city with each school's bell times (the most common among its students)
    and the fleet's yards and bus types; reads ../shared/data/boston in place."""
    city = read_city(ROOT / "tests" / "cities" / "bps2017")
    raw = pd.read_excel(
        SHARED / "bps_simulated_students.xlsx",
        usecols=["Assigned School", "Current School Start Time", "Current School End Time"],
    )
    seconds = {c: pd.to_timedelta(raw[c].astype(str)).dt.total_seconds() for c in raw.columns[1:]}
    bells = pd.DataFrame(
        {
            "school": raw["Assigned School"],
            "start": seconds["Current School Start Time"],
            "end": seconds["Current School End Time"],
        }
    )
    mode = bells.groupby("school").agg(lambda s: s.mode().iloc[0])
    schools = city.schools.assign(
        bell_start=city.schools["id"].map(mode["start"]), bell_end=city.schools["id"].map(mode["end"])
    )
    buses = pd.read_excel(SHARED / "bps_buses.xlsx", header=0).dropna(subset=["Bus ID"])
    yards = (
        buses.groupby("Bus Yard")
        .agg(buses=("Bus ID", "size"), lon=("Bus Longitude", "first"), lat=("Bus Latitude", "first"))
        .reset_index()
    )
    yards = gpd.GeoDataFrame(
        {"id": yards["Bus Yard"], "name": yards["Bus Yard"], "buses": yards["buses"]},
        geometry=gpd.points_from_xy(yards["lon"], yards["lat"]),
        crs=4326,
    ).to_crs(city.crs)
    types = buses.groupby(["Bus Type", "Bus Capacity"]).size().rename("count").reset_index()
    bus_types = pd.DataFrame(
        {
            "id": [f"{t}-{c}" for t, c in zip(types["Bus Type"], types["Bus Capacity"])],
            "seats": types["Bus Capacity"].astype(int),
            "wheelchair": False,
            "count": types["count"],
            "cost_per_year": 100_000.0,
        }
    )
    return dataclasses.replace(
        city,
        schools=schools,
        yards=yards,
        bus_types=bus_types,
        settings={**city.settings, "transport": BPS_TRANSPORT},
    )


def back_bay(city: City):  # type: ignore[no-untyped-def]
    """The part of ``city`` inside the Back Bay street network (schools and their riders there), and the
    network."""
    from routing.network import load_network
    from routing.travel import compile_network

    net = compile_network(load_network(SHARED / "boston_backbay_drive.graphml", crs=city.crs))
    (x0, y0), (x1, y1) = net.xy.min(axis=0) + 200, net.xy.max(axis=0) - 200
    schools = city.schools.cx[x0:x1, y0:y1]
    students = city.students.cx[x0:x1, y0:y1]
    students = students[students["school"].isin(schools["id"])]
    return dataclasses.replace(
        city,
        name=f"{city.name}, Back Bay",
        schools=schools.reset_index(drop=True),
        students=students.reset_index(drop=True),
    ), net


def _city(key: str) -> tuple[City, object]:
    """The city and network of one bench row (loaded in the worker process)."""
    if key == "demo":
        return read_city(ROOT / "data" / "demo"), "city"
    if key == "bps":
        return load_bps2017(), None
    if key == "backbay":
        return back_bay(load_bps2017())
    from facilities.demo import generate

    tmp = Path(tempfile.mkdtemp())
    return read_city(generate(size="city", seed=2026, out=tmp / "riverton")), "city"


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the school VRPs' workers): what the
    job costs, steadier than wall seconds on a shared machine."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _measure(
    key: str, label: str, engine: str, time_limit: float, sessions: tuple[str, ...]
) -> dict[str, object]:
    """One city with one engine, in a fresh process: buses and dollars per scenario, seconds, peak memory."""
    city, network = _city(key)
    t0 = time.perf_counter()
    result = compare(
        city,
        scenarios=DEFAULT_SCENARIOS,
        time_limit=time_limit,
        seed=1,
        network=network,
        sessions=sessions,
        engine=engine,
    )
    seconds = time.perf_counter() - t0
    s = result.summary()
    row: dict[str, object] = {
        "city": label,
        "engine": engine,
        "riders": int(s["riders"].iloc[0]),
        "sessions": "+".join(sessions),
    }
    for k, name in enumerate(s["scenario"]):
        row[f"buses ({name})"] = int(s["buses"].iloc[k])
    for k, name in enumerate(s["scenario"]):
        row[f"$M/yr ({name})"] = round(float(s["dollars_per_year"].iloc[k]) / 1e6, 2)
    row["clock cap"] = ", ".join(result.clock_cap()) or "no"
    row["seconds"] = round(seconds, 1)
    row["CPU s"] = round(_cpu_seconds(), 1)
    row["peak GB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return row


def _side_by_side(
    key: str, label: str, *, time_limit: float, sessions: tuple[str, ...]
) -> list[dict[str, object]]:
    """The fixed-run engine (the reference) and the run-selection engine at the same time limit, each
    in its own process (so each peak memory is its own), and the new engine's change in buses."""
    rows = []
    for engine in ("fixed", "select"):
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            rows.append(pool.submit(_measure, key, label, engine, time_limit, sessions).result())
        print(rows[-1], flush=True)  # each row as soon as measured: a long run shows its progress
    ref, new = rows
    change = {k: f"{(new[k] - ref[k]) / max(ref[k], 1):+.1%}" for k in ref if str(k).startswith("buses (")}
    rows.append({"city": label, "engine": "select vs fixed", **change})
    return rows


def run(quick: bool) -> None:
    """Print the table (``quick``: the demo city and Back Bay, the morning only, short time limits)."""
    sessions = ("am",) if quick else ("am", "pm")
    rows = []
    if quick:
        rows += _side_by_side("demo", "Riverton demo (streets)", time_limit=10, sessions=sessions)
    if SHARED.exists():
        if not quick:
            rows += _side_by_side(
                "bps", "BPS 2017 (network-free)", time_limit=DEFAULT_TIME_LIMIT, sessions=sessions
            )
        rows += _side_by_side(
            "backbay",
            "BPS 2017 in Back Bay (streets)",
            time_limit=20 if quick else DEFAULT_TIME_LIMIT,
            sessions=sessions,
        )
    else:
        print(f"(skipping Boston: {SHARED} is absent)")
    if not quick:
        rows += _side_by_side(
            "riverton",
            "Riverton, Boston-scale demo (streets)",
            time_limit=DEFAULT_TIME_LIMIT,
            sessions=sessions,
        )
    print(pd.DataFrame(rows).fillna("").to_string(index=False))
