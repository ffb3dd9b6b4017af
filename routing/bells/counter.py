"""The fewest buses for any bell times, for fixed runs: the fast, exact evaluator of the bell search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from routing.chaining import can_follow, fewest_buses
from routing.data import ProblemData
from routing.plan import Run


@dataclass(frozen=True, eq=False)
class RunChains:
    """The fewest buses for any bell times, for fixed runs: an exact, fast evaluator.

    Build it with :meth:`from_runs`. For each session, run ``j`` can follow run ``i`` on one bus
    when both have the same bus type and, with every run moved by its school's shift (of the start
    in the ``"am"`` session, of the dismissal in the ``"pm"`` session),
    :func:`routing.chaining.can_follow` of ``end[i] + shift[i]``, ``drive[i, j]`` and
    ``start[j] + shift[j]``, and the count is :func:`routing.chaining.fewest_buses`: the very test
    and count of :func:`routing.chaining.chain`, so the count is the one the final plan of the
    same shifted runs has. Only pairs that can chain for *some* shifts no further apart
    than ``max_shift`` are kept; beyond that the count is an upper bound.

    Attributes
    ----------
    school_ids
        School ids, in the order of the shift vectors.
    sessions
        Session name -> ``(school, start, end, rows, cols, drive)`` arrays: each run's school
        index, start and end at the current bells, and the candidate successor pairs with the
        drive (seconds) from the end of ``rows`` to the start of ``cols``.
    max_shift
        Largest difference of two schools' shifts for which the count is exact.
    """

    school_ids: tuple[str, ...]
    sessions: Mapping[str, tuple[np.ndarray, ...]] = field(repr=False)
    max_shift: float = 4 * 3600.0
    _pairs: Mapping[str, tuple[np.ndarray, ...]] = field(init=False, repr=False)

    _touching: Mapping[str, list[np.ndarray]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # per candidate pair: end of the first run, start of the second, and both schools; and
        # per school the pairs whose test its shift changes (for the search's incremental counts)
        pairs = {
            k: (end[rows], start[cols], school[rows], school[cols])
            for k, (school, start, end, rows, cols, _) in self.sessions.items()
        }
        n = len(self.school_ids)
        touching = {
            k: [np.flatnonzero((a == i) | (b == i)) for i in range(n)] for k, (_, _, a, b) in pairs.items()
        }
        object.__setattr__(self, "_pairs", pairs)
        object.__setattr__(self, "_touching", touching)

    @classmethod
    def from_runs(
        cls, data: ProblemData, runs: Mapping[str, Sequence[Run]], *, max_shift: float = 4 * 3600
    ) -> RunChains:
        """Build the evaluator from each session's runs (timed at the current bells of ``data``).

        Parameters
        ----------
        data
            The problem (its ``durations`` give the drives between runs).
        runs
            ``{"am": [...], "pm": [...]}``; a run's school is its first school.
        max_shift
            Largest difference of two schools' shifts considered; pairs needing more never chain.
        """
        T = data.durations
        out = {}
        for session, rs in runs.items():
            if not rs:
                continue
            school = np.array([r.schools[0] for r in rs], dtype=np.intp)
            start = np.array([r.start for r in rs], dtype=float)
            end = np.array([r.end for r in rs], dtype=float)
            drive = T[np.ix_([r.end_location for r in rs], [r.start_location for r in rs])]
            kind = np.array([r.bus_type for r in rs])
            near = (end[:, None] + drive - start[None, :] <= max_shift + 1.0) & (
                kind[:, None] == kind[None, :]
            )
            np.fill_diagonal(near, False)  # a bus type drives its own runs (as routing.buses.chain)
            rows, cols = np.nonzero(near)
            out[session] = (
                school,
                start,
                end,
                rows.astype(np.int32),
                cols.astype(np.int32),
                drive[rows, cols],
            )
        return cls(tuple(s.id for s in data.schools), out, float(max_shift))

    def _follows(
        self, session: str, shift: np.ndarray, base: np.ndarray | None = None, moved: Sequence[int] = ()
    ) -> np.ndarray:
        """Which candidate pairs can chain: all tested, or ``base`` with the pairs of ``moved`` schools
        retested."""
        drive = self.sessions[session][5]
        end, start, first, then = self._pairs[session]
        if base is None:
            return can_follow(end + shift[first], drive, start + shift[then])
        ok = base.copy()
        k = (
            np.concatenate([self._touching[session][i] for i in moved])
            if moved
            else np.zeros(0, dtype=np.intp)
        )
        ok[k] = can_follow(end[k] + shift[first[k]], drive[k], start[k] + shift[then[k]])
        return ok

    def _count(self, session: str, shift: np.ndarray, ok: np.ndarray | None = None) -> int:
        """Fewest buses of one session: its runs minus a maximum matching of "can follow"."""
        school, _, _, rows, cols, _ = self.sessions[session]
        ok = self._follows(session, shift) if ok is None else ok
        return fewest_buses(len(school), rows[ok], cols[ok])

    def _shifts(self, shift: np.ndarray | None, end_shift: np.ndarray | None) -> dict[str, np.ndarray]:
        start = np.zeros(len(self.school_ids)) if shift is None else np.asarray(shift, dtype=float)
        end = start if end_shift is None else np.asarray(end_shift, dtype=float)
        return {k: end if k == "pm" else start for k in self.sessions}

    def buses(self, shift: np.ndarray | None = None, *, end_shift: np.ndarray | None = None) -> int:
        """Fewest buses for starts shifted by ``shift`` and dismissals by ``end_shift`` seconds per
        school (default: as the starts): the busier session."""
        return max(self.session_buses(shift, end_shift=end_shift).values(), default=0)

    def session_buses(
        self, shift: np.ndarray | None = None, *, end_shift: np.ndarray | None = None
    ) -> dict[str, int]:
        """Fewest buses per session (the number of buses :func:`routing.buses.chain` uses)."""
        return {k: self._count(k, x) for k, x in self._shifts(shift, end_shift).items()}

    def _at_most(
        self,
        limit: int,
        shift: np.ndarray,
        end_shift: np.ndarray,
        *,
        first: str = "",
        base: Mapping[str, np.ndarray] | None = None,
        moved: Sequence[int] = (),
    ) -> tuple[int, int]:
        """:meth:`buses` and the sum over sessions, or the first session's count (twice) when it is
        above ``limit`` (the search's quick rejection; pass the busiest session as ``first``).
        With ``base`` (:meth:`_follows` per session for shifts that differ only for the ``moved``
        schools) only their pairs are retested."""
        counts = []
        for k, x in sorted(self._shifts(shift, end_shift).items(), key=lambda kx: kx[0] != first):
            counts.append(self._count(k, x, None if base is None else self._follows(k, x, base[k], moved)))
            if counts[-1] > limit:
                return counts[-1], counts[-1]
        return max(counts, default=0), sum(counts)
