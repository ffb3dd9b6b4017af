"""The Bell times page's spread of results when the clock's safety cap ended a search (not a page: the
page imports it).

A search stopped by the clock, not by its work budget, may give another answer on another run. The
page then offers, on a button press only, the same scenarios with a few other seeds, and shows per
scenario the fewest, median and most buses and dollars a year among the seeds: how much the answer
moves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
import streamlit as st

from app import state
from routing.scenarios import Comparison

__all__ = ["OTHER_SEEDS", "other_seeds", "spread_panel", "spread_table"]

#: How many other seeds the spread runs (the page's seed and these).
OTHER_SEEDS = 3


def other_seeds(seed: int, *, n: int = OTHER_SEEDS) -> list[int]:
    """The seeds run beside ``seed``: the ``n`` that follow it."""
    return [seed + k for k in range(1, n + 1)]


def spread_table(comparisons: Mapping[int, Comparison]) -> pd.DataFrame:
    """Per scenario, across the seeds of ``comparisons`` (seed -> comparison): the fewest, median and most
    buses and dollars a year, and in how many seeds the clock's cap ended a search.

    Returns
    -------
    pandas.DataFrame
        ``scenario``, ``seeds``, ``buses_min``, ``buses_median``, ``buses_max``, ``dollars_min``,
        ``dollars_median``, ``dollars_max``, ``capped_seeds``; scenarios in the comparisons' order.
    """
    rows = pd.concat([c.summary().assign(seed=seed) for seed, c in comparisons.items()], ignore_index=True)
    by = rows.groupby("scenario", sort=False)
    out = pd.DataFrame(
        {
            "seeds": by["seed"].apply(lambda s: ", ".join(str(v) for v in s)),
            "buses_min": by["buses"].min(),
            "buses_median": by["buses"].median(),
            "buses_max": by["buses"].max(),
            "dollars_min": by["dollars_per_year"].min(),
            "dollars_median": by["dollars_per_year"].median(),
            "dollars_max": by["dollars_per_year"].max(),
            "capped_seeds": by["clock_cap"].apply(lambda c: int((c.astype(str) != "").sum())),
        }
    )
    return out.reset_index()


def spread_panel(
    comparison: Comparison, *, seed: int, inputs: object, solve: Callable[[int], Comparison]
) -> None:
    """The button that reruns the scenarios with :func:`other_seeds` (``solve(seed)``), and the table.

    The table is kept with ``inputs`` (:func:`app.state.remember`): a rerun shows it without solving.
    """
    seeds = other_seeds(seed)
    st.markdown("**How much the answer moves** (the clock, not the work budget, ended a search)")
    found = state.remembered("bells_spread", inputs)
    pressed = st.button(
        f"Run again with seeds {', '.join(map(str, seeds))} and show the spread",
        key="bell_spread",
        help="Each seed is one more run of the scenarios with the same time limit.",
    )
    work = st.empty()  # on every run: the progress of the solves, so the page below keeps its place
    if pressed:
        runs = {seed: comparison}
        with work.container():
            for other in seeds:
                runs[other] = solve(other)
        work.empty()
        found = (state.remember("bells_spread", inputs, spread_table(runs)), True)
    if found is None or not found[1]:
        return
    table = found[0]
    shown = table.rename(
        columns={
            "buses_min": "buses, fewest",
            "buses_median": "buses, median",
            "buses_max": "buses, most",
            "dollars_min": "$ / year, lowest",
            "dollars_median": "$ / year, median",
            "dollars_max": "$ / year, highest",
            "capped_seeds": "seeds the clock stopped",
        }
    )
    dollars = {c: st.column_config.NumberColumn(format="dollar") for c in shown.columns if c.startswith("$")}
    st.dataframe(shown, hide_index=True, width="stretch", key="bell_spread_table", column_config=dollars)
    st.caption(
        f"Seeds {table['seeds'].iloc[0]}, the same inputs and time limit. A wide spread says: give the "
        "search a smaller time limit (it then ends on its work budget, the same answer every time) or "
        "compare scenarios by their medians."
    )
