"""Addresses to points: 25,000 students' addresses of the Boston-scale Riverton against its address points.

The city is generated into a temporary folder (``facilities.demo.generate(size="city")``, never
committed); ``--quick`` uses the committed demo city instead. The reference, measured in the same
run, is reading the two files (``address_points.csv`` and ``students.csv``) with the loader's reader.
Accuracy is measured against the generator's truth (each student's true coordinates, in the same
file): a placed point more than 150 m from it is a wrong match. A second table compares the address
parsers on the demo's noisy export and on Boston's school addresses (when ``../shared/data`` is there).
Peak MB is tracemalloc's peak of each step (run again, traced, after the timed run); the whole
job (imports, reading and matching) is also run in a fresh process, whose peak resident memory is
reported against the 1 GB target.
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from facilities.demo import generate
from facilities.geocode import AddressPoints, parse
from facilities.geocode.normalize import PARSERS
from facilities.geocode.report import WRONG_METRES
from facilities.io import read_layer_file

_ROOT = Path(__file__).parents[1]
_DEMO = _ROOT / "data" / "demo"
_BOSTON = _ROOT.parent / "shared" / "data" / "boston"
_ADDRESSES = 25_000


def _measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Result, seconds (untraced) and peak traced MB of ``fn()`` (a second, traced call)."""
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _read(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return read_layer_file(folder / "address_points.csv"), read_layer_file(folder / "students.csv")


def _points(table: pd.DataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        table, geometry=gpd.points_from_xy(table["lon"].astype(float), table["lat"].astype(float)), crs=4326
    )


def _accuracy(matches: list, lon: np.ndarray, lat: np.ndarray) -> tuple[float, int]:
    """Share placed, and placed more than WRONG_METRES from the truth."""
    mlon = np.array([m.lon for m in matches])
    mlat = np.array([m.lat for m in matches])
    far = np.hypot((mlon - lon) * 111_320 * np.cos(np.radians(np.nanmean(lat))), (mlat - lat) * 110_574)
    placed = np.isfinite(far)
    return float(placed.mean()), int((far[placed] > WRONG_METRES).sum())


def _geocode(points: pd.DataFrame, students: pd.DataFrame, parser: str = "pub28") -> list:
    index = AddressPoints(_points(points))
    return index.geocode(
        [parse(a, zip=z, parser=parser) for a, z in zip(students["address"], students["zip"], strict=True)]
    )  # type: ignore[arg-type]


def _job(folder: Path) -> None:
    """Read the files and match the addresses (what a fresh process measures)."""
    points, students = _read(folder)
    _geocode(points, students.sample(n=min(_ADDRESSES, len(students)), random_state=0).reset_index(drop=True))


def _fresh_process_peak_mb(folder: Path) -> float:
    """Peak resident memory (MB) of :func:`_job` run in a fresh process."""
    child = multiprocessing.get_context("spawn").Process(target=_job, args=(folder,))
    child.start()
    child.join()
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _scale(folder: Path, label: str) -> None:
    (points, students), read_s, read_mb = _measure(lambda: _read(folder))
    students = students.sample(n=min(_ADDRESSES, len(students)), random_state=0).reset_index(drop=True)
    matches, geo_s, geo_mb = _measure(lambda: _geocode(points, students))
    share, wrong = _accuracy(
        matches, students["lon"].astype(float).to_numpy(), students["lat"].astype(float).to_numpy()
    )
    kinds = pd.Series([m.kind for m in matches]).value_counts()
    print(
        f"\n{label}: {len(students):,} addresses against {len(points):,} address points (rows, one per unit)"
    )
    print("| step | seconds | peak MB | matched | wrong |")
    print("|---|---:|---:|---:|---:|")
    print(f"| reading the two files (reference) | {read_s:.1f} | {read_mb:.0f} | | |")
    print(
        f"| index the address points, parse and match | {geo_s:.1f} | {geo_mb:.0f} | {share:.2%} | {wrong} |"
    )
    rss = _fresh_process_peak_mb(folder)
    print(f"| the whole job in a fresh process (imports, reading, matching) | | {rss:.0f} (resident) | | |")
    print("kinds: " + ", ".join(f"{k} {n:,}" for k, n in kinds.items()))
    met = geo_s < 30 and rss < 1024
    print(f"targets: under 30 s for the match step and 1 GB for the whole job: {'met' if met else 'NOT met'}")


def _parsers() -> None:
    points, students = _read(_DEMO)
    truth = students["lon"].astype(float).to_numpy(), students["lat"].astype(float).to_numpy()
    boston = _boston()
    print("\nParsers on the demo's noisy export (7,502 addresses) and Boston's school addresses")
    print(
        "| parser | demo matched | demo wrong | parse seconds (best of 3) | Boston matched "
        "| Boston within 50 m |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    lines = list(zip(students["address"], students["zip"], strict=True))
    for parser in PARSERS:
        seconds = min(
            _timed(lambda p=parser: [parse(a, zip=z, parser=p) for a, z in lines]) for _ in range(3)
        )  # type: ignore[arg-type]
        matches = _geocode(points, students, parser)
        share, wrong = _accuracy(matches, *truth)
        extra = "| n/a | n/a |"
        if boston is not None:
            bpoints, challenge = boston
            found = AddressPoints(bpoints).geocode(
                [
                    parse(a, zip=z, parser=parser)
                    for a, z in zip(challenge["address"], challenge["zip"], strict=True)
                ]
            )  # type: ignore[arg-type]
            b_share, _ = _accuracy(
                found,
                challenge["longitude"].astype(float).to_numpy(),
                challenge["latitude"].astype(float).to_numpy(),
            )
            lon, lat = np.array([m.lon for m in found]), np.array([m.lat for m in found])
            near = (
                np.hypot(
                    (lon - challenge["longitude"].astype(float)) * 82_000,
                    (lat - challenge["latitude"].astype(float)) * 110_574,
                )
                <= 50
            )
            extra = f"| {b_share:.1%} | {int(near.sum())} of {len(challenge)} |"
        print(f"| {parser} | {share:.2%} | {wrong} | {seconds:.1f} {extra}")


def _boston() -> tuple[gpd.GeoDataFrame, pd.DataFrame] | None:
    if not _BOSTON.exists():
        print("(../shared/data absent: Boston columns skipped)")
        return None
    rows = []
    for name, zip_column in (
        ("boston_public_schools.csv", "ZIPCODE"),
        ("boston_non_public_schools.csv", "ZIP"),
    ):
        frame = read_layer_file(_BOSTON / name)
        for address, zip_code, x, y in zip(
            frame["ADDRESS"], frame[zip_column], frame["X"], frame["Y"], strict=True
        ):
            parsed = parse(address)
            rows.append(
                {"number": parsed.number, "street": parsed.street, "zip": zip_code, "lon": x, "lat": y}
            )
    challenge = pd.read_csv(_BOSTON / "bps_challenge_schools.tsv", sep="\t", dtype=str)
    return _points(pd.DataFrame(rows)), challenge


def run(quick: bool) -> None:
    """Print the scale table and the parser table (see the module docstring)."""
    if quick:
        _scale(_DEMO, "demo city (data/demo)")
    else:
        with tempfile.TemporaryDirectory(prefix="bench-geocode-") as tmp:
            t0 = time.perf_counter()
            folder = generate(size="city", seed=2026, out=Path(tmp) / "riverton-city")
            print(f"generated the Boston-scale Riverton in {time.perf_counter() - t0:.1f} s", flush=True)
            _scale(folder, "Boston-scale Riverton (--size city)")
    _parsers()
