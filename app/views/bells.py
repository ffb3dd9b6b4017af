"""Bell times: pick or edit scenarios, run them, see runs and stops on the map, compare what they save.

The scenarios run through :func:`routing.scenarios.compare`, the call ``compact bells compare``
makes, so the same inputs and seed give the same numbers here and on the command line. The result
is kept with the inputs that made it: filters, tabs and downloads never solve again.
"""

import dataclasses
import json

import altair as alt
import pandas as pd
import streamlit as st

from app import maps, state, ui
from app.views import _bells_files as files
from app.views._bells_spread import spread_panel
from facilities import ValidationError
from facilities.schema import SECTORS, format_time, parse_time
from routing.scenarios import (
    DEFAULT_SCENARIOS,
    Comparison,
    CostModel,
    Scenario,
    compare,
    prepare,
)

city = state.current_city()
key = state.city_key(city)

st.title("Bell times")
st.caption(
    f"{city.name}: what moving bell times saves in buses, miles and dollars. Each school's runs are "
    "built several ways; each scenario chooses among them at its bells, jointly with chaining them onto "
    "the fewest buses."
)
if not len(city.students) or not city.schools["bell_start"].notna().any():
    st.info(
        "Bell-time scenarios need students (who rides) and schools' current bell times in the city's files."
    )
    st.stop()

# ---------------------------------------------------------------- scenarios
city_bells = city.settings.transport.bells
city_values = {  # the city's [transport.bells], as the editors show them
    "earliest": "07:00" if city_bells.earliest is None else format_time(city_bells.earliest),
    "latest": "09:30" if city_bells.latest is None else format_time(city_bells.latest),
    "step_minutes": 30 if city_bells.step is None else round(city_bells.step / 60),
    "max_change_minutes": 0 if city_bells.max_change is None else round(city_bells.max_change / 60),
}
names = [s.name for s in DEFAULT_SCENARIOS]
picked = st.multiselect(
    "Scenarios (the first is the reference for savings)", names, default=names, key="bell_scenarios"
)
with st.expander("Edit: per-school times, policy rules, cost model"):
    tab_times, tab_policy, tab_cost = st.tabs(["Per-school times", "Policy rules", "Cost model"])
    with tab_times:
        st.caption(
            "Type a new start (HH:MM) for any school: the schools you change make a scenario of their own, "
            "*your times*."
        )
        schools = city.schools[["id", "name", "sector", "bell_start"]].assign(
            current=lambda f: f["bell_start"].map(format_time), new=""
        )
        edited = st.data_editor(
            schools[["id", "name", "sector", "current", "new"]],
            disabled=["id", "name", "sector", "current"],
            hide_index=True,
            width="stretch",
            height=260,
            key="bell_times_editor",
        )
    with tab_policy:
        st.caption(
            "Where optimized and aligned bells may go; the city's `[transport.bells]` unless you change "
            "them here."
        )
        p = st.columns(4)
        earliest = p[0].text_input("Earliest start", city_values["earliest"], key="bell_earliest")
        latest = p[1].text_input("Latest start", city_values["latest"], key="bell_latest")
        steps = [5, 10, 15, 30]
        city_step = city_values["step_minutes"]
        step = p[2].selectbox(
            "Candidate every (min)",
            steps,
            index=steps.index(city_step) if city_step in steps else 3,
            key="bell_step",
        )
        max_change = p[3].number_input(
            "Largest change (min, 0 = any)",
            0,
            240,
            city_values["max_change_minutes"],
            step=15,
            key="bell_max_change",
        )
        st.caption(
            "Rules for a sector or grades (added to the city's), e.g. high schools start at 08:00 or later."
        )
        rules = st.data_editor(
            pd.DataFrame(
                {
                    "sector": pd.Series([], dtype=str),
                    "grades": pd.Series([], dtype=str),
                    "earliest": pd.Series([], dtype=str),
                    "latest": pd.Series([], dtype=str),
                }
            ),
            num_rows="dynamic",
            column_config={
                "sector": st.column_config.SelectboxColumn(options=list(SECTORS)),
                "grades": st.column_config.TextColumn(help="e.g. 9-12"),
            },
            hide_index=True,
            width="stretch",
            key="bell_rules_editor",
        )
    with tab_cost:
        base = CostModel.from_settings(city.settings.transport)
        c = st.columns(3)
        costs = dataclasses.replace(
            base,
            per_bus_year=c[0].number_input(
                "$ per bus a year", 0.0, 1e6, base.per_bus_year, step=5000.0, key="cost_bus"
            ),
            per_mile=c[1].number_input("$ per mile", 0.0, 50.0, base.per_mile, step=0.25, key="cost_mile"),
            school_days=int(
                c[2].number_input("School days a year", 1, 366, base.school_days, key="cost_days")
            ),
        )
        st.caption(f"Bus-year figure: {base.source}.")

# only what the user changed is layered over the city's policy (so the defaults match the CLI)
asked = {"earliest": earliest, "latest": latest, "step_minutes": step, "max_change_minutes": max_change}
bells = {k: v for k, v in asked.items() if v != city_values[k] and not (k == "max_change_minutes" and not v)}
rule_rows = [
    {k: v for k, v in row.items() if isinstance(v, str) and v.strip()}
    for row in rules.to_dict(orient="records")
]
if rule_rows := [r for r in rule_rows if r.get("sector") or r.get("grades")]:
    bells["rules"] = rule_rows
scenarios = [
    dataclasses.replace(s, bells=bells) if bells and s.kind in ("optimized", "aligned") else s
    for s in DEFAULT_SCENARIOS
    if s.name in picked
]
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
seed = int(run_cols[1].number_input("Seed", 0, 10_000, 0, key="bell_seed"))
am_only = run_cols[2].checkbox("Morning only", value=False, key="bell_am_only")
go = run_cols[3].button(
    "Run the scenarios", type="primary", key="bell_run", width="stretch", disabled=not scenarios
)
sessions = ("am",) if am_only else ("am", "pm")
inputs = (key, repr(scenarios), sessions, float(time_limit), seed, repr(costs))
st.caption(
    f"The same as `compact bells compare {city.root or 'CITY'} --time-limit {time_limit} --seed {seed}"
    + (" --am-only" if am_only else "")
    + "` (the same inputs and seed give the same numbers)."
)


def _compare(run_seed: int) -> Comparison:
    """The scenarios through the library's one call (with the page's cost model when it was changed)."""
    bar = st.progress(0.0, text="Preparing riders, stops and runs…")

    def say(message: str, fraction: float) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    if costs == base:
        result = compare(
            city,
            scenarios=scenarios,
            time_limit=float(time_limit),
            seed=run_seed,
            progress=say,
            sessions=sessions,
        )
    else:  # dollars only: the same runs and bells as compare(city, ...), priced by the edited model
        prepared = prepare(
            city,
            time_limit=time_limit / 2,
            seed=run_seed,
            sessions=sessions,
            progress=lambda m, f: say(m, 0.5 * f),
        )
        result = compare(
            dataclasses.replace(prepared, costs=costs),
            scenarios=scenarios,
            time_limit=time_limit / 2,
            seed=run_seed,
            progress=lambda m, f: say(m, 0.5 + 0.5 * f),
        )
    bar.empty()
    return result


# the solve's progress goes in one slot there on every run, so what follows keeps its place in the page
# (a map that moves is a new map to the browser, drawn from scratch: seconds in software WebGL)
work = st.empty()
if go:
    with work.container():
        try:
            done = state.remember("bells", inputs, _compare(seed))
        except ValidationError as err:
            state.show_problems(err)
            st.stop()
        with st.spinner("Drawing every scenario's runs…"):  # once: another scenario on the map is a redraw
            for r in done.results:
                for s in r.plans:
                    files.run_frame(done, r.scenario.name, s)
    work.empty()

found = state.remembered("bells", inputs)
if found is None or not isinstance(found[0], Comparison) or found[0].prepared.city_name != city.name:
    st.info("Pick scenarios and press **Run the scenarios**. A short time limit gives a quick first look.")
    st.stop()
comparison, current = found
if not current:
    st.warning(
        "These results are from other settings than those above: press **Run the scenarios** to update them.",
        icon="🔄",
    )

# ---------------------------------------------------------------- numbers
summary = comparison.summary()
ref = summary.iloc[0]


def _delta(value: float, reference: float, fmt: str) -> str | None:
    """A change against the reference, or nothing when there is none (never a red "+0")."""
    text = fmt.format(value - reference)
    return text if any(ch in text for ch in "123456789") else None


st.subheader("Side by side")
cols = st.columns(len(summary))
for col, (_, row) in zip(cols, summary.iterrows()):
    with col.container(border=True):
        st.markdown(f"**{row['scenario']}**")
        first = row.name == 0
        st.metric(
            "Buses",
            f"{int(row['buses']):,}",
            delta=None if first else _delta(row["buses"], ref["buses"], "{:+,.0f}"),
            delta_color="inverse",
            help="the fleet the day needs: every bus type's buses, summed (a bus keeps its type all day)",
        )
        st.metric(
            "Dollars a year",
            f"${row['dollars_per_year'] / 1e6:,.2f}M",
            delta=None
            if first
            else _delta(row["dollars_per_year"] / 1e6, ref["dollars_per_year"] / 1e6, "{:+,.2f}M"),
            delta_color="inverse",
        )
        st.metric(
            "Miles a day",
            f"{row['miles_per_day']:,.0f}",
            delta=None if first else _delta(row["miles_per_day"], ref["miles_per_day"], "{:+,.0f}"),
            delta_color="inverse",
            help=f"{row['deadhead_miles_per_day']:,.0f} of them empty (deadhead)",
        )
        st.metric(
            "Driver hours a day",
            f"{row['driver_hours_per_day']:,.1f}",
            delta=None
            if first
            else _delta(row["driver_hours_per_day"], ref["driver_hours_per_day"], "{:+,.1f}"),
            delta_color="inverse",
        )
        st.metric(
            "Mean ride (min)",
            f"{row['mean_ride_min']:.1f}",
            help=f"95th percentile {row['p95_ride_min']:.1f} min",
        )
        st.metric("Schools starting before 8:00", f"{int(row['schools_before_8'])}")
if summary["mean_ride_min"].nunique() == 1 and len(summary) > 1:
    st.caption(
        "Mean ride is the same in every scenario: each run keeps its stops and order and moves only in "
        "time, so a "
        "rider's time on the bus does not change; what changes is how runs share buses."
    )
stopped = comparison.clock_cap()
if stopped:
    st.warning(
        f"The clock's safety cap, not the work budget, ended {', '.join(stopped)}: another run with the "
        "same seed may give a different answer. Give it a smaller time limit to get the same answer "
        "every time."
    )
    if current:
        spread_panel(comparison, seed=seed, inputs=inputs, solve=_compare)
infeasible = comparison.prepared.infeasible
if len(infeasible):
    st.warning(
        f"Left out of every scenario: {len(infeasible):,} "
        f"({', '.join(f'{n} {k}' for k, n in infeasible['kind'].value_counts().items())}); see "
        "infeasible.csv in the download."
    )

measures = {
    "buses": "buses",
    "dollars_per_year": "dollars",
    "miles_per_day": "miles",
    "driver_hours_per_day": "driver hours",
}
relative = summary.melt(id_vars="scenario", value_vars=list(measures), var_name="measure")
relative["measure"] = relative["measure"].map(measures)
relative["of_reference"] = relative["value"] / relative["measure"].map(
    {measures[k]: ref[k] for k in measures}
).replace(0, float("nan"))
charts = st.columns(2)
charts[0].altair_chart(
    alt.Chart(relative, title=f"Against {ref['scenario']} (100 %)")
    .mark_bar()
    .encode(
        x=alt.X("measure:N", sort=list(measures.values()), title=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("scenario:N", sort=list(summary["scenario"])),
        y=alt.Y("of_reference:Q", title=None, axis=alt.Axis(format="%")),
        color=alt.Color("scenario:N", sort=list(summary["scenario"])),
        tooltip=[
            "scenario",
            "measure",
            alt.Tooltip("value:Q", format=",.1f"),
            alt.Tooltip("of_reference:Q", format=".0%", title="of reference"),
        ],
    )
    .properties(height=260),
    width="stretch",
)
early = summary.melt(
    id_vars="scenario",
    value_vars=["before_8_elementary", "before_8_middle", "before_8_high"],
    var_name="band",
    value_name="students",
)
early["band"] = early["band"].str.replace("before_8_", "")
charts[1].altair_chart(
    alt.Chart(early, title="Riders whose school starts before 8:00")
    .mark_bar()
    .encode(
        x=alt.X("band:N", sort=["elementary", "middle", "high"], title=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("scenario:N", sort=list(summary["scenario"])),
        y=alt.Y("students:Q", title="riders"),
        color=alt.Color("scenario:N", sort=list(summary["scenario"])),
        tooltip=["scenario", "band", "students"],
    )
    .properties(height=260),
    width="stretch",
)


# ---------------------------------------------------------------- map
@st.fragment
def _runs_map() -> None:
    """The map, its filters and a bus's day: a change here reruns only this part of the page."""
    st.subheader("Runs and stops")
    school_name = dict(zip(city.schools["id"], city.schools["name"]))
    sector_of = dict(zip(comparison.prepared.schools["id"], comparison.prepared.schools["sector"]))
    m = st.columns([1, 1, 2, 1])
    which = m[0].selectbox("Scenario", list(summary["scenario"]), key="bell_map_scenario")
    result = next(r for r in comparison.results if r.scenario.name == which)
    session = m[1].radio(
        "Session", list(result.plans), horizontal=True, key="bell_map_session", format_func=str.upper
    )
    runs = files.run_frame(comparison, which, session)
    tiers = sorted(runs["tier"].dropna().unique())
    tier_pick = m[2].multiselect(
        "Bell times (tiers)", tiers, default=tiers, key=f"bell_map_tiers|{which}|{session}"
    )
    show_homes = m[3].checkbox(
        "Riders' homes", value=True, key="bell_map_homes", help=f"hexagons of {maps.MIN_CELL} or more riders"
    )
    f = st.columns([2, 1])
    school_pick = f[0].multiselect(
        "Schools (empty: every school)",
        sorted(runs["school"].unique(), key=lambda s: school_name.get(s, s)),
        format_func=lambda s: school_name.get(s, s),
        key="bell_map_schools",
    )
    buses = sorted(int(b) for b in runs["bus"].dropna().unique())
    selected = st.session_state.get("bells_map")
    clicked = None
    if selected is not None:
        objects = (selected.get("selection") or {}).get("objects") or {}
        clicked = next((int(o["bus"]) for o in objects.get("runs", []) if o.get("bus") is not None), None)
    bus_key = f"bell_map_bus|{which}|{session}"
    if clicked is not None and clicked in buses and st.session_state.get(f"{bus_key}|clicked") != clicked:
        st.session_state[bus_key] = clicked
        st.session_state[f"{bus_key}|clicked"] = clicked
    bus = f[1].selectbox(
        "A bus's day (or click a run)",
        [None, *buses],
        format_func=lambda b: "every bus" if b is None else f"bus {b}",
        key=bus_key,
    )
    shown = runs[runs["tier"].isin(tier_pick) & runs["path"].notna()]
    if school_pick:
        shown = shown[shown["school"].isin(school_pick)]
    if bus is not None:
        shown = shown[shown["bus"] == bus]
    stops = comparison.stops_frame()
    public_stops = stops[~stops["service"].isin(maps.PRIVATE_SERVICES)]
    public_stops = public_stops[public_stops["school"].isin(shown["school"])]
    areas = []
    if show_homes:
        areas.append(files.riders_layer(comparison, city.students))
    # runs as straight segments, as streets are: one line type on the map (each layer type costs a
    # software-WebGL browser a shader to compile each time the map opens)
    layers = maps.base_layers(city, under=areas)
    px = maps.metres_per_pixel(city)
    layers.append(
        maps.line_layer(
            list(shown["path"]),
            colors=[
                [*maps.SECTOR_COLORS.get(sector_of.get(s, ""), (0, 0, 0))[:3], 220] for s in shown["school"]
            ],
            tips=[
                f"bus {b}, run {r} to {school_name.get(s, s)} ({t}): {maps.count_text(n, what='riders')}, "
                f"{format_time(a)}–{format_time(e)}"
                for b, r, s, t, n, a, e in zip(
                    shown["bus"],
                    shown["run"],
                    shown["school"],
                    shown["tier"],
                    shown["riders"],
                    shown["start"],
                    shown["end"],
                )
            ],
            width=3 if bus is not None else 2,
            layer_id="runs",
            extra={"bus": [int(b) for b in shown["bus"]]},
        )
    )
    layers.append(
        maps.point_layer(
            public_stops,
            color=(40, 40, 40),
            radius=2,
            alpha=160,
            scale=px,
            outline=False,
            layer_id="stops",
            tip=lambda s: (
                f"corner stop for {school_name.get(s['school'], s['school'])}: "
                f"{maps.count_text(s['students'], what='riders')}"
            ),
        )
    )
    layers.append(
        maps.point_layer(
            city.schools,
            color=maps.SECTOR_COLORS,
            by="sector",
            radius=6,
            scale=px,
            layer_id="schools",
            tip=lambda s: f"{s['name']} — {s['sector']}",
        )
    )
    st.pydeck_chart(
        maps.deck(layers, city=city), key="bells_map", on_select="rerun", selection_mode="single-object"
    )
    st.markdown(
        maps.legend(
            {s: maps.SECTOR_COLORS[s] for s in SECTORS if s in sector_of.values()},
            title="Runs and schools by sector",
            line=True,
        )
        + maps.legend({"corner stop": (40, 40, 40)})
        + (maps.ramp_legend(f"{maps.MIN_CELL}", "most riders", title="Riders' homes") if show_homes else ""),
        unsafe_allow_html=True,
    )
    plan = result.plans[session]
    private_runs = int(runs["path"].isna().sum())
    st.caption(
        f"{session.upper()}: {len(runs):,} runs on {plan.n_buses:,} buses ({result.buses:,} buses for the "
        "day, every type's fleet summed); "
        f"{len(shown):,} runs drawn. Door-to-door and wheelchair stops are students' homes: they are never "
        "drawn, lines skip them, "
        f"and the {private_runs:,} runs that serve only them are not drawn."
    )

    if bus is not None:
        day = plan.itinerary(bus - 1)
        day = day[day["action"] != "wait"].reset_index(drop=True)
        minutes = (day["end_time"] - day["start_time"]) / 60
        mine = runs[runs["bus"] == bus].sort_values("start")
        st.markdown(
            f"**Bus {bus}'s {session.upper()} day**: {len(mine)} runs, "
            f"{format_time(day['start_time'].min())}–{format_time(day['end_time'].max())}, "
            f"{minutes[day['action'] == 'deadhead'].sum():.0f} min empty (deadhead)"
        )
        st.dataframe(
            pd.DataFrame(
                {
                    "run": range(1, len(mine) + 1),
                    "school": [school_name.get(s, s) for s in mine["school"]],
                    "bell": mine["tier"],
                    "first pickup": [format_time(t) for t in mine["start"]],
                    "arrives": [format_time(t) for t in mine["end"]],
                    "riders": [int(n) if n >= maps.MIN_CELL else f"<{maps.MIN_CELL}" for n in mine["riders"]],
                }
            ).astype({"riders": str}),
            hide_index=True,
            width="stretch",
            key="bell_bus_day",
        )


_runs_map()

# ---------------------------------------------------------------- tables and downloads
tabs = st.tabs(["Bell changes", "By sector", "By neighborhood", "All numbers"])
with tabs[0]:
    changes = comparison.changes()
    shown_scenario = st.session_state.get("bell_map_scenario", summary["scenario"].iloc[0])
    st.caption(f"{shown_scenario} (the scenario on the map; the download holds every scenario's).")
    st.dataframe(
        changes[changes["scenario"] == shown_scenario], hide_index=True, width="stretch", key="bell_changes"
    )
with tabs[1]:
    by_sector = comparison.by_sector()
    st.altair_chart(
        alt.Chart(by_sector)
        .mark_bar()
        .encode(
            x=alt.X("sector:N", title=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("scenario:N", sort=list(summary["scenario"])),
            y=alt.Y("bus_share:Q", title="buses (a shared bus split by its runs)"),
            color=alt.Color("scenario:N", sort=list(summary["scenario"])),
            tooltip=["scenario", "sector", alt.Tooltip("bus_share:Q", format=".1f", title="buses")],
        )
        .properties(height=240),
        width="stretch",
    )
    st.dataframe(by_sector, hide_index=True, width="stretch", key="bell_by_sector")
with tabs[2]:
    st.caption(f"Neighborhoods with fewer than {maps.MIN_CELL} riders are blanked.")
    st.dataframe(comparison.by_neighborhood(), hide_index=True, width="stretch")
with tabs[3]:
    st.dataframe(summary, hide_index=True, width="stretch", key="bell_summary")


st.markdown("**Downloads** (each file is built when you press its button)")
d = st.columns(3)
ui.download(
    "Download runs, corner stops, schedules, route sheets, report (ZIP)",
    lambda: files.public_zip(comparison, yards=city.yards),
    file_name="bells.zip",
    key="dl_bells_zip",
    at=d[0],
)
ui.download(
    "Download schedules (CSV)",
    lambda: pd.concat([r.schedules() for r in comparison.results]).to_csv(index=False).encode(),
    file_name="schedules.csv",
    key="dl_schedules",
    at=d[1],
)
ui.download(
    "Download summary (JSON)",
    lambda: json.dumps(comparison.to_json(), indent=2, default=str).encode(),
    file_name="summary.json",
    key="dl_bells_summary",
    at=d[2],
)
with st.expander("Private download: every stop and route sheet, door-to-door and wheelchair included"):
    st.caption(
        "These files locate individual students' homes (as `--private-out` on the command line): keep them "
        "in the transportation office."
    )
    ui.download(
        "Download every stop and exact route sheet (PRIVATE ZIP)",
        lambda: files.private_zip(comparison, yards=city.yards),
        file_name="bells_private.zip",
        key="dl_bells_private",
        icon="🔒",
    )
st.caption(
    f"Cost model: ${comparison.prepared.costs.per_bus_year:,.0f} a bus-year, "
    f"${comparison.prepared.costs.per_mile:.2f} a mile, {comparison.prepared.costs.school_days} days."
)
