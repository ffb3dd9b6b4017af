"""``compact zones`` on copies of the demo city stripped of a layer or an optional column: never a
traceback; a missing precondition is one message naming the layer (exit 1, nothing written);
otherwise the residents' source is stated and degenerate results are warnings."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from tests.conftest import DEMO

pytestmark = pytest.mark.skipif(not (DEMO / "city.toml").exists(), reason="data/demo has not been generated")

COMMANDS = ("coverage", "lottery", "design")
#: How each variant strips the demo city, and the words a failure must name (None: must succeed).
VARIANTS = {
    "no students": (["students"], [], [], None),
    "no zones": (["zones"], [], [], "zones"),
    "no population": ([], ["population"], [], None),
    "no students, no population": (["students"], ["population"], [], None),
    "no residents at all": (["students"], ["population"], ["enrollment"], "students"),
    "no capacity": ([], [], ["capacity"], None),
    "no enrollment": ([], [], ["enrollment"], None),
    "no grades": (["students"], [], ["grades"], "grade"),
}


def _drop_sections(text: str, layers: list[str]) -> str:
    """city.toml without the ``[layers.X]`` tables (and their sub-tables) of ``layers``, nor the network."""
    out, skip = [], False
    for line in text.splitlines():
        header = re.match(r"^\[+([^\]]+)\]+", line)
        if header:
            name = header[1]
            skip = name == "network" or any(
                name == f"layers.{x}" or name.startswith(f"layers.{x}.") for x in layers
            )
        if not skip:
            out.append(line)
    return "\n".join(out) + "\n"


def _city(root: Path, layers: list[str], zone_columns: list[str], school_columns: list[str]) -> Path:
    city = root / "city"
    city.mkdir()
    for name in (
        "schools.csv",
        "students.csv",
        "buildings.csv",
        "zones.geojson",
        "yards.csv",
        "bus_types.csv",
        "needs.csv",
        "river.geojson",
        "address_points.csv",
    ):
        shutil.copy(DEMO / name, city / name)
    (city / "city.toml").write_text(_drop_sections((DEMO / "city.toml").read_text(), layers))
    if zone_columns:
        zones = gpd.read_file(city / "zones.geojson")
        zones.drop(columns=[c for c in zones.columns if any(c.startswith(z) for z in zone_columns)]).to_file(
            city / "zones.geojson", driver="GeoJSON"
        )
    if school_columns:
        schools = pd.read_csv(city / "schools.csv")
        schools.drop(columns=school_columns).to_csv(city / "schools.csv", index=False)
    return city


@pytest.mark.parametrize("variant", VARIANTS)
def test_zones_commands_on_a_stripped_demo(tmp_path: Path, variant: str) -> None:
    layers, zone_columns, school_columns, names = VARIANTS[variant]
    city = _city(tmp_path, layers, zone_columns, school_columns)
    for command in COMMANDS:
        out = tmp_path / f"out-{command}"
        args = ["zones", command, str(city), "--out", str(out)]
        if command == "design":
            args += ["--time-limit", "5"]
        result = CliRunner().invoke(cli, args)
        said = result.output
        assert result.exit_code in (0, 1), f"{variant} / {command}: {said}\n{result.exception!r}"
        assert "Traceback" not in said and (
            result.exception is None or isinstance(result.exception, SystemExit)
        ), f"{variant} / {command}: {result.exception!r}"
        if result.exit_code == 1:
            assert names is not None, f"{variant} / {command} failed: {said}"
            assert names in said, f"{variant} / {command}: the message does not name {names!r}: {said}"
            assert not out.exists() or not any(out.iterdir()), (
                f"{variant} / {command} wrote {list(out.iterdir())}"
            )
        else:
            assert "residents" in said and "seats:" in said, (
                f"{variant} / {command}: sources not stated: {said}"
            )
    if names is None:  # coverage succeeded: its summary says where residents came from
        summary = json.loads((tmp_path / "out-coverage" / "summary.json").read_text())
        assert summary["residents_from"] in ("students", "population", "enrollment")
        assert summary["residents_note"] and summary["seats_note"]
        if "students" in layers:
            assert summary["residents_from"] != "students"
        if "students" in layers and "population" in zone_columns:
            assert summary["residents_from"] == "enrollment" and summary["residents_estimated"]
            assert "estimated from enrollment" in (tmp_path / "out-coverage" / "report.html").read_text()


def test_unknown_source_is_one_message(tmp_path: Path) -> None:
    city = _city(tmp_path, [], [], [])
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["zones", "coverage", str(city), "--out", str(out), "--source", "census"]
    )
    assert result.exit_code == 1 and "unknown residents source 'census'" in result.output
    assert not out.exists()


def test_a_missing_source_points_only_to_sources_the_city_has(tmp_path: Path) -> None:
    city = _city(tmp_path, ["students"], ["population"], [])
    for asked, other in (("students", "population"), ("population", "students")):
        out = tmp_path / f"out-{asked}"
        result = CliRunner().invoke(
            cli, ["zones", "lottery", str(city), "--out", str(out), "--source", asked]
        )
        assert result.exit_code == 1 and not out.exists()
        assert "--source enrollment" in result.output and f"--source {other}" not in result.output, (
            result.output
        )


@pytest.mark.parametrize(
    ("command", "option", "named"),
    [
        ("lottery", ["--choices", "missing.csv"], "missing.csv: file not found"),
        ("coverage", ["--zones", "missing.geojson"], "missing.geojson: file not found"),
        ("coverage", ["--grades", "15"], "--grades"),
        ("lottery", ["--grades", "X"], "--grades"),
        ("lottery", ["--priorities", "zone,seniority"], "'seniority' is not a priority rule"),
        ("design", ["--grades", "K-15"], "--grades"),
        ("coverage", ["--units", "Atlantis"], "unknown unit 'Atlantis'"),
    ],
)
def test_bad_options_are_one_message(tmp_path: Path, command: str, option: list[str], named: str) -> None:
    city = _city(tmp_path, [], [], [])
    out = tmp_path / "out"
    option = [str(tmp_path / o) if o.startswith("missing") else o for o in option]
    result = CliRunner().invoke(cli, ["zones", command, str(city), "--out", str(out), *option])
    assert result.exit_code == 1 and named in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not out.exists()


def test_the_demo_applications_run_with_the_priorities_asked(tmp_path: Path) -> None:
    """The demo's ranked lists for K, 6 and 9 with only the zone priority: every applicant of those
    grades is in the lottery, the summary records the rules, and some are placed below their first
    choice (sought-after schools fill)."""
    out = tmp_path / "out"
    args = [
        "--choices",
        str(DEMO / "choices.csv"),
        "--grades",
        "K,6,9",
        "--priorities",
        "zone",
        "--seed",
        "1",
    ]
    result = CliRunner().invoke(cli, ["zones", "lottery", str(DEMO), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "lottery_summary.json").read_text())
    assert summary["priorities"] == ["zone"] and not summary["simulated_choices"]
    assert summary["students"] == pd.read_csv(DEMO / "choices.csv")["student"].nunique()
    assert summary["first_choice_share"] < 1 and summary["matched_share"] > 0.95
    sectors = pd.read_csv(out / "lottery_by_sector.csv")
    assert set(sectors["sector"]) == {"district", "charter", "catholic"} and (sectors["placed"] > 0).all()
