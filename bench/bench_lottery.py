"""The unified lottery: time and memory against the ``matching`` package's hospital–resident solver.

The instance: students spread over a 12 km square, 250 schools (every grade K–12, seats about
1.05 × students), 12 simulated choices per student (:func:`facilities.lottery.simulate_choices`),
priorities zone > proximity > equity, one lottery number per student. ``matching`` solves the same
instance (residents = students, hospitals = school × grade programs ranking their applicants by our
tier and lottery keys); both must give the same student-optimal assignment. ``matching`` is pure
Python and slow at this size, so it runs on the sizes that finish in reasonable time.
"""

from __future__ import annotations

import sys
import threading
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pandas as pd
from matching.games import HospitalResident

from facilities.lottery import LotteryData, LotteryResult, simulate_choices, solve

N_SCHOOLS = 250
N_CHOICES = 12


def instance(n: int, *, seed: int = 0) -> LotteryData:
    """A city-sized lottery of ``n`` students (see the module docstring)."""
    rng = np.random.default_rng(seed)
    sxy = rng.uniform(0, 12_000, (n, 2))
    kxy = rng.uniform(0, 12_000, (N_SCHOOLS, 2))
    grades = rng.integers(0, 13, n)
    zone = lambda xy: (xy[:, 0] // 4000).astype(int) * 3 + (xy[:, 1] // 4000).astype(int)  # noqa: E731
    schools = pd.DataFrame(
        {
            "id": [f"s{j}" for j in range(N_SCHOOLS)],
            "sector": rng.choice(["district", "charter", "catholic"], N_SCHOOLS, p=[0.6, 0.3, 0.1]),
            "quality": rng.normal(size=N_SCHOOLS),
            "zone": zone(kxy),
            "x": kxy[:, 0],
            "y": kxy[:, 1],
            "grades": [tuple(range(13))] * N_SCHOOLS,
            "capacity": np.full(N_SCHOOLS, int(np.ceil(1.05 * n / N_SCHOOLS / 13)) * 13),
        }
    )
    students = pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(n)],
            "grade": grades,
            "zone": zone(sxy),
            "x": sxy[:, 0],
            "y": sxy[:, 1],
            "equity": rng.random(n) < 0.3,
        }
    )
    choices = simulate_choices(
        sxy, kxy, schools, seed=seed, n_choices=N_CHOICES, student_grades=grades, student_ids=students["id"]
    )
    return LotteryData.from_frames(students, choices, schools, priorities=["zone", "proximity", "equity"])


def _measure(fn: Callable[[], object]) -> tuple[object, float, float]:
    """Run ``fn`` once; return its value, seconds and peak traced memory (MB)."""
    tracemalloc.start()
    t0 = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return value, seconds, peak


def _deep(fn: Callable[[], object]) -> object:
    """Run ``fn`` in a thread with a large stack: ``matching`` deep-copies its linked players recursively."""
    out: list[object] = []
    limit, size = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(1_000_000)
    threading.stack_size(1 << 30)
    try:
        worker = threading.Thread(target=lambda: out.append(fn()))
        worker.start()
        worker.join()
    finally:
        sys.setrecursionlimit(limit)
        threading.stack_size(size)
    return out[0]


def _solve_with_matching(data: LotteryData, result: LotteryResult) -> np.ndarray:
    """Solve the same instance with ``matching``'s HospitalResident; return each student's school."""
    programs, keys = data.programs, result.keys
    resident_prefs, applicants = {}, {}
    for s in range(data.n_students):
        row = [int(p) for p in programs[s] if p >= 0]
        if row:
            resident_prefs[s] = row
        for j, p in enumerate(row):
            applicants.setdefault(p, []).append((keys[s, j], s))
    hospital_prefs = {p: [s for _, s in sorted(a)] for p, a in applicants.items()}
    capacities = {p: int(data.seats.ravel()[p]) for p in hospital_prefs}
    matched = _deep(
        lambda: HospitalResident.create_from_dictionaries(
            resident_prefs, hospital_prefs, capacities, clean=True
        ).solve(optimal="resident")
    )
    out = np.full(data.n_students, -1, dtype=np.int64)
    for hospital, residents in matched.items():
        for r in residents:
            out[r.name] = hospital.name // 14
    return out


def run(quick: bool) -> None:
    """Print ours vs ``matching`` on growing instances, and ours alone at 50,000 students."""
    sizes = [500, 1000] if quick else [1000, 2000, 10_000, 50_000]
    matching_max = 1000 if quick else 2000
    print(f"unified lottery: {N_SCHOOLS} schools x 13 grades, {N_CHOICES} simulated choices, single lottery")
    print(
        f"{'students':>9} {'build s':>8} {'ours s':>8} {'ours MB':>8} {'matching s':>11} {'matching MB':>12} "
        f"{'same':>5} {'1st choice':>10} {'unassigned':>10}"
    )
    for n in sizes:
        t0 = time.perf_counter()
        data = instance(n, seed=n)
        build = time.perf_counter() - t0
        result, ours_s, ours_mb = _measure(lambda d=data: solve(d, seed=1))
        assert isinstance(result, LotteryResult)
        if n <= matching_max:
            theirs, their_s, their_mb = _measure(lambda d=data, r=result: _solve_with_matching(d, r))
            same = bool(np.array_equal(theirs, result.assignment))
            assert same, f"matching disagrees with ours on {n} students"
            cells = f"{their_s:11.2f} {their_mb:12.0f} {'yes':>5}"
        else:
            cells = f"{'(too slow)':>11} {'':>12} {'':>5}"
        total = result.aggregates(min_count=0).iloc[0]
        print(
            f"{n:9d} {build:8.2f} {ours_s:8.3f} {ours_mb:8.0f} {cells} "
            f"{total['first_choice_share']:10.1%} {int(total['unassigned']):10d}",
            flush=True,
        )
    print("times: one solve (deferred acceptance) after the instance is built; MB: peak traced allocations")


if __name__ == "__main__":
    run(quick=True)
