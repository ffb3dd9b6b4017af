"""The mechanism: lottery numbers, student-proposing deferred acceptance, then the zone guarantee."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from facilities.lottery.data import _LOTTERIES, _NG, LotteryData
from facilities.lottery.result import LotteryResult

__all__ = ["solve"]

logger = logging.getLogger(__name__)


def _keys(data: LotteryData, rng: np.random.Generator, lottery: str) -> tuple[np.ndarray, np.ndarray]:
    """Schools' ordering keys (tier, then lottery number) and the single lottery numbers."""
    n = data.n_students
    number = rng.permutation(n).astype(np.int64)
    if lottery == "single":
        rank = np.broadcast_to(number[:, None], data.choices.shape)
    else:  # one number per (student, school): a random order of each school's applicants
        valid = data.choices >= 0
        noise = rng.random(data.choices.shape)
        flat = np.flatnonzero(valid)
        school = data.choices.ravel()[flat]
        order = np.lexsort((noise.ravel()[flat], school))
        start = np.searchsorted(school[order], school[order])
        rank = np.zeros(data.choices.size, dtype=np.int64)
        rank[flat[order]] = np.arange(len(flat)) - start
        rank = rank.reshape(data.choices.shape)
    return data.tiers * (n + 1) + rank, number


def _deferred_acceptance(programs: np.ndarray, keys: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Student-proposing deferred acceptance in rounds; returns each student's list position or -1.

    Each round every rejected student proposes to the next school on their list; each program
    keeps its best ``capacity`` applicants by key among those it held and the new ones.
    """
    n, width = programs.shape
    held = np.full(n, -1, dtype=np.int64)  # position in the list of the held proposal
    nxt = np.zeros(n, dtype=np.int64)
    length = (programs >= 0).sum(1)
    held_prog = np.full(n, -1, dtype=np.int64)
    touched = np.zeros(len(capacity), dtype=bool)
    active = np.flatnonzero(length > 0)
    while active.size:
        j = nxt[active]
        nxt[active] += 1
        prog = programs[active, j]
        touched[:] = False
        touched[prog] = True
        holders = np.flatnonzero(held_prog >= 0)
        holders = holders[touched[held_prog[holders]]]
        cand = np.concatenate([holders, active])
        cj = np.concatenate([held[holders], j])
        cp = np.concatenate([held_prog[holders], prog])
        ck = keys[cand, cj]
        order = np.lexsort((ck, cp))
        cand, cj, cp = cand[order], cj[order], cp[order]
        first = np.searchsorted(cp, cp)
        keep = np.arange(len(cp)) - first < capacity[cp]
        held[cand] = np.where(keep, cj, -1)
        held_prog[cand] = np.where(keep, cp, -1)
        active = cand[~keep]
        active = active[nxt[active] < length[active]]
    return held


def _guarantee(
    data: LotteryData,
    assignment: np.ndarray,
    number: np.ndarray,
    zones: Mapping[str, Sequence[str]],
) -> np.ndarray:
    """Place unmatched zone residents, in lottery order, in the closest zone school with room."""
    index = {s: i for i, s in enumerate(data.school_ids)}
    unknown = sorted({s for ids in zones.values() for s in ids if str(s) not in index})
    if unknown:
        raise ValueError(f"guarantee names unknown schools {unknown[:10]}; use ids of the schools table")
    used = np.bincount(
        (assignment * _NG + data.grades + 1)[assignment >= 0], minlength=data.n_schools * _NG
    ).reshape(data.n_schools, _NG)
    room = data.seats - used
    placed = np.zeros(data.n_students, dtype=bool)
    zone_schools = {
        str(z): np.array([index[str(s)] for s in ids], dtype=np.int64) for z, ids in zones.items()
    }
    waiting = np.flatnonzero((assignment < 0) & np.isin(data.zones, list(zone_schools)))
    for s in waiting[np.argsort(number[waiting])]:
        cands = zone_schools[data.zones[s]]
        cands = cands[room[cands, data.grades[s] + 1] > 0]
        if not cands.size:
            continue
        if data.student_xy is not None and data.school_xy is not None:
            cands = cands[
                np.argsort(np.hypot(*(data.school_xy[cands] - data.student_xy[s]).T), kind="stable")
            ]
        assignment[s] = cands[0]
        room[cands[0], data.grades[s] + 1] -= 1
        placed[s] = True
    return placed


def solve(
    data: LotteryData,
    *,
    seed: int = 0,
    lottery: Literal["single", "per_school"] = "single",
    guarantee: Mapping[str, Sequence[str]] | None = None,
) -> LotteryResult:
    """Run the unified lottery.

    Parameters
    ----------
    data
        The instance.
    seed
        Seeds the lottery numbers; the same seed gives the same result.
    lottery
        ``"single"``: one number per student, used by every school (keeps the assignment
        efficient among students of a tier); ``"per_school"``: each school draws its own order.
    guarantee
        ``zone -> school ids``: after the lottery, unmatched residents of each zone (the students'
        ``zone``) are placed, in lottery order, in the closest of the zone's schools with room in
        their grade. ``None`` for no guarantee.

    Returns
    -------
    LotteryResult
    """
    if lottery not in _LOTTERIES:
        raise ValueError(f"lottery={lottery!r}; use 'single' or 'per_school'")
    rng = np.random.default_rng(seed)
    keys, number = _keys(data, rng, lottery)
    pos = _deferred_acceptance(data.programs, keys, data.seats.ravel())
    rows = np.arange(data.n_students)
    assignment = np.where(
        pos >= 0, data.choices[rows, np.clip(pos, 0, None)] if data.choices.size else -1, -1
    )
    placed = _guarantee(data, assignment, number, guarantee) if guarantee else np.zeros(data.n_students, bool)
    logger.debug("lottery: %d of %d matched", int((assignment >= 0).sum()), data.n_students)
    return LotteryResult(data, assignment, pos, placed, keys, number, seed, lottery)


# ---------------------------------------------------------------------------------------------
# Simulated families' lists
