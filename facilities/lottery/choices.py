"""Simulated ranked lists: a documented, seeded random-utility model for cities without real rankings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from facilities.lottery.data import _NG, _strings

__all__ = ["SECTOR_TERMS", "simulate_choices"]

SECTOR_TERMS: dict[str, float] = {"district": 0.0, "charter": 0.3, "catholic": -0.3, "private": -1.0}


def simulate_choices(
    students_xy: np.ndarray,
    schools_xy: np.ndarray,
    school_attrs: pd.DataFrame | None = None,
    *,
    seed: int,
    n_choices: int = 12,
    student_grades: np.ndarray | None = None,
    student_ids: Sequence[object] | None = None,
    distance_per_km: float = 1.0,
    quality_weight: float = 1.0,
    sector_terms: Mapping[str, float] | None = None,
    noise: float = 1.0,
) -> pd.DataFrame:
    """Simulate families' ranked lists from a random-utility model (when real rankings are absent).

    Family *i* values school *j* at ::

        U_ij = - distance_per_km * d_ij / 1000 + quality_weight * quality_j + sector_terms[sector_j]
               + noise * e_ij,        e_ij ~ Gumbel(0, 1) independent

    where ``d_ij`` is the straight-line distance in metres, and ranks the ``n_choices`` schools of
    highest utility among those serving its grade (a multinomial-logit "exploded" ranking, the
    model of e.g. Abdulkadiroğlu, Agarwal and Pathak 2017, here with illustrative weights).

    Parameters
    ----------
    students_xy, schools_xy
        ``(n, 2)`` and ``(m, 2)`` metric coordinates (metres).
    school_attrs
        Optional columns per school (row order of ``schools_xy``): ``id`` (default 0..m-1),
        ``sector``, ``quality`` (a standardized score, 0 = average), ``grades`` (tuple of ints;
        schools not serving a student's grade are never ranked).
    seed
        Seeds the noise; the same seed gives the same lists.
    n_choices
        Longest list (shorter when fewer schools serve the grade).
    student_grades
        ``(n,)`` grades, needed with ``grades`` in ``school_attrs``.
    student_ids
        Ids for the ``student`` column (default 0..n-1).
    distance_per_km, quality_weight, sector_terms, noise
        The model's weights (see the formula); ``sector_terms`` defaults to :data:`SECTOR_TERMS`.

    Returns
    -------
    DataFrame
        ``student``, ``school``, ``rank`` (1 = first) and ``simulated`` (True), ready for
        :meth:`LotteryData.from_frames`.
    """
    sxy = np.asarray(students_xy, dtype=float)
    kxy = np.asarray(schools_xy, dtype=float)
    n, m = len(sxy), len(kxy)
    attrs = school_attrs if school_attrs is not None else pd.DataFrame(index=range(m))
    terms = dict(SECTOR_TERMS if sector_terms is None else sector_terms)
    base = np.zeros(m)
    if "quality" in attrs:
        base += quality_weight * attrs["quality"].fillna(0).to_numpy(float)
    if "sector" in attrs:
        base += np.array([terms.get(str(s), 0.0) for s in attrs["sector"]])
    serves = None
    if "grades" in attrs:
        if student_grades is None:
            raise ValueError("school_attrs has grades: pass student_grades= too")
        serves = np.zeros((_NG, m), dtype=bool)
        for j, gs in enumerate(attrs["grades"]):
            serves[np.asarray(list(gs), dtype=np.int64) + 1, j] = True
        sg = np.asarray(student_grades, dtype=np.int64) + 1
    school_ids = _strings(attrs["id"]) if "id" in attrs else np.arange(m)
    ids = np.asarray(student_ids, dtype=object) if student_ids is not None else np.arange(n)
    rng = np.random.default_rng(seed)
    k = min(n_choices, m)
    parts = []
    for lo in range(0, n, 4096):
        hi = min(n, lo + 4096)
        d = np.hypot(sxy[lo:hi, None, 0] - kxy[None, :, 0], sxy[lo:hi, None, 1] - kxy[None, :, 1])
        u = base - distance_per_km * d / 1000.0 + noise * rng.gumbel(size=d.shape)
        if serves is not None:
            u[~serves[sg[lo:hi]]] = -np.inf
        top = (
            np.argpartition(-u, k - 1, axis=1)[:, :k]
            if k < m
            else np.broadcast_to(np.arange(m), (hi - lo, m))
        )
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(u, top, 1), axis=1, kind="stable"), 1)
        ok = np.isfinite(np.take_along_axis(u, top, 1))
        r, c = np.nonzero(ok)
        parts.append(pd.DataFrame({"student": ids[lo + r], "school": school_ids[top[r, c]], "rank": c + 1}))
    out = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["student", "school", "rank"])
    )
    out["simulated"] = True
    return out
