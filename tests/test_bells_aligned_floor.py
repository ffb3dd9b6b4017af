"""The optimized scenario never needs more buses than the aligned one when its policy allows the
aligned times, and says so, school by school, when it does not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from routing.bells import BellPolicy
from routing.scenarios import DEFAULT_SCENARIOS, Scenario, prepare, run_scenario
from routing.scenarios.prepare import Prepared
from tests.test_scenarios import _city

ALIGNED, OPTIMIZED = DEFAULT_SCENARIOS[1], DEFAULT_SCENARIOS[2]


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    """The scenarios' test city on the fixed runs, with a 5-minute grid of starts: many more
    choices for the optimized search than for the aligned one (its three district tiers)."""
    prep = prepare(_city(), network=None, time_limit=20, seed=1, engine="fixed")
    grid = BellPolicy.from_settings(
        {
            "bells": {
                "earliest": "07:00",
                "latest": "09:45",
                "step_minutes": 5,
                "shifts_minutes": [-10, -5, 5, 10],
                "max_change_minutes": 150,
            }
        }
    )
    return replace(prep, policy=replace(grid, rules=prep.policy.rules))


def test_optimized_never_needs_more_buses_than_aligned(prepared: Prepared) -> None:
    # a small budget: the descent from the current times alone ends above the aligned times
    # (24 buses against 17 before the optimized search also descended from them)
    aligned = run_scenario(prepared, ALIGNED, time_limit=0.01, seed=1)
    optimized = run_scenario(prepared, OPTIMIZED, time_limit=0.01, seed=1)
    assert aligned.policy_violations == () and optimized.policy_violations == ()
    assert optimized.bells.buses is not None and aligned.bells.buses is not None
    assert optimized.buses <= aligned.buses
    assert optimized.metrics["search_buses"] <= aligned.metrics["search_buses"]
    assert not optimized.bells.changes["reason"].str.contains("aligned times").any()
    again = run_scenario(prepared, OPTIMIZED, time_limit=0.01, seed=1)
    assert again.bells.starts == optimized.bells.starts and again.bells.ends == optimized.bells.ends


def test_aligned_times_the_policy_forbids_are_named(prepared: Prepared) -> None:
    strict = Scenario("optimized, 5 min at most", "optimized", bells={"max_change_minutes": 5})
    aligned = run_scenario(prepared, ALIGNED, time_limit=0.01, seed=1)
    result = run_scenario(prepared, strict, time_limit=0.01, seed=1)
    changes = aligned.bells.changes
    moved = changes.loc[
        (changes["change_min"].abs() > 5) & ~changes["school"].isin(result.bells.infeasible["school"]),
        "school",
    ]
    assert len(moved)  # the aligned scenario moves some school (with allowed times) by more than 5 minutes
    reasons = result.bells.changes.set_index("school")["reason"]
    for school in moved:
        assert "are not allowed: changes by more than 5 min" in reasons[school]
    kept = set(result.bells.infeasible["school"])  # no allowed time at all: they keep theirs
    assert all(v.split(":")[0] in kept for v in result.policy_violations)
