"""The City page's panel on students' addresses: how they were placed, counts only (no address, no point)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from facilities import City
from facilities.geocode import MIN_CELL, MatchReport

__all__ = ["geocode_panel"]


@st.cache_resource(show_spinner="Matching students' addresses…", max_entries=4)
def _report(root: str, stamp: float, _city: City) -> MatchReport:
    from app.commands.geocode import report_for

    return report_for(_city)


def geocode_panel(city: City) -> None:
    """Show the match report of the city's student addresses, if its students layer maps an address."""
    from app.commands.geocode import _students_cfg
    from app.report_geocode import how_matched, kinds_table

    if city.root is None or "address" not in _students_cfg(Path(city.root)):
        return
    st.subheader("Students' addresses")
    report = _report(str(city.root), (Path(city.root) / "city.toml").stat().st_mtime, city)
    counts = report.counts()
    cols = st.columns(4)
    cols[0].metric("Addresses placed", f"{report.matched_share:.1%}", help=" then ".join(report.geocoders))
    cols[1].metric("Exact", f"{counts['exact']:,}")
    cols[2].metric(
        "Nearest number or fuzzy", f"{counts['nearest number'] + counts['fuzzy']:,}", help="rows to check"
    )
    cols[3].metric("Not matched", f"{counts['unmatched']:,}", help="rows to fix")
    st.caption(report.summary_line())
    if report.not_placed:
        st.warning(
            f"{report.not_placed:,} students not placed (addresses unmatched): they are left out of routing."
        )
    left, right = st.columns([2, 3])
    with left:
        st.dataframe(kinds_table(report), hide_index=True, width="stretch")
    with right:
        by = st.radio("By", ["school", "neighborhood"], horizontal=True, key="geocode_by")
        hoods = city.students.set_index("id")["neighborhood"] if len(city.students) else None
        table = report.table(by, neighborhoods=hoods if by == "neighborhood" else None)
        if by == "school":
            table.insert(1, "name", table["school"].map(city.schools.set_index("id")["name"]).fillna(""))
        st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch", height=280)
    st.caption(
        f"Counts under {MIN_CELL} students read <{MIN_CELL}. The rows to fix, with their addresses, "
        "are in the private "
        "report: compact geocode CITY_DIR --private-out DIR. " + how_matched()
    )
