"""Washington, DC: the real attendance zones load, and their compactness matches the published figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facilities.zones import read_zones, seats_by_grade

DC = Path(__file__).resolve().parents[2] / "shared" / "data" / "dc"
pytestmark = pytest.mark.skipif(not DC.exists(), reason="../shared/data/dc is absent (real DC data)")
CRS = "EPSG:26985"  # Maryland State Plane, metres: DC's own
LEVELS = {"elementary": 74, "middle-school": 21, "senior-high": 9}


@pytest.mark.parametrize(("level", "count"), LEVELS.items())
def test_attendance_zones_load(level, count):
    zones = read_zones(
        DC / f"school-attendance-zones-{level}.geojson",
        crs=CRS,
        id="GIS_ID",
        name="NAME",
        schools="GIS_ID",
        repair=True,
    )
    assert len(zones) == count and zones.is_valid.all()
    assert zones.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()


def test_invalid_zone_is_named_unless_repaired():
    from facilities import ValidationError

    with pytest.raises(ValidationError, match=r"row 72, column 'geometry': invalid polygon"):
        read_zones(DC / "school-attendance-zones-elementary.geojson", crs=CRS, id="GIS_ID")


def test_elementary_compactness_matches_published():
    from facilities.zones import polsby_popper

    zones = read_zones(
        DC / "school-attendance-zones-elementary.geojson", crs=CRS, id="GIS_ID", name="NAME", repair=True
    )
    pp = polsby_popper(zones.geometry)
    assert np.median(pp) == pytest.approx(0.52, abs=0.02)  # published median 0.52
    assert pp.min() == pytest.approx(0.27, abs=0.02)  # published minimum 0.27


def test_seats_against_enrolled_where_known():
    import geopandas as gpd

    schools = gpd.read_file(DC / "public-schools.geojson")
    zones = read_zones(
        DC / "school-attendance-zones-elementary.geojson", crs=CRS, id="GIS_ID", name="NAME", repair=True
    )
    frame = pd.DataFrame(
        {
            "id": schools["GIS_ID"],
            "grades": [tuple(range(-1, 6))] * len(schools),
            "capacity": schools["CAPACITY"],
            "enrollment": schools["TOTAL_STUD"],
        }
    )
    known = frame.dropna(subset=["capacity", "enrollment"]).drop_duplicates("id").set_index("id")
    zoned = known.loc[known.index.intersection(zones["id"])]
    assert len(zoned) >= 10  # zones whose school reports both capacity and enrollment
    seats = seats_by_grade(zoned.reset_index()).sum(axis=1)
    assert (seats == zoned["capacity"].round().astype(int).to_numpy()).all()
    utilization = zoned["enrollment"].to_numpy() / seats
    assert np.isfinite(utilization).all() and (utilization > 0).all()
