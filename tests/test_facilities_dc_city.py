"""Washington, DC's shipped city (tests/cities/dc): DC's files read in place, end to end.

Reported capacity gives utilization where DC reports it; the closed buildings are accepted with
their capacity's source; the match houses needs on conditions it lists; readiness names what
DC's data cannot do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from facilities import read_city
from facilities.capacity import SOURCES, utilization
from facilities.matching import MatchData, solve
from facilities.readiness import readiness
from tests.conftest import CITIES, shared_path

DC = CITIES / "dc"


@pytest.fixture(scope="module")
def dc():
    shared_path("dc", "public-schools.geojson")
    return read_city(DC)


def test_dc_reads_three_school_files_with_their_filters(dc):
    s = dc.schools
    assert s["sector"].value_counts().to_dict() == {"district": 118, "charter": 121, "private": 62}
    assert dc.filtered["schools"] == {
        "public-schools.geojson: drop STATUS": 4,
        "charter-schools.geojson: drop GRADES": 10,
    }
    assert not s["name"].str.contains("Next Step").any()  # adult education only: filtered out
    apple = s[s["name"].str.startswith("AppleTree")]
    assert len(apple) >= 6 and apple["grades"].map(lambda g: g == (-1,)).all()  # 'PK-3, PK-4': preschool only
    z = dc.zones
    assert z.groupby("level").size().to_dict() == {"elementary": 74, "middle": 21, "high": 9}
    assert (z["kind"] == "attendance").all() and z.is_valid.all()
    planned = z["school"].isna()  # three middle schools planned, not open: city.toml maps their ids to none
    assert set(z.loc[planned, "name"]) == {"MacFarland", "Shaw", "New North"}
    assert z.loc[~planned, "school"].isin(set(s["id"])).all()  # every other zone feeds a school of the layer
    assert "feed a school not in the schools layer" not in dc.summary()


def test_dc_utilization_from_reported_capacity(dc):
    u = utilization(dc).schools
    reported = u[u["reported_capacity"] > 0]
    assert len(reported) == (pd.to_numeric(dc.schools["capacity"], errors="coerce") > 0).sum() >= 60
    assert (reported["capacity_source"] == "reported capacity").all()
    assert np.allclose(reported["capacity"], reported["reported_capacity"])
    known = reported.dropna(subset=["enrollment"])
    assert np.allclose(known["utilization"], (known["enrollment"] / known["capacity"]).round(4))
    assert set(known["flag"]) <= {"over capacity", "under-used", "in band"}
    unreported = u[~(u["reported_capacity"] > 0)]
    assert (unreported["capacity_source"] == "unknown").all() and (unreported["flag"] == "unknown").all()


def test_all_69_closed_buildings_are_accepted_with_their_capacity_source(dc, tmp_path):
    b = utilization(dc).buildings
    assert len(b) == 69 and set(b["capacity_source"]) <= set(SOURCES)
    assert (b["capacity_source"] == "estimated from floor area").any() and (
        b["capacity_source"] == "reported capacity"
    ).any()
    assert b.loc[b["capacity_source"] == "unknown", "capacity"].isna().all()  # unknown, never 0
    run = CliRunner().invoke(cli, ["facilities", "capacity", str(DC), "--out", str(tmp_path)])
    assert run.exit_code == 0, run.output
    assert "69 buildings" in run.output and "estimated from floor area" in run.output
    assert len(pd.read_csv(tmp_path / "capacity_buildings.csv")) == 69


def test_dc_match_houses_needs_listing_the_conditions(dc):
    data = MatchData.from_city(dc)
    result = solve(data, time_limit=20, seed=0)
    a = result.assignments
    assert len(a) >= 1 and not a["building"].duplicated().any()
    # DC's files say nothing of gyms or rooms: every fit is conditional, and says on what
    assert a["conditions"].str.startswith("fits if: ").all()
    assert a["conditions"].str.contains("room counts confirmed").all()
    gym = set(data.needs.loc[data.needs["gym"].astype(bool), "id"])
    assert a.loc[a["need"].isin(gym), "conditions"].str.contains("gym confirmed").all()
    for need, building in zip(a["need"], a["building"], strict=True):
        assert data.reasons(need, building) == [] or "only" in data.reasons(need, building)[0]
        assert not any(
            w in r for r in data.reasons(need, building) for w in ("no gym", "not accessible", "no cafeteria")
        )


def test_dc_readiness_names_what_its_data_cannot_do(dc, tmp_path):
    lines = {r.capability: r for r in readiness(dc)}
    assert (
        lines["capacity"].state == "ready with estimates" and lines["match"].state == "ready with estimates"
    )
    assert lines["sites"].state == "blocked" and "students" in lines["sites"].line()
    run = CliRunner().invoke(cli, ["facilities", "sites", str(DC), "--out", str(tmp_path / "sites")])
    assert run.exit_code == 1 and "sites is blocked: no students layer" in run.output
    assert not (tmp_path / "sites").exists()
    run = CliRunner().invoke(cli, ["validate", str(DC)])
    assert (
        run.exit_code == 0
        and "sites     blocked" in run.output
        and "capacity  ready with estimates" in run.output
    )
