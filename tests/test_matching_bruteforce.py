"""The charter-need match against a brute force on tiny cases, and its hard rules on real data.

On random instances of 2-3 needs and 3-4 buildings every answer is enumerated (each need in no
building, or in one building for its first 1..years years), the ones that honour the hard rules are
kept, and each is scored with the objective written out here from its documentation
(``facilities.matching`` and ``Weights``). The hard rules are read from the input tables: a whole
building holds one need; a shared one only needs willing to share, whose grades over the plan's
years do not put grades up to 5 with grades from 9 on; accessibility, gym and cafeteria where the
need asks; each year the rooms by type, gym and lunch periods the needs use stay within what the
hosts leave free (from the capacity module); each year's cost within the need's yearly budget.
CP-SAT's answer must honour them all and score the brute force's optimum.

The quantities each need asks of a building (rooms by year, gym and lunch periods, cost) are the
problem's documented arrays, checked here only through the rules and the score.
"""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from facilities.capacity import utilization
from facilities.matching import MatchData, MatchResult, Weights, solve
from facilities.schema import ROOM_TYPES
from tests.test_matching import _points, check_hard_rules, check_no_over_assignment

GRADES = {"K": (0,), "K-1": (0, 1), "6": (6,), "6-7": (6, 7), "9": (9,)}
HOSTS = {"K-3": 20, "9-12": 30}  # host schools' class sizes: capacities stay multiples of 20


def _instance(seed: int) -> tuple[pd.DataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """2-3 needs and 3-4 buildings (shared ones hosting a district school, vacant ones whole)."""
    rng = np.random.default_rng(seed)
    nb, nn = int(rng.integers(3, 5)), int(rng.integers(2, 4))
    rows, hosts = [], []
    for b in range(nb):
        row = {
            "id": f"B{b}",
            "name": f"Building {b}",
            "gym": rng.random() < 0.7,
            "cafeteria": rng.random() < 0.7,
            "accessible": rng.random() < 0.6,
            "annual_cost": float(rng.integers(5, 50) * 10_000),
            "neighborhood": str(rng.choice(["A", "B"])),
            **{f"rooms_{t}": 0 for t in ROOM_TYPES},
        }
        if rng.random() < 0.5:  # shared: a district school in it
            grades = str(rng.choice(list(HOSTS)))
            classrooms = 2 * int(rng.integers(5, 12))
            cap = classrooms * HOSTS[grades]
            row.update(status="under-used", rooms_classroom=classrooms, rooms_office=int(rng.integers(0, 3)))
            hosts.append(
                {
                    "id": f"H{b}",
                    "name": f"Host {b}",
                    "sector": "district",
                    "grades": grades,
                    "enrollment": int(cap * rng.uniform(0.55, 1.0)),
                    "building": f"B{b}",
                }
            )
        else:
            row.update(
                status="vacant",
                rooms_classroom=int(rng.integers(3, 12)),
                rooms_science=int(rng.integers(0, 2)),
            )
        rows.append(row)
    buildings = gpd.GeoDataFrame(rows, geometry=_points([(0.01 * b, 0.0) for b in range(nb)]))
    needs = pd.DataFrame(
        {
            "id": [f"N{n}" for n in range(nn)],
            "school": [f"C{n}" for n in range(nn)],
            "name": [f"Need {n}" for n in range(nn)],
            "grades": rng.choice(list(GRADES), nn),
            "seats": rng.integers(20, 100, nn),
            "years": rng.integers(1, 4, nn),
            "gym": rng.random(nn) < 0.4,
            "cafeteria": rng.random(nn) < 0.5,
            "lunch_periods": rng.integers(1, 3, nn),
            "accessible": rng.random(nn) < 0.3,
            "co_location": rng.random(nn) < 0.8,
            "budget": np.where(rng.random(nn) < 0.5, rng.integers(3, 40, nn) * 10_000.0, np.nan),
            "rooms_science": (rng.random(nn) < 0.2).astype(int),
            "priority": rng.integers(1, 4, nn),
            "neighborhoods": [("A",) if rng.random() < 0.4 else () for _ in range(nn)],
        }
    )
    charters = [
        {
            "id": f"C{n}",
            "name": f"Charter {n}",
            "sector": "charter",
            "grades": needs["grades"].iat[n],
            "enrollment": 50,
            "building": None,
        }
        for n in range(nn)
    ]
    schools = gpd.GeoDataFrame(
        hosts + charters, geometry=_points([(0.005 * k, 0.01) for k in range(len(hosts) + nn)])
    )
    near = np.where(
        buildings["status"] == "vacant", 1200, 0
    )  # shared buildings nearer: needs compete for them
    seconds = rng.integers(300, 1800, (nn, nb)) + near[None, :]
    travel = pd.DataFrame(seconds.astype(float), index=needs["id"], columns=buildings["id"])
    return needs, buildings, schools, travel


class _Rules:
    """The hard rules and the objective, written from the input tables and the documentation."""

    def __init__(
        self,
        d: MatchData,
        needs: pd.DataFrame,
        buildings: pd.DataFrame,
        schools: pd.DataFrame,
        travel: pd.DataFrame,
    ) -> None:
        self.d, self.w = d, Weights()
        self.needs = needs.reset_index(drop=True)
        self.years = needs["years"].astype(int).to_numpy()
        hosted = schools.dropna(subset=["building"])
        self.hosts = {
            b: [g for x in hosted.loc[hosted["building"] == b, "grades"] for g in _grades(x)]
            for b in buildings["id"]
        }
        self.shared = np.array([bool(self.hosts[b]) for b in buildings["id"]])
        self.status = buildings["status"].to_numpy()
        free = utilization(buildings=buildings, schools=schools).buildings.set_index("building")
        self.free = free
        self.spare = free[[f"spare_{t}" for t in ROOM_TYPES]].to_numpy(dtype=int)
        self.b = buildings.reset_index(drop=True)
        self.minutes = travel.loc[needs["id"], buildings["id"]].to_numpy() / 60
        prio = needs["priority"].to_numpy(dtype=float)
        p = (prio - prio.min()) / (prio.max() - prio.min()) if prio.max() > prio.min() else np.ones(len(prio))
        self.reward = self.w.unplaced * (1 + self.w.priority * p)
        self.total_rooms = buildings[[f"rooms_{t}" for t in ROOM_TYPES]].to_numpy().sum(axis=1)

    def plan_grades(self, n: int) -> set[int]:
        first = GRADES[self.needs["grades"].iat[n]]
        return set(first) | set(range(first[-1] + 1, min(first[-1] + self.years[n] - 1, 12) + 1))

    def cost(self, n: int, b: int, t: int) -> float:
        annual = float(self.b["annual_cost"].iat[b])
        if not self.shared[b]:
            return annual
        return annual * min(1.0, self.d.requirement[n, t].sum() / self.total_rooms[b])

    def pair_allowed(self, n: int, b: int) -> bool:
        need, bld = self.needs.iloc[n], self.b.iloc[b]
        if self.status[b] == "occupied" and not self.shared[b]:
            return False
        if self.shared[b]:
            both = self.plan_grades(n) | set(self.hosts[bld["id"]])
            if not need["co_location"] or (min(both) <= 5 and max(both) >= 9):
                return False
        return all(not need[k] or bool(bld[k]) for k in ("accessible", "gym", "cafeteria"))

    def year_allowed(self, n: int, b: int, t: int) -> bool:
        budget = self.needs["budget"].iat[n]
        return bool(np.isnan(budget) or self.cost(n, b, t) <= budget)

    def feasible(self, choice: dict[int, tuple[int, int]]) -> bool:
        for n, (b, k) in choice.items():
            if not self.pair_allowed(n, b) or not all(self.year_allowed(n, b, t) for t in range(k)):
                return False
        by_building: dict[int, list[tuple[int, int]]] = {}
        for n, (b, k) in choice.items():
            by_building.setdefault(b, []).append((n, k))
        for b, members in by_building.items():
            if not self.shared[b] and len(members) > 1:
                return False
            gym_free, lunch_free = self.free["gym_free"].iat[b], self.free["lunch_free"].iat[b]
            for t in range(max(k for _, k in members)):
                live = [n for n, k in members if t < k]
                if (sum(self.d.requirement[n, t] for n in live) > self.spare[b]).any():
                    return False
                if (
                    sum(self.d.gym[n, b, t] for n in live) > gym_free
                    or sum(self.d.lunch[n, b, t] for n in live) > lunch_free
                ):
                    return False
        return True

    def objective(self, choice: dict[int, tuple[int, int]]) -> float:
        """Points: every need-year unhoused costs its reward; a housed year earns it back, and costs
        travel, yearly cost and the band deviation of shared buildings; a preferred neighborhood saves."""
        w = self.w
        total = float((self.reward * self.years).sum())
        added = np.zeros((len(self.b), self.d.years))
        for n, (b, k) in choice.items():
            preferred = self.b["neighborhood"].iat[b] in self.needs["neighborhoods"].iat[n]
            for t in range(k):
                total += (
                    -self.reward[n]
                    + w.travel * self.minutes[n, b]
                    - w.neighborhood * preferred
                    + w.cost * self.cost(n, b, t) / 1e4
                )
                added[b, t] += self.d.seats[n, t]
        lo, hi = self.d.rules.capacity.band
        for b in np.flatnonzero(self.shared):
            cap, enrolled = self.free["capacity"].iat[b], self.free["enrollment"].iat[b]
            u = (enrolled + added[b]) / cap
            total += float((w.band * 100 * np.maximum(np.maximum(lo - u, 0), u - hi)).sum())
        return total

    def answers(self) -> list[dict[int, tuple[int, int]]]:
        options = []
        for n in range(len(self.needs)):
            opts: list[tuple[int, int] | None] = [None]
            opts += [
                (b, k)
                for b in range(len(self.b))
                if self.pair_allowed(n, b)
                for k in range(1, self.years[n] + 1)
            ]
            options.append(opts)
        out = []
        for combo in itertools.product(*options):
            choice = {n: c for n, c in enumerate(combo) if c is not None}
            if self.feasible(choice):
                out.append(choice)
        return out


def _grades(value: object) -> tuple[int, ...]:
    if isinstance(value, tuple):
        return value
    return {"K-3": (0, 1, 2, 3), "9-12": (9, 10, 11, 12)}[str(value)]


@pytest.mark.parametrize("seed", range(60))
def test_cp_sat_finds_the_brute_force_optimum_within_the_hard_rules(seed: int) -> None:
    needs, buildings, schools, travel = _instance(seed)
    data = MatchData.from_frames(needs, buildings, schools, travel=travel)
    rules = _Rules(data, needs, buildings, data.schools, travel)
    result = solve(data, time_limit=10, seed=0)
    assert result.status == "optimal"
    assert rules.feasible(result.choice), f"the answer {result.choice} breaks a hard rule"
    answers = rules.answers()
    best = min(rules.objective(c) for c in answers)
    ours = rules.objective(result.choice)
    assert ours == pytest.approx(result.objective, abs=1e-3), "the reported objective is the documented one"
    assert ours <= best + 1e-3, f"brute force finds {best:.3f}, CP-SAT {ours:.3f}"
    for n, (b, k) in result.choice.items():  # each year housed costs what the documented formula says
        assert [rules.cost(n, b, t) for t in range(k)] == pytest.approx(list(data.cost[n, b, :k]))


def test_a_yearly_budget_holds_in_every_year_housed() -> None:
    """A need growing in a shared building: its share of the rent grows with its rooms. The
    budget is a yearly one, so the need stays only while it can pay."""
    buildings = gpd.GeoDataFrame(
        {
            "id": ["B0"],
            "name": ["Host"],
            "status": ["under-used"],
            "gym": [True],
            "cafeteria": [True],
            "accessible": [True],
            "annual_cost": [400_000.0],
            "rooms_classroom": [40],
        },
        geometry=_points([(0, 0)]),
    )
    schools = gpd.GeoDataFrame(
        {
            "id": ["H0", "C0"],
            "name": ["Host", "Charter"],
            "sector": ["district", "charter"],
            "grades": ["9-12", "6"],
            "enrollment": [300, 50],
            "building": ["B0", None],
        },
        geometry=_points([(0, 0), (0.01, 0)]),
    )
    # 6th grade, 56 seats: 2 classrooms in year 1, 4 in year 2, 6 in year 3 -> 20k, 40k, 60k a year
    needs = pd.DataFrame(
        {
            "id": ["N0"],
            "school": ["C0"],
            "name": ["Grows"],
            "grades": ["6"],
            "seats": [56],
            "years": [3],
            "seats_per_grade": [56],
            "budget": [45_000.0],
        }
    )
    data = MatchData.from_frames(needs, buildings, schools)
    assert list(data.cost[0, 0]) == pytest.approx([20_000, 40_000, 60_000])
    result = solve(data, time_limit=5)
    check_budgets(result)
    assert result.choice == {0: (0, 2)}
    assert "year 3" in result.unmatched.at[0, "reasons"] and "budget" in result.unmatched.at[0, "reasons"]


def check_budgets(result: MatchResult) -> None:
    """Every year a need is housed costs at most its yearly budget (read from the needs table)."""
    budget = result.data.needs.set_index("id")["budget"]
    for row in result.by_year.itertuples():
        if pd.notna(budget[row.need]):
            assert row.cost <= budget[row.need] + 1e-6, (
                f"{row.need} year {row.year}: {row.cost} > {budget[row.need]}"
            )


def test_the_demo_match_keeps_every_hard_rule(demo_city) -> None:  # type: ignore[no-untyped-def]
    result = solve(MatchData.from_city(demo_city), time_limit=20, seed=0)
    assert len(result.assignments)
    check_no_over_assignment(result)
    check_hard_rules(result)
    check_budgets(result)
    assert math.isfinite(result.objective)
