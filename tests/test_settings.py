"""city.toml settings: typed when the city is read, every key checked, every problem said at once."""

from __future__ import annotations

import pytest

from facilities import ValidationError
from facilities.settings import Settings, parse_settings
from tests.conftest import DEMO


def _problems(config: dict) -> list[str]:
    with pytest.raises(ValidationError) as err:
        parse_settings(config)
    return [str(p) for p in err.value.problems]


def test_the_demo_settings_are_typed_on_the_city(demo_city) -> None:
    s = demo_city.settings
    assert isinstance(s, Settings)
    assert s.transport.max_ride == 3600.0 and s.transport.cost_per_mile == 3.0
    assert s.transport.bell_tiers == (7.5 * 3600, 8.5 * 3600, 9.5 * 3600)
    assert [b.walk_beyond for b in s.transport.eligibility] == [1609.0, 2414.0, 3219.0]
    assert s.transport.eligibility[0].grades == (0, 1, 2, 3, 4, 5)
    assert s.transport.bells.step == 15 * 60 and s.transport.bells.max_change == 3600
    assert (
        s.transport.bells.rules[0].grades == (9, 10, 11, 12)
        and s.transport.bells.rules[0].earliest == 8 * 3600
    )
    assert s.capacity.given["band"] == (0.85, 1.0)
    assert s.enrollment.shared_zones[0].grades == (6, 7, 8)
    assert s.network is not None and s.network.snap_max == 250.0 and demo_city.network.snap_max == 250.0
    assert s.get("transport")["max_ride"] == 3600, "the tables as written stay readable"


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("network", "snap_max", "250 m", 250.0),
        ("network", "snap_max", "0.25km", 250.0),
        ("network", "snap_max", "820 ft", 820 * 0.3048),
        ("transport", "max_ride", "50 min", 3000.0),
        ("transport", "max_ride", "1 h", 3600.0),
        ("transport", "max_ride", 2700, 2700.0),
        ("transport", "cost_per_bus_year", "$95,000", 95000.0),
    ],
)
def test_quantities_take_explicit_units(section: str, key: str, value: object, expected: float) -> None:
    settings = parse_settings({section: {key: value}})
    table = settings.network if section == "network" else settings.transport
    assert getattr(table, key) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("config", "parts"),
    [
        ({"network": {"snapmax": 250}}, ["snapmax: unknown key in [network]", "did you mean snap_max?"]),
        (
            {"network": {"snap_max": "250 furlongs"}},
            ["key 'network.snap_max'", "'250 furlongs' is not a distance", "snap_max = 250"],
        ),
        (
            {"network": {"network_type": "bus"}},
            ["network.network_type", "'bus' is not one of drive, walk, all"],
        ),
        (
            {"transport": {"max_ride": "one hour"}},
            ["key 'transport.max_ride'", "'one hour' is not a duration", "max_ride = 3600"],
        ),
        (
            {"transport": {"bell_tiers": ["07:30", "8h30"]}},
            ["transport.bell_tiers", "'8h30' is not a time of day", '"08:30"'],
        ),
        ({"transport": {"cost_per_mile": "cheap"}}, ["transport.cost_per_mile", "not an amount of dollars"]),
        ({"transport": {"school_days": 400}}, ["transport.school_days", "above 366"]),
        (
            {"transport": {"bells": {"earliest": "9:00", "latest": "8:00"}}},
            ["the latest start is before the earliest"],
        ),
        (
            {"transport": {"bells": {"rules": [{"grades": "9-12", "erliest": "08:00"}]}}},
            ["erliest: unknown key", "did you mean earliest?"],
        ),
        (
            {"transport": {"bells": {"rules": [{"grades": "9-12", "earliest": "8h"}]}}},
            ["table 1", "transport.bells.rules.earliest"],
        ),
        ({"transport": {"eligibility": {"K-5": 1609, "5-8": 2414}}}, ["grade 5 is also in band 1"]),
        (
            {"capacity": {"target": "0.85-1.0"}},
            ["key 'capacity.target'", "is not two numbers", "target = [0.85, 1.0]"],
        ),
        ({"capacity": {"efficiency": 1.5}}, ["capacity.efficiency", "above 1"]),
        ({"capacity": {"class_size": {"K-5": 20}}}, ["class_size bands must cover PK-12"]),
        ({"enrollment": {"shared_zones": [{"id": "z"}]}}, ["a shared zone without units"]),
        ({"tranport": {"max_ride": 3600}}, ["[tranport]: unknown table", "did you mean [transport]?"]),
        ({"map": {"water": 3}}, ["map.water", "is not text"]),
    ],
)
def test_every_bad_setting_is_named_with_its_fix(config: dict, parts: list[str]) -> None:
    text = "\n".join(_problems(config))
    for part in parts:
        assert part in text, f"{part!r} not in {text!r}"
    assert " — " in text, "each problem says what to do"


def test_several_bad_settings_are_reported_together() -> None:
    problems = _problems(
        {"network": {"snapmax": 1}, "transport": {"max_ride": "x"}, "capacity": {"target": "a"}}
    )
    assert len(problems) == 3


def test_a_city_read_with_bad_settings_names_them_with_the_files_problems(tmp_path) -> None:
    import shutil

    city = tmp_path / "city"
    shutil.copytree(DEMO, city, ignore=shutil.ignore_patterns("streets.graphml", "students.csv"))
    toml = (city / "city.toml").read_text()
    toml = toml.replace('[network]\nfile = "streets.graphml"\nnetwork_type = "drive"\nsnap_max = 250\n', "")
    toml = toml.replace("max_ride = 3600", 'max_ride = "one hour"').replace(
        'crs = "EPSG:4326"', 'crs = "WGS84-lonlat"', 1
    )
    toml = toml.replace(
        '[layers.students]\nfile = "students.csv"\nx = "lon"\ny = "lat"\ncrs = "EPSG:4326"\n', ""
    )
    (city / "city.toml").write_text(toml)
    from facilities import read_city

    with pytest.raises(ValidationError) as err:
        read_city(city)
    text = str(err.value)
    assert "'one hour' is not a duration" in text
    assert "key 'layers.schools.crs': 'WGS84-lonlat' is not a CRS" in text and 'crs = "EPSG:4326"' in text


def test_settings_given_as_a_dict_to_from_frames_are_checked(demo_city) -> None:
    from facilities import City

    schools = demo_city.to_wgs84(demo_city.schools)
    with pytest.raises(ValidationError, match="did you mean max_ride"):
        City.from_frames(schools=schools, settings={"transport": {"maxride": 10}})
    city = City.from_frames(schools=schools, settings={"transport": {"max_ride": "45 min"}})
    assert city.settings.transport.max_ride == 2700.0


def test_a_city_copied_with_raw_settings_gets_them_typed(demo_city) -> None:
    import dataclasses

    changed = dataclasses.replace(
        demo_city, settings={**demo_city.settings, "transport": {"max_ride": "40 min"}}
    )
    assert changed.settings.transport.max_ride == 2400.0 and changed.settings.capacity.given["band"] == (
        0.85,
        1.0,
    )
    with pytest.raises(ValidationError, match="did you mean max_ride"):
        dataclasses.replace(demo_city, settings={"transport": {"max_rides": 10}})
