"""Bell times: pick or edit scenarios, run them, see runs and stops on the map, compare what they save."""

import dataclasses
import json
import tempfile

import altair as alt
import pandas as pd
import streamlit as st

from app import maps, state
from facilities import ValidationError
from facilities.privacy import public_points
from facilities.schema import SECTORS, format_time, parse_time
from routing.scenarios import DEFAULT_SCENARIOS, Comparison, CostModel, Scenario, prepare, run_scenario

city = state.current_city()
key = state.city_key(city)

st.title("Bell times")
st.caption(
    f"{city.name}: what moving bell times saves in buses, miles and dollars. Runs are built once at today's bells; "
    "each scenario shifts them to its bells and chains them onto the fewest buses."
)
if not len(city.students) or not city.schools["bell_start"].notna().any():
    st.info("Bell-time scenarios need students (who rides) and schools' current bell times in the city's files.")
    st.stop()

# ---------------------------------------------------------------- scenarios
names = [s.name for s in DEFAULT_SCENARIOS]
picked = st.multiselect("Scenarios (the first is the reference for savings)", names, default=names, key="bell_scenarios")
with st.expander("Edit: per-school times, policy rules, cost model"):
    tab_times, tab_policy, tab_cost = st.tabs(["Per-school times", "Policy rules", "Cost model"])
    with tab_times:
        st.caption("Type a new start (HH:MM) for any school: the schools you change make a scenario of their own, *your times*.")
        schools = city.schools[["id", "name", "sector", "bell_start"]].assign(current=lambda f: f["bell_start"].map(format_time), new="")
        edited = st.data_editor(
            schools[["id", "name", "sector", "current", "new"]],
            disabled=["id", "name", "sector", "current"],
            hide_index=True,
            width="stretch",
            height=260,
            key="bell_times_editor",
        )
    with tab_policy:
        st.caption("Where optimized and aligned bells may go (layered over the city's [transport.bells]).")
        p = st.columns(4)
        earliest = p[0].text_input("Earliest start", "07:00", key="bell_earliest")
        latest = p[1].text_input("Latest start", "09:30", key="bell_latest")
        step = p[2].selectbox("Candidate every (min)", [5, 10, 15, 30], index=2, key="bell_step")
        max_change = p[3].number_input("Largest change (min, 0 = any)", 0, 240, 0, step=15, key="bell_max_change")
        st.caption("Rules for a sector or grades, e.g. high schools start at 08:00 or later.")
        rules = st.data_editor(
            pd.DataFrame({"sector": pd.Series([], dtype=str), "grades": pd.Series([], dtype=str), "earliest": pd.Series([], dtype=str), "latest": pd.Series([], dtype=str)}),
            num_rows="dynamic",
            column_config={"sector": st.column_config.SelectboxColumn(options=list(SECTORS)), "grades": st.column_config.TextColumn(help="e.g. 9-12")},
            hide_index=True,
            width="stretch",
            key="bell_rules_editor",
        )
    with tab_cost:
        base = CostModel.from_settings(city.settings.get("transport", {}) or {})
        c = st.columns(3)
        costs = dataclasses.replace(
            base,
            per_bus_year=c[0].number_input("$ per bus a year", 0.0, 1e6, base.per_bus_year, step=5000.0, key="cost_bus"),
            per_mile=c[1].number_input("$ per mile", 0.0, 50.0, base.per_mile, step=0.25, key="cost_mile"),
            school_days=int(c[2].number_input("School days a year", 1, 366, base.school_days, key="cost_days")),
        )
        st.caption(f"Bus-year figure: {base.source}.")

bells = {"earliest": earliest, "latest": latest, "step_minutes": step}
if max_change:
    bells["max_change_minutes"] = max_change
rule_rows = [{k: v for k, v in row.items() if isinstance(v, str) and v.strip()} for row in rules.to_dict(orient="records")]
if rule_rows := [r for r in rule_rows if r.get("sector") or r.get("grades")]:
    bells["rules"] = rule_rows
scenarios = [dataclasses.replace(s, bells=bells) if s.kind in ("optimized", "aligned") else s for s in DEFAULT_SCENARIOS if s.name in picked]
changed = edited[edited["new"].astype(str).str.strip() != ""]
try:
    times = {sid: parse_time(t) for sid, t in zip(changed["id"], changed["new"])}
except ValueError as err:
    st.error(f"A new start is not a time: {err}. Write HH:MM, e.g. 08:15.")
    st.stop()
if times:
    scenarios.append(Scenario("your times", "fixed", f"{len(times)} schools moved by hand", times=times))

run_cols = st.columns([2, 1, 1, 1])
time_limit = run_cols[0].slider("Time limit (seconds in all)", 4, 120, 10, key="bell_time")
seed = run_cols[1].number_input("Seed", 0, 10_000, 0, key="bell_seed")
am_only = run_cols[2].checkbox("Morning only", value=False, key="bell_am_only")
go = run_cols[3].button("Run the scenarios", type="primary", key="bell_run", width="stretch", disabled=not scenarios)


def _prepared(sessions: tuple[str, ...], time_limit: float, seed: int, progress):
    """Riders, stops and runs, computed once per city and options in this session (the slow part)."""
    wanted = (key, sessions, time_limit, seed)
    kept = st.session_state.get("bells_prepared")
    if kept is None or kept[0] != wanted:
        kept = (wanted, prepare(city, sessions=sessions, time_limit=time_limit, seed=seed, progress=progress))
        st.session_state["bells_prepared"] = kept
    return kept[1]


if go:
    bar = st.progress(0.0, text="Preparing riders, stops and runs…")
    say = lambda message, fraction: bar.progress(min(max(fraction, 0.0), 1.0), text=message)  # noqa: E731
    try:
        prepared = _prepared(("am",) if am_only else ("am", "pm"), time_limit / 2, int(seed), lambda m, f: say(f"preparing: {m}", 0.5 * f))
        prepared = dataclasses.replace(prepared, costs=costs)
        results = []
        for k, scenario in enumerate(scenarios):
            share = 0.5 / len(scenarios)
            results.append(
                run_scenario(prepared, scenario, time_limit=time_limit / 2 / max(1, sum(s.kind == "optimized" for s in scenarios)), seed=int(seed), progress=lambda m, f, k=k: say(f"{scenario.name}: {m}", 0.5 + share * (k + f)))
            )
    except ValidationError as err:
        bar.empty()
        state.show_problems(err)
        st.stop()
    say(f"Done: {len(results)} scenarios", 1.0)
    st.session_state["bells"] = (key, Comparison(prepared, tuple(results)))

found = st.session_state.get("bells")
comparison: Comparison | None = found[1] if found and found[0] == key else None
if comparison is None:
    st.info("Pick scenarios and press **Run the scenarios**. A short time limit gives a quick first look.")
    st.stop()

# ---------------------------------------------------------------- numbers
summary = comparison.summary()
ref = summary.iloc[0]
st.subheader("Side by side")
cols = st.columns(len(summary))
for col, (_, row) in zip(cols, summary.iterrows()):
    with col.container(border=True):
        st.markdown(f"**{row['scenario']}**")
        st.metric("Buses", f"{int(row['buses']):,}", delta=None if row.name == 0 else f"{int(row['buses'] - ref['buses']):+,}", delta_color="inverse")
        st.metric("Dollars a year", f"${row['dollars_per_year'] / 1e6:,.2f}M", delta=None if row.name == 0 else f"{(row['dollars_per_year'] - ref['dollars_per_year']) / 1e6:+,.2f}M", delta_color="inverse")
        st.metric("Mean ride (min)", f"{row['mean_ride_min']:.1f}", help=f"95th percentile {row['p95_ride_min']:.1f} min")
        st.metric("Schools starting before 8:00", f"{int(row['schools_before_8'])}")
infeasible = comparison.prepared.infeasible
if len(infeasible):
    st.warning(f"Left out of every scenario: {len(infeasible):,} ({', '.join(f'{n} {k}' for k, n in infeasible['kind'].value_counts().items())}); see infeasible.csv in the download.")

long = summary.melt(id_vars="scenario", value_vars=["buses", "dollars_per_year", "miles_per_day", "driver_hours_per_day"], var_name="measure")
charts = st.columns(2)
charts[0].altair_chart(
    alt.Chart(long).mark_bar().encode(
        x=alt.X("scenario:N", sort=list(summary["scenario"]), title=None),
        y=alt.Y("value:Q", title=None),
        color=alt.Color("scenario:N", legend=None, sort=list(summary["scenario"])),
        column=alt.Column("measure:N", title=None),
        tooltip=["scenario", "measure", alt.Tooltip("value:Q", format=",.0f")],
    ).properties(width=110, height=220).resolve_scale(y="independent"),
)
early = summary.melt(id_vars="scenario", value_vars=["before_8_elementary", "before_8_middle", "before_8_high"], var_name="band", value_name="students")
early["band"] = early["band"].str.replace("before_8_", "")
charts[1].altair_chart(
    alt.Chart(early, title="Riders whose school starts before 8:00").mark_bar().encode(
        x=alt.X("band:N", sort=["elementary", "middle", "high"], title=None),
        xOffset=alt.XOffset("scenario:N", sort=list(summary["scenario"])),
        y=alt.Y("students:Q", title="riders"),
        color=alt.Color("scenario:N", sort=list(summary["scenario"])),
        tooltip=["scenario", "band", "students"],
    ).properties(height=260),
    width="stretch",
)

# ---------------------------------------------------------------- map
st.subheader("Runs and stops")
m = st.columns(3)
which = m[0].selectbox("Scenario", list(summary["scenario"]), key="bell_map_scenario")
result = next(r for r in comparison.results if r.scenario.name == which)
session = m[1].radio("Session", list(result.plans), horizontal=True, key="bell_map_session")
show_homes = m[2].checkbox("Riders' homes (hexagons of 10 or more)", value=True, key="bell_map_homes")
runs = Comparison(comparison.prepared, (result,)).runs_frame()
runs = runs[runs["session"] == session].to_crs(4326)
sector_of = dict(zip(comparison.prepared.schools["id"], comparison.prepared.schools["sector"]))
stops = public_points(comparison.stops_frame(), count="students")  # stops of fewer than 10 riders pooled or withheld
areas = []
if show_homes:
    riders = city.students[city.students["id"].astype(str).isin(comparison.prepared.riders["id"])]
    areas.append(maps.hexbin_layer(maps.hexbin(riders, size=400), label="riders"))
layers = maps.base_layers(city, under=areas)
layers.append(
    maps.path_layer(
        [list(g.coords) for g in runs.geometry],
        colors=[[*maps.SECTOR_COLORS.get(sector_of.get(s, ""), (0, 0, 0))[:3], 200] for s in runs["school"]],
        tips=[f"bus {b}, run {r} to {s}: {n} riders, {a}–{e}" for b, r, s, n, a, e in zip(runs["bus"], runs["run"], runs["school"], runs["students"], runs["start"], runs["end"])],
        width=2,
        layer_id="runs",
    )
)
layers.append(maps.point_layer(stops, color=(40, 40, 40), radius=1.5, alpha=140, tip=lambda s: f"stop for {s['school']} ({s['service']})", layer_id="stops"))
layers.append(maps.point_layer(city.schools, color=maps.SECTOR_COLORS, by="sector", radius=6, layer_id="schools"))
st.pydeck_chart(maps.deck(layers, city=city), key="bells_map")
st.markdown(
    maps.legend({s: maps.SECTOR_COLORS[s] for s in SECTORS if s in sector_of.values()}, title="Runs and schools by sector", line=True)
    + maps.legend({"stop": (40, 40, 40)}),
    unsafe_allow_html=True,
)
st.caption(f"{len(runs):,} {session.upper()} runs on {result.plans[session].n_buses:,} buses; {len(stops):,} stops.")

# ---------------------------------------------------------------- tables and downloads
tabs = st.tabs(["Bell changes", "By sector", "By neighborhood", "All numbers"])
with tabs[0]:
    changes = comparison.changes()
    st.dataframe(changes[changes["scenario"] == which], hide_index=True, width="stretch", key="bell_changes")
with tabs[1]:
    by_sector = comparison.by_sector()
    st.altair_chart(
        alt.Chart(by_sector).mark_bar().encode(
            x=alt.X("sector:N", title=None),
            xOffset=alt.XOffset("scenario:N", sort=list(summary["scenario"])),
            y=alt.Y("buses:Q", title="buses (shared buses split by riders)"),
            color=alt.Color("scenario:N", sort=list(summary["scenario"])),
            tooltip=["scenario", "sector", alt.Tooltip("buses:Q", format=".1f")],
        ).properties(height=240),
        width="stretch",
    )
    st.dataframe(by_sector, hide_index=True, width="stretch")
with tabs[2]:
    st.caption("Neighborhoods with fewer than 10 riders are blanked.")
    st.dataframe(comparison.by_neighborhood(), hide_index=True, width="stretch")
with tabs[3]:
    st.dataframe(summary, hide_index=True, width="stretch", key="bell_summary")

with tempfile.TemporaryDirectory(prefix="compact-bells-") as folder:
    comparison.write(folder)
    bundle = state.zip_folder(folder)
d = st.columns(3)
d[0].download_button("Download everything (ZIP: runs, stops, schedules, report)", bundle, file_name="bells.zip", mime="application/zip", key="dl_bells_zip", icon="⬇️")
d[1].download_button("Download schedules (CSV)", pd.concat([r.schedules() for r in comparison.results]).to_csv(index=False).encode(), file_name="schedules.csv", mime="text/csv", key="dl_schedules", icon="⬇️")
d[2].download_button("Download summary (JSON)", json.dumps(comparison.to_json(), indent=2, default=str).encode(), file_name="summary.json", mime="application/json", key="dl_bells_summary", icon="⬇️")
st.caption(f"Cost model: ${comparison.prepared.costs.per_bus_year:,.0f} a bus-year, ${comparison.prepared.costs.per_mile:.2f} a mile, {comparison.prepared.costs.school_days} days. ")
