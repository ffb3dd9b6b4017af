"""Facilities: buildings and charter schools' space needs on the map, the match, and why a building doesn't fit."""

import dataclasses
import json
import tempfile

import altair as alt
import geopandas as gpd
import pandas as pd
import streamlit as st

from app import maps, state, ui
from facilities import ValidationError
from facilities.capacity import utilization
from facilities.matching import MatchData, Weights, solve
from facilities.siting import site_campuses

city = state.current_city()
key = state.city_key(city)

st.title("Facilities")
st.caption(f"{city.name}: charter schools' space needs matched to vacant, under-used and shared buildings, over the years of their growth plans.")

if not len(city.buildings) or not len(city.needs):
    missing = " and ".join(name for name, frame in (("buildings", city.buildings), ("needs", city.needs)) if not len(frame))
    st.info(f"This city has no {missing} layer; add [layers.buildings] and [layers.needs] to its city.toml to match needs to buildings.")
    st.stop()


@st.cache_resource(show_spinner="Counting seats and checking every need against every building…", max_entries=4)
def _prepare(city_key: str, _city):
    return utilization(_city), MatchData.from_city(_city)



try:
    use, data = _prepare(key, city)
except ValidationError as err:
    state.show_problems(err)
    st.stop()

b = use.buildings
cols = st.columns(5)
cols[0].metric("Buildings", f"{len(b):,}", help=", ".join(f"{n} {s}" for s, n in city.buildings["status"].value_counts().items()))
cols[1].metric("Seats (from rooms)", f"{int(b['capacity'].sum()):,}")
enrolled, capacity = b["enrollment"].fillna(0).sum(), b["capacity"].sum()
cols[2].metric("Utilization", f"{enrolled / capacity:.0%}" if capacity else "–", help="enrollment / capacity over every building")
cols[3].metric("Space needs", f"{len(data.needs):,}", help=f"{int(city.needs['seats'].sum()):,} seats in their first year")
cols[4].metric("Fitting pairs", f"{int((data.fit > 0).sum()):,}", help="need × building pairs that pass every hard rule for the first year at least")

# ---------------------------------------------------------------- run the match
with st.container(border=True):
    left, mid, right = st.columns([2, 1, 1])
    time_limit = left.slider("Time limit (seconds)", 1, 60, 10, key="match_time")
    seed = mid.number_input("Seed", 0, 10_000, 0, key="match_seed")
    with st.expander("Weights (points; lower total is better)"):
        defaults = Weights()
        w = st.columns(5)
        weights = Weights(
            travel=w[0].number_input("per minute of travel", 0.0, 100.0, defaults.travel, key="w_travel"),
            cost=w[1].number_input("per $10,000 a year", 0.0, 100.0, defaults.cost, key="w_cost"),
            neighborhood=w[2].number_input("bonus, preferred neighborhood", 0.0, 1000.0, defaults.neighborhood, key="w_hood"),
            band=w[3].number_input("per point outside the band", 0.0, 100.0, defaults.band, key="w_band"),
            priority=w[4].number_input("priority", 0.0, 100.0, defaults.priority, key="w_priority"),
        )
    run = right.button("Run the match", type="primary", key="match_run", width="stretch")
    if run:
        bar = st.progress(0.0, text="Matching…")
        result = solve(data, time_limit=float(time_limit), seed=int(seed), weights=weights, progress=lambda message, fraction: bar.progress(min(max(fraction, 0.0), 1.0), text=message))
        bar.progress(1.0, text=f"Done: {result.status} in {result.seconds:.1f} s")
        st.session_state["match"] = (key, result)

found = st.session_state.get("match")
result = found[1] if found and found[0] == key else None

# ---------------------------------------------------------------- map
flag = b.set_index("building")["flag"]
buildings = city.buildings.assign(flag=city.buildings["id"].map(flag), utilization=city.buildings["id"].map(b.set_index("building")["utilization"]))


def _building_tip(row: pd.Series) -> str:
    use_text = f"{row['utilization']:.0%} used" if pd.notna(row["utilization"]) else "no enrollment"
    return f"{row['name'] or row['id']} — {row['status']}, {int(row['rooms_classroom'])} classrooms, {use_text}"


origins = gpd.GeoDataFrame(data.needs[["id", "name", "seats"]].reset_index(drop=True), geometry=data.origins.reset_index(drop=True), crs=city.crs)
origins = origins[origins.geometry.notna() & ~origins.geometry.is_empty]
layers = maps.base_layers(city)
layers.append(maps.point_layer(buildings, color=maps.STATUS_COLORS, by="status", radius=7, ring=True, tip=_building_tip, layer_id="buildings"))
if result is not None and len(result.assignments):
    lines = result.lines().to_crs(4326)
    layers.append(
        maps.path_layer(
            [list(g.coords) for g in lines.geometry],
            colors=(0, 114, 178),
            tips=[f"{n} → {bn} ({m.replace('_', '-')}, years 1–{y})" for n, bn, m, y in zip(lines["name"], lines["building_name"], lines["mode"], lines["year_last"])],
            width=3,
            layer_id="matches",
        )
    )
layers.append(maps.point_layer(origins, color=maps.SECTOR_COLORS["charter"], radius=6, tip=lambda n: f"{n['name']} needs {int(n['seats'])} seats", layer_id="needs"))
st.pydeck_chart(maps.deck(layers, city=city), key="facilities_map")
st.markdown(
    maps.legend(maps.STATUS_COLORS, title="Buildings", counts=city.buildings["status"].value_counts().to_dict(), ring=True)
    + maps.legend({"space need (its school, or its students' centre)": maps.SECTOR_COLORS["charter"]})
    + (maps.legend({"match": (0, 114, 178)}, line=True) if result is not None else ""),
    unsafe_allow_html=True,
)

# ---------------------------------------------------------------- results
if result is None:
    st.info("Press **Run the match** to house the needs; the map then draws each need's line to its building.")
else:
    a, un = result.assignments, result.unmatched
    st.subheader("The match")
    c = st.columns(5)
    c[0].metric("Needs housed", f"{len(a)} of {len(data.needs)}")
    c[1].metric("Housed for the whole plan", f"{int((a['year_last'] >= a['plan_years']).sum()) if len(a) else 0}")
    c[2].metric("Whole buildings", f"{int((a['mode'] == 'whole').sum()) if len(a) else 0}")
    c[3].metric("Co-locations", f"{int((a['mode'] == 'co_location').sum()) if len(a) else 0}")
    c[4].metric("Answer", result.status, help=f"gap {result.gap:.1%} to the best bound; {result.seconds:.1f} s")
    shown = ["name", "building_name", "mode", "hosts", "year_last", "plan_years", "grades", "seats", "travel_min", "cost", "preferred", "host_utilization_after", "conditions"]
    st.dataframe(
        a[shown].rename(columns={"name": "need", "building_name": "building", "year_last": "housed to year", "plan_years": "plan years", "travel_min": "travel (min)", "cost": "$ / year", "host_utilization_after": "host use after"}),
        hide_index=True,
        width="stretch",
        key="match_table",
        column_config={"$ / year": st.column_config.NumberColumn(format="$%,.0f"), "host use after": st.column_config.NumberColumn(format="percent")},
    )
    if len(un):
        st.markdown("**Not housed for their whole plan, and why**")
        st.dataframe(un, hide_index=True, width="stretch", key="unmatched_table")
    with tempfile.TemporaryDirectory(prefix="compact-match-") as folder:
        result.to_files(folder)
        bundle = state.zip_folder(folder)
    d = st.columns(3)
    d[0].download_button("Download matches (CSV)", a.to_csv(index=False).encode(), file_name="matches.csv", mime="text/csv", key="dl_matches", icon="⬇️")
    d[1].download_button("Download summary (JSON)", json.dumps(result.summary(), indent=2, default=str).encode(), file_name="summary.json", mime="application/json", key="dl_match_summary", icon="⬇️")
    d[2].download_button("Download everything (ZIP: CSV, GeoPackage, JSON)", bundle, file_name="matching.zip", mime="application/zip", key="dl_match_zip", icon="⬇️")

# ---------------------------------------------------------------- why doesn't it fit
st.subheader("Why doesn't a building fit?")
need_names = dict(zip(data.needs["id"], data.needs["name"].fillna(data.needs["id"])))
building_names = dict(zip(data.buildings["id"], data.buildings["name"].fillna(data.buildings["id"])))
pick = st.columns(2)
need = pick[0].selectbox("Need", list(need_names), format_func=lambda i: f"{need_names[i]} ({i})", key="why_need")
ranked = sorted(building_names, key=lambda i: (-int(data.fit[data.index(need, i)]), building_names[i]))
building = pick[1].selectbox("Building", ranked, format_func=lambda i: f"{building_names[i]} ({i})", key="why_building")
reasons = data.reasons(need, building)
if reasons:
    st.warning(f"**{building_names[building]}** does not fit **{need_names[need]}**:\n" + "\n".join(f"- {r}" for r in reasons))
elif conditions := data.conditions(need, building):
    st.info(f"**{building_names[building]}** fits **{need_names[need]}** if: " + ", ".join(conditions) + " (the data leaves these unknown).")
else:
    st.success(f"**{building_names[building]}** fits **{need_names[need]}** for its whole plan.")
if result is not None:
    st.caption(f"The best buildings for {need_names[need]} on its own; *free* says whether one still fits after the other needs are housed.")
    st.dataframe(result.alternatives(need), hide_index=True, width="stretch", key="alternatives_table")

# ---------------------------------------------------------------- site selection
st.subheader("Where should new campuses go?")
st.caption("The vacant and under-used buildings that put new seats closest to the students who need them (an exact p-median; students are grouped in 400 m cells).")
if not len(city.students):
    st.info("This city has no students layer: add [layers.students] to site campuses by students' travel.")
else:
    with st.container(border=True):
        sc = st.columns([1, 2, 1, 1])
        p = sc[0].number_input("Campuses", 1, 10, 1, key="sites_p")
        levels = {"every grade": None, "elementary (K-5)": tuple(range(0, 6)), "middle (6-8)": (6, 7, 8), "high (9-12)": (9, 10, 11, 12)}
        level = sc[1].selectbox("For students of", list(levels), key="sites_grades")
        capped = sc[2].checkbox("Within spare seats", key="sites_capacitated", help="a campus seats at most its building's spare seats")
        go = sc[3].button("Choose sites", type="primary", key="sites_run", width="stretch")
        if go:
            with st.spinner("Choosing buildings…"):
                try:
                    siting = site_campuses(city, p=int(p), grades=levels[level], capacitated=capped, travel=state.city_travel(city)[0])
                except (ValueError, RuntimeError) as err:
                    st.error(str(err))
                    siting = None
            st.session_state["sites"] = (key, siting)
    found_sites = st.session_state.get("sites")
    siting = found_sites[1] if found_sites and found_sites[0] == key else None
    if siting is not None:
        answer = "proven optimal" if siting.summary["optimal"] else f"gap {siting.summary['gap']:.1%}"
        st.success(f"{len(siting.chosen)} building{'s' if len(siting.chosen) > 1 else ''} for {siting.summary['students']:,} students ({answer}); mean travel in minutes.")
        layers = maps.base_layers(city) + [
            maps.point_layer(city.buildings, color=maps.STATUS_COLORS, by="status", ring=True, radius=5, layer_id="site_candidates"),
            maps.point_layer(siting.chosen, color=(213, 94, 0), radius=11, layer_id="sites_chosen", tip=lambda r: f"{r['name']}: {r['students_served']:,} students"),
        ]
        st.pydeck_chart(maps.deck(layers, city=city, height=420), key="sites_map")
        st.dataframe(ui.readable(siting.table()), hide_index=True, width="stretch", key="sites_table")
        ui.download_csv(siting.table(), label="Download the chosen sites (CSV)", file_name="sites.csv", key="dl_sites")

# ---------------------------------------------------------------- utilization
st.subheader("Utilization by building")
low, high = use.rules.band
table = b[["building", "name", "status", "grades", "capacity", "capacity_source", "enrollment", "utilization", "flag", "spare_seats", "spare_rooms"]]
chart_data = table.dropna(subset=["utilization"]).sort_values("utilization", ascending=False)
flags = ["over capacity", "in band", "under-used", "vacant", "unknown"]
chart = (
    alt.Chart(chart_data)
    .mark_bar()
    .encode(
        x=alt.X("building:N", sort=None, axis=alt.Axis(labels=False, ticks=False, title="buildings, most used first")),
        y=alt.Y("utilization:Q", axis=alt.Axis(format="%"), title="enrollment / capacity"),
        color=alt.Color("flag:N", scale=alt.Scale(domain=flags, range=["#d55e00", "#009e73", "#e69f00", "#999999", "#cccccc"])),
        tooltip=["name", "status", "capacity", "enrollment", alt.Tooltip("utilization:Q", format=".0%"), "flag"],
    )
    .properties(height=260)
)
band = alt.Chart(pd.DataFrame({"y": [low, high]})).mark_rule(strokeDash=[4, 4], color="#555").encode(y="y:Q")
st.altair_chart(chart + band, width="stretch")
st.caption(f"Dashed lines: the target band, {low:.0%}–{high:.0%}. Capacity is counted from rooms ({dataclasses.asdict(use.rules)['efficiency']:.0%} of specialty rooms).")
st.dataframe(ui.readable(table), hide_index=True, width="stretch", key="utilization_table", column_config={"utilization": st.column_config.NumberColumn(format="percent")})
ui.download_csv(table, label="Download utilization (CSV)", file_name="utilization.csv", key="dl_utilization")
