"""Enrollment zones: pick or build a shared zone from units, see its coverage and a unified lottery's outcomes."""

import altair as alt
import geopandas as gpd
import pandas as pd
import streamlit as st

from app import maps, state, ui
from facilities import ValidationError
from facilities.enrollment import ENTRY_GRADES, run_lottery
from facilities.schema import GRADE_NAMES, SECTORS, format_grades
from facilities.zones import configured_grades, configured_zones, coverage, shared_zone

city = state.current_city()
key = state.city_key(city)

st.title("Enrollment zones")
st.caption(
    f"{city.name}: a shared zone guarantees its residents a seat at one of its schools, of any sector; "
    "one lottery (deferred acceptance) places every applicant across district, charter and Catholic schools."
)
units = city.zones[city.zones["kind"] == "neighborhood"]
others = city.zones[city.zones["kind"] != "neighborhood"]
if not len(city.zones):
    st.info("This city has no zones layer: add neighborhoods ([layers.zones]) to build shared zones from them.")
    st.stop()



# ---------------------------------------------------------------- the zone
configured = configured_zones(city)
BUILD, CONFIGURED, OWN = "Build a shared zone from neighborhoods", "The city's shared zones (city.toml)", "The city's own zones"
choices = ([CONFIGURED] if configured is not None else []) + [BUILD] + ([OWN] if len(others) else [])
how = st.radio("Zone", choices, horizontal=True, key="zone_how", label_visibility="collapsed")
zone_grades = configured_grades(city) if how == CONFIGURED else None
try:
    if how == CONFIGURED:
        zones = configured
        st.caption(f"{', '.join(configured['name'].fillna(configured['id']))}: grades {format_grades(zone_grades) if zone_grades else 'all'}.")
    elif how == BUILD:
        names = units["name"].fillna(units["id"]).astype(str).tolist()
        picked = st.multiselect("Neighborhoods in the shared zone", names, default=names[: min(2, len(names))], key="zone_units")
        if not picked:
            st.info("Pick at least one neighborhood.")
            st.stop()
        inside = shared_zone(city, units=picked, id="shared", name="shared zone")
        school_names = dict(zip(city.schools["id"], city.schools["name"]))
        chosen = st.multiselect(
            "Its schools (default: every school inside)",
            list(school_names),
            default=list(inside["schools"].iloc[0]),
            format_func=lambda i: f"{school_names[i]} ({i})",
            key="zone_schools",
        )
        zones = shared_zone(city, units=picked, schools=chosen, id="shared", name="shared zone")
    else:
        zones = others.reset_index(drop=True)
    travel, travel_how = state.city_travel(city)
    cov = coverage(city, zones, travel=travel, grades=zone_grades)
except ValidationError as err:
    state.show_problems(err)
    st.stop()
except ValueError as err:
    st.error(str(err))
    st.stop()

s = cov.summary()
c = st.columns(5)
c[0].metric("Residents", f"{s['residents']:,}", help=f"counted from {cov.source}")
c[1].metric("Seats", f"{s['seats']:,}")
c[2].metric("Guaranteed a seat", f"{s['share']:.0%}" if s["residents"] else "–", help=f"{s['guaranteed']:,} residents")
c[3].metric("Shortfall", f"{s['shortfall']:,}", help="residents beyond the seats of their grade")
c[4].metric("Compactness", f"{s['polsby_popper_median']:.2f}", help="Polsby–Popper: 1 for a disc")

# ---------------------------------------------------------------- the lottery
with st.container(border=True):
    lc = st.columns([2, 1, 1, 1])
    grade_options = list(range(-1, 13))
    grades = lc[0].multiselect("Grades applying", grade_options, default=list(ENTRY_GRADES), format_func=lambda g: GRADE_NAMES[g + 1], key="lottery_grades")
    seed = lc[1].number_input("Seed", 0, 10_000, 0, key="lottery_seed")
    guarantee = lc[2].checkbox("Zone guarantee", help="place the zone's residents left unmatched in its schools with room", value=True, key="lottery_guarantee")
    go = lc[3].button("Run the lottery", type="primary", key="lottery_run", width="stretch", disabled=not grades)
    if go:
        with st.spinner("Drawing lottery numbers and placing applicants…"):
            try:
                outcome = run_lottery(city, zones=zones, guarantee=guarantee, seed=int(seed), grades=sorted(grades))
            except ValueError as err:
                st.error(str(err))
                st.stop()
        st.session_state["lottery"] = (key, outcome)
found = st.session_state.get("lottery")
outcome = found[1] if found and found[0] == key else None

# ---------------------------------------------------------------- map
if outcome is None:
    show = "Nothing"
else:
    show = st.radio("Shade the map by", ["Lottery: first choice", "Lottery: matched", "Nothing"], horizontal=True, key="zone_shade")
areas = []
if outcome is not None and show != "Nothing":
    d, r = outcome.result.data, outcome.result
    if d.student_xy is not None:
        column = "first_choice" if show.endswith("first choice") else "matched"
        points = gpd.GeoDataFrame(
            {"first_choice": r.choice_rank == 0, "matched": r.assignment >= 0},
            geometry=gpd.points_from_xy(d.student_xy[:, 0], d.student_xy[:, 1]),
            crs=city.crs,
        )
        areas.append(maps.hexbin_layer(maps.hexbin(points, size=400, sums=[column]), share=column, label="applicants", layer_id="outcomes"))
layers = maps.base_layers(city, under=areas)
zone_tips = [f"{n}: {r:,} residents, {sh:.0%} guaranteed" for n, r, sh in zip(cov.zones["name"], cov.zones["residents"], cov.zones["share"].fillna(0))]
layers.append(maps.polygon_layer(cov.zones, fill=(0, 114, 178, 0 if areas else 40), tip=zone_tips, line=(0, 114, 178), line_width=4, layer_id="zones"))
in_zone = set(s for ids in cov.zones["schools"] for s in ids)
layers.append(maps.point_layer(city.schools[~city.schools["id"].isin(in_zone)], color=maps.SECTOR_COLORS, by="sector", radius=4, alpha=120, layer_id="other_schools"))
layers.append(maps.point_layer(city.schools[city.schools["id"].isin(in_zone)], color=maps.SECTOR_COLORS, by="sector", radius=8, tip=lambda x: f"{x['name']} — {x['sector']}, in the zone", layer_id="zone_schools"))
st.pydeck_chart(maps.deck(layers, city=city), key="zones_map")
st.markdown(
    maps.legend({sec: maps.SECTOR_COLORS[sec] for sec in SECTORS if (city.schools["sector"] == sec).any()}, title="Schools (large: in the zone)")
    + maps.legend({"shared zone": (0, 114, 178)}, line=True),
    unsafe_allow_html=True,
)
st.caption(
    f"Travel: {travel_how}. Applicants are drawn on the map only as hexagons of at least {maps.MIN_CELL}"
    + ("; darker hexagons: a larger share." if areas else ".")
)

# ---------------------------------------------------------------- coverage by grade
left, right = st.columns(2)
with left:
    st.markdown("**Residents and seats by grade**")
    g = cov.grades.copy()
    g["grade_name"] = g["grade"].map(lambda x: format_grades((int(x),)))
    long = g.melt(id_vars=["zone", "grade", "grade_name"], value_vars=["residents", "seats", "guaranteed"], var_name="count")
    st.altair_chart(
        alt.Chart(long).mark_bar().encode(
            x=alt.X("grade_name:N", sort=[GRADE_NAMES[i + 1] for i in sorted(g["grade"].unique())], title="grade"),
            xOffset="count:N",
            y=alt.Y("value:Q", title=None),
            color=alt.Color("count:N", scale=alt.Scale(domain=["residents", "seats", "guaranteed"], range=["#999999", "#0072b2", "#009e73"])),
            tooltip=["zone", "grade_name", "count", "value"],
        ).properties(height=260),
        width="stretch",
    )
with right:
    st.markdown("**Zones**")
    table = ui.readable(cov.zones.assign(schools=cov.zones["schools"].map(", ".join)))
    st.dataframe(table, hide_index=True, width="stretch", key="coverage_table", column_config={"share": st.column_config.NumberColumn(format="percent")})
    ui.download_csv(cov.grades, label="Download coverage by grade (CSV)", file_name="coverage.csv", key="dl_coverage")

# ---------------------------------------------------------------- lottery outcomes
if outcome is None:
    st.info("Press **Run the lottery** to place applicants across every sector's schools.")
    st.stop()
summary = outcome.summary()
st.subheader("The lottery's outcomes")
who = "simulated from the neighborhoods' population" if outcome.simulated_applicants else "the city's students"
lists = "simulated (distance and sector, seeded)" if outcome.simulated_choices else "given"
st.caption(f"Applicants: {who}; ranked lists: {lists}; seed {summary['seed']}. Groups under {maps.MIN_CELL} applicants are blanked.")
m = st.columns(5)
m[0].metric("Applicants", f"{summary['students']:,}")
m[1].metric("Matched", f"{summary['matched_share']:.0%}")
m[2].metric("First choice", f"{summary['first_choice_share']:.0%}")
m[3].metric("Top three", f"{summary['top_three_share']:.0%}")
m[4].metric("Placed by the guarantee", f"{summary['guarantee']:,}")
by_sector = outcome.aggregates(by=["sector"])
by_grade = outcome.aggregates(by=["grade"])
by_hood = outcome.aggregates(by=["neighborhood"])
shares = by_sector.melt(id_vars="sector", value_vars=["matched_share", "first_choice_share", "top_three_share"], var_name="outcome", value_name="share")
shares["outcome"] = shares["outcome"].str.replace("_share", "").str.replace("_", " ")
charts = st.columns(2)
charts[0].altair_chart(
    alt.Chart(shares, title="By sector of the first choice").mark_bar().encode(
        x=alt.X("sector:N", title=None),
        xOffset=alt.XOffset("outcome:N", sort=["first choice", "top three", "matched"]),
        y=alt.Y("share:Q", axis=alt.Axis(format="%"), title=None),
        color=alt.Color("outcome:N", sort=["first choice", "top three", "matched"]),
        tooltip=["sector", "outcome", alt.Tooltip("share:Q", format=".0%")],
    ).properties(height=240),
    width="stretch",
)
hood_chart = by_hood.dropna(subset=["first_choice_share"])
charts[1].altair_chart(
    alt.Chart(hood_chart, title="First choice by home neighborhood").mark_bar().encode(
        y=alt.Y("neighborhood:N", sort="-x", title=None),
        x=alt.X("first_choice_share:Q", axis=alt.Axis(format="%"), title=None),
        tooltip=["neighborhood", "students", alt.Tooltip("first_choice_share:Q", format=".0%")],
    ).properties(height=max(200, 18 * len(hood_chart))),
    width="stretch",
)
tabs = st.tabs(["By sector", "By grade", "By neighborhood", "Shared zone residents"])
for tab, frame in zip(tabs, [by_sector, by_grade, by_hood, outcome.by_zone()]):
    with tab:
        st.dataframe(ui.readable(frame), hide_index=True, width="stretch")
all_tables = pd.concat([t.assign(by=name) for name, t in (("sector", by_sector), ("grade", by_grade), ("neighborhood", by_hood))], ignore_index=True)
ui.download_csv(all_tables, label="Download lottery outcomes (CSV, aggregated)", file_name="lottery_outcomes.csv", key="dl_lottery")
