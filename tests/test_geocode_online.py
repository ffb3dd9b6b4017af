"""The online geocoders behind the common interface, with fake transports: no test touches the network."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest

from facilities.geocode import AddressPoints, online, parse
from facilities.geocode.load import geocode_all, geocoders_for
from facilities.geocode.online import Cache, CensusBatch, Nominatim


class FakeCensus:
    """Answers like the Census batch service and records each request: numbers under 50 match in Riverton,
    50 to 99 match in another town (70 W), others match nothing."""

    def __init__(self) -> None:
        self.requests: list[list[list[str]]] = []

    def __call__(self, url: str, fields: dict[str, str], file_name: str, content: bytes) -> str:
        assert url == online.CENSUS_URL and fields["benchmark"] and file_name.endswith(".csv")
        rows = list(csv.reader(io.StringIO(content.decode())))
        self.requests.append(rows)
        out = io.StringIO()
        writer = csv.writer(out)
        for rid, street, city, state, zip_code in rows:
            first = street.split()[0] if street.split() else ""
            number = int(first) if first.isdigit() else 1000
            if number < 100:
                exact = "Exact" if number % 2 else "Non_Exact"
                writer.writerow(
                    [
                        rid,
                        f"{street}, {city}, {state}, {zip_code}",
                        "Match",
                        exact,
                        street.upper(),
                        f"{-71.08 + number / 10_000 if number < 50 else -70.0:.4f},42.33",
                        "1",
                        "L",
                    ]
                )
            else:
                writer.writerow([rid, street, "No_Match"])
        return out.getvalue()


def test_census_batch_places_exact_and_non_exact_and_caches(tmp_path: Path) -> None:
    fake, cache = FakeCensus(), Cache(tmp_path / "cache" / "geocode.sqlite")
    census = CensusBatch(cache=cache, city="Boston", state="MA", post=fake)
    addresses = [parse("11 Adams St"), parse("12 Adams St"), parse("150 Adams St"), parse("11 Adams St")]
    first = census.geocode(addresses)
    assert [m.kind for m in first] == ["exact", "fuzzy", "unmatched", "exact"]
    assert first[0].lon == pytest.approx(-71.0789) and first[0].source == "census"
    assert len(fake.requests) == 1 and len(fake.requests[0]) == 3  # a repeated address is sent once
    assert fake.requests[0][0][2:4] == ["Boston", "MA"]
    again = CensusBatch(cache=cache, post=fake, city="Boston", state="MA").geocode(addresses)
    assert (
        list(map(repr, again)) == list(map(repr, first)) and len(fake.requests) == 1
    )  # all from the cache in the city folder
    assert cache.path.exists() and cache.path.parent.parent == tmp_path


def test_census_batches_are_chunked_and_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(online, "CENSUS_CHUNK", 2)
    fake, pauses = FakeCensus(), []
    census = CensusBatch(post=fake, pause=3.0, sleep=pauses.append)
    census.geocode([parse(f"{n} Elm St") for n in (1, 3, 5, 7, 9)])
    assert [len(r) for r in fake.requests] == [2, 2, 1]
    assert pauses == [3.0, 3.0]


def _location(kind: str, house: bool = True) -> SimpleNamespace:
    address = {"house_number": "12", "road": "Adams Avenue"} if house else {"road": "Adams Avenue"}
    return SimpleNamespace(
        latitude=42.33,
        longitude=-71.08,
        address="12 Adams Avenue, Boston",
        raw={"addresstype": kind, "address": address},
    )


def test_nominatim_takes_only_a_house_and_caches(tmp_path: Path) -> None:
    asked: list[str] = []
    answers = {
        "12 ADAMS AVE, Boston, MA": _location("house"),
        "14 ADAMS AVE, Boston, MA": _location("road", house=False),
    }

    def fake(query: str):
        asked.append(query)
        return answers.get(query)

    cache = Cache(tmp_path / "geocode.sqlite")
    nominatim = Nominatim(cache=cache, city="Boston", state="MA", geocode=fake)
    house, street, nothing = nominatim.geocode(
        [parse("12 Adams Ave"), parse("14 Adams Ave"), parse("16 Adams Ave")]
    )
    assert house.kind == "exact" and house.lat == pytest.approx(42.33)
    assert not street.placed and "not the house" in street.reason  # a street is not a home
    assert not nothing.placed
    Nominatim(cache=cache, city="Boston", state="MA", geocode=fake).geocode([parse("12 Adams Ave")])
    assert len(asked) == 3


def test_online_geocoders_only_with_the_network_allowed(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="allow_network"):
        geocoders_for({"geocode": {"online": "census"}}, address_points=None, root=tmp_path)
    with pytest.raises(Exception, match="unknown online geocoder"):
        geocoders_for(
            {"geocode": {"online": "google", "allow_network": True}}, address_points=None, root=tmp_path
        )
    (census,) = geocoders_for(
        {"geocode": {"online": "census", "allow_network": True}}, address_points=None, root=tmp_path
    )
    assert isinstance(census, CensusBatch) and census.cache.path == tmp_path / "cache" / "geocode.sqlite"
    assert geocoders_for({}, address_points=None, root=tmp_path) == []


def test_online_geocoder_takes_what_the_address_points_miss() -> None:
    frame = pd.DataFrame({"number": ["12"], "street": ["Adams Avenue"], "lon": [-71.1], "lat": [42.3]})
    local = AddressPoints(
        gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326)
    )
    fake = FakeCensus()
    found = geocode_all(
        [parse("12 Adams Ave"), parse("11 Elm St"), parse("150 Elm St")], [local, CensusBatch(post=fake)]
    )
    assert [m.source for m in found[:2]] == ["address points", "census"]
    assert len(fake.requests[0]) == 2  # only what the address points did not match is sent
    assert not found[2].placed and "address points:" in found[2].reason and "census:" in found[2].reason


def test_a_city_allowing_the_network_sends_only_what_its_address_points_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facilities import read_city
    from tests.test_geocode_load import _copy

    folder = _copy(tmp_path)
    with (folder / "city.toml").open("a") as toml:
        toml.write('\n[geocode]\nonline = "census"\nallow_network = true\ncity = "Riverton"\nstate = "MA"\n')
    fake = FakeCensus()
    monkeypatch.setattr(online, "_multipart_post", fake)
    city = read_city(folder)
    report = city.geocoding
    assert report.geocoders == ("address points", "census")
    sent = [row for request in fake.requests for row in request]
    by_local = report.rows["geocoder"] == "address points"
    assert len(sent) <= (~by_local).sum() and len(sent) > 0
    by_census = report.rows[(report.rows["geocoder"] == "census") & (report.rows["kind"] != "unmatched")]
    assert len(by_census) > 0 and set(by_census["kind"]) <= {"exact", "fuzzy"}
    assert set(by_census["id"]) <= set(city.students["id"])
    assert report.not_placed == (report.rows["kind"] == "unmatched").sum()
    elsewhere = report.rows["reason"].str.contains("outside the address points' area")
    assert (
        elsewhere.any() and (report.rows.loc[elsewhere, "kind"] == "unmatched").all()
    )  # another town's street
    assert (folder / "cache" / "geocode.sqlite").exists()  # the points stay in the city folder
    read_city(folder)
    assert len(fake.requests) == 1  # the second reading asks nothing: all from the cache
