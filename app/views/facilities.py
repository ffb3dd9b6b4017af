"""Facilities: buildings and charter schools' space needs on the map, the match, what-ifs, and why a building
doesn't fit."""

import dataclasses
import json
import re
import tempfile

import altair as alt
import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from app import maps, state, ui
from facilities import ValidationError
from facilities.capacity import utilization
from facilities.matching import MatchData, Weights, solve, what_if
from facilities.siting import site_campuses

city = state.current_city()
key = state.city_key(city)

st.title("Facilities")
st.caption(
    f"{city.name}: charter schools' space needs matched to vacant, under-used and shared buildings, over "
    "the years of their growth plans."
)

if not len(city.buildings) or not len(city.needs):
    missing = " and ".join(
        name for name, frame in (("buildings", city.buildings), ("needs", city.needs)) if not len(frame)
    )
    st.info(
        f"This city has no {missing} layer; add [layers.buildings] and [layers.needs] to its city.toml to "
        "match needs to buildings."
    )
    st.stop()

#: Chosen new-campus sites: a color no building status uses.
SITE_COLOR = (117, 50, 160)
NEED_COLOR = maps.SECTOR_COLORS["charter"]


@st.cache_resource(
    show_spinner="Counting seats and checking every need against every building…", max_entries=4
)
def _prepare(city_key: str, _city):
    return utilization(_city), MatchData.from_city(_city)


@st.cache_resource(show_spinner="Checking the changed needs and buildings…", max_entries=8)
def _changed(city_key: str, withdraw: tuple[str, ...], added: str, _data: MatchData) -> MatchData:
    rows = json.loads(added)
    return what_if(_data, withdraw=withdraw, add=rows or None)


try:
    use, base_data = _prepare(key, city)
except ValidationError as err:
    state.show_problems(err)
    st.stop()

building_names = ui.display_names(city.buildings)
school_names = dict(zip(city.schools["id"], city.schools["name"].fillna(city.schools["id"])))


_KNOWN = {**school_names, **building_names}
_IDS = (
    re.compile(
        r"\b(" + "|".join(re.escape(i) for i in sorted(map(str, _KNOWN), key=len, reverse=True)) + r")\b"
    )
    if _KNOWN
    else None
)


def _names(text: str) -> str:
    """Building and school ids in a sentence written as their names."""
    return _IDS.sub(lambda m: str(_KNOWN[m.group(0)]), str(text)) if _IDS is not None else str(text)


# ---------------------------------------------------------------- what if
with st.expander("What if: withdraw buildings, add a space need"):
    w = st.columns([3, 2])
    withdraw = w[0].multiselect(
        "Buildings no longer available",
        list(base_data.building_ids),
        format_func=lambda i: building_names.get(i, i),
        key="whatif_withdraw",
    )
    with w[1]:
        hoods = (
            city.zones[city.zones["kind"] == "neighborhood"]["name"].astype(str).tolist()
            if len(city.zones)
            else []
        )
        st.markdown("**A new space need**")
        add_name = st.text_input("Name (empty: none)", "", key="whatif_name")
        a = st.columns(3)
        add_grades = a[0].text_input("Grades", "6-8", key="whatif_grades")
        add_seats = int(a[1].number_input("Seats", 20, 2000, 300, step=20, key="whatif_seats"))
        add_rooms = int(a[2].number_input("Classrooms", 1, 80, 12, key="whatif_rooms"))
        add_hood = st.selectbox("Where its students live", hoods, key="whatif_hood") if hoods else None
added_rows = []
if add_name.strip():
    added_rows.append(
        {
            "id": "WHATIF1",
            "name": add_name.strip(),
            "grades": add_grades,
            "seats": add_seats,
            "years": 1,
            "rooms_classroom": add_rooms,
            "neighborhoods": add_hood or "",
        }
    )
try:
    data = (
        _changed(key, tuple(sorted(withdraw)), json.dumps(added_rows), base_data)
        if withdraw or added_rows
        else base_data
    )
except (ValidationError, ValueError, KeyError) as err:
    st.error(f"The what-if cannot be built: {err}. Check the new need's grades (e.g. 6-8) and seats.")
    data = base_data
whatif = data is not base_data
if whatif:
    st.info(
        f"What-if: {len(withdraw)} building{'s' if len(withdraw) != 1 else ''} withdrawn, {len(added_rows)} "
        "need added. The match below uses it."
    )

b = use.buildings
cols = st.columns(5)
cols[0].metric(
    "Buildings",
    f"{len(b):,}",
    help=", ".join(f"{n} {s}" for s, n in city.buildings["status"].value_counts().items()),
)
cols[1].metric("Seats (from rooms)", f"{int(b['capacity'].sum()):,}")
enrolled, capacity = b["enrollment"].fillna(0).sum(), b["capacity"].sum()
cols[2].metric(
    "Utilization",
    f"{enrolled / capacity:.0%}" if capacity else "–",
    help="enrollment / capacity over every building",
)
cols[3].metric(
    "Space needs",
    f"{len(data.needs):,}",
    help=f"{int(data.needs['seats'].sum()):,} seats in their first year",
)
cols[4].metric(
    "Fitting pairs",
    f"{int((data.fit > 0).sum()):,}",
    help="need × building pairs that pass every hard rule for the first year at least",
)

# ---------------------------------------------------------------- run the match
with st.container(border=True):
    left, mid, right = st.columns([2, 1, 1])
    time_limit = left.slider("Time limit (seconds)", 1, 60, 10, key="match_time")
    seed = int(mid.number_input("Seed", 0, 10_000, 0, key="match_seed"))
    with st.expander("Weights (points; lower total is better)"):
        defaults = Weights()
        wc = st.columns(5)
        weights = Weights(
            travel=wc[0].number_input("per minute of travel", 0.0, 100.0, defaults.travel, key="w_travel"),
            cost=wc[1].number_input("per $10,000 a year", 0.0, 100.0, defaults.cost, key="w_cost"),
            neighborhood=wc[2].number_input(
                "bonus, preferred neighborhood", 0.0, 1000.0, defaults.neighborhood, key="w_hood"
            ),
            band=wc[3].number_input("per point outside the band", 0.0, 100.0, defaults.band, key="w_band"),
            priority=wc[4].number_input("priority", 0.0, 100.0, defaults.priority, key="w_priority"),
        )
    run = right.button("Run the match", type="primary", key="match_run", width="stretch")
match_inputs = (key, tuple(sorted(withdraw)), json.dumps(added_rows), float(time_limit), seed, repr(weights))
# one slot on every run for the solve's progress, so the map below keeps its place (a map that moves
# is drawn anew: seconds in software WebGL)
work = st.empty()
if run:
    bar = work.progress(0.0, text="Matching…")
    result = solve(
        data,
        time_limit=float(time_limit),
        seed=seed,
        weights=weights,
        progress=lambda message, fraction: bar.progress(min(max(fraction, 0.0), 1.0), text=message),
    )
    work.empty()
    state.remember("match", match_inputs, result)
found = state.remembered("match", match_inputs)
result = found[0] if found else None
if found and not found[1]:
    st.warning(
        "The match below was made with other settings than those above: press **Run the match** to "
        "update it.",
        icon="🔄",
    )
    result = result if result.data is data else None

# ---------------------------------------------------------------- map
flag = b.set_index("building")["flag"]
buildings = city.buildings.assign(
    flag=city.buildings["id"].map(flag),
    utilization=city.buildings["id"].map(b.set_index("building")["utilization"]),
)
buildings = buildings[~buildings["id"].isin(withdraw)]


def _building_tip(row: pd.Series) -> str:
    use_text = f"{row['utilization']:.0%} used" if pd.notna(row["utilization"]) else "no enrollment"
    return (
        f"{building_names.get(row['id'], row['id'])} — {row['status']}, {int(row['rooms_classroom'])} "
        f"classrooms, {use_text}"
    )


needs = data.needs.reset_index(drop=True)
number = {n: k + 1 for k, n in enumerate(needs["id"])}
origins = gpd.GeoDataFrame(
    needs[["id", "name", "seats"]], geometry=data.origins.reset_index(drop=True), crs=city.crs
)
origins = origins[origins.geometry.notna() & ~origins.geometry.is_empty]
origins["label"] = origins["id"].map(number).astype(str)
layers = maps.base_layers(city, labels=True)  # the needs' numbers make it a map with labels anyway
px = maps.metres_per_pixel(city)
layers.append(
    maps.point_layer(
        buildings,
        color=maps.STATUS_COLORS,
        by="status",
        radius=7,
        ring=True,
        scale=px,
        tip=_building_tip,
        layer_id="buildings",
    )
)
if result is not None and len(result.assignments):
    lines = result.lines().to_crs(4326)
    layers.append(
        maps.line_layer(
            [list(g.coords) for g in lines.geometry],
            colors=(0, 114, 178),
            tips=[
                f"#{number.get(i, '')} {n} → {building_names.get(b, b)} ({m.replace('_', '-')}, years 1–{y})"
                for i, n, b, m, y in zip(
                    lines["need"], lines["name"], lines["building"], lines["mode"], lines["year_last"]
                )
            ],
            width=3,
            layer_id="matches",
        )
    )
# new campus sites chosen below are drawn here too: one map on the page (a second one would cost the
# browser its own WebGL context and shaders); the inputs are the site picker's, as it last ran
site_inputs_now = (
    key,
    int(st.session_state.get("sites_p", 1)),
    st.session_state.get("sites_grades", "every grade"),
    bool(st.session_state.get("sites_capacitated", False)),
)
found_sites_now = state.remembered("sites", site_inputs_now)
sites_drawn = found_sites_now[0][0] if found_sites_now and found_sites_now[1] else None
st.session_state["sites_on_map"] = site_inputs_now if sites_drawn is not None else None
if sites_drawn is not None:
    layers.append(
        maps.point_layer(
            sites_drawn.chosen,
            color=SITE_COLOR,
            radius=12,
            scale=px,
            layer_id="sites_chosen",
            tip=lambda r: (
                f"{r['name']}: chosen for a new campus, {int(r['students_served']):,} students, "
                f"{int(r['spare_seats']):,} spare seats"
            ),
        )
    )
layers.append(
    maps.point_layer(
        origins,
        color=NEED_COLOR,
        radius=9,
        scale=px,
        tip=lambda n: f"#{n['label']} {n['name']} needs {int(n['seats']):,} seats",
        layer_id="needs",
    )
)
layers.append(maps.text_layer(origins, text="label", layer_id="need_numbers"))
st.pydeck_chart(maps.deck(layers, city=city), key="facilities_map")
st.markdown(
    maps.legend(
        maps.STATUS_COLORS, title="Buildings", counts=buildings["status"].value_counts().to_dict(), ring=True
    )
    + maps.legend({"space need, numbered as in the tables (its school, or its students' centre)": NEED_COLOR})
    + (maps.legend({"match": (0, 114, 178)}, line=True) if result is not None else "")
    + (maps.legend({"chosen for a new campus (below)": SITE_COLOR}) if sites_drawn is not None else ""),
    unsafe_allow_html=True,
)

# ---------------------------------------------------------------- results
if result is None:
    st.info(
        "Press **Run the match** to house the needs; the map then draws each need's line to its building."
    )
else:
    a, un = result.assignments, result.unmatched
    st.subheader("The match")
    c = st.columns(5)
    c[0].metric("Needs housed", f"{len(a)} of {len(data.needs)}")
    c[1].metric(
        "Housed for the whole plan", f"{int((a['year_last'] >= a['plan_years']).sum()) if len(a) else 0}"
    )
    c[2].metric("Whole buildings", f"{int((a['mode'] == 'whole').sum()) if len(a) else 0}")
    c[3].metric("Co-locations", f"{int((a['mode'] == 'co_location').sum()) if len(a) else 0}")
    c[4].metric(
        "Answer", result.status, help=f"gap {result.gap:.1%} to the best bound; {result.seconds:.1f} s"
    )
    table = pd.DataFrame(
        {
            "#": a["need"].map(number),
            "need": a["name"],
            "building": a["building"].map(building_names),
            "mode": a["mode"].str.replace("_", "-"),
            "hosts": a["hosts"].map(lambda h: ", ".join(school_names.get(i, i) for i in (h or ()))),
            "housed to year": a["year_last"],
            "plan years": a["plan_years"],
            "grades": a["grades"],
            "seats": a["seats"],
            "travel (min)": a["travel_min"],
            "$ / year": a["cost"],
            "preferred neighborhood": a["preferred"].map({True: "yes", False: "no"}),
            "host use after": a["host_utilization_after"],
            "fits if": a["conditions"] if "conditions" in a else "",
        }
    ).sort_values("#")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="match_table",
        column_config={
            "$ / year": st.column_config.NumberColumn(format="dollar"),
            "host use after": st.column_config.NumberColumn(format="percent"),
            "seats": st.column_config.NumberColumn(format="localized"),
        },
    )
    if len(un):
        st.markdown("**Not housed for their whole plan, and why**")
        st.markdown(
            "\n".join(
                f"- **#{number.get(n, '')} {name}** ({y} year{'s' if y != 1 else ''} unmet): {_names(r)}"
                for n, name, y, r in zip(un["need"], un["name"], un["years_unmet"], un["reasons"])
            )
        )

    def _zip() -> bytes:
        with tempfile.TemporaryDirectory(prefix="compact-match-") as folder:
            result.to_files(folder)
            return state.zip_folder(folder)

    d = st.columns(3)
    ui.download(
        "Download matches (CSV)",
        lambda: a.to_csv(index=False).encode(),
        file_name="matches.csv",
        key="dl_matches",
        at=d[0],
    )
    ui.download(
        "Download summary (JSON)",
        lambda: json.dumps(result.summary(), indent=2, default=str).encode(),
        file_name="summary.json",
        key="dl_match_summary",
        at=d[1],
    )
    ui.download(
        "Download everything (ZIP: CSV, GeoPackage, JSON)",
        _zip,
        file_name="matching.zip",
        key="dl_match_zip",
        at=d[2],
    )

# ---------------------------------------------------------------- one need: alternatives and misfits
st.subheader("One need: its best buildings, and why others don't fit")
need_names = dict(zip(needs["id"], needs["name"].fillna(needs["id"])))
pick = st.columns(2)
need = pick[0].selectbox(
    "Need", list(need_names), format_func=lambda i: f"#{number[i]} {need_names[i]}", key="why_need"
)
n_index, _ = data.index(need)
scores = data.scores(weights)[n_index]
fit_years = data.fit[n_index]
order = sorted(
    range(len(data.building_ids)),
    key=lambda j: (
        -int(fit_years[j] > 0),
        len(data.reasons(need, data.building_ids[j])) if fit_years[j] == 0 else 0,
        scores[j],
    ),
)
ranked_rows = []
free = (
    result.alternatives(need, k=len(data.building_ids)).set_index("building") if result is not None else None
)
for rank, j in enumerate(order[:8], start=1):
    bid = data.building_ids[j]
    reasons = data.reasons(need, bid)
    row = {
        "rank": rank,
        "building": building_names.get(bid, bid),
        "mode": str(data.buildings["mode"].iat[j]).replace("_", "-"),
        "fits for (years)": int(fit_years[j]),
        "travel (min)": round(float(data.travel[n_index, j]), 1),
        "$ / year": float(data.cost[n_index, j, 0]),
        "preferred neighborhood": "yes" if data.preferred[n_index, j] else "no",
        "conditions": "; ".join(_names(r) for r in reasons)
        if reasons
        else "fits every rule for its whole plan",
    }
    if free is not None and bid in free.index:
        row["in the match"] = (
            "its building"
            if free.at[bid, "assigned"]
            else ("still free" if free.at[bid, "free"] else "taken by other needs")
        )
    ranked_rows.append(row)
st.caption(
    f"The buildings for #{number[need]} {need_names[need]}, best first: those that fit by their score "
    "(travel, cost, neighborhood), then the closest misses."
)
st.dataframe(
    pd.DataFrame(ranked_rows),
    hide_index=True,
    width="stretch",
    key="alternatives_table",
    column_config={
        "$ / year": st.column_config.NumberColumn(format="dollar"),
        "conditions": st.column_config.TextColumn(width="large"),
    },
)
ranked = [data.building_ids[j] for j in order]
building = pick[1].selectbox(
    "Building",
    ranked,
    format_func=lambda i: building_names.get(i, i),
    key=f"why_building|{need}|{','.join(sorted(withdraw))}",
)
reasons = data.reasons(need, building)
if reasons:
    st.warning(
        f"**{building_names[building]}** does not fit **{need_names[need]}**:\n"
        + "\n".join(f"- {r}" for r in reasons)
    )
elif conditions := data.conditions(need, building):
    st.info(
        f"**{building_names[building]}** fits **{need_names[need]}** if: "
        + ", ".join(conditions)
        + " (the data leaves these unknown)."
    )
else:
    st.success(f"**{building_names[building]}** fits **{need_names[need]}** for its whole plan.")


# ---------------------------------------------------------------- site selection
@st.fragment
def _sites() -> None:
    """New campus sites: a change here reruns only this part of the page."""
    st.subheader("Where should new campuses go?")
    st.caption(
        "The vacant and under-used buildings that put new seats closest to the students who need them (an "
        "exact p-median; students are grouped in 400 m cells)."
    )
    if not len(city.students):
        st.info(
            "This city has no students layer: add [layers.students] to site campuses by students' travel."
        )
    else:
        with st.container(border=True):
            sc = st.columns([1, 2, 1, 1])
            p = int(sc[0].number_input("Campuses", 1, 10, 1, key="sites_p"))
            levels = {
                "every grade": None,
                "elementary (K-5)": tuple(range(6)),
                "middle (6-8)": (6, 7, 8),
                "high (9-12)": (9, 10, 11, 12),
            }
            level = sc[1].selectbox("For students of", list(levels), key="sites_grades")
            capped = sc[2].checkbox(
                "Within spare seats",
                key="sites_capacitated",
                help="a campus seats at most its building's spare seats",
            )
            go = sc[3].button("Choose sites", type="primary", key="sites_run", width="stretch")
        site_inputs = (key, p, level, capped)
        if go:
            with st.spinner("Choosing buildings…"):
                try:
                    siting = site_campuses(
                        city, p=p, grades=levels[level], capacitated=capped, travel=state.city_travel(city)[0]
                    )
                    problem = None
                except (ValueError, RuntimeError) as err:
                    if capped and "capacit" in str(err):
                        problem = (
                            f"{p} campus{'es' if p > 1 else ''} cannot seat every {level} student within "
                            f"spare seats: {_names(str(err)).split(';')[0]}. "
                            "Choose more campuses, or untick **Within spare seats** to see where they would "
                            "go regardless."
                        )
                    else:
                        problem = _names(str(err))
                    siting = None
            state.remember("sites", site_inputs, (siting, problem))
        found_sites = state.remembered("sites", site_inputs)
        siting, problem = found_sites[0] if found_sites and found_sites[1] else (None, None)
        if st.session_state.get("sites_on_map") != (site_inputs if siting is not None else None):
            st.rerun()  # the page's map, above, draws the chosen sites: run the page to update it
        if problem:
            st.error(problem)
        if siting is not None:
            answer = "proven optimal" if siting.summary["optimal"] else f"gap {siting.summary['gap']:.1%}"
            st.success(
                f"{len(siting.chosen)} building{'s' if len(siting.chosen) > 1 else ''} for "
                f"{siting.summary['students']:,} students ({answer}); mean travel in minutes. They are "
                "drawn on the map above, in purple."
            )
            chosen = siting.chosen
            over = chosen[chosen["students_served"] > chosen["spare_seats"].fillna(0)]
            for _, row in over.iterrows():
                st.warning(
                    f"**{row['name']}** would serve {int(row['students_served']):,} students but has "
                    f"{int(row['spare_seats']):,} spare seats: "
                    "tick **Within spare seats** to keep each campus within its building."
                )
            ui.show_table(
                siting.table(),
                key="sites_table",
                rename={"mean_travel": "mean travel (min)", "students_served": "students served"},
            )
            ui.download_csv(
                siting.table(), label="Download the chosen sites (CSV)", file_name="sites.csv", key="dl_sites"
            )


_sites()

# ---------------------------------------------------------------- by neighborhood
st.subheader("By neighborhood")
per = b.merge(
    city.buildings[["id", "neighborhood", "status"]].rename(columns={"id": "building", "status": "_status"}),
    on="building",
    how="left",
)
per["neighborhood"] = per["neighborhood"].astype(object).fillna("(outside)")
per["available"] = per["_status"].isin(["vacant", "under-used"])
wanted = (
    needs.explode("neighborhoods").groupby("neighborhoods").size()
    if "neighborhoods" in needs
    else pd.Series(dtype=int)
)
hood = (
    per.groupby("neighborhood")
    .agg(
        buildings=("building", "size"),
        available=("available", "sum"),
        seats=("capacity", "sum"),
        enrolled=("enrollment", "sum"),
        spare_seats=("spare_seats", "sum"),
    )
    .reset_index()
)
hood["utilization"] = hood["enrolled"] / hood["seats"].replace(0, np.nan)
hood["needs preferring it"] = hood["neighborhood"].map(wanted).fillna(0).astype(int)
if result is not None and len(result.assignments):
    housed_in = result.assignments["building"].map(
        dict(zip(city.buildings["id"], city.buildings["neighborhood"]))
    )
    hood["needs housed here"] = hood["neighborhood"].map(housed_in.value_counts()).fillna(0).astype(int)
hood = hood.astype({"seats": int, "enrolled": int, "spare_seats": int, "available": int})
ui.show_table(hood, key="neighborhood_table")

# ---------------------------------------------------------------- utilization
st.subheader("Utilization by building")
low, high = use.rules.band
util = b[
    [
        "building",
        "name",
        "status",
        "grades",
        "capacity",
        "enrollment",
        "utilization",
        "flag",
        "spare_seats",
        "spare_rooms",
    ]
]
chart_data = util.dropna(subset=["utilization"]).sort_values("utilization", ascending=False)
flags = ["over capacity", "in band", "under-used", "vacant", "unknown"]
chart = (
    alt.Chart(chart_data)
    .mark_bar()
    .encode(
        x=alt.X(
            "building:N",
            sort=None,
            axis=alt.Axis(labels=False, ticks=False, title="buildings, most used first"),
        ),
        y=alt.Y("utilization:Q", axis=alt.Axis(format="%"), title="enrollment / capacity"),
        color=alt.Color(
            "flag:N",
            scale=alt.Scale(domain=flags, range=["#d55e00", "#009e73", "#e69f00", "#999999", "#cccccc"]),
        ),
        tooltip=[
            "name",
            "status",
            alt.Tooltip("capacity:Q", format=","),
            alt.Tooltip("enrollment:Q", format=","),
            alt.Tooltip("utilization:Q", format=".0%"),
            "flag",
        ],
    )
    .properties(height=260)
)
band = alt.Chart(pd.DataFrame({"y": [low, high]})).mark_rule(strokeDash=[4, 4], color="#555").encode(y="y:Q")
st.altair_chart(chart + band, width="stretch")
st.caption(
    f"Dashed lines: the target band, {low:.0%}–{high:.0%}. Capacity is counted from rooms "
    f"({dataclasses.asdict(use.rules)['efficiency']:.0%} of specialty rooms)."
)
ui.show_table(util.drop(columns="building"), key="utilization_table")
ui.download_csv(util, label="Download utilization (CSV)", file_name="utilization.csv", key="dl_utilization")
