"""Readiness: each capability ready, ready with estimates (which), or blocked (what, and the lines to add)."""

from __future__ import annotations

import re

import pytest

from facilities import ValidationError
from facilities.readiness import CHECKS, Need, readiness, require


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
