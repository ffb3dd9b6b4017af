"""One travel protocol and one straight-line model for every analysis: matching, siting, zones and
routing price trips the same way, and say which model they used."""

from __future__ import annotations

import numpy as np
import pytest

from facilities.travel import DEFAULT_MODEL, StraightLineModel, TravelModel, describe, travel_seconds


def test_routing_uses_the_facilities_model() -> None:
    import routing.travel as rt

    assert rt.StraightLineModel is StraightLineModel and rt.TravelModel is TravelModel
    assert isinstance(rt.travel_model(None), StraightLineModel)


def test_travel_seconds_accepts_a_model_a_callable_or_none() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.uniform(0, 5000, (7, 2)), rng.uniform(0, 5000, (3, 2))
    model = StraightLineModel()
    expected = (np.abs(a[:, None, :] - b[None, :, :]).sum(axis=2)) * 1.3 / (20 * 1609.344 / 3600)
    for travel in (None, model, model.matrix, lambda o, d: model.matrix(o, d)):
        np.testing.assert_allclose(travel_seconds(travel, a, b), expected, rtol=1e-9)
    with pytest.raises(ValueError, match="origins x destinations"):
        travel_seconds(lambda o, d: np.zeros((2, 2)), a, b)
    assert (
        "20 mph" in describe(None) and describe(model.matrix) == describe(model) == DEFAULT_MODEL.describe()
    )


def test_every_analysis_defaults_to_the_same_model(demo_city) -> None:
    from facilities.matching import MatchData
    from facilities.siting import site_campuses
    from facilities.zones import coverage, shared_zone

    explicit = StraightLineModel()
    a = MatchData.from_city(demo_city)
    b = MatchData.from_city(demo_city, travel=explicit)
    np.testing.assert_allclose(a.travel, b.travel, equal_nan=True)
    assert np.isfinite(a.travel).any()
    zone = shared_zone(demo_city, units=["Bayview", "Westgate"], id="z")
    c1, c2 = coverage(demo_city, zone), coverage(demo_city, zone, travel=explicit.matrix)
    assert c1.zones["travel_median_s"].iloc[0] == c2.zones["travel_median_s"].iloc[0] > 0
    assert c1.travel == explicit.describe()
    s = site_campuses(demo_city, p=2, grades=range(6, 9), time_limit=20)
    assert s.summary["travel_unit"] == "minutes" and s.summary["travel"] == explicit.describe()
    assert (s.chosen["mean_travel"] > 0).all()
