"""Every command that writes an output folder takes its lock (``--out`` and ``--private-out``) before
its work: a second run on the same folder is stopped at once, not after computing what it cannot
write (:func:`app.outputs.output_folders`)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DEMO
from tests.test_outputs_private import _files
from tests.test_scenarios import city_folder

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# command, the folder another run holds ("out" or "private"), the first step of the command's work
CASES = [
    (["bells", "compare", "{city}", "--out", "{out}", "--quiet"], "out", "app._common.travel_model_for"),
    (
        ["bells", "compare", "{city}", "--out", "{out}", "--private-out", "{private}", "--quiet"],
        "private",
        "app._common.travel_model_for",
    ),
    (
        ["bells", "sweep", "{city}", "--scenarios", "{scenarios}", "--out", "{out}", "--quiet"],
        "out",
        "routing.scenarios.prepare",
    ),
    (["facilities", "capacity", "{city}", "--out", "{out}"], "out", "facilities.capacity.utilization"),
    (["facilities", "match", "{city}", "--out", "{out}"], "out", "app.commands.facilities.travel_for"),
    (["facilities", "sites", "{city}", "--out", "{out}"], "out", "app.commands.facilities.travel_for"),
    (["zones", "coverage", "{city}", "--out", "{out}"], "out", "app.commands.zones.travel_for"),
    (["zones", "lottery", "{city}", "--out", "{out}"], "out", "facilities.enrollment.run_lottery"),
    (
        ["zones", "lottery", "{city}", "--out", "{out}", "--private-out", "{private}"],
        "private",
        "facilities.enrollment.run_lottery",
    ),
    (["zones", "design", "{city}", "--out", "{out}"], "out", "app.commands.zones.travel_for"),
    (["geocode", "{city}", "--out", "{out}"], "out", "app.commands.geocode.report_for"),
    (
        ["geocode", "{city}", "--private-out", "{private}"],
        "private",
        "app.commands.geocode.report_for",
    ),
    (["demo", "--city", "{city}", "--out", "{out}"], "out", "app._common.travel_model_for"),
]


@pytest.mark.parametrize(
    ("args", "held", "work"),
    CASES,
    ids=[" ".join(a for a in c[0][:2] if "{" not in a) + f" {c[1]}" for c in CASES],
)
def test_a_command_is_stopped_before_its_work_when_another_run_holds_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], held: str, work: str
) -> None:
    from app.cli import app

    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    (tmp_path / "s.toml").write_text('[[scenario]]\nname = "status quo"\n')
    named = {
        "city": DEMO,
        "out": tmp_path / "out",
        "private": tmp_path / "private",
        "scenarios": tmp_path / "s.toml",
    }
    started: list[str] = []
    module, name = work.rsplit(".", 1)
    monkeypatch.setattr(importlib.import_module(module), name, lambda *a, **k: started.append(work))
    (tmp_path / f".{held}.lock").write_text(str(os.getppid()))  # a live process holds that folder
    result = CliRunner().invoke(app, [a.format(**named) for a in args])
    assert result.exit_code == 1 and f"process {os.getppid()}) is writing this folder" in result.output
    assert "Traceback" not in result.output
    assert started == [], "the work had started before the lock was taken"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["s.toml", f".{held}.lock"]), "nothing written, no temporary folder left"


def test_a_second_compare_on_the_same_out_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    city = city_folder(tmp_path / "city")
    out = tmp_path / "out"
    args = [sys.executable, "-c", "from app.cli import main; main()", "bells", "compare", str(city)]
    args += ["--out", str(out), "--time-limit", "6", "--am-only"]
    first = subprocess.Popen(
        args, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lock = tmp_path / ".out.lock"
    for _ in range(600):  # the first run holds the lock from the start of its work
        if lock.exists() and lock.read_text().strip() == str(first.pid):
            break
        time.sleep(0.1)
    second = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    assert second.returncode == 1, second.stderr
    assert f"another run (process {first.pid}) is writing this folder" in second.stderr
    assert "Traceback" not in second.stderr and not second.stdout, "refused before any work or result"
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert "summary.json" in _files(out) and "wrote" in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city", "out"], "no lock or temporary folder left"
