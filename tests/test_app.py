"""Every page of the Streamlit app, run headless with ``streamlit.testing.v1.AppTest``."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import DEMO, ROOT

APP = str(ROOT / "app" / "streamlit_app.py")
TIMEOUT = 120


@pytest.fixture(autouse=True)
def _no_city_override(monkeypatch):
    monkeypatch.delenv("COMPACT_CITY", raising=False)


@pytest.fixture
def app() -> AppTest:
    """The app on the demo city (skips when data/demo is not generated)."""
    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def _deck(at: AppTest, index: int = 0) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert charts, "the page shows no map"
    return json.loads(charts[index].proto.json)


def _layer(spec: dict, layer_id: str) -> dict:
    layers = {layer["id"]: layer for layer in spec["layers"]}
    assert layer_id in layers, f"no {layer_id!r} layer among {sorted(layers)}"
    return layers[layer_id]


def _table(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first table on the page holding ``columns`` (AppTest does not expose a dataframe's key)."""
    tables = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    assert tables, f"the page shows no table with {columns}"
    return tables[0]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _charts(at: AppTest) -> list[tuple[dict, pd.DataFrame]]:
    """Every chart on the page: its Vega-Lite spec and its data."""
    import pyarrow as pa

    out = []
    for chart in at.get("vega_lite_chart"):
        frames = [pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets]
        out.append((json.loads(chart.proto.spec), frames[0] if frames else pd.DataFrame()))
    return out


def _column_formats(at: AppTest, column: str) -> list[str]:
    """The display formats the page gives ``column`` in its tables."""
    out = []
    for d in at.dataframe:
        config = json.loads(d.proto.columns or "{}")
        if column in config:
            out.append(config[column].get("type_config", {}).get("format", ""))
    return out


def _problems_table(at: AppTest) -> pd.DataFrame:
    return _table(at, "file", "problem", "what to do")


def _broken_city(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "city.toml").write_text(
        '[city]\nname = "Broken"\n\n[layers.schools]\nfile = "schools.csv"\nx = "lon"\ny = "lat"\n',
        encoding="utf-8",
    )
    (folder / "schools.csv").write_text(
        "id,name,sector,lon,lat\nA,Alpha,district,-71.06,42.35\nB,Beta,public,-71.05,42.36\n",
        encoding="utf-8",
    )
    return folder


def _small_city(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "city.toml").write_text(
        '[city]\nname = "Tiny Town"\n\n[layers.schools]\nfile = "schools.csv"\nx = "lon"\ny = "lat"\n',
        encoding="utf-8",
    )
    (folder / "schools.csv").write_text(
        "id,name,sector,lon,lat\nA,Alpha,district,-71.06,42.35\nB,Beta,charter,-71.05,42.36\n"
        "C,Gamma,catholic,-71.07,42.34\n",
        encoding="utf-8",
    )
    return folder


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(folder.parent))
    return buffer.getvalue()


# ---------------------------------------------------------------- city page


def test_city_page_maps_schools_buildings_and_aggregated_homes(app):
    from facilities import read_city

    city = read_city(DEMO)
    assert app.title[0].value == city.name
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Schools"] == f"{len(city.schools):,}"
    assert metrics["Students"] == f"{len(city.students):,}"
    spec = _deck(app)
    assert spec.get("mapProvider") in (None, "") and spec.get("mapStyle") == "__MAP_STYLE__"
    assert len(_layer(spec, "schools")["data"]) == len(city.schools)
    assert len(_layer(spec, "buildings")["data"]) == len(city.buildings)
    assert len(_layer(spec, "streets")["data"]) > 100
    assert len(_layer(spec, "neighborhoods")["data"]) >= (city.zones["kind"] == "neighborhood").sum()
    homes = _layer(spec, "homes")["data"]
    counts = [int(row["tip"].split()[0].replace(",", "")) for row in homes]
    assert counts and min(counts) >= 10
    assert sum(counts) <= len(city.students)


def test_city_page_filters_sectors_and_layers(app):
    app.multiselect(key="city_sectors").set_value(["charter"]).run()
    app.pills(key="city_layers").set_value(["Streets"]).run()
    assert not app.exception
    spec = _deck(app)
    ids = {layer["id"] for layer in spec["layers"]}
    assert "homes" not in ids and "buildings" not in ids
    tips = {row["tip"] for row in _layer(spec, "schools")["data"]}
    assert tips and all("charter" in tip for tip in tips)


def test_city_page_offers_tables_and_downloads(app):
    labels = [b.label for b in app.get("download_button")]
    assert "Download schools" in labels and "Download buildings" in labels
    schools = app.dataframe[0].value
    assert {"name", "sector"} <= set(schools.columns)
    assert "geometry" not in schools.columns


# ---------------------------------------------------------------- choosing a city


def _folder_app(folder: Path) -> AppTest:
    """The app, run once on the city folder ``folder`` (the sidebar's "A city folder")."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["city_source"] = "A city folder"
    at.session_state["city_folder"] = str(folder)
    at.run()
    return at


def test_a_broken_city_folder_lists_its_problems_in_the_page(tmp_path):
    at = _folder_app(_broken_city(tmp_path / "broken"))
    assert not at.exception
    assert at.error and "problem" in at.error[0].value
    table = _problems_table(at)
    assert table["problem"].str.contains("public").any()
    assert not at.title, "a broken city must not be drawn"


def test_a_broken_upload_lists_its_problems_in_the_page(tmp_path):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["city_source"] = "Upload a zipped city"
    at.run()
    assert not at.exception and not at.title
    at.file_uploader(key="city_zip").upload(
        "broken.zip", _zip(_broken_city(tmp_path / "broken")), "application/zip"
    )
    at.run()
    assert not at.exception
    table = _problems_table(at)
    assert (table["file"].str.contains("schools.csv")).any()
    assert table["row"].notna().any(), "a problem in a row names the row"
    at.file_uploader(key="city_zip").set_value(("notes.zip", b"not a zip at all", "application/zip"))
    at.run()
    assert _problems_table(at)["problem"].str.contains("not a zip").any()


def test_an_uploaded_city_is_shown(tmp_path):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["city_source"] = "Upload a zipped city"
    at.run()
    at.file_uploader(key="city_zip").upload(
        "tiny.zip", _zip(_small_city(tmp_path / "tiny")), "application/zip"
    )
    at.run()
    assert not at.exception
    assert at.title[0].value == "Tiny Town"
    assert len(_layer(_deck(at), "schools")["data"]) == 3


def test_a_city_without_students_or_neighborhoods_says_so_instead_of_zero(tmp_path):
    at = _folder_app(_small_city(tmp_path / "tiny"))
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Schools"] == "3"
    assert shown["Students"] == shown["Neighborhoods"] == "not given"


# ---------------------------------------------------------------- facilities page


def test_facilities_page_runs_the_match_and_explains_a_misfit(app):
    app.switch_page("views/facilities.py").run()
    assert not app.exception
    assert app.title[0].value == "Facilities"
    spec = _deck(app)
    assert len(_layer(spec, "buildings")["data"]) > 0 and len(_layer(spec, "needs")["data"]) > 0
    assert any(w.value.startswith("**") for w in app.warning) or app.success, (
        "the page explains whether the picked building fits"
    )
    app.slider(key="match_time").set_value(2)
    app.button(key="match_run").click().run()
    assert not app.exception
    matches = _table(app, "need", "building", "mode")
    spec = _deck(app)
    assert len(_layer(spec, "matches")["data"]) == len(matches)
    labels = [b.label for b in app.get("download_button")]
    assert "Download matches (CSV)" in labels and any("ZIP" in label for label in labels)
    # every need left out is explained, and a building that does not fit says why
    unmatched = [d.value for d in app.dataframe if "reasons" in d.value.columns]
    if unmatched:
        assert unmatched[0]["reasons"].str.len().gt(0).all()


def test_facilities_page_says_why_a_building_does_not_fit(app):
    app.switch_page("views/facilities.py").run()
    from facilities import read_city
    from facilities.matching import MatchData

    data = MatchData.from_city(read_city(DEMO))
    need = data.need_ids[0]
    misfit = next(b for b in data.building_ids if data.reasons(need, b))
    app.selectbox(key="why_need").set_value(need).run()
    app.selectbox(key=f"why_building|{need}|").set_value(misfit).run()
    text = " ".join(w.value for w in app.warning)
    assert "does not fit" in text
    assert all(reason in text for reason in data.reasons(need, misfit))


def test_facilities_page_chooses_sites_for_new_campuses(app):
    app.switch_page("views/facilities.py").run()
    app.number_input(key="sites_p").set_value(2)
    app.selectbox(key="sites_grades").set_value("high (9-12)")
    app.button(key="sites_run").click().run()
    assert not app.exception, app.exception
    sites = _table(app, "students served", "mean travel (min)")
    assert len(sites) == 2 and set(sites["status"]) <= {"vacant", "under-used"}
    assert len(app.get("deck_gl_json_chart")) == 1  # the sites are drawn on the page's one map
    chosen = _layer(_deck(app), "sites_chosen")["data"]
    assert len(chosen) == 2
    assert {row["tip"].split(":")[0] for row in chosen} == set(sites["name"])
    app.selectbox(key="sites_grades").set_value("middle (6-8)").run()  # other inputs: no sites drawn
    assert "sites_chosen" not in {layer["id"] for layer in _deck(app)["layers"]}


# ---------------------------------------------------------------- small generated city for bells and zones


@pytest.fixture(scope="session")
def small_city(tmp_path_factory) -> Path:
    from facilities.demo import generate

    return generate(size="test", seed=7, out=tmp_path_factory.mktemp("riverton") / "city")


@pytest.fixture
def small_app(small_city) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["city_source"] = "A city folder"
    at.session_state["city_folder"] = str(small_city)
    at.run()
    assert not at.exception, at.exception
    return at


def test_bells_page_runs_scenarios_and_compares_them(small_app, small_city):
    at = small_app
    at.switch_page("views/bells.py").run()
    assert not at.exception and at.title[0].value == "Bell times"
    assert not at.get("deck_gl_json_chart"), "no map before a run"
    at.slider(key="bell_time").set_value(4)
    at.button(key="bell_run").click().run()
    assert not at.exception, at.exception
    summary = _table(at, "scenario", "buses", "buses_saved")
    assert summary["scenario"].tolist() == ["status quo", "aligned", "optimized"]
    assert (summary["buses"] > 0).all()
    assert summary["buses_saved"].iloc[0] == 0
    buses = [m.value for m in at.metric if m.label == "Buses"]
    assert buses == [f"{int(b):,}" for b in summary["buses"]]
    spec = _deck(at)
    assert len(_layer(spec, "runs")["data"]) > 0 and len(_layer(spec, "stops")["data"]) > 0
    homes = _layer(spec, "homes")["data"]
    assert all(int(row["tip"].split()[0].replace(",", "")) >= 10 for row in homes)
    assert any("ZIP" in b.label for b in at.get("download_button"))


def test_bells_page_edited_times_make_a_scenario_of_their_own(small_app, small_city):
    at = small_app
    at.switch_page("views/bells.py").run()
    at.multiselect(key="bell_scenarios").set_value(["status quo"]).run()
    assert not at.exception
    # the data editor cannot be typed into here; the same fixed scenario comes from the library's API
    from facilities import read_city
    from routing.scenarios import Scenario, prepare, run_scenario

    city = read_city(small_city)
    school = city.schools.dropna(subset=["bell_start"]).iloc[0]
    prepared = prepare(city, sessions=("am",), time_limit=2, seed=0)
    moved = run_scenario(
        prepared, Scenario("your times", "fixed", times={school["id"]: school["bell_start"] + 1800})
    )
    changes = moved.bells.changes.set_index("school")
    assert changes.loc[school["id"], "reason"] == "set by the scenario"


def test_bells_page_shows_an_error_for_a_bad_policy_time(small_app):
    at = small_app
    at.switch_page("views/bells.py").run()
    at.text_input(key="bell_earliest").input("seven").run()
    at.slider(key="bell_time").set_value(4)
    at.multiselect(key="bell_scenarios").set_value(["optimized"]).run()
    at.button(key="bell_run").click().run()
    assert not at.exception
    assert _problems_table(at)["column"].str.contains("earliest").any()


# ---------------------------------------------------------------- zones page


def test_zones_page_measures_a_zone_and_runs_the_lottery(small_app, small_city):
    at = small_app
    at.switch_page("views/zones.py").run()
    assert not at.exception and at.title[0].value == "Enrollment zones"
    metrics = {m.label: m.value for m in at.metric}
    assert {"Its schools", "Residents", "Seats", "Seats cover"} <= set(metrics)
    spec = _deck(at)
    assert len(_layer(spec, "zones")["data"]) == 1
    if (
        at.radio(key="zone_how").value != "Build a shared zone from neighborhoods"
    ):  # the city.toml's zone comes first
        at.radio(key="zone_how").set_value("Build a shared zone from neighborhoods").run()
    zone_schools = len(_layer(_deck(at), "zone_schools")["data"])
    names = at.multiselect(key="zone_units").options
    at.multiselect(key="zone_units").set_value(names).run()
    assert len(_layer(_deck(at), "zone_schools")["data"]) >= zone_schools, (
        "a bigger zone holds at least the same schools"
    )
    at.button(key="lottery_run").click().run()
    assert not at.exception, at.exception
    assert at.radio(key="zone_shade").value == "Lottery: first choice"
    outcomes = _layer(_deck(at), "outcomes")["data"]
    assert outcomes
    for row in outcomes:
        part, total = (int(x.replace(",", "")) for x in row["tip"].split(" applicants")[0].split(" of "))
        assert total >= 10 and 0 <= part <= total
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Applicants"] != "0"
    assert any("lottery" in b.label.lower() for b in at.get("download_button"))


# ================================================================ the findings, one test each
# ---------------------------------------------------------------- network


def test_the_app_sends_no_usage_statistics_and_make_app_uses_that():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["browser"]["gatherUsageStats"] is False
    target = (ROOT / "Makefile").read_text(encoding="utf-8").split("\napp:")[1].split("\n\n")[0]
    assert "streamlit run app/streamlit_app.py" in target and "gatherUsageStats false" in target


def test_every_map_asks_for_no_basemap_style(app):
    """Streamlit's frontend fetches a carto style for a deck without ``mapStyle``; pydeck's sentinel says
    "none"."""
    spec = _deck(app)
    assert spec.get("mapStyle") == "__MAP_STYLE__"
    assert "http" not in json.dumps(spec), "a map names a remote resource"


# ---------------------------------------------------------------- uploads


def test_a_csv_dropped_on_the_uploader_is_named_as_the_problem(tmp_path):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["city_source"] = "Upload a zipped city"
    at.run()
    at.file_uploader(key="city_zip").upload("schools.csv", b"id,name\nA,Alpha\n", "text/csv")
    at.run()
    assert not at.exception
    problems = _problems_table(at)
    assert problems["problem"].str.contains("single CSV file").any()
    assert problems["what to do"].str.contains("zip the city folder").any()


def test_a_blank_coordinate_is_one_problem(tmp_path):
    folder = _small_city(tmp_path / "blank")
    (folder / "schools.csv").write_text(
        "id,name,sector,lon,lat\nA,Alpha,district,-71.06,42.35\nB,Beta,charter,,42.36\n", encoding="utf-8"
    )
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["city_source"] = "A city folder"
    at.session_state["city_folder"] = str(folder)
    at.run()
    problems = _problems_table(at)
    assert len(problems[problems["row"] == 3]) == 1, problems
    assert not problems["problem"].str.contains("polygon").any()


# ---------------------------------------------------------------- city page


def test_city_sector_filter_filters_the_table_and_the_chart(app, demo_city):
    app.multiselect(key="city_sectors").set_value(["charter"]).run()
    schools = _table(app, "name", "sector")
    assert len(schools) == int((demo_city.schools["sector"] == "charter").sum())
    assert set(schools["sector"]) == {"charter"}
    _, values = next(c for c in _charts(app) if "neighborhood" in json.dumps(c[0]["encoding"]))
    assert set(values["sector"]) == {"charter"}


def test_city_zones_toggle_draws_the_demo_shared_zone(app, demo_city):
    from facilities.zones import configured_zones

    assert "Zones" in app.pills(key="city_layers").options
    app.pills(key="city_layers").set_value(["Zones"]).run()
    zones = _layer(_deck(app), "zones")["data"]
    assert len(zones) >= len(configured_zones(demo_city))


def test_city_hexagons_have_a_key_and_tables_speak_words(app):
    assert any("Student homes per hexagon" in m.value for m in app.markdown)
    for frame in (d.value for d in app.dataframe):
        assert not {"gross_area", "annual_cost", "rooms_classroom"} & set(frame.columns)
        text = frame.astype(str)
        assert not (text == "None").any().any()


# ---------------------------------------------------------------- facilities page


@pytest.fixture
def facilities(app) -> AppTest:
    app.switch_page("views/facilities.py").run()
    assert not app.exception, app.exception
    return app


def test_facilities_needs_are_numbered_on_the_map_as_in_the_tables(facilities, demo_city):
    facilities.slider(key="match_time").set_value(2)
    facilities.button(key="match_run").click().run()
    numbers = {row["text"] for row in _layer(_deck(facilities), "need_numbers")["data"]}
    assert numbers == {str(k) for k in range(1, len(demo_city.needs) + 1)}
    matches = _table(facilities, "#", "need", "building")
    assert set(matches["#"].astype(str)) <= numbers
    tips = [row["tip"] for row in _layer(_deck(facilities), "matches")["data"]]
    assert all(tip.startswith("#") for tip in tips)


def _types(spec: dict) -> set[str]:
    return {layer["@@type"] for layer in spec["layers"]}


def test_maps_hold_few_layer_types(facilities):
    """Each layer type costs a software-WebGL browser a shader compiled each time a map opens: points are
    polygons, names are written only on the facility planner's map (the needs' numbers)."""
    assert _types(_deck(facilities)) == {"SolidPolygonLayer", "LineLayer", "TextLayer"}
    assert len(_layer(_deck(facilities), "neighborhoods")["data"]) and _layer(_deck(facilities), "labels")
    app = facilities.switch_page("views/city.py").run()
    assert _types(_deck(app)) == {"SolidPolygonLayer", "LineLayer"}
    app.button_group(key="city_layers").set_value(["Streets", "Names"]).run()
    assert _types(_deck(app)) == {"SolidPolygonLayer", "LineLayer", "TextLayer"}  # names when asked


def test_facilities_match_shows_names_and_formatted_dollars(facilities, demo_city):
    facilities.slider(key="match_time").set_value(2)
    facilities.button(key="match_run").click().run()
    matches = _table(facilities, "#", "need", "building", "hosts")
    ids = set(demo_city.schools["id"]) | set(demo_city.buildings["id"])
    for hosts in matches["hosts"]:
        assert not (set(str(hosts).split(", ")) & ids), f"hosts shown as ids: {hosts}"
    assert set(matches["building"]) <= set(
        __import__("app.ui", fromlist=["x"]).display_names(demo_city.buildings).values()
    )
    assert _column_formats(facilities, "$ / year") and set(_column_formats(facilities, "$ / year")) == {
        "dollar"
    }
    # every reason for a need left out is shown whole, in words
    unhoused = [m.value for m in facilities.markdown if m.value.startswith("- **#")]
    for line in unhoused:
        assert not any(i in line for i in ids), line


def test_facilities_lists_several_ranked_buildings_with_their_conditions(facilities):
    ranked = _table(facilities, "rank", "building", "conditions")
    assert len(ranked) >= 3
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    assert ranked["conditions"].str.len().gt(0).all()


def test_facilities_what_if_withdraws_a_building_and_adds_a_need(facilities, demo_city):
    gone = demo_city.buildings[demo_city.buildings["status"] == "vacant"]["id"].iloc[0]
    facilities.multiselect(key="whatif_withdraw").set_value([gone])
    facilities.text_input(key="whatif_name").input("Riverside Middle (what-if)")
    facilities.run()
    assert not facilities.exception
    tips = [row["tip"] for row in _layer(_deck(facilities), "buildings")["data"]]
    assert len(tips) == len(demo_city.buildings) - 1
    assert _metrics(facilities)["Space needs"] == f"{len(demo_city.needs) + 1:,}"
    facilities.slider(key="match_time").set_value(2)
    facilities.button(key="match_run").click().run()
    matches = _table(facilities, "#", "need", "building")
    from app.ui import display_names

    names = display_names(demo_city.buildings)
    assert names[gone] not in set(matches["building"])
    assert set(matches["building"]) <= set(names.values())


def test_facilities_summary_by_neighborhood_adds_up(facilities, demo_city):
    from facilities.capacity import utilization

    table = _table(facilities, "neighborhood", "buildings", "spare seats")
    assert table["buildings"].sum() == len(demo_city.buildings)
    assert table["seats"].sum() == int(utilization(demo_city).buildings["capacity"].sum())


def test_facilities_sites_have_their_own_color_a_legend_and_honest_seats(facilities):
    facilities.number_input(key="sites_p").set_value(1)
    facilities.selectbox(key="sites_grades").set_value("high (9-12)")
    facilities.button(key="sites_run").click().run()
    assert not facilities.exception
    from app import maps

    chosen = _layer(_deck(facilities), "sites_chosen")["data"]
    colors = {tuple(row["fill"][:3]) for row in chosen}
    assert not colors & {tuple(c[:3]) for c in maps.STATUS_COLORS.values()}
    assert any("chosen for a new campus" in m.value for m in facilities.markdown)
    sites = _table(facilities, "students served", "spare seats")
    over = sites[sites["students served"] > sites["spare seats"]]
    warned = " ".join(w.value for w in facilities.warning)
    assert all(f"{int(n):,} students" in warned for n in over["students served"])
    facilities.checkbox(key="sites_capacitated").check()
    facilities.button(key="sites_run").click().run()
    assert not facilities.exception
    errors = " ".join(e.value for e in facilities.error)
    if errors:
        assert "raise p" not in errors and "Choose more campuses" in errors


# ------------------------------------------------ zones page (demo city: its shared middle-school zone)


@pytest.fixture
def zones_page(app) -> AppTest:
    app.switch_page("views/zones.py").run()
    assert not app.exception, app.exception
    return app


def test_zone_schools_and_seats_follow_the_neighborhoods(zones_page, demo_city):
    from facilities.zones import coverage, shared_zone

    at = zones_page
    at.radio(key="zone_how").set_value("Build a shared zone from neighborhoods").run()
    picked = [*at.multiselect(key="zone_units").value, "Cedar Grove"]
    at.multiselect(key="zone_units").set_value(picked).run()
    assert not at.exception
    zone = shared_zone(demo_city, units=picked)
    cov = coverage(demo_city, zone, grades=(6, 7, 8)).summary()
    metrics = _metrics(at)
    assert metrics["Its schools"] == f"{len(zone['schools'].iloc[0]):,}"
    assert metrics["Seats"] == f"{cov['seats']:,}"
    assert metrics["Shortfall"] == f"{cov['shortfall']:,}"
    assert len(_layer(_deck(at), "zone_schools")["data"]) == len(zone["schools"].iloc[0])


def test_a_middle_school_zone_applies_in_grade_6(zones_page):
    grades = next(m for m in zones_page.multiselect if m.label == "Grades applying")
    assert grades.value == [6]


def test_the_lottery_says_when_the_guarantee_leaves_zone_residents_without_a_seat(zones_page, demo_city):
    from facilities.enrollment import run_lottery
    from facilities.zones import configured_zones

    at = zones_page
    at.button(key="lottery_run").click().run()
    assert not at.exception
    run = run_lottery(demo_city, zones=configured_zones(demo_city), guarantee=True, seed=0, grades=[6])
    summary, by_zone = run.summary(), run.by_zone()
    metrics = _metrics(at)
    assert metrics["Applicants"] == f"{summary['students']:,}"
    assert metrics["First choice"] == f"{summary['first_choice_share']:.0%}"
    assert metrics["Placed by the guarantee"] == f"{summary['guarantee']:,}"
    left_out = int(by_zone["unassigned"].fillna(0).sum())
    warned = " ".join(w.value for w in at.warning)
    assert (f"{left_out:,} of the zone's applicants have no seat" in warned) == (left_out > 0)
    assert "Guaranteed a seat" not in metrics, "coverage counts seats; it does not promise them"


def test_the_lottery_with_and_without_the_zone_side_by_side(zones_page, demo_city):
    from facilities.enrollment import run_lottery

    at = zones_page
    at.button(key="lottery_run").click().run()
    without = run_lottery(demo_city, zones=None, guarantee=False, seed=0, grades=[6]).aggregates(
        by=["sector"]
    )
    table = _table(at, "sector", "first choice share with the zone", "first choice share without")
    shown = table.set_index("sector")["first choice share without"]
    for _, row in without.dropna(subset=["first_choice_share"]).iterrows():
        assert shown[row["sector"]] == pytest.approx(row["first_choice_share"])
    assert _table(at, "income", "first choice share with the zone") is not None
    hoods = _table(at, "neighborhood", "first choice share with the zone")
    assert (hoods["students with the zone"].dropna() >= 10).all()
    assert set(_column_formats(at, "first choice share with the zone")) == {"percent"}


def test_the_neighborhood_chart_labels_every_neighborhood_and_shading_has_a_key(zones_page):
    at = zones_page
    at.button(key="lottery_run").click().run()
    assert any("Applicants first choice" in m.value for m in at.markdown)
    for chart, _ in _charts(at):
        y = chart.get("encoding", {}).get("y", {})
        if y.get("field") == "neighborhood":
            assert y["axis"]["labelOverlap"] is False and y["axis"]["labelLimit"] == 0


def test_zone_design_is_on_the_page(zones_page, demo_city):
    from facilities.zones import ZoneData, ZonePlan, compare_plans, greedy_zones

    at = zones_page
    at.slider(key="design_time").set_value(1)
    at.button(key="design_run").click().run()
    assert not at.exception
    # drawn on the page's one map (a second map costs the browser a WebGL context and its shaders)
    assert len(at.get("deck_gl_json_chart")) == 1
    assert at.radio(key="zone_shade").value == "Designed zones"
    assert _types(_deck(at)) == {"SolidPolygonLayer", "LineLayer"}
    drawn = _layer(_deck(at), "designed")["data"]
    at.radio(key="design_draw").set_value("greedy").run()
    greedy = _layer(_deck(at), "designed")["data"]
    assert greedy and drawn
    table = _table(at, "measure", "each neighborhood", "greedy", "designed")
    travel = __import__("app._common", fromlist=["travel_for"]).travel_for(demo_city)[0]
    data = ZoneData.from_city(demo_city, travel=travel)
    options = {"min_schools": 2, "max_schools": 8, "grades": (0, 1, 2, 3, 4, 5)}
    expected = compare_plans(
        {
            "each neighborhood": ZonePlan.from_labels(data, data.unit_ids, grades=options["grades"]),
            "greedy": greedy_zones(data, **options),
        }
    )
    shown = table.set_index("measure")
    assert shown.at["zones", "greedy"] == expected.at["zones", "greedy"]
    assert len({row["tip"] for row in greedy}) == expected.at["zones", "greedy"]
    assert shown.at["shortfall", "each neighborhood"] == expected.at["shortfall", "each neighborhood"]


# ---------------------------------------------------------------- bells page (small city, morning only)


def _run_bells(at: AppTest) -> AppTest:
    """The Bell times page run as the tests run it: morning only, 4 s, seed 0."""
    at.switch_page("views/bells.py").run()
    at.checkbox(key="bell_am_only").check()
    at.slider(key="bell_time").set_value(4)
    at.button(key="bell_run").click().run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def bells_run(small_app, monkeypatch):
    """The Bell times page after one run, counting the library's solves and file writes."""
    from app import outputs_bells
    from routing import scenarios

    calls = {"compare": 0, "write": 0}
    original_compare, original_write = scenarios.compare, outputs_bells.write_bells

    def counted_compare(*args, **kwargs):
        calls["compare"] += 1
        return original_compare(*args, **kwargs)

    def counted_write(*args, **kwargs):
        calls["write"] += 1
        return original_write(*args, **kwargs)

    monkeypatch.setattr(scenarios, "compare", counted_compare)
    monkeypatch.setattr(outputs_bells, "write_bells", counted_write)
    return _run_bells(small_app), calls


def test_bells_a_rerun_never_solves_or_builds_downloads_again(bells_run):
    at, calls = bells_run
    assert calls == {"compare": 1, "write": 0}
    at.run()
    at.selectbox(key="bell_map_scenario").set_value("optimized").run()
    at.checkbox(key="bell_map_homes").uncheck().run()
    assert not at.exception
    assert calls == {"compare": 1, "write": 0}


def test_bells_page_numbers_are_the_library_call_for_the_same_inputs(bells_run, small_city):
    from facilities import read_city
    from routing.scenarios import compare

    at, _ = bells_run
    expected = compare(read_city(small_city), time_limit=4.0, seed=0, sessions=("am",)).summary()
    shown = _table(at, "scenario", "buses", "buses_saved")
    assert shown["scenario"].tolist() == expected["scenario"].tolist()
    assert shown["buses"].tolist() == expected["buses"].tolist()
    assert [m.value for m in at.metric if m.label == "Buses"] == [f"{int(b):,}" for b in expected["buses"]]
    assert [m.value for m in at.metric if m.label == "Miles a day"] == [
        f"{x:,.0f}" for x in expected["miles_per_day"]
    ]
    assert [m.value for m in at.metric if m.label == "Driver hours a day"] == [
        f"{x:,.1f}" for x in expected["driver_hours_per_day"]
    ]


def test_bells_no_zero_change_is_shown_as_a_change(bells_run):
    at, _ = bells_run
    for metric in at.metric:
        delta = metric.proto.delta
        assert not delta or any(ch in delta for ch in "123456789"), f"{metric.label}: {delta!r}"


def test_bells_by_sector_chart_plots_a_column_that_exists(bells_run):
    at, _ = bells_run
    chart, values = next(c for c in _charts(at) if c[0]["encoding"].get("x", {}).get("field") == "sector")
    field = chart["encoding"]["y"]["field"]
    assert field in values.columns and values[field].sum() > 0


def test_bells_cards_and_map_caption_agree(bells_run):
    at, _ = bells_run
    buses = next(m.value for m in at.metric if m.label == "Buses")
    caption = next(c.value for c in at.caption if "runs on" in c.value)
    assert f"{buses} buses for the day" in caption


def test_bells_map_locates_no_student(bells_run):
    """No marker at a door-to-door or wheelchair stop, and no tooltip counting fewer than 10 riders."""
    import re

    from app import maps

    at, _ = bells_run
    comparison = at.session_state["result:bells"][1]
    stops = comparison.stops_frame().to_crs(4326)
    corners = stops[~stops["service"].isin(maps.PRIVATE_SERVICES)]
    corner_xy = np.c_[corners.geometry.x, corners.geometry.y]
    spec = _deck(at)
    drawn = _layer(spec, "stops")["data"]
    assert drawn
    for stop in drawn:
        centre = np.asarray(stop["polygon"])[:-1].mean(axis=0)  # a dot is a ring around its stop
        assert np.abs(corner_xy - centre).max(axis=1).min() < 1e-5, f"not a corner stop: {stop}"
    tips = [r["tip"] for r in _layer(spec, "runs")["data"]] + [s["tip"] for s in drawn]
    assert not [
        t for t in tips if re.search(r"(?<![\d,])[1-9] riders", t) or "door-to-door" in t or "wheelchair" in t
    ]


def test_bells_map_has_one_line_type(bells_run):
    """Runs are straight segments as streets are (no PathLayer shader to compile), each with its run's tip
    and bus; another scenario brings the same layers (the browser only uploads new data)."""
    at, _ = bells_run
    spec = _deck(at)
    assert _types(spec) == {"SolidPolygonLayer", "LineLayer"}
    assert all(s["tip"].startswith(f"bus {s['bus']}, run ") for s in _layer(spec, "runs")["data"])
    at.selectbox(key="bell_map_scenario").set_value(at.selectbox(key="bell_map_scenario").options[-1]).run()
    other = _deck(at)
    assert [(x["id"], x["@@type"]) for x in other["layers"]] == [
        (x["id"], x["@@type"]) for x in spec["layers"]
    ]


def test_bells_map_filters_by_tier_and_school_and_shows_a_bus_day(bells_run):
    at, _ = bells_run
    runs = _layer(_deck(at), "runs")["data"]
    tiers = at.multiselect(key="bell_map_tiers|status quo|am")
    at.multiselect(key="bell_map_tiers|status quo|am").set_value(tiers.value[:1]).run()
    fewer = _layer(_deck(at), "runs")["data"]
    assert 0 < len(fewer) <= len(runs) and all(f"({tiers.value[0]})" in r["tip"] for r in fewer)
    bus = int(fewer[0]["bus"])
    at.selectbox(key="bell_map_bus|status quo|am").set_value(bus).run()
    assert not at.exception
    assert all(int(r["bus"]) == bus for r in _layer(_deck(at), "runs")["data"])
    assert any(f"Bus {bus}'s AM day" in m.value for m in at.markdown)
    day = _table(at, "run", "school", "first pickup", "arrives")
    assert len(day) >= 1


def test_bells_spread_when_the_clock_cap_fired_is_the_library_for_the_same_seeds(
    small_app, small_city, monkeypatch
):
    """When the clock's cap ended a search, a button (and only it) reruns other seeds; the table's
    fewest/median/most buses and dollars are the library's for those seeds."""
    from app.views._bells_spread import other_seeds
    from facilities import read_city
    from routing import scenarios
    from routing.scenarios import Comparison

    monkeypatch.setattr(Comparison, "clock_cap", lambda self: ("bell-time search",))
    solves = []
    original = scenarios.compare
    monkeypatch.setattr(scenarios, "compare", lambda *a, **k: solves.append(k["seed"]) or original(*a, **k))
    at = _run_bells(small_app)
    assert solves == [0] and not [d for d in at.dataframe if "buses, fewest" in d.value.columns]
    at.button(key="bell_spread").click().run()
    assert not at.exception, at.exception
    assert solves == [0, *other_seeds(0)]
    shown = _table(at, "scenario", "buses, fewest", "buses, median", "buses, most").set_index("scenario")
    city = read_city(small_city)
    rows = pd.concat(
        [original(city, time_limit=4.0, seed=s, sessions=("am",)).summary() for s in [0, *other_seeds(0)]]
    )
    expected = rows.groupby("scenario")[["buses", "dollars_per_year"]].agg(["min", "median", "max"])
    assert sorted(shown.index) == sorted(expected.index)
    for scenario, row in shown.iterrows():
        want = expected.loc[scenario]
        assert [row["buses, fewest"], row["buses, median"], row["buses, most"]] == list(want["buses"])
        assert [row["$ / year, lowest"], row["$ / year, median"], row["$ / year, highest"]] == pytest.approx(
            list(want["dollars_per_year"])
        )
    at.run()
    assert solves == [0, *other_seeds(0)], "a rerun shows the spread again without solving"
    assert _table(at, "scenario", "buses, fewest")["buses, most"].tolist() == shown["buses, most"].tolist()


def _zipped(data: bytes, folder: Path) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(folder)
        return set(archive.namelist())


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_bells_downloads_are_the_cli_folders_and_the_public_one_locates_nobody(
    bells_run, small_city, tmp_path
):
    """The ZIP offered to everyone holds exactly the files ``compact bells compare`` writes into --out,
    the private one exactly those of --private-out (only the manifests are not in them), written by
    the same writer, once each, when asked; no public stop serves fewer than ten students."""
    import geopandas as gpd
    from typer.testing import CliRunner

    from app import maps
    from app.cli import app as cli
    from app.views import _bells_files as files
    from facilities import read_city

    at, calls = bells_run
    comparison = at.session_state["result:bells"][1]
    yards = read_city(small_city).yards
    names = _zipped(files.public_zip(comparison, yards=yards), tmp_path / "public")
    assert calls["write"] == 1, "the ZIP is written by the one writer, once, when asked"
    private_names = _zipped(files.private_zip(comparison, yards=yards), tmp_path / "private")
    assert calls["write"] == 2
    out, private_out = tmp_path / "cli", tmp_path / "cli_private"
    args = ["bells", "compare", str(small_city), "--out", str(out), "--private-out", str(private_out)]
    result = CliRunner().invoke(cli, [*args, "--time-limit", "4", "--am-only", "--quiet"])
    assert result.exit_code == 0, result.output
    written, written_private = _files(out), _files(private_out)
    assert {"route_sheets.csv", "routes.gpkg", "ride_times.csv", "report.html"} <= written
    assert names == written - {"manifest.json"}, f"the CLI wrote {sorted(written)}; the ZIP {sorted(names)}"
    assert {"route_sheets.csv", "routes.gpkg", "stops.gpkg"} <= written_private
    assert private_names == written_private - {"manifest.json"}, (
        f"the CLI wrote {sorted(written_private)}; the private ZIP {sorted(private_names)}"
    )
    for name in ("summary.json", "route_sheets.csv", "ride_times.csv", "schedules.csv"):  # same answer
        assert (tmp_path / "public" / name).read_bytes() == (out / name).read_bytes(), name
    assert (tmp_path / "private" / "route_sheets.csv").read_bytes() == (
        private_out / "route_sheets.csv"
    ).read_bytes()
    for stops in (
        gpd.read_file(tmp_path / "public" / "bells.gpkg", layer="stops"),
        gpd.read_parquet(tmp_path / "public" / "stops.parquet"),
    ):
        assert len(stops) and not stops["service"].isin(maps.PRIVATE_SERVICES).any()
        assert (stops["students"] >= maps.MIN_CELL).all()
    sheets = pd.read_csv(tmp_path / "public" / "route_sheets.csv")
    visits = sheets[sheets["kind"].isin(["pickup", "dropoff"]) & sheets["x"].notna()]
    stop_ids = set(comparison.prepared.stops.stops["id"].astype(str))
    located = visits[visits["location"].astype(str).isin(stop_ids)]
    per_stop = located.groupby(["scenario", "session", "location"])["students"].sum()
    assert len(per_stop) and (per_stop >= maps.MIN_CELL).all(), per_stop[per_stop < maps.MIN_CELL]
    everything = gpd.read_file(tmp_path / "private" / "stops.gpkg", layer="stops")
    assert len(everything) == len(comparison.stops_frame())
