"""Riverton, the generated demo city: reproducible, committed as generated, and coherent."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import osmnx as ox
import pandas as pd
import pyproj
import pytest
import shapely

from facilities import demo
from facilities.schema import GRADE_NAMES
from tests.conftest import DEMO

UTM = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32619", always_xy=True)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _grades(text: str) -> set[int]:
    lo, _, hi = text.partition("-")
    return set(range(GRADE_NAMES.index(lo) - 1, GRADE_NAMES.index(hi or lo)))


def _seats_per_room(grades: set[int]) -> float:
    sizes = [
        demo.CLASS_SIZES["PK-3"]
        if g <= 3
        else demo.CLASS_SIZES["4-8"]
        if g <= 8
        else demo.CLASS_SIZES["9-12"]
        for g in grades
    ]
    return sum(sizes) / len(sizes)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo.generate(size="test", seed=7, out=tmp_path_factory.mktemp("a") / "riverton")


@pytest.fixture(scope="module")
def layers() -> dict[str, pd.DataFrame]:
    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    return {
        name: pd.read_csv(DEMO / f"{name}.csv", keep_default_na=False)
        for name in ("schools", "buildings", "students", "needs", "yards", "bus_types")
    }


@pytest.fixture(scope="module")
def streets():
    return ox.load_graphml(DEMO / "streets.graphml")


def test_same_seed_gives_identical_files(tiny: Path, tmp_path: Path) -> None:
    again = demo.generate(size="test", seed=7, out=tmp_path / "again")
    assert _files(again) == _files(tiny)


def test_another_seed_gives_another_city(tiny: Path, tmp_path: Path) -> None:
    other = demo.generate(size="test", seed=8, out=tmp_path / "other")
    assert (other / "students.csv").read_bytes() != (tiny / "students.csv").read_bytes()
    assert (other / "streets.graphml").read_bytes() != (tiny / "streets.graphml").read_bytes()


def test_committed_demo_is_what_the_generator_writes(tmp_path: Path) -> None:
    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    fresh = demo.generate(size="demo", seed=2026, out=tmp_path / "demo")
    committed, generated = _files(DEMO), _files(fresh)
    assert sorted(committed) == sorted(generated)
    changed = [name for name in generated if committed[name] != generated[name]]
    assert not changed, (
        f"data/demo differs from a fresh generation in {changed}: run `make demo-data`, never edit by hand"
    )


def test_generate_replaces_the_folder_whole_and_leaves_no_temporaries(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "city"
    out.mkdir()
    (out / "stale.csv").write_text("old")
    demo.generate(size="test", seed=7, out=out)
    assert _files(out) == _files(tiny)
    assert [p.name for p in tmp_path.iterdir()] == ["city"]


def test_unknown_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="demo"):
        demo.generate(size="huge", out=tmp_path / "x")


def test_command_line_writes_the_folder(tmp_path: Path) -> None:
    assert demo.main(["--size", "test", "--seed", "3", "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "city.toml").exists()


def test_city_size_keeps_boston_ratios() -> None:
    city = demo.SIZES["city"]
    assert 200 <= city.schools <= 240 and 23_000 <= city.riders <= 27_000
    assert round(city.riders * demo.BUSES_PER_RIDER) == pytest.approx(650, rel=0.05)


def test_counts_are_in_the_requested_ranges(layers: dict[str, pd.DataFrame], streets) -> None:
    schools, buildings, students = layers["schools"], layers["buildings"], layers["students"]
    assert 50 <= len(schools) <= 70
    shares = schools["sector"].value_counts(normalize=True)
    assert shares["district"] == pytest.approx(0.60, abs=0.05)
    assert shares["charter"] == pytest.approx(0.25, abs=0.05)
    assert shares["catholic"] == pytest.approx(0.15, abs=0.05)
    assert 20 <= buildings["status"].isin(["vacant", "under-used"]).sum() <= 30
    assert 6 <= len(layers["needs"]) <= 10
    assert 2_500 <= len(streets) <= 6_000
    assert (DEMO / "streets.graphml").stat().st_size < 4_500_000
    assert sum(p.stat().st_size for p in DEMO.iterdir()) < 8_000_000
    hoods = json.loads((DEMO / "zones.geojson").read_text())["features"]
    assert 10 <= len(hoods) <= 14
    riders = _riders(layers)
    assert 5_500 <= riders.sum() <= 6_500
    assert 0.15 <= 1 - riders.mean() <= 0.25  # walkers, so that eligibility rules matter
    buses = layers["yards"]["buses"].astype(int).sum()
    assert buses == pytest.approx(riders.sum() * 650 / 25_000, rel=0.1)
    assert layers["bus_types"]["count"].astype(int).sum() == buses
    service = students["service"].value_counts(normalize=True)
    assert (
        0.10 <= service["door-to-door"] + service["wheelchair"] <= 0.20
        and 0.003 <= service["wheelchair"] <= 0.02
    )


def _riders(layers: dict[str, pd.DataFrame]) -> pd.Series:
    """Whether each student lives (as the crow flies) beyond the walk distance of the grade band."""
    students = layers["students"]
    school = layers["schools"].set_index("id").loc[students["school"]]
    sx, sy = UTM.transform(school["lon"].astype(float).to_numpy(), school["lat"].astype(float).to_numpy())
    hx, hy = UTM.transform(students["lon"].astype(float).to_numpy(), students["lat"].astype(float).to_numpy())
    grade = np.array([GRADE_NAMES.index(g) - 1 for g in students["grade"]])
    limit = np.where(
        grade <= 5,
        demo.ELIGIBILITY["K-5"],
        np.where(grade <= 8, demo.ELIGIBILITY["6-8"], demo.ELIGIBILITY["9-12"]),
    )
    return pd.Series(np.hypot(hx - sx, hy - sy) > limit)


def test_students_grades_are_their_schools_grades(layers: dict[str, pd.DataFrame]) -> None:
    served = {row.id: _grades(row.grades) for row in layers["schools"].itertuples()}
    students = layers["students"]
    assert students["id"].is_unique
    for school, grade in zip(students["school"], students["grade"], strict=True):
        assert GRADE_NAMES.index(grade) - 1 in served[school]
    assert {GRADE_NAMES.index(g) - 1 for g in students["grade"]} == set(range(13))  # K-12


def test_max_walk_follows_grade_and_service(layers: dict[str, pd.DataFrame]) -> None:
    students = layers["students"]
    walk = students["max_walk"].astype(float)
    assert (walk[students["service"] != "corner"] == 0).all()
    corner = students[students["service"] == "corner"]
    grade = corner["grade"].map(lambda g: GRADE_NAMES.index(g) - 1)
    assert walk[corner.index][grade <= 5].between(400, 800).all()
    assert (walk[corner.index][grade >= 9] == 1200).all()


def _edges_utm(G) -> tuple[np.ndarray, list[dict]]:
    nodes = {n: UTM.transform(d["x"], d["y"]) for n, d in G.nodes(data=True)}
    lines = [shapely.LineString([nodes[u], nodes[v]]) for u, v in G.edges()]
    return np.array(lines), [d for _, _, d in G.edges(data=True)]


def test_homes_and_schools_are_beside_streets(layers: dict[str, pd.DataFrame], streets) -> None:
    lines, _ = _edges_utm(streets)
    tree = shapely.STRtree(lines)
    for name, most in (("students", 15.0), ("schools", 35.0)):
        frame = layers[name]
        x, y = UTM.transform(frame["lon"].astype(float).to_numpy(), frame["lat"].astype(float).to_numpy())
        _, dist = tree.query_nearest(shapely.points(x, y), return_distance=True, all_matches=False)
        assert dist.max() <= most, f"a {name} point is {dist.max():.0f} m from the nearest street"
        assert np.median(dist) >= 5.0  # beside the street, not on its centre line


def test_street_network_is_osmnx_shaped(streets) -> None:
    assert streets.graph["crs"] == "epsg:4326"
    edges = list(streets.edges(data=True))
    assert {d["highway"] for *_, d in edges} == {"primary", "secondary", "tertiary", "residential"}
    assert all(d["maxspeed"].endswith(" mph") and d["length"] > 0 for *_, d in edges)
    one_way = [(u, v) for u, v, d in edges if d["oneway"]]
    assert len(one_way) > 50
    assert not any(streets.has_edge(v, u) for u, v in one_way)
    assert all(not d["oneway"] for *_, d in edges if d["highway"] in ("primary", "secondary"))
    assert all(d["street_count"] >= 1 for _, d in streets.nodes(data=True))
    import networkx as nx

    assert nx.is_strongly_connected(streets)
    speeds = ox.add_edge_speeds(streets.copy())
    assert {round(d["speed_kph"]) for *_, d in speeds.edges(data=True)} >= {40, 56}


def test_only_bridges_cross_the_river(streets) -> None:
    river = json.loads((DEMO / "river.geojson").read_text())["features"][0]["geometry"]
    water = shapely.transform(
        shapely.geometry.shape(river), lambda c: np.column_stack(UTM.transform(c[:, 0], c[:, 1]))
    )
    lines, attrs = _edges_utm(streets)
    crossing = shapely.intersects(lines, water)
    assert all(attrs[k].get("bridge") == "yes" for k in np.flatnonzero(crossing))
    bridges = {tuple(sorted((u, v))) for u, v, d in streets.edges(data=True) if d.get("bridge") == "yes"}
    assert 3 <= len(bridges) <= 4
    assert crossing.sum() == 2 * len(bridges)  # both directions of every bridge, nothing else


def test_neighborhoods_tile_the_city_and_differ_in_income() -> None:
    features = json.loads((DEMO / "zones.geojson").read_text())["features"]
    shapes = [
        shapely.transform(
            shapely.geometry.shape(f["geometry"]), lambda c: np.column_stack(UTM.transform(c[:, 0], c[:, 1]))
        )
        for f in features
    ]
    union = shapely.union_all(shapes)
    assert sum(s.area for s in shapes) == pytest.approx(union.area, rel=1e-3)  # no overlaps
    assert union.area == pytest.approx(shapely.oriented_envelope(union).area, rel=0.01)  # no holes
    props = pd.DataFrame([f["properties"] for f in features])
    bands = ["population_0_4", "population_5_9", "population_10_14", "population_15_17"]
    assert (props[bands].sum(axis=1) == props["population_0_17"]).all()
    assert (props["population_0_17"] < props["population_total"]).all()
    assert props["low_income_share"].max() - props["low_income_share"].min() > 0.25
    assert props["name"].is_unique


def test_bell_times_by_sector(layers: dict[str, pd.DataFrame]) -> None:
    schools = layers["schools"]
    tiers = {"07:30", "08:30", "09:30"}
    district = schools[schools["sector"] == "district"]
    assert set(district["bell_start"]) == tiers
    others = schools[schools["sector"] != "district"]
    assert not set(others["bell_start"]) & tiers
    assert others["bell_start"].nunique() >= 6
    assert (schools["bell_end"] > schools["bell_start"]).all()


def test_buildings_rooms_match_their_schools(layers: dict[str, pd.DataFrame]) -> None:
    schools, buildings = layers["schools"], layers["buildings"].set_index("id")
    assert schools["building"].isin(buildings.index).all()
    district = schools[schools["sector"] == "district"]
    assert (buildings.loc[district["building"], "owner"] == "district").all()
    assert (
        buildings.loc[schools[schools["sector"] == "catholic"]["building"], "owner"] == "archdiocese"
    ).all()
    per_building = schools.groupby("building")
    assert (per_building.size() >= 2).sum() >= 2  # existing co-locations
    for building, group in per_building:
        rooms = int(buildings.loc[building, "rooms_classroom"])
        per_room = [_seats_per_room(_grades(g)) for g in group["grades"]]
        reported = group["capacity"].astype(int).sum()
        assert min(per_room) * rooms * 0.9 <= reported <= max(per_room) * rooms * 1.1, building
        if len(group) == 1:  # classrooms x class size is the capacity
            model = per_room[0] * rooms
            assert reported == pytest.approx(model, rel=0.08), building
            use = int(group["enrollment"].iloc[0]) / model
            if buildings.loc[building, "status"] == "under-used":
                assert use < 0.7, building
            else:
                assert 0.85 <= use <= 1.03, building
    vacant = buildings[buildings["status"] == "vacant"]
    assert not vacant.index.isin(schools["building"]).any()
    assert set(vacant["owner"]) == {"district", "archdiocese", "private", "city"}


def _fits(need: pd.Series, building: pd.Series, rooms_free: float | None = None) -> bool:
    rooms = [c for c in need.index if c.startswith("rooms_")]
    if rooms_free is None and any(int(need[c]) > int(building[c]) for c in rooms):
        return False
    if rooms_free is not None and int(need["rooms_classroom"]) > rooms_free:
        return False
    return all(building[f] == "yes" for f in ("gym", "cafeteria", "accessible") if need[f] == "yes")


def test_needs_range_from_easy_to_infeasible(layers: dict[str, pd.DataFrame]) -> None:
    schools, buildings, needs = layers["schools"], layers["buildings"], layers["needs"]
    charters = set(schools.loc[schools["sector"] == "charter", "id"])
    assert set(needs["school"]) - {""} <= charters
    assert (needs["school"] == "").any()  # new charters too
    vacant = buildings[buildings["status"] == "vacant"]
    whole = [
        any(_fits(n, b) and float(b["annual_cost"]) <= float(n["budget"]) for _, b in vacant.iterrows())
        for _, n in needs.iterrows()
    ]
    assert sum(whole) >= 3
    spare = {}
    for _, b in buildings[buildings["status"] == "under-used"].iterrows():
        hosted = schools[schools["building"] == b["id"]]
        used = sum(
            math.ceil(int(r.enrollment) / _seats_per_room(_grades(r.grades))) for r in hosted.itertuples()
        )
        spare[b["id"]] = int(b["rooms_classroom"]) - used
    assert min(spare.values()) > 0
    shared_only = [
        not whole[k]
        and any(_fits(n, b, spare[b["id"]]) for _, b in buildings[buildings["id"].isin(spare)].iterrows())
        for k, (_, n) in enumerate(needs.iterrows())
    ]
    assert sum(shared_only) >= 2
    hopeless = [
        k
        for k, (_, n) in enumerate(needs.iterrows())
        if n["co_location"] == "no"
        and n["gym"] == "yes"
        and n["accessible"] == "yes"
        and not any(
            _fits(n, b) and float(b["annual_cost"]) <= float(n["budget"]) for _, b in buildings.iterrows()
        )
    ]
    assert hopeless, "one need must be infeasible: a gym and access on too small a budget"


def test_read_city_loads_the_demo(demo_city) -> None:
    assert demo_city.crs.to_epsg() == 32619
    assert len(demo_city.schools) == len(pd.read_csv(DEMO / "schools.csv"))
    assert len(demo_city.students) == len(pd.read_csv(DEMO / "students.csv"))
    assert demo_city.network is not None and demo_city.network.file.name == "streets.graphml"
    assert demo_city.settings["transport"]["eligibility"] == demo.ELIGIBILITY
    assert demo_city.settings["transport"]["cost_per_bus_year"] == 100_000
    assert set(demo_city.zones["kind"]) == {"neighborhood"}
    assert demo_city.students["neighborhood"].isin(demo_city.zones["name"]).all()


def test_read_city_loads_a_generated_city(tiny: Path) -> None:
    from facilities import read_city

    city = read_city(tiny)
    assert city.name == "Riverton (test)"
    assert len(city.needs) == demo.SIZES["test"].needs


def test_names_are_unique(layers: dict[str, pd.DataFrame], tiny: Path) -> None:
    """A planner tells buildings, schools and needs apart by name: no name repeats in a file."""
    for folder in (DEMO, tiny):
        for name in ("buildings", "schools", "needs"):
            names = pd.read_csv(folder / f"{name}.csv", keep_default_na=False)["name"]
            assert names.is_unique, f"{folder.name}/{name}.csv repeats {sorted(names[names.duplicated()])}"


def test_a_repeated_name_takes_its_street_then_a_number() -> None:
    used: set[str] = set()
    drawn = [demo._unique_name("Former Hale School", used, "Elm Street") for _ in range(3)]
    assert drawn == ["Former Hale School", "Former Hale School (Elm Street)", "Former Hale School 2"]
    assert demo._unique_name("12 Elm Street (commercial)", {"12 Elm Street (commercial)"}, "Elm Street") == (
        "12 Elm Street (commercial) 2"
    )


@pytest.fixture(scope="module")
def choices(layers: dict[str, pd.DataFrame]) -> pd.DataFrame:
    ranked = pd.read_csv(DEMO / "choices.csv")
    students = layers["students"].set_index("id")
    return ranked.assign(grade=[GRADE_NAMES.index(g) - 1 for g in students.loc[ranked["student"], "grade"]])


def test_applications_rank_several_schools_of_every_sector(
    layers: dict[str, pd.DataFrame], choices: pd.DataFrame
) -> None:
    students, schools = layers["students"], layers["schools"].set_index("id")
    entry = students.loc[students["grade"].isin(["K", "6", "9"]), "id"]
    assert set(choices["student"]) == set(entry), "every student of an entry grade applies, no one else"
    lists = choices.groupby("student")
    assert lists["rank"].apply(lambda r: sorted(r) == list(range(1, len(r) + 1))).all()
    assert lists.size().between(3, 6).all() and not choices.duplicated(["student", "school"]).any()
    served = {sid: _grades(text) for sid, text in schools["grades"].items()}
    assert all(g in served[s] for s, g in zip(choices["school"], choices["grade"], strict=True))
    sectors = choices.assign(sector=schools.loc[choices["school"], "sector"].to_numpy())
    first = sectors[sectors["rank"] == 1]
    assert set(first["sector"]) == {"district", "charter", "catholic"}
    assert (sectors.groupby("student")["sector"].nunique() > 1).mean() > 0.5, "lists cross sectors"
    seats = {sid: schools.loc[sid, "capacity"] / len(served[sid]) for sid in schools.index}
    wanted = first.groupby(["school", "grade"]).size()
    assert sum(n > seats[s] for (s, _), n in wanted.items()) >= 2, "sought-after schools are oversubscribed"
    assert wanted.max() < 0.5 * len(first), "no one school draws most first choices"


def test_the_demo_lottery_places_some_below_their_first_choice(demo_city, choices: pd.DataFrame) -> None:
    """On the demo's applications, the lottery fills sought-after schools and places the others at a
    later choice, only where every better choice is full; no school gets more than its seats."""
    from facilities.enrollment import run_lottery
    from facilities.zones import configured_zones

    run = run_lottery(
        demo_city,
        zones=configured_zones(demo_city),
        choices=choices.drop(columns="grade"),
        grades=list(demo.APPLICATION_GRADES),
        priorities=["zone"],
        seed=1,
    )
    summary, r = run.summary(), run.result
    d = r.data
    assert summary["students"] == choices["student"].nunique() and not summary["simulated_choices"]
    assert 0.6 < summary["first_choice_share"] < 1 and summary["matched_share"] > 0.95
    assert (r.choice_rank > 0).sum() >= 20
    by_sector = run.by_sector().set_index("sector")
    assert set(by_sector.index) == {"district", "charter", "catholic"} and (by_sector["placed"] > 0).all()
    placed = r.assignment >= 0
    program = r.assignment * d.seats.shape[1] + d.grades + 1
    held = np.bincount(program[placed], minlength=d.seats.size)
    assert (held <= d.seats.ravel()).all(), "no school and grade gets more applicants than its seats"
    for i in np.flatnonzero(r.choice_rank > 0):
        better = d.programs[i, : r.choice_rank[i]]
        assert (held[better] >= d.seats.ravel()[better]).all(), (
            "placed lower only when better choices are full"
        )
