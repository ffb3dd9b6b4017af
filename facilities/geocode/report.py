"""The match report: how each student's address was placed, by school and neighborhood, and the rows to fix.

The report's rows are private (they hold each row's address as written, the user's own input);
its tables by school and neighborhood blank every cell under :data:`MIN_CELL` students, so they
can go anywhere. :meth:`MatchReport.text` prints the rows to fix only when asked (the CLI prints
them; the HTML report under ``--out`` does not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from facilities.geocode.match import KINDS

__all__ = ["MIN_CELL", "WRONG_METRES", "MatchReport", "suppress"]

#: Smallest count shown in a table by school or neighborhood; smaller ones read "<10".
MIN_CELL = 10
#: A check against coordinates the file already has: a placed point farther than this disagrees.
WRONG_METRES = 150.0


@dataclass(frozen=True)
class MatchReport:
    """How the students' addresses were placed.

    Attributes
    ----------
    source
        The students file.
    geocoders
        The geocoders used, in order (``address points`` first, then any online one).
    rows
        One row per address geocoded: ``row`` (as in the spreadsheet), ``id``, ``school``,
        ``neighborhood`` (from the file; may be empty), ``address`` (as written), ``kind``,
        ``score``, ``matched``, ``reason``, ``geocoder``, ``lon``/``lat`` (the point),
        ``has_coordinates`` (the file gives the
        row coordinates, which it keeps) and, for a check, ``distance`` (metres from them). Private.
    kept_coordinates
        Rows that came with coordinates and kept them.
    check
        Whether rows that had coordinates were geocoded too, to check the file (``compact geocode``);
        ``distance`` then says how far each placed point is from the file's.
    """

    source: str
    geocoders: tuple[str, ...]
    rows: pd.DataFrame
    kept_coordinates: int = 0
    check: bool = False

    def counts(self) -> dict[str, int]:
        """Addresses by kind of match, in :data:`~facilities.geocode.match.KINDS` order."""
        found = self.rows["kind"].value_counts() if len(self.rows) else pd.Series(dtype=int)
        return {kind: int(found.get(kind, 0)) for kind in KINDS}

    @property
    def not_placed(self) -> int:
        """Students left out of routing: their address matched nothing and they have no coordinates."""
        return int(self._not_placed().sum())

    def _not_placed(self) -> pd.Series:
        unmatched = self.rows["kind"] == "unmatched"
        if "has_coordinates" in self.rows:
            unmatched &= ~self.rows["has_coordinates"].astype(bool)
        return unmatched

    def left_out(self) -> pd.DataFrame:
        """The students left out of routing: ``kind``, ``id``, ``school``, ``reason``."""
        rows = self.rows[self._not_placed()]
        return pd.DataFrame(
            {
                "kind": "student",
                "id": rows["id"].astype(str),
                "school": rows["school"],
                "reason": "not placed (address unmatched)",
            }
        )

    @property
    def unmatched(self) -> int:
        """Addresses that matched nothing."""
        return self.counts()["unmatched"]

    @property
    def matched_share(self) -> float:
        """Share of geocoded addresses that were placed (NaN when none was geocoded)."""
        return float((self.rows["kind"] != "unmatched").mean()) if len(self.rows) else float("nan")

    def disagreements(self) -> int:
        """For a check: placed points more than :data:`WRONG_METRES` from the file's own coordinates."""
        if "distance" not in self.rows:
            return 0
        return int((self.rows["distance"] > WRONG_METRES).sum())

    def table(self, by: str, *, neighborhoods: pd.Series | None = None) -> pd.DataFrame:
        """Counts by kind for each school or neighborhood, cells under :data:`MIN_CELL` blanked.

        Parameters
        ----------
        by
            ``"school"`` or ``"neighborhood"``.
        neighborhoods
            Students' neighborhoods by id (the city's, derived from zones), used where the file
            names none; students not placed and not named stay ``unknown``.
        """
        rows = self.rows
        key = rows[by].astype(object) if by in rows else pd.Series(None, index=rows.index, dtype=object)
        if by == "neighborhood" and neighborhoods is not None:
            key = key.where(key.notna() & (key != ""), rows["id"].map(neighborhoods))
        key = key.where(key.notna() & (key != ""), "unknown")
        counts = pd.crosstab(key, rows["kind"]).reindex(columns=list(KINDS), fill_value=0)
        counts["students"] = counts.sum(axis=1)
        counts.index.name = by
        counts.columns.name = None
        return suppress(counts.reset_index(), [*KINDS, "students"])

    def reasons(self) -> pd.Series:
        """Unmatched addresses by kind of reason (``street not found``, ``P.O. box``, ...), most first."""
        unmatched = self.rows.loc[self.rows["kind"] == "unmatched", "reason"]
        return unmatched.map(_reason_kind).value_counts().rename_axis("why").rename("addresses")

    def to_fix(self) -> pd.DataFrame:
        """The spreadsheet rows to fix (unmatched) and to check (fuzzy or nearest number), by row. Private."""
        todo = self.rows[self.rows["kind"] != "exact"].copy()
        todo["action"] = np.where(todo["kind"] == "unmatched", "fix", "check")
        return todo[["row", "address", "kind", "score", "matched", "reason", "action"]].sort_values(
            "row", kind="stable"
        )

    def summary_line(self) -> str:
        """One line: what was placed and what not (as ``compact validate`` and ``compact demo`` print it)."""
        counts = self.counts()
        placed = ", ".join(f"{counts[k]:,} {k}" for k in KINDS[:-1])
        total = len(self.rows)
        line = f"{total - counts['unmatched']:,} of {total:,} addresses placed ({placed}); "
        line += f"{counts['unmatched']:,} unmatched"
        if self.check:
            far = f"{WRONG_METRES:.0f} m"
            line += f"; {self.disagreements():,} placed more than {far} from the file's own coordinates"
        kept = counts["unmatched"] - self.not_placed
        if kept:
            line += f"; {kept:,} unmatched rows keep the coordinates the file gives"
        if self.not_placed:
            line += f"; {self.not_placed:,} students not placed (addresses unmatched): left out of routing"
        return line

    def text(self, *, rows_to_fix: int = 0) -> str:
        """The report as the CLI prints it; ``rows_to_fix`` > 0 lists that many rows with addresses."""
        counts = self.counts()
        total = max(len(self.rows), 1)
        lines = [f"Addresses in {self.source}, placed by {' then '.join(self.geocoders)}:"]
        if self.kept_coordinates and self.check:
            lines.append(
                f"  {self.kept_coordinates:,} rows come with coordinates (kept): geocoded too, to check them"
            )
        elif self.kept_coordinates:
            lines.append(f"  {self.kept_coordinates:,} rows came with coordinates and keep them")
        for kind in KINDS:
            lines.append(f"  {kind:<15} {counts[kind]:>7,}  ({counts[kind] / total:.1%})")
        lines.append("  " + self.summary_line())
        reasons = self.reasons()
        if len(reasons):
            lines.append("  why not matched: " + "; ".join(f"{n:,} {why}" for why, n in reasons.items()))
        if rows_to_fix:
            fix = self.to_fix()
            fix = fix[fix["action"] == "fix"]
            lines.append(f"  rows to fix ({len(fix):,}):" if len(fix) else "  no row to fix")
            for r in fix.head(rows_to_fix).itertuples():
                lines.append(f"    row {r.row}: {r.address!r} — {r.reason}")
            if len(fix) > rows_to_fix:
                lines.append(f"    ... and {len(fix) - rows_to_fix:,} more (all in the private report)")
        return "\n".join(lines)


def _reason_kind(reason: str) -> str:
    """The kind of a reason, for counting (``'street 'X' is not in ...'`` -> ``'street not found'``)."""
    for needle, kind in (
        ("P.O. box", "P.O. box"),
        ("empty", "empty"),
        ("no house number", "no house number"),
        ("outside the area", "ZIP elsewhere"),
        ("could be", "ambiguous street"),
        ("several places", "ambiguous place"),
        ("is not in the address points", "street not found"),
        ("no number", "number not on the street"),
        ("neither", "no address"),
    ):
        if needle in reason:
            return kind
    return "other"


def suppress(table: pd.DataFrame, columns: list[str], *, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Counts under ``min_cell`` (but above 0) become ``'<10'``; the table comes back as text."""
    out = table.copy()
    for column in columns:
        values = out[column].astype(int)
        out[column] = [f"<{min_cell}" if 0 < v < min_cell else f"{v:,}" for v in values]
    return out
