"""Campus siting on the demo city against a brute force written from the input layers.

``site_campuses`` opens ``p`` of the vacant and under-used buildings so that the students of the
chosen grades, grouped in 400 m cells (each cell at its students' mean home), travel the least in
all (seconds under the shared straight-line model, `facilities.travel.DEFAULT_MODEL`). Here every
pair of candidate buildings is tried; the answer must be the best pair, only candidates may be
chosen, every cell goes to its nearest chosen building, and the students served add up. Capacitated,
no campus may serve more students than its building's spare seats (from the capacity module).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from facilities import City
from facilities.capacity import utilization
from facilities.siting import site_campuses
from facilities.travel import DEFAULT_MODEL

CELL = 400.0


def _cells(city: City, grades: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Demand points (mean home of each 400 m cell's students) and their student counts."""
    st = city.students[city.students["grade"].isin(grades)]
    frame = pd.DataFrame({"x": st.geometry.x.to_numpy(), "y": st.geometry.y.to_numpy()})
    frame["cx"], frame["cy"] = np.floor(frame["x"] / CELL), np.floor(frame["y"] / CELL)
    g = frame.groupby(["cx", "cy"])
    return g[["x", "y"]].mean().to_numpy(), g.size().to_numpy(dtype=float)


def _candidates(city: City) -> pd.DataFrame:
    return city.buildings[city.buildings["status"].isin(["vacant", "under-used"])].reset_index(drop=True)


@pytest.mark.parametrize("grades", [[6, 7, 8], [9, 10, 11, 12]])
def test_two_campuses_are_the_best_pair_of_candidates(demo_city: City, grades: list[int]) -> None:
    xy, w = _cells(demo_city, grades)
    cand = _candidates(demo_city)
    bxy = np.column_stack([cand.geometry.x, cand.geometry.y])
    dist = DEFAULT_MODEL.matrix(xy, bxy)
    best = min(
        (float(w @ dist[:, list(pair)].min(axis=1)), pair)
        for pair in itertools.combinations(range(len(cand)), 2)
    )
    got = site_campuses(demo_city, p=2, grades=grades, time_limit=30)
    assert set(got.chosen["id"]) <= set(cand["id"])
    chosen = [list(cand["id"]).index(b) for b in got.chosen["id"]]
    assert float(w @ dist[:, chosen].min(axis=1)) == pytest.approx(best[0], rel=1e-9)
    assert got.result.objective == pytest.approx(best[0], rel=1e-6)
    nearest = np.array(chosen)[dist[:, chosen].argmin(axis=1)]
    served = {cand["id"][k]: int(w[nearest == k].sum()) for k in chosen}
    assert dict(zip(got.chosen["id"], got.chosen["students_served"], strict=True)) == served
    assert sum(served.values()) == int(demo_city.students["grade"].isin(grades).sum())


def test_capacitated_campuses_serve_no_more_than_their_spare_seats(demo_city: City) -> None:
    cand = _candidates(demo_city)
    spare = utilization(demo_city).buildings.set_index("building").loc[cand["id"], "spare_seats"]
    got = site_campuses(demo_city, p=3, grades=[6, 7, 8], capacitated=True, time_limit=30)
    assert set(got.chosen["id"]) <= set(cand["id"])
    for b, served in zip(got.chosen["id"], got.chosen["students_served"], strict=True):
        assert served <= spare[b], (b, served, spare[b])
    assert got.chosen["students_served"].sum() == int(demo_city.students["grade"].isin([6, 7, 8]).sum())
