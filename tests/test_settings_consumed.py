"""Settings are read once, typed, and every capability consumes the typed values.

The city below writes each ``[transport]`` setting in a form only the settings layer reads (``"45 min"``,
``"$90,000"``, ``"400 m"``): code that read the raw table again (``float(transport.get(...))``) would
fail on it or use a default, and the plan would not follow the city's file.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from facilities import City, ValidationError
from facilities.capacity import CapacityRules
from facilities.settings import parse_settings
from routing.scenarios import prepare

ROOT = Path(__file__).resolve().parents[1]
H = 3600.0

TRANSPORT = {
    "max_ride": "45 min",
    "school_dwell": "4 min",
    "stop_time_fixed": "20 s",
    "stop_time_per_student": "3 s",
    "cost_per_bus_year": "$90,000",
    "cost_per_bus_year_source": "our contract, 2025",
    "cost_per_mile": 2,
    "school_days": 175,
    "bell_tiers": ["07:30", "08:15", "09:00"],
    "eligibility": [{"grades": "K-12", "walk_beyond_m": "400 m"}],
    "bells": {
        "max_change_minutes": 60,
        "rules": [{"label": "high schools at 8 or later", "grades": "9-12", "earliest": "08:00"}],
    },
}


def _city(transport: dict) -> City:
    rng = np.random.default_rng(3)
    lon0, lat0 = -71.08, 42.33
    schools = gpd.GeoDataFrame(
        {
            "id": ["A", "B"],
            "name": ["School A", "School B"],
            "sector": ["district", "charter"],
            "grades": ["K-5", "9-12"],
            "bell_start": ["08:00", "08:30"],
            "bell_end": ["14:30", "15:00"],
        },
        geometry=gpd.points_from_xy([lon0 - 0.01, lon0 + 0.01], [lat0, lat0]),
        crs="EPSG:4326",
    )
    n = 60
    students = gpd.GeoDataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "grade": rng.choice([2, 10], n),
            "school": rng.choice(["A", "B"], n),
            "max_walk": 500.0,
            "neighborhood": "North",
        },
        geometry=gpd.points_from_xy(lon0 + rng.uniform(-0.03, 0.03, n), lat0 + rng.uniform(-0.02, 0.02, n)),
        crs="EPSG:4326",
    )
    return City.from_frames(
        name="Typedtown", schools=schools, students=students, settings={"transport": transport}
    )


def _prepare(transport: dict):  # type: ignore[no-untyped-def]
    return prepare(
        _city(transport), network=None, sessions=("am",), time_limit=2, seed=1, engine="fixed", workers=1
    )


def test_every_transport_setting_reaches_the_plan() -> None:
    p = _prepare(TRANSPORT)
    assert p.data.max_ride == 45 * 60
    assert p.data.stop_time_fixed == 20 and p.data.stop_time_per_student == 3
    assert {s.dwell for s in p.data.schools} == {240}
    assert (p.costs.per_bus_year, p.costs.per_mile, p.costs.school_days) == (90_000, 2, 175)
    assert p.costs.source == "our contract, 2025"
    # the bell tiers are the candidates (no step given), the policy's rules and limits are the city's
    assert (p.policy.earliest, p.policy.latest, p.policy.step) == (7.5 * H, 9 * H, 0.75 * H)
    assert p.policy.max_change == H and p.policy.rules[0].earliest == 8 * H
    # the walk limit decides who rides: nobody rides from within 400 m of their school
    assert len(p.riders) and p.riders["id"].is_unique
    assert p.runs["am"]
    for run in p.runs["am"]:  # the ride limit holds for every rider, the bus waits out the dwell
        assert all(0 <= ride <= 45 * 60 + 1e-6 for _, ride in run.ride_times())
        assert run.visits[-1].end - run.visits[-1].start == pytest.approx(240)


def test_a_changed_setting_changes_the_plan() -> None:
    base = _prepare(TRANSPORT)
    farther = _prepare({**TRANSPORT, "eligibility": [{"grades": "K-12", "walk_beyond_m": "2 km"}]})
    assert 0 < len(farther.riders) < len(base.riders)
    stepped = _prepare({**TRANSPORT, "bells": {**TRANSPORT["bells"], "step_minutes": 10}})
    assert stepped.policy.step == 600 and (stepped.policy.earliest, stepped.policy.latest) == (7 * H, 9.5 * H)
    shorter = _prepare({**TRANSPORT, "max_ride": "1 h", "school_dwell": 60})
    assert shorter.data.max_ride == H and {s.dwell for s in shorter.data.schools} == {60}


def test_capacity_settings_are_read_by_the_settings_layer() -> None:
    settings = parse_settings({"capacity": {"target": [0.8, 0.95], "class_size": {"PK-12": 18}}})
    rules = replace(CapacityRules(), **settings.capacity.given)
    assert rules.band == (0.8, 0.95) and rules.class_size == ((-1, 12, 18),)
    assert CapacityRules.from_settings({"area_per_seat": {"PK-12": 12.5}}).area_per_seat == ((-1, 12, 12.5),)
    with pytest.raises(ValidationError, match="class_sise"):
        CapacityRules.from_settings({"class_sise": {"K-3": 20}})


#: Reads of a settings table as written: every setting comes from the typed sections instead.
RAW_READ = re.compile(
    r"settings\.get\(|settings\[\"|\.get\(\"transport\"|\[\"transport\"\]|transport\.get\(|"
    r"\.get\(\"(geocode|enrollment|capacity|eligibility|hazards)\"|settings\.raw\b"
)


def test_no_module_reads_the_raw_settings_tables() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{k}: {line.strip()}"
        for package in ("facilities", "routing", "app")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "settings.py"
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if RAW_READ.search(line)
    ]
    assert not offenders, "read the typed settings (city.settings.transport, ...):\n" + "\n".join(offenders)
