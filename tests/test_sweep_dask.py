"""A bell-time sweep gives the same table in one process, in local processes and on a Dask cluster.

The sweep sends the prepared city to each worker once and evaluates every scenario there; the same
seed must give the same numbers whatever runs them (only the ``seconds`` column, the wall time,
may differ). Dask's ``LocalCluster`` runs real worker processes on this machine, so the
scattering of the prepared city and the pickling of the evaluation are exercised as on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from routing.scenarios import (
    DEFAULT_SCENARIOS,
    DaskExecutor,
    Prepared,
    ProcessExecutor,
    grid_scenarios,
    prepare,
    sweep,
)
from tests.test_scenarios import _city, city_folder

Cluster = Any  # a distributed.LocalCluster
distributed = pytest.importorskip(
    "distributed", reason="the dask extra (pip install 'compact-planner[dask]')"
)

SCENARIOS = [*DEFAULT_SCENARIOS, *grid_scenarios({"max_change_minutes": [30]})]
TOML = """[[scenario]]
name = "status quo"
[[scenario]]
name = "aligned"
kind = "aligned"
[grid]
max_change_minutes = [30, 60]
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Two single-threaded worker processes."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    return prepare(_city(), network=None, time_limit=6, seed=1)


def _numbers(table: pd.DataFrame) -> pd.DataFrame:
    """The sweep's table without the wall time."""
    return table.drop(columns="seconds", errors="ignore").reset_index(drop=True)


def test_the_same_table_in_one_process_local_processes_and_dask(prepared: Prepared, cluster: Cluster) -> None:
    alone = sweep(prepared, SCENARIOS, executor=ProcessExecutor(workers=1), time_limit=2, seed=3)
    local = sweep(prepared, SCENARIOS, executor=ProcessExecutor(workers=2), time_limit=2, seed=3)
    dask = sweep(prepared, SCENARIOS, executor=DaskExecutor(cluster.scheduler_address), time_limit=2, seed=3)
    assert list(alone["scenario"]) == [s.name for s in SCENARIOS]
    assert alone["buses"].gt(0).all() and alone["buses_saved"].iloc[0] == 0
    pd.testing.assert_frame_equal(_numbers(local), _numbers(alone))
    pd.testing.assert_frame_equal(_numbers(dask), _numbers(alone))


def test_compact_bells_sweep_gives_the_same_csv_with_local_processes_and_a_scheduler(
    tmp_path: Path, cluster: Cluster
) -> None:
    from app.cli import app

    city = city_folder(tmp_path / "city")
    (tmp_path / "s.toml").write_text(TOML)
    common = [
        "bells",
        "sweep",
        str(city),
        "--scenarios",
        str(tmp_path / "s.toml"),
        "--time-limit",
        "2",
        "--prepare-time",
        "6",
        "--am-only",
        "--seed",
        "2",
        "--quiet",
    ]
    runner = CliRunner()
    tables = []
    for how in (["--workers", "2"], ["--scheduler", cluster.scheduler_address]):
        out = tmp_path / how[0][2:]
        got = runner.invoke(app, [*common, *how, "--out", str(out)])
        assert got.exit_code == 0, got.output
        tables.append(pd.read_csv(out / "sweep.csv"))
    assert len(tables[0]) == 4 and tables[0]["buses"].gt(0).all()
    pd.testing.assert_frame_equal(_numbers(tables[1]), _numbers(tables[0]))
