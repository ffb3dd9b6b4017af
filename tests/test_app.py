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


def _problems_table(at: AppTest) -> pd.DataFrame:
    tables = [d.value for d in at.dataframe if "problem" in d.value.columns]
    assert tables, "the page shows no table of problems"
    return tables[0]


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
