"""Sweeps: many scenarios through an :class:`Executor` (local processes, or a Dask cluster)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Protocol

import pandas as pd

from routing.scenarios.evaluate import (
    on_status_quo_runs,
    run_scenario,
)
from routing.scenarios.prepare import (
    Prepared,
)
from routing.scenarios.scenario import (
    Scenario,
)


class Executor(Protocol):
    """Runs one function over many items with a shared argument; returns results in order."""

    def map(self, fn: Callable[..., Any], shared: Any, items: Sequence[Any]) -> list[Any]:
        """``[fn(shared, item) for item in items]``, in parallel."""
        ...


_SHARED: Any = None


def _init(shared: Any) -> None:
    global _SHARED
    _SHARED = shared


def _call(fn: Callable[..., Any], item: Any) -> Any:
    return fn(_SHARED, item)


@dataclass(frozen=True)
class ProcessExecutor:
    """Local processes (the default): the shared argument reaches each worker once, by fork.

    Parameters
    ----------
    workers
        Processes (default: the machine's cores).
    """

    workers: int | None = None

    def map(self, fn: Callable[..., Any], shared: Any, items: Sequence[Any]) -> list[Any]:
        """``[fn(shared, item) for item in items]`` in worker processes."""
        workers = min(self.workers or os.cpu_count() or 1, max(len(items), 1))
        if workers == 1:
            return [fn(shared, item) for item in items]
        with ProcessPoolExecutor(
            workers, mp_context=get_context("fork"), initializer=_init, initargs=(shared,)
        ) as pool:
            return list(pool.map(_call, [fn] * len(items), items))


@dataclass(frozen=True)
class DaskExecutor:
    """A Dask cluster (``pip install compact-planner[dask]``): the shared argument is scattered once.

    Parameters
    ----------
    address
        The scheduler's address (``tcp://host:8786``), or ``None`` for a local cluster.
    """

    address: str | None = None

    def map(self, fn: Callable[..., Any], shared: Any, items: Sequence[Any]) -> list[Any]:
        """``[fn(shared, item) for item in items]`` on the cluster's workers."""
        try:
            from distributed import Client
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("Dask sweeps need the dask extra: pip install 'compact-planner[dask]'") from err
        with Client(self.address, processes=True) if self.address is None else Client(self.address) as client:
            future = client.scatter(shared, broadcast=True)
            return client.gather(client.map(fn, [future] * len(items), items, pure=False))


@dataclass(frozen=True)
class _Evaluate:
    time_limit: float
    seed: int

    def __call__(self, prepared: Prepared, scenario: Scenario) -> dict[str, object]:
        r = run_scenario(prepared, scenario, time_limit=self.time_limit, seed=self.seed)
        return {
            "scenario": scenario.name,
            "kind": scenario.kind,
            **r.metrics,
            "policy_violations": len(r.policy_violations),
            "clock_cap": ", ".join(r.clock_cap),
        }


def sweep(
    prepared: Prepared,
    scenarios: Iterable[Scenario],
    *,
    executor: Executor | None = None,
    time_limit: float = 30.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Evaluate many scenarios in parallel: one row of totals per scenario, in order.

    Parameters
    ----------
    prepared
        From :func:`prepare` (sent to each worker once), with the bell search on the status quo's
        runs (:func:`on_status_quo_runs`, once, as :func:`compare` does).
    scenarios
        Any list (e.g. from :func:`read_scenarios` and :func:`grid_scenarios`).
    executor
        :class:`ProcessExecutor` (default) or :class:`DaskExecutor`.
    time_limit
        Seconds of bell-time search per optimized scenario.
    seed
        Same seed, same results, whatever the executor.

    Returns
    -------
    pandas.DataFrame
        The metrics per scenario, with savings against the first.
    """
    listed = list(scenarios)
    if any(sc.kind in ("aligned", "optimized") for sc in listed):  # searched on the status quo's runs
        prepared = on_status_quo_runs(prepared, time_limit=time_limit)
    rows = (executor or ProcessExecutor()).map(_Evaluate(time_limit, seed), prepared, listed)
    out = pd.DataFrame(rows)
    if len(out):
        out["buses_saved"] = out["buses"].iloc[0] - out["buses"]
        out["dollars_saved_per_year"] = out["dollars_per_year"].iloc[0] - out["dollars_per_year"]
    return out
