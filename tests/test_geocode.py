"""Addresses to points: Pub 28 normalization and the offline geocoder, against the generator's truth."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from facilities import demo
from facilities.geocode import KINDS, AddressPoints, parse
from facilities.geocode.load import check_addresses
from facilities.geocode.normalize import PARSERS, standardize_street
from facilities.geocode.report import WRONG_METRES
from tests.conftest import DEMO


def _points(rows: list[tuple]) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows, columns=["number", "street", "unit", "zip", "lon", "lat"])
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326)


@pytest.fixture(scope="module")
def little() -> AddressPoints:
    """A few streets: two Adams (avenue, road), a numbered street, a triple-decker, a street in two ZIPs."""
    return AddressPoints(
        _points(
            [
                ("12", "Adams Avenue", "1", "02190", -71.0800, 42.3300),
                ("12", "Adams Avenue", "2", "02190", -71.0800, 42.3300),
                ("14", "Adams Avenue", "", "02190", -71.0801, 42.3301),
                ("20", "Adams Avenue", "", "02190", -71.0803, 42.3303),
                ("12", "Adams Road", "", "02191", -71.0900, 42.3400),
                ("101", "21st Street", "", "02190", -71.0700, 42.3200),
                ("5", "Washington Street", "", "02190", -71.0600, 42.3100),
                ("5", "Washington Street", "", "02199", -71.1000, 42.3600),
                ("7", "Oak Avenue", "", "02190", -71.0500, 42.3000),
                ("7", "York Avenue", "", "02190", -71.0400, 42.2900),
            ]
        )
    )


@pytest.mark.parametrize(
    ("text", "number", "street", "unit"),
    [
        ("12 Adams Avenue", 12, "ADAMS AVE", ""),
        ("12 adams ave., apt 2", 12, "ADAMS AVE", "2"),
        ("12  ADAMS AV #2", 12, "ADAMS AVE", "2"),
        ("12 Adams Ave Unit 2, Riverton MA 02190", 12, "ADAMS AVE", "2"),
        ("101 21th Stret", 101, "21ST ST", ""),
        ("325 Mt. Vernon Street", 325, "MOUNT VERNON ST", ""),
        ("12-14 N. Elm St. Rear", 12, "N ELM ST", "REAR"),
        ("200 D Street", 200, "D ST", ""),
        ("5 St. Botolph St", 5, "SAINT BOTOLPH ST", ""),
    ],
)
def test_normalizer_writes_addresses_the_pub28_way(text: str, number: int, street: str, unit: str) -> None:
    found = parse(text)
    assert (found.number, found.street, found.unit) == (number, street, unit)


def test_normalizer_reads_zip_and_po_boxes() -> None:
    assert parse("12 Adams Ave, Riverton, MA 02190-1234").zip == "02190"
    assert parse("P.O. Box 12").po_box and parse("PO BOX 7").po_box
    assert parse("12 Adams Ave", zip="2190").zip == "02190"  # a spreadsheet lost the leading 0
    assert standardize_street("North Adams Avenue") == ("N", "ADAMS", "AVE", "")


@pytest.mark.parametrize("parser", PARSERS)
def test_every_parser_gives_the_same_clean_address(parser: str) -> None:
    found = parse("165 Webster Street, Boston MA 02128", parser=parser)  # type: ignore[arg-type]
    assert (found.number, found.street, found.zip) == (165, "WEBSTER ST", "02128")


def test_matches_are_labelled_by_kind(little: AddressPoints) -> None:
    exact, unit_missing, nearest, fuzzy, suffix = little.geocode(
        [
            parse("12 Adams Ave Apt 2"),
            parse("12 Adams Avenue"),
            parse("16 Adams Ave"),
            parse("12 Adamz Road"),
            parse("101 21st"),
        ]
    )
    assert exact.kind == "exact" and exact.score == 1.0 and exact.reason == ""
    assert unit_missing.kind == "exact" and "unit not given" in unit_missing.reason and unit_missing.score < 1
    assert nearest.kind == "nearest number" and nearest.matched in ("14 ADAMS AVE", "18 ADAMS AVE")
    assert fuzzy.kind == "fuzzy" and fuzzy.matched == "12 ADAMS RD" and fuzzy.lon == pytest.approx(-71.09)
    assert suffix.kind == "fuzzy" and suffix.matched == "101 21ST ST"
    assert {m.kind for m in (exact, nearest, fuzzy)} <= set(KINDS)


def test_unsure_addresses_stay_unmatched_with_their_reason(little: AddressPoints) -> None:
    cases = {
        "12 Adams": "could be ADAMS AVE or ADAMS RD",  # suffix missing, two streets
        "7 Oka Avenue": "could be",  # one slip from OAK and from YORK
        "5 Washington St": "several places",  # one street in two ZIPs
        "PO Box 3": "P.O. box",
        "": "empty",
        "Adams Avenue": "no house number",
        "40 Adams Avenue": "no number 40",  # no number within 10 on its side
        "99 Nonesuch Lane": "not in the address points",
        "12 Adams Ave Apt 9": "unit 9 not on file",  # placed at the building, with a note
    }
    for text, reason in cases.items():
        (match,) = little.geocode([parse(text)])
        assert reason in match.reason, (text, match)
        assert match.placed == (text == "12 Adams Ave Apt 9")
    (in_zip,) = little.geocode([parse("5 Washington St", zip="02199")])
    assert in_zip.kind == "exact" and in_zip.lon == pytest.approx(-71.1)
    (elsewhere,) = little.geocode([parse("12 Adams Ave", zip="01103")])
    assert "outside the area" in elsewhere.reason


def test_no_fuzzy_match_takes_a_nearby_number(little: AddressPoints) -> None:
    """Two doubts at once (a misspelled street and a number not on file) make no match."""
    (match,) = little.geocode([parse("16 Adamz Road")])
    assert not match.placed


def _truth_check(report, students: pd.DataFrame) -> None:
    """No student placed at a wrong address; every unmatched row listed with its reason."""
    rows = report.rows
    placed = rows[rows["kind"] != "unmatched"]
    assert (placed["distance"] <= WRONG_METRES).all(), placed.loc[
        placed["distance"] > WRONG_METRES, ["address", "matched", "distance"]
    ]
    # exact and fuzzy matches land on the very home (same point), nearest numbers on its block
    assert (placed.loc[placed["kind"] != "nearest number", "distance"] < 1.0).all()
    unmatched = rows[rows["kind"] == "unmatched"]
    fix = report.to_fix()
    assert set(unmatched["row"]) == set(fix.loc[fix["action"] == "fix", "row"])
    assert unmatched["reason"].str.len().gt(0).all()
    assert len(rows) == len(students)


def test_the_demo_addresses_place_no_student_at_a_wrong_address(demo_city) -> None:
    report = check_addresses(DEMO, address_points=demo_city.address_points, settings=demo_city.settings)
    students = pd.read_csv(DEMO / "students.csv", dtype=str, keep_default_na=False)
    _truth_check(report, students)
    assert report.disagreements() == 0
    assert report.matched_share >= 0.98
    counts = report.counts()
    assert all(counts[k] > 0 for k in KINDS)  # the export's noise exercises every kind


def test_another_seed_also_places_no_student_at_a_wrong_address(tmp_path: Path) -> None:
    from facilities import read_city

    folder = demo.generate(size="test", seed=11, out=tmp_path / "riverton")
    city = read_city(folder)
    report = check_addresses(folder, address_points=city.address_points, settings=city.settings)
    _truth_check(report, pd.read_csv(folder / "students.csv", dtype=str, keep_default_na=False))
    assert report.matched_share >= 0.95  # a small city: fewer rows, so a few more in share


def test_address_points_file_lists_each_home_once_per_unit() -> None:
    points = pd.read_csv(DEMO / "address_points.csv", dtype=str, keep_default_na=False)
    assert not points.duplicated(["number", "street", "unit"]).any()
    numbers = points["number"].astype(int)
    assert (numbers > 0).all()
    # odd and even numbers on the two sides: same street, same hundred, opposite parity lie apart
    units = points[points["unit"] != ""].groupby(["number", "street"]).size()
    assert (units == 3).all()  # triple-deckers
    students = pd.read_csv(DEMO / "students.csv", dtype=str, keep_default_na=False)
    assert students["address"].str.len().gt(0).mean() > 0.99 and students["zip"].str.len().isin([0, 5]).all()


def test_house_numbers_rise_along_the_street() -> None:
    points = pd.read_csv(DEMO / "address_points.csv", dtype={"number": int}, keep_default_na=False)
    homes = points.drop_duplicates(["number", "street"])
    avenue = homes[homes["street"] == homes["street"].value_counts().index[0]].sort_values("number")
    lon, lat = avenue["lon"].to_numpy(), avenue["lat"].to_numpy()
    along = lat if np.ptp(lat) > np.ptp(lon) else lon
    hundreds = avenue["number"].to_numpy() // 100
    by_block = pd.Series(along).groupby(hundreds).mean().to_numpy()
    assert (np.diff(by_block) > 0).all()  # each hundred block lies further along than the last
