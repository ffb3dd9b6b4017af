"""The p-median model on the OR-Library instances pmed1–10, against spopt's PMedian in the same run.

Instances (Beasley 1985, ``../shared/data/pmedian``): line 1 ``n edges p``, then ``i j cost`` edges
(1-based, undirected, the last of a repeated edge wins); the cost matrix is all shortest paths;
``pmedopt.txt`` holds the proven optima. Ours: :class:`facilities.siting.PMedian` (compact radius
formulation, HiGHS). Reference: ``spopt.locate.PMedian`` (classic formulation through PuLP) with
its fastest available solver here, CBC (the only one PuLP finds on this machine).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pulp
from scipy.sparse.csgraph import shortest_path
from spopt.locate import PMedian as SpoptPMedian

from facilities.siting import PMedian

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pmedian"
TIME_LIMIT = 300.0


def load(path: Path) -> tuple[np.ndarray, int]:
    """An OR-Library p-median instance: its shortest-path cost matrix and ``p``."""
    numbers = np.array(path.read_text().split(), dtype=np.int64)
    n, edges, p = numbers[:3]
    i, j, cost = numbers[3 : 3 + 3 * edges].reshape(edges, 3).T
    a, b = np.minimum(i, j) - 1, np.maximum(i, j) - 1
    weight = np.zeros((n, n))
    weight[a, b] = cost  # numpy keeps the last of repeated indices: the last edge wins
    weight[b, a] = weight[a, b]
    return shortest_path(weight, directed=False), int(p)


def optima() -> dict[str, int]:
    """Proven optimal values from ``pmedopt.txt``."""
    lines = (DATA / "pmedopt.txt").read_text().splitlines()[1:]
    return {name: int(value) for name, value in (line.split() for line in lines if line.strip())}


def run(quick: bool) -> None:
    """Print, per instance: n, p, optimum, ours (value, time) and spopt (value, time)."""
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent (the OR-Library instances live in ../shared/data)")
        return
    names = ["pmed1", "pmed4", "pmed5"] if quick else [f"pmed{k}" for k in range(1, 11)]
    best = optima()
    print(f"p-median, OR-Library; time limit {TIME_LIMIT:.0f} s each; spopt {pulp.__name__} solver: CBC")
    print(
        f"{'instance':>8} {'n':>4} {'p':>3} {'optimum':>8} {'ours':>8} {'ours s':>7} {'spopt':>8} "
        f"{'spopt s':>8}"
    )
    ours_total = spopt_total = 0.0
    for name in names:
        cost, p = load(DATA / f"{name}.txt")
        weights = np.ones(len(cost))
        ours = PMedian.from_cost_matrix(cost, weights, p, name=name).solve(time_limit=TIME_LIMIT, seed=0)
        t0 = time.perf_counter()
        model = SpoptPMedian.from_cost_matrix(cost, weights, p, name=name)
        model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=TIME_LIMIT))
        spopt_s = time.perf_counter() - t0
        spopt_value = pulp.value(model.problem.objective)
        ours_total += ours.seconds
        spopt_total += spopt_s
        mark = "" if ours.optimal else "*"
        print(
            f"{name:>8} {len(cost):4d} {p:3d} {best[name]:8d} {ours.objective:8.0f}{mark} "
            f"{ours.seconds:6.1f} "
            f"{spopt_value:8.0f} {spopt_s:8.1f}",
            flush=True,
        )
        assert ours.objective >= best[name] - 1e-6, f"{name}: below the proven optimum, the model is wrong"
    print(f"{'total':>8} {'':>4} {'':>3} {'':>8} {'':>8} {ours_total:7.1f} {'':>8} {spopt_total:8.1f}")
    print("* not proven optimal within the time limit")


if __name__ == "__main__":
    run(quick=True)
