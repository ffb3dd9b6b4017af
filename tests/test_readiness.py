"""Readiness: each capability ready, ready with estimates (which), or blocked (what, and the lines to add)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from facilities import ValidationError, read_city
from facilities.readiness import CHECKS, Need, readiness, require
from tests.test_stripped_cities import LAYERS, _copy_demo, _strip_layer


def test_the_demo_city_is_ready_for_everything(demo_city):
    lines = readiness(demo_city)
    assert [r.capability for r in lines] == list(CHECKS)
    assert {r.state for r in lines} == {"ready"}, [r.line() for r in lines]


def test_without_students_the_student_capabilities_are_blocked_with_the_lines_to_add(demo_city):
    city = demo_city.replace(students=None)
    lines = {r.capability: r for r in readiness(city)}
    for capability in ("sites", "bells"):
        assert lines[capability].state == "blocked"
        assert '[layers.students] file = "students.csv"' in lines[capability].line()
    # the zones carry population by age: residents are estimated from it, and said so
    assert lines["coverage"].state == "ready with estimates"
    assert "residents estimated from population by age" in lines["coverage"].line()
    assert lines["capacity"].state == "ready" and lines["match"].state == "ready"
    with pytest.raises(
        ValidationError, match=r"sites is blocked: no students layer .* add \[layers.students\]"
    ):
        require(city, "sites")
    assert require(city, "capacity").state == "ready"


def test_buildings_without_rooms_make_capacity_an_estimate_and_unknown_gyms_conditions(demo_city):
    rooms = [c for c in demo_city.buildings.columns if c.startswith("rooms_")]
    buildings = demo_city.to_wgs84(demo_city.buildings).assign(**{c: 0 for c in rooms}, gym=None)
    lines = {r.capability: r for r in readiness(demo_city.replace(buildings=buildings))}
    assert lines["capacity"].state == "ready with estimates"
    # no room is counted: every building's capacity is its schools' reported one, else from floor area
    counts = re.findall(
        r"capacity of (\d+) buildings (from their reported capacity|estimated from floor area)",
        lines["capacity"].line(),
    )
    assert sum(int(n) for n, _ in counts) == len(buildings) and {w for _, w in counts} >= {
        "estimated from floor area"
    }
    assert "gym unknown for" in lines["match"].line() and "fits if" in lines["match"].line()


def test_a_capability_adds_its_own_check(demo_city, monkeypatch):
    monkeypatch.setitem(
        CHECKS, "ferries", lambda city: ([Need("no ferry terminals", "[layers.ferries]")], [])
    )
    (line,) = readiness(demo_city, ["ferries"])
    assert line.line() == "ferries   blocked: no ferry terminals (add: [layers.ferries])"


@pytest.mark.slow
@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("capability", ["coverage", "lottery", "design"])
def test_validate_says_blocked_exactly_when_the_zones_command_stops(tmp_path, layer, capability):
    """On the demo stripped of each layer: blocked in validate iff the command exits 1, in its words."""
    city = _copy_demo(tmp_path / "city")
    _strip_layer(city, layer)
    out = tmp_path / "out"
    args = ["zones", capability, str(city), "--out", str(out)]
    result = CliRunner().invoke(cli, args + (["--time-limit", "2"] if capability == "design" else []))
    assert result.exit_code in (0, 1) and "Traceback" not in result.output
    try:
        ready = readiness(read_city(city), [capability])[0]
    except ValidationError as err:  # the city does not load: validate and the command say the same
        assert result.exit_code == 1 and str(err).splitlines()[1] in result.output
        return
    assert (ready.state == "blocked") == (result.exit_code == 1), (ready.line(), result.output[-600:])
    for need in ready.missing:
        assert f"{capability} is blocked: {need.what}" in result.output
