"""Bell-time policy, the exact bus-count evaluator, alignment and optimization."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from facilities import ValidationError
from routing.bells import (
    BellPolicy,
    RunChains,
    align_bells,
    allowed_times,
    district_tiers,
    optimize_bells,
)
from routing.buses import min_buses
from routing.problem import ProblemData
from routing.runs import school_runs

H = 3600.0


def _schools() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["E1", "E2", "M1", "H1", "C1", "K1"],
            "sector": ["district", "district", "district", "district", "charter", "catholic"],
            "grades": [
                (0, 1, 2, 3, 4, 5),
                (0, 1, 2, 3, 4, 5),
                (6, 7, 8),
                (9, 10, 11, 12),
                (0, 1, 2, 3, 4, 5, 6, 7, 8),
                (9, 10, 11, 12),
            ],
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
    policy = BellPolicy.from_settings(
        {
            "bells": {
                "rules": [{"label": "impossible", "schools": ["K1"], "earliest": "10:00", "latest": "07:00"}]
            }
        }
    )
    allowed = allowed_times(schools, policy)
    assert (
        list(allowed.infeasible["school"]) == ["K1"] and "impossible" in allowed.infeasible["reason"].iloc[0]
    )
    assert set(allowed.times) == set(schools["id"]) - {"K1"}
    missing = schools.assign(bell_start=lambda f: f["bell_start"].where(f["id"] != "E2", math.nan))
    assert "E2" in set(allowed_times(missing, BellPolicy()).infeasible["school"])


@pytest.fixture(scope="module")
def problem() -> tuple[ProblemData, dict]:
    """Six schools and their stops on a 10 km square (network-free), with runs at the current bells."""
    rng = np.random.default_rng(4)
    schools = _schools()
    n_stops = 90
    xy = np.vstack(
        [[[5000, 5000]], rng.random((len(schools), 2)) * 10_000, rng.random((n_stops, 2)) * 10_000]
    )
    metres = np.abs(xy[:, None, 0] - xy[None, :, 0]) + np.abs(xy[:, None, 1] - xy[None, :, 1])
    data = ProblemData.from_matrices(
        durations=metres / 8.9,
        distances=metres,
        schools=pd.DataFrame(
            {
                "id": schools["id"],
                "location": np.arange(1, 7),
                "am_bell": schools["bell_start"],
                "pm_dismissal": schools["bell_end"],
                "dwell": 300.0,
            }
        ),
        stops=pd.DataFrame(
            {
                "id": [f"p{i}" for i in range(n_stops)],
                "location": np.arange(7, 7 + n_stops),
                "school": rng.choice(schools["id"], n_stops),
                "students": rng.integers(1, 25, n_stops),
            }
        ),
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
        expected = {
            s: min_buses(data, [r.shifted(shift[r.schools[0]]) for r in rs]) for s, rs in runs.items()
        }
        assert chains.session_buses(shift) == expected
        end_shift = rng.choice([-3600.0, -1800.0, 0.0, 1800.0, 3600.0], size=len(data.schools))
        pm = min_buses(data, [r.shifted(end_shift[r.schools[0]]) for r in runs["pm"]])
        assert chains.session_buses(shift, end_shift=end_shift) == {"am": expected["am"], "pm": pm}


# type: ignore[no-untyped-def]
def test_optimized_keeps_the_rules_never_adds_buses_and_is_reproducible(problem) -> None:
    data, runs = problem
    chains = RunChains.from_runs(data, runs)
    schools = _schools()
    policy = BellPolicy.from_settings(SETTINGS)
    a = optimize_bells(chains, schools, policy=policy, time_limit=20, seed=3)
    b = optimize_bells(chains, schools, policy=policy, time_limit=20, seed=3)
    assert a.starts == b.starts
    assert not policy.violations(schools, a.starts)
    # the status quo breaks a rule (H1 at 07:30): compare with the nearest allowed times instead
    forced = {
        s: min(ts, key=lambda t: abs(t - c))
        for (s, ts), c in zip(allowed_times(schools, policy).times.items(), schools["bell_start"])
    }
    assert a.buses <= chains.buses(
        np.array([forced[s] - c for s, c in zip(schools["id"], schools["bell_start"])])
    )
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


# type: ignore[no-untyped-def]
def test_alignment_never_needs_more_buses_even_when_the_policy_forbids_current_times(problem) -> None:
    data, runs = problem
    chains = RunChains.from_runs(data, runs)
    schools = _schools()
    rule = {
        "label": "charter and Catholic schools on the tiers",
        "sector": ["charter", "catholic"],
        "times": ["07:30", "08:30", "09:30"],
    }
    for limit in (
        [],
        [{"label": "only the first tier", "sector": ["charter", "catholic"], "times": ["07:30"]}],
    ):
        policy = BellPolicy.from_settings({"bells": {"rules": [rule, *limit]}})
        aligned = align_bells(schools, policy=policy, chains=chains)
        assert aligned.buses == chains.buses(
            aligned.shift(chains.school_ids, dict(zip(schools["id"], schools["bell_start"])))
        )
        assert aligned.buses <= chains.buses()
        reasons = aligned.changes.set_index("school")["reason"]
        for sid in ("C1", "K1"):  # on an allowed tier, or kept and the broken rule named
            assert (
                not policy.violations(schools[schools["id"] == sid], aligned.starts)
                or "breaks" in reasons[sid]
            )


def _days(times, schools: pd.DataFrame) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Change of each school day's length, seconds."""
    return {
        s: (times.ends[s] - times.starts[s]) - (e - b)
        for s, b, e in zip(schools["id"], schools["bell_start"], schools["bell_end"])
    }


def test_district_tiers_pair_each_start_with_its_most_common_dismissal() -> None:
    schools = pd.concat(
        [
            _schools(),
            pd.DataFrame(
                {
                    "id": ["M2", "M3", "M4"],
                    "sector": "district",
                    "grades": [(6, 7, 8)] * 3,
                    "bell_start": [7.5 * H] * 3,
                    "bell_end": [14.5 * H] * 3,
                }
            ),
        ],
        ignore_index=True,
    )
    assert district_tiers(schools) == ((7.5 * H, 14.5 * H), (8.5 * H, 15 * H), (9.5 * H, 16 * H))
    assert district_tiers(_schools()) == (
        (7.5 * H, 14 * H),
        (8.5 * H, 15 * H),
        (9.5 * H, 16 * H),
    )  # a tie: the earlier dismissal


# type: ignore[no-untyped-def]
def test_start_and_end_alignment_puts_movers_on_the_tiers_unless_that_costs_buses(problem) -> None:
    data, runs = problem
    chains = RunChains.from_runs(data, runs)
    schools = _schools()
    tiers = set(district_tiers(schools))
    # without the evaluator every mover takes a tier pair: both its start and its dismissal
    plain = align_bells(schools, policy=BellPolicy(), sectors=("charter", "catholic"))
    assert all((plain.starts[s], plain.ends[s]) in tiers for s in ("C1", "K1"))
    assert _days(plain, schools)["C1"] != 0  # C1's day (6 h 45) takes the tiers' 6 h 30
    aligned = align_bells(schools, policy=BellPolicy(), chains=chains, seed=2, time_limit=5)
    assert aligned.buses == chains.buses(
        aligned.shift(chains.school_ids, dict(zip(schools["id"], schools["bell_start"]))),
        end_shift=aligned.end_shift(chains.school_ids, dict(zip(schools["id"], schools["bell_end"]))),
    )
    assert aligned.buses <= chains.buses()
    reasons = aligned.changes.set_index("school")["reason"]
    for sid in ("C1", "K1"):
        on = (aligned.starts[sid], aligned.ends[sid]) in tiers
        assert on or reasons[sid].startswith("kept")
        if not on:  # kept only because every tier needs more buses with the others where they are
            x = aligned.shift(chains.school_ids, dict(zip(schools["id"], schools["bell_start"])))
            y = aligned.end_shift(chains.school_ids, dict(zip(schools["id"], schools["bell_end"])))
            i = chains.school_ids.index(sid)
            for t, e in tiers:
                x[i], y[i] = (
                    t - schools.set_index("id").loc[sid, "bell_start"],
                    e - schools.set_index("id").loc[sid, "bell_end"],
                )
                assert chains.buses(x, end_shift=y) > aligned.buses
        else:
            assert "->" in reasons[sid] or reasons[sid].startswith("already")
    # start only: the tiers' starts, every day keeps its length
    starts = align_bells(schools, policy=BellPolicy(), align="start")
    assert all(d == 0 for d in _days(starts, schools).values())
    assert {starts.starts["C1"], starts.starts["K1"]} <= {t for t, _ in tiers}


@pytest.mark.parametrize("where", ["policy", "rule"])
# type: ignore[no-untyped-def]
def test_day_change_cap_holds_in_aligned_and_optimized_times(problem, where) -> None:
    data, runs = problem
    chains = RunChains.from_runs(data, runs)
    schools = _schools().assign(
        bell_end=lambda f: f["bell_end"] + np.where(f["sector"] == "district", 0.0, 0.75 * H)
    )  # long charter and Catholic days
    cap = {"max_day_change_minutes": 20}
    settings = (
        {"bells": cap}
        if where == "policy"
        else {
            "bells": {
                "rules": [
                    {"label": "days change by 20 min at most", "sector": ["charter", "catholic"], **cap}
                ]
            }
        }
    )
    policy = BellPolicy.from_settings(settings)
    tiers = district_tiers(schools)
    for times in (
        align_bells(schools, policy=policy),
        align_bells(schools, policy=policy, chains=chains, time_limit=5, seed=1),
        optimize_bells(chains, schools, policy=policy, time_limit=5, seed=1, tiers=tiers),
    ):
        assert all(abs(d) <= 20 * 60 for d in _days(times, schools).values())
        assert not policy.violations(schools, times.starts, times.ends)
    capped = align_bells(schools, policy=policy).changes.set_index("school")
    # C1's day is 45 min longer than the tiers': it takes a tier's start, its dismissal as near as the cap
    # allows
    assert "breaks" in capped.loc["C1", "reason"] and capped.loc["C1", "new_start"] in (
        "07:30",
        "08:30",
        "09:30",
    )
    assert policy.violations(schools[schools["id"] == "C1"], {"C1": 8.5 * H}, {"C1": 15 * H})


# type: ignore[no-untyped-def]
def test_optimized_restarts_are_reproducible_and_use_tiers_within_the_policy(problem) -> None:
    data, runs = problem
    chains = RunChains.from_runs(data, runs)
    schools = _schools()
    policy = BellPolicy.from_settings(SETTINGS)
    a, b = (
        optimize_bells(chains, schools, policy=policy, time_limit=5, seed=7, tiers=district_tiers(schools))
        for _ in range(2)
    )
    assert a.starts == b.starts and a.ends == b.ends and a.buses == b.buses
    assert not policy.violations(schools, a.starts, a.ends)
    x = a.shift(chains.school_ids, dict(zip(schools["id"], schools["bell_start"])))
    y = a.end_shift(chains.school_ids, dict(zip(schools["id"], schools["bell_end"])))
    assert a.buses == chains.buses(x, end_shift=y)
