"""Travel-time matrices: scipy csgraph Dijkstra on the compiled network vs networkx, same run.

The network is the demo generator's Boston-scale city (``facilities.demo.generate(size="city")``);
``--quick`` uses the committed demo city (``data/demo``) and smaller matrices. The reference is
networkx's ``single_source_dijkstra_path_length`` from a sample of the origins, extrapolated to all
of them, on the same graph; its rows are also checked against the matrix. Peak MB is tracemalloc's
peak during the call (numpy's arrays are traced); networkx is timed untraced.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from facilities.demo import generate
from routing.network import load_network
from routing.travel import compile_network, distance_matrix, travel_time_matrix

_DEMO = Path(__file__).parents[1] / "data" / "demo" / "streets.graphml"


def _measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Result, seconds and peak traced memory (MB) of ``fn()``."""
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def run(quick: bool) -> None:
    """Print the travel-matrix table (see the module docstring)."""
    n, sample = (500, 5) if quick else (2000, 20)
    if quick:
        name, path = "demo city (data/demo)", _DEMO
    else:
        t0 = time.perf_counter()
        path = generate(size="city") / "streets.graphml"
        print(f"generated the Boston-scale demo city in {time.perf_counter() - t0:.1f} s", flush=True)
        name = "Boston-scale demo city"
    t0 = time.perf_counter()  # osmnx allocates per node and edge: tracing would slow it many times
    G = load_network(path)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    net = compile_network(G)
    compile_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    origins = rng.choice(net.node_ids, size=n, replace=False)
    destinations = rng.choice(net.node_ids, size=n, replace=False)

    seconds, matrix_s, matrix_mb = _measure(lambda: travel_time_matrix(net, origins, destinations))
    workers = os.cpu_count() or 1
    _, parallel_s, _ = _measure(lambda: travel_time_matrix(net, origins, destinations, workers=workers))
    cutoff = 600.0
    _, bounded_s, bounded_mb = _measure(lambda: travel_time_matrix(net, origins, destinations, cutoff=cutoff))
    _, walk_s, walk_mb = _measure(lambda: distance_matrix(net, origins, destinations, walking=True))

    def reference() -> float:
        worst = 0.0
        for i in range(sample):
            reach = nx.single_source_dijkstra_path_length(G, int(origins[i]), weight="travel_time")
            worst = max(worst, float(np.max(np.abs(seconds[i] - [reach[int(d)] for d in destinations]))))
        return worst

    # networkx allocates per node, so tracing would slow it down many times: time it untraced
    t0 = time.perf_counter()
    worst = reference()
    nx_all = (time.perf_counter() - t0) / sample * n
    _, _, nx_mb = _measure(
        lambda: nx.single_source_dijkstra_path_length(G, int(origins[0]), weight="travel_time")
    )

    print(
        f"\nnetwork: {name}: {len(net):,} nodes, {net.time.nnz:,} edges (loaded and prepared in "
        f"{load_s:.1f} s)"
    )
    print(f"matrix: {n:,} x {n:,} distinct random nodes; networkx sample: {sample} origins, extrapolated\n")
    rows = [
        ("compile network (CSR + KD-tree)", compile_s, float("nan"), ""),
        (
            "scipy csgraph Dijkstra, drive time",
            matrix_s,
            matrix_mb,
            f"{nx_all / matrix_s:.1f}x faster than networkx",
        ),
        (
            f"scipy, drive time, {workers} processes",
            parallel_s,
            float("nan"),
            f"{nx_all / parallel_s:.1f}x faster than networkx",
        ),
        (f"scipy, bounded at {cutoff:.0f} s", bounded_s, bounded_mb, ""),
        ("scipy, walking distance (undirected)", walk_s, walk_mb, ""),
        (
            "networkx single_source_dijkstra (reference)",
            nx_all,
            nx_mb,
            f"max |diff| {worst:.2g} s on {sample} rows; MB of one origin",
        ),
    ]
    print(f"{'method':<46} {'seconds':>9} {'peak MB':>8}  note")
    print("-" * 100)
    for label, secs, mb, note in rows:
        print(f"{label:<46} {secs:>9.2f} {'-' if np.isnan(mb) else f'{mb:.1f}':>8}  {note}")
