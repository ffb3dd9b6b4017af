"""Walk zones with hazards: nobody walks across a river, a highway or rail, to school or to a stop."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import LineString, Polygon

from facilities import City, ValidationError
from routing.stops import EligibilityRule, Hazards, eligible_riders, hazard_riders, place_stops, read_hazards

CRS = "EPSG:32619"
X0, Y0 = 330_000.0, 4_680_000.0
#: A river 60 m wide running west to east through the middle of the test town.
RIVER = Polygon(
    [(X0 - 5000, Y0 + 1500), (X0 + 8000, Y0 + 1500), (X0 + 8000, Y0 + 1560), (X0 - 5000, Y0 + 1560)]
)


def _town(n: int = 600, seed: int = 3) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    rng = np.random.default_rng(seed)
    xy = np.column_stack([X0 + rng.random(n) * 3000, Y0 + rng.random(n) * 3000])
    xy = xy[~shapely.intersects_xy(RIVER, xy[:, 0], xy[:, 1])]  # nobody lives in the river
    students = gpd.GeoDataFrame(
        {
            "id": [f"s{i}" for i in range(len(xy))],
            "grade": rng.integers(0, 9, len(xy)),
            "school": "A",
            "service": "corner",
            "max_walk": 400.0,
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=CRS,
    )
    schools = gpd.GeoDataFrame(
        {"id": ["A"]}, geometry=gpd.points_from_xy([X0 + 1500], [Y0 + 1000]), crs=CRS
    )  # south bank
    return students, schools


HAZARDS = Hazards(gpd.GeoDataFrame({"label": ["the river"]}, geometry=[RIVER], crs=CRS))
RULES = (EligibilityRule(tuple(range(9)), 1600.0),)


def test_across_the_river_within_walk_distance_rides() -> None:
    students, schools = _town()
    plain = eligible_riders(students, schools, rules=RULES)
    safe = eligible_riders(students, schools, rules=RULES, hazards=HAZARDS)
    north = (students.geometry.y > Y0 + 1560).to_numpy()
    near = (plain["walk_to_school"] <= 1600).to_numpy()
    assert (north & near).sum() > 20  # there are students across the river within walking distance
    assert not plain.loc[north & near, "eligible"].any()  # who walked before
    assert safe.loc[north & near, "eligible"].all()  # now ride, and say why
    assert (safe.loc[north & near, "reason"] == "rides: the walk to school crosses the river").all()
    assert (
        safe.loc[~north, "eligible"] == plain.loc[~north, "eligible"]
    ).all()  # the school's bank is unchanged
    counts = hazard_riders(safe).set_index("school")
    assert counts.loc["A", "hazard_riders"] == (north & near).sum()
    assert counts.loc["A", "riders"] == safe["eligible"].sum()


def test_no_student_walks_across_a_hazard_to_a_stop() -> None:
    students, _ = _town(seed=5)
    plan = place_stops(students, hazards=HAZARDS, seed=1)
    homes = students.set_index("id").geometry
    stops = plan.stops.set_index("id").geometry
    walks = [LineString([homes[a.student], stops[a.stop]]) for a in plan.assignment.itertuples()]
    assert not any(w.intersects(RIVER) for w in walks)
    assert (plan.assignment["walk_m"] <= plan.assignment["max_walk_m"] + 1e-6).all()
    assert len(plan.assignment) + len(plan.infeasible) == len(students)
    # without the hazard, students by the river would be sent to the far bank
    loose = place_stops(students, seed=1)
    homes_l, stops_l = (
        homes[loose.assignment["student"]].to_numpy(),
        loose.stops.set_index("id").geometry[loose.assignment["stop"]].to_numpy(),
    )
    assert any(LineString([h, s]).intersects(RIVER) for h, s in zip(homes_l, stops_l))


def test_lines_are_hazards_too() -> None:
    rail = Hazards(
        gpd.GeoDataFrame(
            {"label": ["rail"]},
            geometry=[LineString([(X0 + 2000, Y0 - 1000), (X0 + 2000, Y0 + 5000)])],
            crs=CRS,
        )
    )
    a = np.array([[X0 + 1900, Y0], [X0 + 1900, Y0], [X0 + 2100, Y0 + 10]])
    b = np.array([[X0 + 2100, Y0], [X0 + 1800, Y0 + 50], [X0 + 2200, Y0 + 500]])
    assert rail.crossing(a, b).tolist() == [True, False, False]
    assert rail.labels(a, b) == ["rail", "", ""]


def _city(tmp_path, hazards: dict) -> City:  # type: ignore[no-untyped-def]
    students, schools = _town(50)
    return City.from_frames(
        name="Hazardtown",
        crs=CRS,
        schools=schools.assign(name="A", sector="district"),
        students=students,
        settings={"transport": {"hazards": hazards}},
        root=tmp_path,
    )


def test_read_hazards_from_the_city_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    gpd.GeoDataFrame({"name": ["Mill River"]}, geometry=[RIVER], crs=CRS).to_crs(4326).to_file(
        tmp_path / "river.geojson"
    )
    hazards = read_hazards(_city(tmp_path, {"file": "river.geojson"}))
    assert hazards is not None and hazards.shapes["label"].tolist() == ["Mill River"]
    assert (
        hazards.shapes.crs == CRS and hazards.shapes.geometry.iloc[0].symmetric_difference(RIVER).area < 1.0
    )
    assert read_hazards(_city(tmp_path, {})) is None


def test_bad_hazard_files_are_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="nowhere.geojson"):
        read_hazards(_city(tmp_path, {"file": "nowhere.geojson"}))
    (tmp_path / "points.geojson").write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Point", "coordinates": [-71, 42.3]},
                    }
                ],
            }
        )
    )
    with pytest.raises(ValidationError, match="not lines or polygons"):
        read_hazards(_city(tmp_path, {"file": "points.geojson"}))


def test_riverton_river_on_the_streets(demo_city) -> None:  # type: ignore[no-untyped-def]
    """The demo's river: students across it within walking distance ride, and walks to stops stay on their
    bank."""
    from routing.stops import eligibility_rules
    from routing.travel import route_geometry, travel_model

    hazards = read_hazards(demo_city)
    assert hazards is not None
    net = travel_model(demo_city.network, crs=demo_city.crs)
    river = hazards.shapes.union_all()
    schools = demo_city.schools[demo_city.schools.distance(river) < 1200]
    students = demo_city.students[demo_city.students["school"].isin(schools["id"])]
    rules = eligibility_rules(demo_city.settings["transport"])
    plain = eligible_riders(students, schools, rules=rules, network=net)
    safe = eligible_riders(students, schools, rules=rules, network=net, hazards=hazards)
    newly = safe["eligible"] & ~plain["eligible"]
    assert (
        newly.sum() > 0
        and safe.loc[newly, "reason"].str.startswith("rides: the walk to school crosses").all()
    )
    assert (safe["eligible"] >= plain["eligible"]).all()
    riders = safe[safe["eligible"]]
    plan = place_stops(riders, network=net, hazards=hazards, seed=1)
    homes = riders.set_index("id").geometry
    corner = plan.stops.set_index("id")
    a = plan.assignment[plan.assignment["stop"].map(corner["service"]) == "corner"]
    assert len(a) > 100
    for row in a.itertuples():
        home, stop = homes[row.student], corner.geometry[row.stop]
        assert not LineString([home, stop]).intersects(river)
        # and the walk on the streets, from the home's street to the stop, stays on its bank
        start = net.node_ids[net.kdtree.query([home.x, home.y])[1]]
        assert not route_geometry(net, [start, corner.loc[row.stop, "node"]], weight="walk").intersects(river)


def test_walks_from_shared_starts_cross_as_each_walk_alone() -> None:
    """Walks given as pairs of starts and ends (each start's distance to the river computed once)
    cross exactly when the same walks given one by one do, and exactly when they meet the river."""
    rng = np.random.default_rng(5)
    homes = np.column_stack([X0 + rng.random(40) * 3000, Y0 + 1000 + rng.random(40) * 1200])
    stops = np.column_stack([X0 + rng.random(30) * 3000, Y0 + 1000 + rng.random(30) * 1200])
    i, j = (g.ravel() for g in np.meshgrid(np.arange(40), np.arange(30), indexing="ij"))
    pairs = HAZARDS.crossing(homes, stops, pairs=(i, j))
    assert pairs.tolist() == HAZARDS.crossing(homes[i], stops[j]).tolist()
    lines = shapely.linestrings(np.stack([homes[i], stops[j]], axis=1))
    assert pairs.tolist() == shapely.intersects(lines, RIVER).tolist()
    assert 0 < pairs.sum() < len(pairs)  # the town has walks on both sides of the answer
    assert HAZARDS.crossing(homes, stops, pairs=(i[:0], j[:0])).shape == (0,)
