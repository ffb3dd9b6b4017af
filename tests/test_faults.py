"""Broken cities through every command: one clear error naming the file (and row), exit 1, no traceback,
nothing written under --out.

Each fault is a row of :data:`FAULTS`: how to break a small copy of the demo city, the parts the
message must hold, the parts it must not (a cascade), and the commands that must refuse it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from tests.conftest import DEMO

pytestmark = pytest.mark.skipif(
    not (DEMO / "city.toml").exists(), reason="data/demo has not been generated (make demo-data)"
)

ALL = ("validate", "capacity", "coverage", "bells")
STREETS = ("validate", "coverage", "bells")  # the commands that read the street network


def _edit(name: str, change: Callable[[str], str]) -> Callable[[Path], None]:
    def apply(city: Path) -> None:
        (city / name).write_text(change((city / name).read_text(encoding="utf-8")), encoding="utf-8")

    return apply


def _line(name: str, k: int, change: Callable[[str], str]) -> Callable[[Path], None]:
    """Change line ``k`` (1 is the header) of a CSV."""

    def edit(text: str) -> str:
        lines = text.split("\n")
        lines[k - 1] = change(lines[k - 1])
        return "\n".join(lines)

    return _edit(name, edit)


def _blank_lon(row: str) -> str:
    cells = row.split(",")
    cells[-2] = ""  # schools.csv ends with lon,lat
    return ",".join(cells)


def _header_only(name: str) -> Callable[[Path], None]:
    return _edit(name, lambda text: text.split("\n")[0] + "\n")


def _swap_xy(text: str) -> str:
    head, rest = text.split("\n", 1)
    return head.replace("lon", "@").replace("lat", "lon").replace("@", "lat") + "\n" + rest


def _bytes(name: str, data: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    return lambda city: (city / name).write_bytes(data((city / name).read_bytes()))


def _zones_wrong_crs(city: Path) -> None:
    import geopandas as gpd

    zones = gpd.read_file(city / "zones.geojson")
    zones.to_crs(32619).set_crs(4326, allow_override=True).to_file(city / "zones.geojson", driver="GeoJSON")


def _zones_in_the_next_utm_zone(city: Path) -> None:
    import geopandas as gpd

    zones = gpd.read_file(city / "zones.geojson")
    zones.to_crs(32619).set_crs(32618, allow_override=True).to_file(city / "zones.gpkg", driver="GPKG")
    toml = (city / "city.toml").read_text().replace('file = "zones.geojson"', 'file = "zones.gpkg"')
    (city / "city.toml").write_text(toml)


def _no_edges(text: str) -> str:
    return text[: text.find("<edge ")] + text[text.rfind("</edge>") + len("</edge>") :]


def _both(*changes: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(city: Path) -> None:
        for change in changes:
            change(city)

    return apply


def _toml(old: str, new: str) -> Callable[[Path], None]:
    return _edit("city.toml", lambda text: text.replace(old, new, 1))


@dataclass(frozen=True)
class Fault:
    name: str
    apply: Callable[[Path], None]
    says: tuple[str, ...]
    never: tuple[str, ...] = ()
    commands: tuple[str, ...] = ALL
    max_problems: int | None = None


FAULTS = [
    Fault(
        "empty schools file",
        _edit("schools.csv", lambda _: ""),
        ("schools.csv: the file is empty",),
        max_problems=1,
    ),
    Fault(
        "header-only schools",
        _header_only("schools.csv"),
        ("schools.csv: has a header row but no rows",),
        ("students.csv",),
        max_problems=1,
    ),
    Fault(
        "header-only students",
        _header_only("students.csv"),
        ("students.csv: has a header row but no rows",),
        max_problems=1,
    ),
    Fault(
        "ragged row",
        _line("schools.csv", 6, lambda r: r + ",extra"),
        ("schools.csv, row 6: has 13 fields where the header has 12",),
    ),
    Fault(
        "2-MB field",
        _line("schools.csv", 6, lambda r: r + ',"' + "x" * 2_000_000),
        ("schools.csv, row 6", "characters (an unclosed quote?)"),
    ),
    Fault(
        "not text",
        _bytes("students.csv", lambda b: b[:300] + b"\x81\x8d" + b[300:]),
        ("students.csv, row", "neither UTF-8 nor Windows-1252"),
    ),
    Fault(
        "missing column",
        _edit("schools.csv", lambda t: t.replace("sector", "sect", 1)),
        ("schools.csv, column 'sector': required column",),
    ),
    Fault(
        "blank coordinate",
        _line("schools.csv", 5, _blank_lon),
        ("schools.csv, row 5, column 'lon/lat'", "not numbers"),
        ("invalid polygon",),
    ),
    Fault(
        "swapped x/y",
        _edit("students.csv", _swap_xy),
        ("students.csv: the columns look swapped",),
        ("outside the city",),
        max_problems=1,
    ),
    Fault(
        "zones in the wrong CRS",
        _zones_wrong_crs,
        ("zones.geojson", "not longitudes/latitudes", "[layers.zones]"),
        ("outside the city",),
        max_problems=1,
    ),
    Fault(
        "zones labelled with another CRS",
        _zones_in_the_next_utm_zone,
        ("zones.gpkg, column 'geometry': the zones lie", "km from the other layers: its CRS is wrong"),
        ("outside the city",),
        max_problems=1,
    ),
    Fault(
        "broken river",
        _edit("river.geojson", lambda t: t[: len(t) // 2]),
        ("river.geojson: is not valid GeoJSON",),
    ),
    Fault(
        "truncated streets",
        _edit("streets.graphml", lambda t: t[:100_000]),
        ("streets.graphml: is not readable GraphML",),
    ),
    Fault(
        "empty streets",
        _edit("streets.graphml", lambda _: ""),
        ("streets.graphml: the street network file is empty",),
    ),
    Fault(
        "streets without edges",
        _edit("streets.graphml", _no_edges),
        ("streets.graphml: the street network holds no streets",),
    ),
    Fault(
        "misspelled key",
        _toml("snap_max = 250", "snapmax = 250"),
        ("snapmax: unknown key in [network] — did you mean snap_max?",),
    ),
    Fault(
        "snap_max unit",
        _toml("snap_max = 250", 'snap_max = "250 yards"'),
        ("key 'network.snap_max'", "is not a distance"),
    ),
    Fault(
        "layer crs",
        _toml('crs = "EPSG:4326"', 'crs = "WGS84-lonlat"'),
        ("key 'layers.schools.crs': 'WGS84-lonlat' is not a CRS",),
    ),
    Fault(
        "max_ride words",
        _toml("max_ride = 3600", 'max_ride = "one hour"'),
        ("key 'transport.max_ride': 'one hour' is not a duration",),
    ),
    Fault(
        "bell tier",
        _toml('"08:30", "09:30"]', '"8h30", "09:30"]'),
        ("key 'transport.bell_tiers': '8h30' is not a time of day",),
    ),
    Fault(
        "capacity target",
        _toml("target = [0.85, 1.00]", 'target = "0.85-1.0"'),
        ("key 'capacity.target'", "[0.85, 1.0]"),
    ),
    Fault(
        "three files at once",
        _both(
            _toml("max_ride = 3600", 'max_ride = "one hour"'),
            _line("schools.csv", 6, lambda r: r + ",extra"),
            _edit("streets.graphml", lambda t: t[:100_000]),
        ),
        ("'one hour' is not a duration", "schools.csv, row 6", "streets.graphml: is not readable"),
    ),
]


@pytest.fixture(scope="module")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo city with its first 400 students (every fault is built from a copy of it)."""
    city = tmp_path_factory.mktemp("small") / "city"
    shutil.copytree(DEMO, city)
    lines = (city / "students.csv").read_text().split("\n")
    (city / "students.csv").write_text("\n".join(lines[:401]) + "\n")
    return city


def _command(kind: str, city: Path, out: Path) -> list[str]:
    return {
        "validate": ["validate", str(city)],
        "capacity": ["facilities", "capacity", str(city), "--out", str(out)],
        "coverage": ["zones", "coverage", str(city), "--out", str(out)],
        "bells": [
            "bells",
            "compare",
            str(city),
            "--out",
            str(out),
            "--time-limit",
            "1",
            "--am-only",
            "--quiet",
        ],
    }[kind]


def _refused(args: list[str], out: Path, fault: Fault) -> str:
    result = CliRunner().invoke(cli, args)
    text = result.output
    assert result.exit_code == 1, f"{fault.name}: exit {result.exit_code}\n{text}"
    assert isinstance(result.exception, SystemExit), f"{fault.name}: {result.exception!r}"
    assert "Traceback" not in text and "bug in Compact planner" not in text, text
    for part in fault.says:
        assert part in text, f"{fault.name}: {part!r} not in\n{text}"
    for part in fault.never:
        assert part not in text, f"{fault.name}: {part!r} (a cascade) in\n{text}"
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*")), "nothing is written under --out"
    return text


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_every_fault_is_refused_by_every_command(fault: Fault, small_city: Path, tmp_path: Path) -> None:
    city = tmp_path / "city"
    shutil.copytree(small_city, city)
    fault.apply(city)
    for kind in fault.commands:
        text = _refused(_command(kind, city, tmp_path / "out" / kind), tmp_path / "out" / kind, fault)
        if fault.max_problems is not None:
            assert f"{fault.max_problems} problem{'s' if fault.max_problems > 1 else ''} in" in text, text
        assert text.count("required column for sector") <= 1, "a missing column is said once"


def test_streets_covering_a_corner_are_refused(small_city: Path, tmp_path: Path) -> None:
    import osmnx as ox

    city = tmp_path / "city"
    shutil.copytree(small_city, city)
    graph = ox.load_graphml(city / "streets.graphml")
    xs = sorted(x for _, x in graph.nodes(data="x"))
    corner = graph.subgraph([n for n, x in graph.nodes(data="x") if x <= xs[len(xs) // 6]]).copy()
    ox.save_graphml(corner, city / "streets.graphml")
    fault = Fault(
        "corner",
        lambda c: None,
        ("streets.graphml: covers only", "of the students", "at least 90% must be within it"),
    )
    for kind in STREETS:
        _refused(_command(kind, city, tmp_path / "out" / kind), tmp_path / "out" / kind, fault)


def test_a_windows_latin1_file_is_read(small_city: Path, tmp_path: Path) -> None:
    from facilities import read_city

    city = tmp_path / "city"
    shutil.copytree(small_city, city)
    text = (
        (city / "schools.csv")
        .read_text(encoding="utf-8")
        .replace("St. Thomas School", "Escuela Santo Tomás", 1)
    )
    (city / "schools.csv").write_bytes(text.encode("cp1252"))
    assert "Escuela Santo Tomás" in set(read_city(city).schools["name"])


def test_a_bug_of_ours_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, small_city: Path, tmp_path: Path
) -> None:
    import facilities.capacity

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(facilities.capacity, "utilization", broken)
    result = CliRunner().invoke(
        cli, ["facilities", "capacity", str(small_city), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "ZeroDivisionError: division by zero" in result.output and "bug in Compact planner" in result.output
    )
    assert not (tmp_path / "out").exists()


def test_ctrl_c_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, small_city: Path, tmp_path: Path
) -> None:
    import app._common

    def interrupted(path: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(app._common, "read_city", interrupted)
    for args in (
        ["validate", str(small_city)],
        ["zones", "coverage", str(small_city), "--out", str(tmp_path / "out")],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 130 and "Traceback" not in result.output and "interrupted" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("after", [0.0, 3.0])
def test_ctrl_c_during_a_run_exits_130_and_keeps_the_previous_folder(
    small_city: Path, tmp_path: Path, after: float
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from app.outputs import output_folder

    out = tmp_path / "out"
    with output_folder(out, command="earlier run") as tmp:
        (tmp / "summary.json").write_text("{}")
    root = Path(__file__).resolve().parents[1]
    args = ["bells", "compare", str(small_city), "--out", str(out), "--time-limit", "30", "--am-only"]
    process = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", *args],
        cwd=root,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    process.stderr.readline()  # type: ignore[union-attr]  # the first progress line: the run has started
    time.sleep(after)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert json.loads((out / "manifest.json").read_text())["command"] == "earlier run", (
        "the previous folder is kept, whole"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no lock or temporary folder is left"
