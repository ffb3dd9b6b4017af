"""A lottery's outcome: each student's school, aggregates (small groups blanked) and private files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from facilities.io import atomic_write
from facilities.lottery.data import _NG, AGGREGATE_KEYS, LotteryData

__all__ = ["LotteryResult"]


@dataclass(frozen=True, eq=False)
class LotteryResult:
    """The lottery's outcome.

    Attributes
    ----------
    data
        The instance solved.
    assignment
        ``(n,)`` school index of each student, -1 when unassigned.
    choice_rank
        ``(n,)`` 0-based position in the student's list of the assigned school (-1 when
        unassigned or placed by the guarantee outside the list).
    guaranteed
        ``(n,)`` whether the zone guarantee placed the student.
    keys
        ``(n, L)`` each school's ordering key for each applicant (tier, then lottery; lower first).
    lottery_number
        ``(n,)`` each student's lottery number (0 = luckiest); also the guarantee's order.
    seed, lottery
        How the lottery numbers were drawn.
    """

    data: LotteryData
    assignment: np.ndarray
    choice_rank: np.ndarray
    guaranteed: np.ndarray
    keys: np.ndarray
    lottery_number: np.ndarray
    seed: int
    lottery: str

    @property
    def simulated(self) -> bool:
        """Whether families' lists were simulated rather than real."""
        return self.data.simulated

    @cached_property
    def seats_left(self) -> np.ndarray:
        """``(m, 14)`` seats left by school and grade (column ``grade + 1``) once everyone is placed."""
        d = self.data
        placed = self.assignment >= 0
        taken = np.zeros_like(d.seats)
        np.add.at(taken, (self.assignment[placed], d.grades[placed] + 1), 1)
        return d.seats - taken

    def table(self) -> pd.DataFrame:
        """Each student's assignment (private): id, grade, school, choice (1-based), how."""
        d = self.data
        how = np.where(self.guaranteed, "guarantee", np.where(self.assignment >= 0, "lottery", "unassigned"))
        return pd.DataFrame(
            {
                "student": d.student_ids,
                "grade": d.grades,
                "school": np.where(self.assignment >= 0, d.school_ids[np.clip(self.assignment, 0, None)], ""),
                "choice": np.where(self.choice_rank >= 0, self.choice_rank + 1, pd.NA),
                "how": how,
                "lottery_number": self.lottery_number,
            }
        )

    @cached_property
    def waitlists(self) -> pd.DataFrame:
        """Waitlists (private): each student waits at every school ranked above the one assigned.

        Columns ``school``, ``grade``, ``position`` (1 = next offered a seat), ``student``,
        ``choice`` (the student's rank of the school), sorted by school, grade and position.
        """
        d = self.data
        stop = np.where(self.choice_rank >= 0, self.choice_rank, d.choices.shape[1])
        cols = np.arange(d.choices.shape[1])[None, :]
        s, j = np.nonzero((cols < stop[:, None]) & (d.choices >= 0))
        prog, key = d.programs[s, j], self.keys[s, j]
        order = np.lexsort((key, prog))
        s, j, prog = s[order], j[order], prog[order]
        position = np.arange(len(prog)) - np.searchsorted(prog, prog)
        return pd.DataFrame(
            {
                "school": d.school_ids[prog // _NG],
                "grade": prog % _NG - 1,
                "position": position + 1,
                "student": d.student_ids[s],
                "choice": j + 1,
            }
        )

    def aggregates(self, by: Sequence[str] = (), *, min_count: int = 10) -> pd.DataFrame:
        """Counts of outcomes, overall or by groups of students.

        Parameters
        ----------
        by
            Any of :data:`AGGREGATE_KEYS`: ``sector`` (of the student's first choice),
            ``neighborhood`` (where the student lives), ``grade``.
        min_count
            Groups with fewer students have their counts blanked (NA), so no small group can be
            recognized; 0 shows everything.

        Returns
        -------
        DataFrame
            One row per group: ``students``, ``matched`` (lottery or guarantee), ``first_choice``,
            ``top_three``, ``guarantee``, ``unassigned``, and the shares of matched, first choice
            and top three; ``simulated`` says whether the lists were simulated.
        """
        by = [by] if isinstance(by, str) else list(by)
        unknown = [b for b in by if b not in AGGREGATE_KEYS]
        if unknown:
            raise ValueError(f"cannot aggregate by {unknown}; use any of {', '.join(AGGREGATE_KEYS)}")
        d = self.data
        first = d.choices[:, 0] if d.choices.shape[1] else np.full(d.n_students, -1)
        groups = {
            "sector": np.where(first >= 0, d.sectors[np.clip(first, 0, None)], "none"),
            "neighborhood": np.where(d.neighborhoods == "", "unknown", d.neighborhoods),
            "grade": d.grades,
        }
        frame = pd.DataFrame({k: groups[k] for k in by}, index=pd.RangeIndex(d.n_students))
        frame["students"] = 1
        frame["matched"] = self.assignment >= 0
        frame["first_choice"] = self.choice_rank == 0
        frame["top_three"] = (self.choice_rank >= 0) & (self.choice_rank < 3)
        frame["guarantee"] = self.guaranteed
        frame["unassigned"] = self.assignment < 0
        counts = ["students", "matched", "first_choice", "top_three", "guarantee", "unassigned"]
        out = (
            frame.groupby(by, sort=True)[counts].sum().reset_index()
            if by
            else frame[counts].sum().to_frame().T
        )
        out = out.astype({c: "Int64" for c in counts})
        for c in ("matched", "first_choice", "top_three"):
            out[f"{c}_share"] = (out[c] / out["students"]).astype(float).round(4)
        small = out["students"] < min_count
        out.loc[small, [c for c in out.columns if c not in by]] = pd.NA
        out["simulated"] = self.simulated
        return out

    def to_csv(
        self, path: str | os.PathLike, *, table: Literal["assignment", "waitlists"] = "assignment"
    ) -> Path:
        """Write each student's assignment (or the waitlists) to ``path``, atomically.

        These are private data: write them only where the user asked.
        """
        if table not in ("assignment", "waitlists"):
            raise ValueError(f"table={table!r}; use 'assignment' or 'waitlists'")
        frame = self.table() if table == "assignment" else self.waitlists
        with atomic_write(path) as tmp:
            frame.to_csv(tmp, index=False)
        return Path(path)
