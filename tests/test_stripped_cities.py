"""Every command on copies of the demo city stripped of one layer (or one optional column) at a time.

Each run ends with exit status 0, or 1 with a message naming what is missing; never a traceback;
and a run that fails writes nothing under ``--out``. The table is meant to grow: a capability adds
its commands to ``COMMANDS`` (the zones commands, the bell-time commands) and the same cases run.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from tests.conftest import DEMO

LAYERS = ("schools", "buildings", "students", "zones", "yards", "bus_types", "needs")
#: Optional columns dropped from a layer's file, one at a time.
COLUMNS = {
    "buildings": ("gym", "cafeteria", "accessible", "gross_area", "rooms_classroom", "status"),
    "schools": ("grades", "enrollment", "building", "bell_start"),
    "needs": ("gym", "accessible", "budget", "rooms_classroom"),
}
#: Command name -> arguments after the city folder (``{out}`` is the run's output folder).
COMMANDS: dict[str, list[str]] = {
    "validate": ["validate", "{city}", "--no-streets"],
    "capacity": ["facilities", "capacity", "{city}", "--out", "{out}"],
    "match": ["facilities", "match", "{city}", "--out", "{out}", "--straight-line", "--time-limit", "3"],
    "sites": ["facilities", "sites", "{city}", "--out", "{out}", "--straight-line", "--time-limit", "3"],
}
FILES = {
    "schools": "schools.csv",
    "buildings": "buildings.csv",
    "students": "students.csv",
    "needs": "needs.csv",
}


def _copy_demo(folder: Path) -> Path:
    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated")
    folder.mkdir()
    for path in DEMO.iterdir():
        if path.name != "city.toml":
            (folder / path.name).symlink_to(path)
    shutil.copy(DEMO / "city.toml", folder / "city.toml")
    return folder


def _strip_layer(city: Path, layer: str) -> None:
    text = (city / "city.toml").read_text(encoding="utf-8")
    stripped = re.sub(rf"^\[layers\.{layer}\]\n(?:(?!\[).*\n)*", "", text, flags=re.MULTILINE)
    assert stripped != text, layer
    (city / "city.toml").write_text(stripped, encoding="utf-8")


def _strip_column(city: Path, layer: str, column: str) -> None:
    path = city / FILES[layer]
    with open(DEMO / FILES[layer], encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert column in rows[0], (layer, column)
    path.unlink()
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[c for c in rows[0] if c != column])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != column} for r in rows)


def _run(city: Path, out: Path, command: str, named: str) -> None:
    args = [a.format(city=city, out=out) for a in COMMANDS[command]]
    result = CliRunner().invoke(cli, args)
    text = result.output
    assert "Traceback" not in text and not isinstance(
        result.exception, (AssertionError, KeyError, TypeError, ValueError, AttributeError)
    ), (command, text, result.exception)
    assert result.exit_code in (0, 1), (command, result.exit_code, text)
    if result.exit_code == 1:
        assert named in text, (command, named, text)
        assert not out.exists() or not any(out.iterdir()), (command, sorted(p.name for p in out.iterdir()))


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_city_without_a_layer(tmp_path, layer, command):
    city = _copy_demo(tmp_path / "city")
    _strip_layer(city, layer)
    _run(city, tmp_path / "out", command, named=layer.rstrip("s") if layer != "bus_types" else "bus")


@pytest.mark.parametrize(
    ("layer", "column"), [(layer, c) for layer, columns in COLUMNS.items() for c in columns]
)
@pytest.mark.parametrize("command", ["capacity", "match"])
def test_a_city_without_an_optional_column(tmp_path, layer, column, command):
    city = _copy_demo(tmp_path / "city")
    _strip_column(city, layer, column)
    _run(city, tmp_path / "out", command, named=column)
