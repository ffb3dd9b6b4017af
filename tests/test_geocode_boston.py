"""Boston's schools as two public sources write them: the city's school files as address points, the
2017 Transportation Challenge's school list as the addresses to place (skipped without ../shared/data)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from facilities.geocode import AddressPoints, parse
from tests.conftest import shared_path

pytestmark = pytest.mark.shared

#: Addresses of the challenge's list that are not in the city's school files, and why.
CANNOT_MATCH = {
    "Excel Acad 2 (EB)": "401 Bremen Street: no school on Bremen Street in the city's files",
    "Pope JP II Lower Mills": "2200 Dorchester Avenue: the files list 2120 and 2220 (over 10 away)",
    "KIPP Academy Boston": "37 Babson Street: the files list only 108 Babson Street",
}
#: District schools the two sources put in different places (the same address, another point).
SOURCES_DISAGREE = {
    "BCLA - Boston Comm Lead Acad": "the city's files put 655 Metropolitan Avenue 2.3 km from its point",
    "Boston Teachers Union K-8": "the challenge's point is 180 m west, as for its non-district schools",
}


def _metres(lon: np.ndarray, lat: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    return np.hypot((lon - lon2) * 111_320 * np.cos(np.radians(42.33)), (lat - lat2) * 110_574)


@pytest.fixture(scope="module")
def sources() -> tuple[gpd.GeoDataFrame, pd.DataFrame, set[str]]:
    public = pd.read_csv(shared_path("boston", "boston_public_schools.csv"), dtype=str, encoding="utf-8-sig")
    other = pd.read_csv(
        shared_path("boston", "boston_non_public_schools.csv"), dtype=str, encoding="utf-8-sig"
    )
    rows = []
    for frame, zip_column in ((public, "ZIPCODE"), (other, "ZIP")):
        for address, zip_code, x, y in zip(
            frame["ADDRESS"], frame[zip_column], frame["X"], frame["Y"], strict=True
        ):
            parsed = parse(address)  # the files give the number and street in one column: split them
            rows.append(
                {
                    "number": parsed.number,
                    "street": parsed.street,
                    "zip": zip_code,
                    "lon": float(x),
                    "lat": float(y),
                }
            )
    points = pd.DataFrame(rows)
    challenge = pd.read_csv(shared_path("boston", "bps_challenge_schools.tsv"), sep="\t", dtype=str)
    geo = gpd.GeoDataFrame(points, geometry=gpd.points_from_xy(points["lon"], points["lat"]), crs=4326)
    return geo, challenge, set(public["SCH_ID"])


def test_boston_schools_match_their_published_points(sources) -> None:
    points, challenge, district_ids = sources
    found = AddressPoints(points).geocode(
        [parse(a, zip=z) for a, z in zip(challenge["address"], challenge["zip"], strict=True)]
    )
    names = challenge["name"].str.strip()
    unmatched = {n: m.reason for n, m in zip(names, found, strict=True) if not m.placed}
    assert set(unmatched) == set(CANNOT_MATCH), unmatched  # the ones that cannot match, named
    lon = np.array([m.lon for m in found])
    lat = np.array([m.lat for m in found])
    far = _metres(
        lon,
        lat,
        challenge["longitude"].astype(float).to_numpy(),
        challenge["latitude"].astype(float).to_numpy(),
    )
    district = challenge["id"].isin(district_ids).to_numpy()
    placed = np.isfinite(far)
    off = {n for n, d, dist in zip(names, district & placed, far, strict=True) if d and dist > 50}
    assert off == set(SOURCES_DISAGREE)
    assert (far[district & placed & ~names.isin(list(SOURCES_DISAGREE)).to_numpy()] <= 50).all()
    assert (district & placed).sum() >= 105
    # every placed school sits on a point of the city's files for the address it matched: a distance
    # from the challenge's point is the two sources disagreeing, never a wrong street or number
    on_file = _metres(
        lon[placed][:, None],
        lat[placed][:, None],
        points["lon"].to_numpy()[None, :],
        points["lat"].to_numpy()[None, :],
    )
    assert (on_file.min(axis=1) < 50.0).all()  # two schools at one address: the middle of their points
    kinds = pd.Series([m.kind for m in found]).value_counts()
    assert kinds.get("exact", 0) >= 125
