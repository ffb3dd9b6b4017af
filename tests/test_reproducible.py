"""Same city, settings and seed: byte-identical outputs, even while another process loads the CPU;
and when the clock's safety cap ends a search, every output says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.outputs_bells import write_comparison
from routing import budget
from routing.scenarios import compare, prepare
from tests.conftest import DEMO, ROOT
from tests.test_scenarios import _city

_BUSY = "import time\nend = time.time() + 600\nwhile time.time() < end:\n    pass\n"


def _compare(out: Path) -> str:
    """The demo comparison through the CLI (small settings), as a user runs it."""
    cmd = [
        sys.executable,
        "-c",
        "from app.cli import main; main()",
        "bells",
        "compare",
        str(DEMO),
        "--time-limit",
        "4",
        "--seed",
        "1",
        "--am-only",
        "--out",
        str(out),
        "--quiet",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_demo_comparison_is_byte_identical_under_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    busy = subprocess.Popen([sys.executable, "-c", _BUSY])  # a second process keeps a core busy
    try:
        # the same command twice (the manifest records its arguments, --out included), each result kept
        first = _compare(tmp_path / "out")
        shutil.copytree(tmp_path / "out", tmp_path / "a")
        second = _compare(tmp_path / "out")
        shutil.copytree(tmp_path / "out", tmp_path / "b")
    finally:
        busy.kill()
        busy.wait()
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert {
        "summary.json",
        "schedules.csv",
        "bell_changes.csv",
        "runs.parquet",
        "bells.gpkg",
        "report.html",
    } <= set(names)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), (
            f"{name} differs between two runs"
        )
    assert first.splitlines()[:-1] == second.splitlines()[:-1]  # the last line gives the seconds taken
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["clock_cap"] == []


# type: ignore[no-untyped-def]
def test_the_clock_cap_is_named_in_every_output(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(budget, "CAP_FACTOR", 0.0)
    monkeypatch.setattr(budget, "CAP_SLACK", 0.0)  # every search is stopped by the clock at once
    result = compare(
        prepare(_city(), network=None, time_limit=4, seed=1, sessions=("am",)), time_limit=2, seed=1
    )
    assert "bell search" in result.clock_cap()
    assert all(r.clock_cap for r in result.results)
    assert "WARNING: the clock's safety cap stopped" in result.text()
    write_comparison(result, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "bell search" in summary["clock_cap"]
    assert all(row["clock_cap"] for row in summary["scenarios"])
    assert "safety cap stopped" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("engine", ["select", "fixed"])
def test_without_the_cap_nothing_is_flagged(engine) -> None:  # type: ignore[no-untyped-def]
    result = compare(
        prepare(_city(), network=None, time_limit=4, seed=1, sessions=("am",), engine=engine),
        time_limit=2,
        seed=1,
    )
    assert result.clock_cap() == () and "WARNING" not in result.text()
