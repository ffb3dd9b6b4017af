"""Bell-time policy, the exact bus-count evaluator, alignment and optimization."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from facilities import ValidationError
from routing.bells import BellPolicy, RunChains, align_bells, allowed_times, optimize_bells
from routing.buses import min_buses
from routing.problem import ProblemData
from routing.runs import school_runs
from routing.scenarios import _shifted

H = 3600.0


def _schools() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["E1", "E2", "M1", "H1", "C1", "K1"],
            "sector": ["district", "district", "district", "district", "charter", "catholic"],
            "grades": [(0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, 5), (6, 7, 8), (9, 10, 11, 12), (0, 1, 2, 3, 4, 5, 6, 7, 8), (9, 10, 11, 12)],
            "bell_start": [8.5 * H, 9.5 * H, 7.5 * H, 7.5 * H, 8.25 * H, 8.0 * H],
            "bell_end": [15 * H, 16 * H, 14 * H, 14 * H, 15 * H, 14.5 * H],
        }
    )


SETTINGS = {
    "bells": {
        "earliest": "07:00",
        "latest": "09:30",
        "step_minutes": 30,
        "rules": [
            {"label": "no high school before 8:00", "grades": "9-12", "earliest": "08:00"},
            {"label": "elementary dismissal before 16:00", "grades": "PK-5", "end_before": "16:00"},
            {"label": "charters move at most 45 min", "sector": "charter", "max_change_minutes": 45},
        ],
    }
}


def test_policy_reads_rules_and_names_bad_keys() -> None:
    policy = BellPolicy.from_settings(SETTINGS)
    assert len(policy.rules) == 3 and policy.rules[0].earliest == 8 * H
    with pytest.raises(ValidationError, match="earliest"):
        BellPolicy.from_settings({"bells": {"rules": [{"grades": "9-12", "earliest": "8 o'clock"}]}})
    with pytest.raises(ValidationError, match="unknown key"):
        BellPolicy.from_settings({"bells": {"rules": [{"sectr": "charter"}]}})


def test_allowed_times_follow_every_rule() -> None:
    schools = _schools()
    policy = BellPolicy.from_settings(SETTINGS)
    allowed = allowed_times(schools, policy)
    for _, s in schools.iterrows():
        for t in allowed.times[s["id"]]:
            assert not policy.violations(s.to_frame().T, {s["id"]: t})
    assert min(allowed.times["H1"]) >= 8 * H
    assert allowed.binding["H1"] == ("no high school before 8:00",)
    assert all(abs(t - 8.25 * H) <= 45 * 60 for t in allowed.times["C1"])


def test_school_with_no_allowed_time_is_named_and_the_rest_solved() -> None:
    schools = _schools()
    policy = BellPolicy.from_settings({"bells": {"rules": [{"label": "impossible", "schools": ["K1"], "earliest": "10:00", "latest": "07:00"}]}})
    allowed = allowed_times(schools, policy)
    assert list(allowed.infeasible["school"]) == ["K1"] and "impossible" in allowed.infeasible["reason"].iloc[0]
    assert set(allowed.times) == set(schools["id"]) - {"K1"}
    missing = schools.assign(bell_start=lambda f: f["bell_start"].where(f["id"] != "E2", math.nan))
    assert "E2" in set(allowed_times(missing, BellPolicy()).infeasible["school"])


@pytest.fixture(scope="module")
def problem() -> tuple[ProblemData, dict]:
    """Six schools and their stops on a 10 km square (network-free), with runs at the current bells."""
    rng = np.random.default_rng(4)
    schools = _schools()
    n_stops = 90
    xy = np.vstack([[[5000, 5000]], rng.random((len(schools), 2)) * 10_000, rng.random((n_stops, 2)) * 10_000])
    metres = np.abs(xy[:, None, 0] - xy[None, :, 0]) + np.abs(xy[:, None, 1] - xy[None, :, 1])
    data = ProblemData.from_matrices(
        durations=metres / 8.9,
        distances=metres,
        schools=pd.DataFrame({"id": schools["id"], "location": np.arange(1, 7), "am_bell": schools["bell_start"], "pm_dismissal": schools["bell_end"], "dwell": 300.0}),
        stops=pd.DataFrame({"id": [f"p{i}" for i in range(n_stops)], "location": np.arange(7, 7 + n_stops), "school": rng.choice(schools["id"], n_stops), "students": rng.integers(1, 25, n_stops)}),
        yards=pd.DataFrame({"id": ["Y"], "location": [0]}),
        bus_types=pd.DataFrame({"id": ["bus"], "seats": [66]}),
        max_ride=2700.0,
        stop_time_fixed=19.0,
        stop_time_per_student=2.6,
    )
    runs: dict[str, list] = {"am": [], "pm": []}
    for session in runs:
        for k in range(len(schools)):
            stops = [i for i, s in enumerate(data.stops) if s.school == k]
            runs[session] += school_runs(data, k, stops, session=session, time_limit=5.0)[0]
    return data, runs


def test_evaluator_matches_the_engine_on_shifted_runs(problem) -> None:  # type: ignore[no-untyped-def]
    data, runs = problem
    chains = RunChains.from_runs(data, runs)
    rng = np.random.default_rng(0)
    for _ in range(5):
        shift = rng.choice([-3600.0, -1800.0, 0.0, 1800.0, 3600.0], size=len(data.schools))
        expected = {s: min_buses(data, [_shifted(r, shift[r.schools[0]]) for r in rs]) for s, rs in runs.items()}
        assert chains.session_buses(shift) == expected


def test_optimized_keeps_the_rules_never_adds_buses_and_is_reproducible(problem) -> None:  # type: ignore[no-untyped-def]
    data, runs = problem
    chains = RunChains.from_runs(data, runs)
    schools = _schools()
    policy = BellPolicy.from_settings(SETTINGS)
    a = optimize_bells(chains, schools, policy=policy, time_limit=20, seed=3)
    b = optimize_bells(chains, schools, policy=policy, time_limit=20, seed=3)
    assert a.starts == b.starts
    assert not policy.violations(schools, a.starts)
    # the status quo breaks a rule (H1 at 07:30): compare with the nearest allowed times instead
    forced = {s: min(ts, key=lambda t: abs(t - c)) for (s, ts), c in zip(allowed_times(schools, policy).times.items(), schools["bell_start"])}
    assert a.buses <= chains.buses(np.array([forced[s] - c for s, c in zip(schools["id"], schools["bell_start"])]))
    moved = a.changes[a.changes["old_start"] != a.changes["new_start"]]
    assert moved["reason"].str.len().gt(0).all()
    assert a.changes.set_index("school").loc["H1", "reason"].startswith("moved by policy")


def test_alignment_never_needs_more_buses(problem) -> None:  # type: ignore[no-untyped-def]
    data, runs = problem
    chains = RunChains.from_runs(data, runs)
    schools = _schools()
    aligned = align_bells(schools, policy=BellPolicy(), chains=chains)
    assert aligned.buses <= chains.buses()
    tiers = set(schools.loc[schools["sector"] == "district", "bell_start"])
    for sid in ("C1", "K1"):
        reason = aligned.changes.set_index("school").loc[sid, "reason"]
        assert aligned.starts[sid] in tiers or reason.startswith("kept")


def test_alignment_never_needs_more_buses_even_when_the_policy_forbids_current_times(problem) -> None:  # type: ignore[no-untyped-def]
    data, runs = problem
    chains = RunChains.from_runs(data, runs)
    schools = _schools()
    rule = {"label": "charter and Catholic schools on the tiers", "sector": ["charter", "catholic"], "times": ["07:30", "08:30", "09:30"]}
    for limit in ([], [{"label": "only the first tier", "sector": ["charter", "catholic"], "times": ["07:30"]}]):
        policy = BellPolicy.from_settings({"bells": {"rules": [rule, *limit]}})
        aligned = align_bells(schools, policy=policy, chains=chains)
        assert aligned.buses == chains.buses(aligned.shift(chains.school_ids, dict(zip(schools["id"], schools["bell_start"]))))
        assert aligned.buses <= chains.buses()
        reasons = aligned.changes.set_index("school")["reason"]
        for sid in ("C1", "K1"):  # on an allowed tier, or kept and the broken rule named
            assert not policy.violations(schools[schools["id"] == sid], aligned.starts) or "breaks" in reasons[sid]
