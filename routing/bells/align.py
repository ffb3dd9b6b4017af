"""Alignment: schools of some sectors move onto the tiers of another, where that costs no bus."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from facilities.schema import format_time
from routing.bells.counter import RunChains
from routing.bells.policy import (
    Align,
    BellPolicy,
    _tier_options,
    allowed_times,
    district_tiers,
)
from routing.bells.search import (
    _alone,
    _Search,
    search_budget,
)
from routing.bells.times import BellTimes, _span, _was
from routing.budget import Deadline, safety_cap


def align_bells(
    schools: pd.DataFrame,
    *,
    policy: BellPolicy,
    sectors: Sequence[str] = ("charter", "catholic"),
    to: str = "district",
    chains: RunChains | None = None,
    align: Align = "start_and_end",
    time_limit: float = 10.0,
    seed: int = 0,
    start: BellTimes | None = None,
) -> BellTimes:
    """Schools of ``sectors`` move onto the tiers of the ``to`` sector.

    A tier is a start of the ``to`` sector's schools with its most common dismissal
    (:func:`district_tiers`, e.g. 07:30-14:00, 08:30-15:00, 09:30-16:00). With
    ``align="start_and_end"`` an aligned school takes the tier's start *and* dismissal, so its day
    may lengthen or shorten, within the policy (``max_day_change`` and the rules); where the policy
    forbids the tier's dismissal the school takes the tier's start and the allowed dismissal
    nearest the tier's. With ``align="start"`` it takes the tier's start and keeps its day's length.

    Without ``chains`` each school takes its nearest allowed option (whole tiers first). With
    ``chains`` alignment is a choice per school between its allowed options and its current times
    (the status quo), made by the seeded search of :func:`optimize_bells` starting from the current
    times and scoring (buses, schools kept off the tiers, schools not exactly on a tier, buses
    summed over the sessions, total change): it keeps only what lowers that score, so alignment
    never needs more buses than the status quo. A school whose every option needs more buses keeps
    its times, even ones a rule forbids (its reason names the rule; the scenario lists it among the
    policy violations); a school the policy allows no tier keeps them too.

    Parameters
    ----------
    schools
        ``id``, ``sector``, ``grades``, ``bell_start``, ``bell_end``.
    policy
        What the schools may take.
    sectors, to
        Who moves, and onto whose tiers.
    chains
        The evaluator; without it, buses are not counted.
    align
        ``"start_and_end"`` or ``"start"``.
    start
        Times the search starts from (e.g. those found on other runs; a school's that are not
        among its choices start from its current times).
    time_limit, seed
        The search's budget (:func:`search_budget`) and seed: the same seed, the same times.

    Returns
    -------
    BellTimes
        ``reason`` per school, with its old and new start and dismissal.
    """
    if align not in ("start", "start_and_end"):
        raise ValueError(f"align must be 'start' or 'start_and_end', got {align!r}")
    allowed = allowed_times(schools, policy)
    tiers = district_tiers(schools, sector=to)
    on_pairs = align == "start_and_end"
    tier_text = ", ".join(_span(*t) if on_pairs else format_time(t[0]) for t in tiers)
    rows = {str(r["id"]): r for _, r in schools.iterrows()}
    current = {sid: (float(r["bell_start"]), float(r["bell_end"])) for sid, r in rows.items()}
    movers = sorted(sid for sid, r in rows.items() if r["sector"] in sectors and sid in allowed.times)
    options = {sid: _tier_options(rows[sid], tiers, policy, align) for sid in movers}
    reasons = {
        sid: f"kept {_span(*current[sid])}: no {to} tier ({tier_text}) is allowed by the policy"
        for sid in movers
        if not options[sid]
    }
    movers = [sid for sid in movers if options[sid]]
    exact = set(tiers) if on_pairs else {t for t, _ in tiers}

    def on_tier(pair: tuple[float, float]) -> bool:
        return (pair if on_pairs else pair[0]) in exact

    def nearest(sid: str) -> tuple[float, float]:
        """The school's option on a tier closest to its current times."""
        now = current[sid]
        return min(options[sid], key=lambda o: (not on_tier(o), abs(o[0] - now[0]) + abs(o[1] - now[1]), o))

    if chains is None:
        chosen = {sid: nearest(sid) for sid in movers}
        buses = None
    else:
        index = {s: i for i, s in enumerate(chains.school_ids)}
        now = np.array([current[s] for s in chains.school_ids])
        choices = {
            index[sid]: np.array(sorted({current[sid], *options[sid]})) - now[index[sid]] for sid in movers
        }
        kept_off = [index[sid] for sid in movers if current[sid] not in options[sid]]

        def ties(x: np.ndarray, y: np.ndarray, total: int) -> tuple[float, ...]:
            kept = sum(x[i] == 0 and y[i] == 0 for i in kept_off)
            inexact = sum(not on_tier((now[i, 0] + x[i], now[i, 1] + y[i])) for i in choices)
            return (kept, inexact, total, float(np.abs(x).sum() + np.abs(y).sum()))

        search = _Search(
            chains,
            choices,
            now,
            ties,
            search_budget(chains, time_limit=time_limit),
            Deadline(safety_cap(time_limit)),
            np.random.default_rng(seed),
        )
        x0, y0 = np.zeros(len(now)), np.zeros(len(now))
        for i, opts in choices.items():
            at = (
                None
                if start is None
                else np.array([start.starts[chains.school_ids[i]], start.ends[chains.school_ids[i]]]) - now[i]
            )
            if at is not None and np.any((opts == at).all(axis=1)):
                x0[i], y0[i] = at
        x, y, best = search.run(x0, y0)
        buses = int(best[0])
        chosen = {sid: (current[sid][0] + x[index[sid]], current[sid][1] + y[index[sid]]) for sid in movers}
        for sid in movers:
            if chosen[sid] != current[sid] or on_tier(current[sid]):
                continue
            i = index[sid]
            more = (
                min(
                    _alone(chains, x, y, i, o[0] - current[sid][0], o[1] - current[sid][1])
                    for o in options[sid]
                )
                - buses
            )
            broken = (
                ""
                if not allowed.binding.get(sid)
                else f"; its current time breaks {'; '.join(allowed.binding[sid])}"
            )
            why = (
                f"the {to} tiers would need {more} more bus{'es' if more > 1 else ''}"
                if more > 0
                else f"the search kept it off the {to} tiers"
            )
            reasons[sid] = f"kept {_span(*current[sid])}: {why}{broken}"
    for sid in movers:
        new, old = chosen[sid], current[sid]
        if sid in reasons:
            continue
        tier = _span(*new) if on_pairs else format_time(new[0])
        if new == old:
            reasons[sid] = f"already on the {to} tier {tier}"
        elif on_tier(new):
            reasons[sid] = f"aligned to the {to} tier {tier} ({_was(old, new)})"
        else:
            reasons[sid] = (
                f"aligned to the {to} start {format_time(new[0])} ({_was(old, new)}); {options[sid][new]}"
            )
    times = BellTimes.from_times(
        schools,
        {s: p[0] for s, p in chosen.items()},
        ends={s: p[1] for s, p in chosen.items()},
        reasons=reasons,
        infeasible=allowed.infeasible,
        buses=buses,
    )
    return replace(times, clock_cap=chains is not None and search.deadline.fired)
