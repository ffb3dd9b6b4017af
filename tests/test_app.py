"""Every page of the Streamlit app, run headless with ``streamlit.testing.v1.AppTest``."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

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


def _problems_table(at: AppTest) -> pd.DataFrame:
    return _table(at, "file", "problem", "what to do")


def _broken_city(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "city.toml").write_text(
        '[city]\nname = "Broken"\n\n[layers.schools]\nfile = "schools.csv"\nx = "lon"\ny = "lat"\n', encoding="utf-8"
    )
    (folder / "schools.csv").write_text(
        "id,name,sector,lon,lat\nA,Alpha,district,-71.06,42.35\nB,Beta,public,-71.05,42.36\n", encoding="utf-8"
    )
    return folder


def _small_city(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "city.toml").write_text(
        '[city]\nname = "Tiny Town"\n\n[layers.schools]\nfile = "schools.csv"\nx = "lon"\ny = "lat"\n', encoding="utf-8"
    )
    (folder / "schools.csv").write_text(
        "id,name,sector,lon,lat\nA,Alpha,district,-71.06,42.35\nB,Beta,charter,-71.05,42.36\nC,Gamma,catholic,-71.07,42.34\n",
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
    assert spec.get("mapProvider") in (None, "") and spec.get("mapStyle") in (None, "")
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


def test_a_broken_city_folder_lists_its_problems_in_the_page(tmp_path):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["city_source"] = "A city folder"
    at.session_state["city_folder"] = str(_broken_city(tmp_path / "broken"))
    at.run()
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
    at.file_uploader(key="city_zip").upload("broken.zip", _zip(_broken_city(tmp_path / "broken")), "application/zip")
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
    at.file_uploader(key="city_zip").upload("tiny.zip", _zip(_small_city(tmp_path / "tiny")), "application/zip")
    at.run()
    assert not at.exception
    assert at.title[0].value == "Tiny Town"
    assert len(_layer(_deck(at), "schools")["data"]) == 3


# ---------------------------------------------------------------- facilities page


def test_facilities_page_runs_the_match_and_explains_a_misfit(app):
    app.switch_page("views/facilities.py").run()
    assert not app.exception
    assert app.title[0].value == "Facilities"
    spec = _deck(app)
    assert len(_layer(spec, "buildings")["data"]) > 0 and len(_layer(spec, "needs")["data"]) > 0
    assert any(w.value.startswith("**") for w in app.warning) or app.success, "the page explains whether the picked building fits"
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
    app.selectbox(key="why_building").set_value(misfit).run()
    text = " ".join(w.value for w in app.warning)
    assert "does not fit" in text
    assert all(reason in text for reason in data.reasons(need, misfit))


def test_facilities_page_chooses_sites_for_new_campuses(app):
    app.switch_page("views/facilities.py").run()
    app.number_input(key="sites_p").set_value(2)
    app.selectbox(key="sites_grades").set_value("high (9-12)")
    app.button(key="sites_run").click().run()
    assert not app.exception, app.exception
    sites = _table(app, "students_served", "mean_travel")
    assert len(sites) == 2 and set(sites["status"]) <= {"vacant", "under-used"}
    chosen = _layer(_deck(app, index=len(app.get("deck_gl_json_chart")) - 1), "sites_chosen")["data"]
    assert len(chosen) == 2


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
    moved = run_scenario(prepared, Scenario("your times", "fixed", times={school["id"]: school["bell_start"] + 1800}))
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
    assert {"Residents", "Seats", "Guaranteed a seat"} <= set(metrics)
    spec = _deck(at)
    assert len(_layer(spec, "zones")["data"]) == 1
    if at.radio(key="zone_how").value != "Build a shared zone from neighborhoods":  # the city.toml's zone comes first
        at.radio(key="zone_how").set_value("Build a shared zone from neighborhoods").run()
    zone_schools = len(_layer(_deck(at), "zone_schools")["data"])
    names = at.multiselect(key="zone_units").options
    at.multiselect(key="zone_units").set_value(names).run()
    assert len(_layer(_deck(at), "zone_schools")["data"]) >= zone_schools, "a bigger zone holds at least the same schools"
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
