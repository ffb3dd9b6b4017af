"""Enrollment zones: pick or build a shared zone, see its coverage, run one lottery with and without it,
design zones.

Every number on this page comes from the library's calls for the inputs shown: the zone from
:func:`facilities.zones.shared_zone`, coverage from :func:`facilities.zones.coverage`, the lottery
from :func:`facilities.enrollment.run_lottery`, plans from ``compact zones design``'s functions.
"""

import altair as alt
import geopandas as gpd
import numpy as np
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
    st.info(
        "This city has no zones layer: add neighborhoods ([layers.zones]) to build shared zones from them."
    )
    st.stop()

#: Grade bands a zone may guarantee, and the grade families apply to in each.
BANDS = {"every grade": None, "K-5": tuple(range(6)), "6-8": (6, 7, 8), "9-12": (9, 10, 11, 12)}


def _entry(grades: tuple[int, ...] | None) -> list[int]:
    """The grades families apply to for a zone of ``grades``: its first grade, or K, 6 and 9 for every
    grade."""
    return sorted(ENTRY_GRADES) if not grades else [min(grades)]


# ---------------------------------------------------------------- the zone
configured = configured_zones(city)
BUILD, CONFIGURED, OWN = (
    "Build a shared zone from neighborhoods",
    "The city's shared zones (city.toml)",
    "The city's own zones",
)
choices = ([CONFIGURED] if configured is not None else []) + [BUILD] + ([OWN] if len(others) else [])
how = st.radio("Zone", choices, horizontal=True, key="zone_how", label_visibility="collapsed")
try:
    if how == CONFIGURED:
        zones = configured
        zone_grades = configured_grades(city)
        st.caption(
            f"{', '.join(configured['name'].fillna(configured['id']))}: grades "
            f"{format_grades(zone_grades) if zone_grades else 'all'}."
        )
    elif how == BUILD:
        names = units["name"].fillna(units["id"]).astype(str).tolist()
        b = st.columns([3, 1])
        picked = b[0].multiselect(
            "Neighborhoods in the shared zone", names, default=names[: min(2, len(names))], key="zone_units"
        )
        band = b[1].selectbox("Grades it guarantees", list(BANDS), index=2, key="zone_band")
        zone_grades = BANDS[band]
        if not picked:
            st.info("Pick at least one neighborhood.")
            st.stop()
        inside = shared_zone(city, units=picked, id="shared", name="shared zone")
        school_names = dict(zip(city.schools["id"], city.schools["name"]))
        # keyed by the neighborhoods: a new zone starts from every school inside it
        chosen = st.multiselect(
            "Its schools (every school inside the zone until you change them)",
            list(school_names),
            default=list(inside["schools"].iloc[0]),
            format_func=lambda i: f"{school_names[i]} ({i})",
            key="zone_schools|" + "|".join(sorted(picked)),
        )
        zones = shared_zone(city, units=picked, schools=chosen, id="shared", name="shared zone")
    else:
        zones = others.reset_index(drop=True)
        zone_grades = None
    travel, travel_how = state.city_travel(city)
    cov = coverage(city, zones, travel=travel, grades=zone_grades)
except ValidationError as err:
    state.show_problems(err)
    st.stop()
except ValueError as err:
    st.error(str(err))
    st.stop()

s = cov.summary()
n_schools = int(cov.zones["n_schools"].sum())
c = st.columns(6)
c[0].metric(
    "Its schools", f"{n_schools:,}", help=", ".join(sorted({i for ids in cov.zones["schools"] for i in ids}))
)
c[1].metric(
    "Residents",
    f"{s['residents']:,}",
    help=f"grades {format_grades(zone_grades) if zone_grades else 'all'}; counted from {cov.source}",
)
c[2].metric("Seats", f"{s['seats']:,}", help="seats of the zone's schools in those grades")
c[3].metric(
    "Seats cover",
    f"{s['share']:.0%}" if s["residents"] else "–",
    help=f"the share of the zone's residents its seats cover: grade by grade, the seats are enough for "
    f"{s['guaranteed']:,} residents; who actually gets a seat is the lottery's answer below",
)
c[4].metric("Shortfall", f"{s['shortfall']:,}", help="residents beyond the seats of their grade")
c[5].metric("Compactness", f"{s['polsby_popper_median']:.2f}", help="Polsby–Popper: 1 for a disc")
shortfall_place = st.container()  # always there, so the map below keeps its place
if s["residents"] and s["shortfall"]:
    shortfall_place.warning(
        f"The zone's schools lack {s['shortfall']:,} seats for its residents: the guarantee cannot hold for "
        "everyone."
    )

# ---------------------------------------------------------------- the lottery
with st.container(border=True):
    lc = st.columns([2, 1, 1, 1])
    grade_options = list(range(-1, 13))
    grades = lc[0].multiselect(
        "Grades applying",
        grade_options,
        default=_entry(zone_grades),
        format_func=lambda g: GRADE_NAMES[g + 1],
        key=f"lottery_grades|{format_grades(zone_grades) if zone_grades else 'all'}",
    )
    seed = int(lc[1].number_input("Seed", 0, 10_000, 0, key="lottery_seed"))
    guarantee = lc[2].checkbox(
        "Zone guarantee",
        help="place the zone's residents left unmatched in its schools with room",
        value=True,
        key="lottery_guarantee",
    )
    go = lc[3].button(
        "Run the lottery", type="primary", key="lottery_run", width="stretch", disabled=not grades
    )
    lottery_inputs = (
        key,
        repr(zones.drop(columns="geometry").to_dict("records")),
        tuple(sorted(grades)),
        seed,
        guarantee,
    )
    # one slot on every run for the solve's progress, so the map below keeps its place (a map that moves
    # is drawn anew: seconds in software WebGL)
    work = st.empty()
    if go:
        with (
            work.container(),
            st.spinner(
                "Drawing lottery numbers and placing applicants, with the shared zone and without it…"
            ),
        ):
            try:
                with_zone = run_lottery(
                    city, zones=zones, guarantee=guarantee, seed=seed, grades=sorted(grades)
                )
                without = run_lottery(city, zones=None, guarantee=False, seed=seed, grades=sorted(grades))
            except ValueError as err:
                st.error(str(err))
                st.stop()
        work.empty()
        state.remember("lottery", lottery_inputs, (with_zone, without))
found = state.remembered("lottery", lottery_inputs)
outcome, without = found[0] if found else (None, None)
stale_place = st.container()  # always there, so the map below keeps its place
if found and not found[1]:
    stale_place.warning(
        "The lottery below ran with other settings than those above: press **Run the lottery** to update it.",
        icon="🔄",
    )


# ---------------------------------------------------------------- map
# The page's one map (a second one would cost the browser its own WebGL context and shaders): it shows
# the lottery's outcomes or the designed zones below too, so it is drawn last, into this place.
map_place = st.container()
DESIGNED = "Designed zones"
#: Fills of designed zones (Okabe–Ito).
ZONE_PALETTE = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (240, 228, 66),
]


def _outcome_layer(show: str) -> tuple[object, str]:
    """The lottery's shading (hexagons of applicants) and its key."""
    d, r = outcome.result.data, outcome.result
    if d.student_xy is None:
        return None, ""
    column = "first_choice" if show.endswith("first choice") else "matched"
    points = gpd.GeoDataFrame(
        {"first_choice": r.choice_rank == 0, "matched": r.assignment >= 0},
        geometry=gpd.points_from_xy(d.student_xy[:, 0], d.student_xy[:, 1]),
        crs=city.crs,
    )
    layer = maps.hexbin_layer(
        maps.hexbin(points, size=400, sums=[column]), share=column, label="applicants", layer_id="outcomes"
    )
    what = "first choice" if column == "first_choice" else "matched"
    return layer, maps.ramp_legend("lowest share", "highest share", title=f"Applicants {what}")


def _design_layer(plan: object) -> tuple[list[object], str]:
    """A designed plan's zones, each its own color, and their key."""
    frame = plan.to_geodataframe()
    fills = [[*ZONE_PALETTE[k % len(ZONE_PALETTE)], 90] for k in range(len(frame))]
    tips = [
        f"{n}: {r:,} residents, {s:,} seats"
        for n, r, s in zip(frame["name"], frame["residents"], frame["seats"])
    ]
    layer = maps.polygon_layer(
        frame, fill=fills, tip=tips, line=(255, 255, 255), line_width=2, layer_id="designed"
    )
    return layer, maps.legend({f"{len(frame)} designed zones (point at one for its seats)": ZONE_PALETTE[1]})


@st.fragment
def _zone_map() -> None:
    """The map and what it shows: a change here reruns only this part of the page."""
    found_design = state.remembered("design", design_inputs)
    plans = found_design[0][0] if found_design is not None else {}
    modes = (["Lottery: first choice", "Lottery: matched"] if outcome is not None else []) + (
        [DESIGNED] if plans else []
    )
    # the controls' row is always there, so the map keeps its place (a map that moves is drawn anew)
    row = st.columns([3, 2])
    show = "Nothing"
    if modes:
        modes.append("Nothing")
        if st.session_state.get("zone_shade") not in modes:
            st.session_state["zone_shade"] = modes[0]
        show = row[0].radio("Shade the map by", modes, horizontal=True, key="zone_shade")
    else:
        row[0].caption("Run the lottery or design zones below to shade the map.")
    areas, shade_key = [], ""
    if show == DESIGNED:
        if st.session_state.get("design_draw") not in plans:
            st.session_state["design_draw"] = list(plans)[-1]
        plan_name = row[1].radio("Draw", list(plans), horizontal=True, key="design_draw")
        layer, shade_key = _design_layer(plans[plan_name])
        areas.append(layer)
    elif show != "Nothing":
        layer, shade_key = _outcome_layer(show)
        areas.append(layer)
    layers = maps.base_layers(city, under=areas)
    zone_tips = [
        f"{n}: {r:,} residents, seats for {sh:.0%}"
        for n, r, sh in zip(cov.zones["name"], cov.zones["residents"], cov.zones["share"].fillna(0))
    ]
    layers.append(
        maps.polygon_layer(
            cov.zones,
            fill=(0, 114, 178, 0 if areas else 40),
            tip=zone_tips,
            line=(0, 114, 178),
            line_width=4,
            layer_id="zones",
        )
    )
    in_zone = {i for ids in cov.zones["schools"] for i in ids}
    px = maps.metres_per_pixel(city)
    layers.append(
        maps.point_layer(
            city.schools[~city.schools["id"].isin(in_zone)],
            color=maps.SECTOR_COLORS,
            by="sector",
            radius=4,
            alpha=120,
            scale=px,
            layer_id="other_schools",
        )
    )
    layers.append(
        maps.point_layer(
            city.schools[city.schools["id"].isin(in_zone)],
            color=maps.SECTOR_COLORS,
            by="sector",
            radius=8,
            scale=px,
            tip=lambda x: f"{x['name']} — {x['sector']}, in the zone",
            layer_id="zone_schools",
        )
    )
    st.pydeck_chart(maps.deck(layers, city=city), key="zones_map")
    st.markdown(
        maps.legend(
            {sec: maps.SECTOR_COLORS[sec] for sec in SECTORS if (city.schools["sector"] == sec).any()},
            title="Schools (large: in the zone)",
        )
        + maps.legend({"shared zone": (0, 114, 178)}, line=True)
        + shade_key,
        unsafe_allow_html=True,
    )
    if show == DESIGNED and plans[plan_name].issues:
        st.warning("; ".join(plans[plan_name].issues))
    st.caption(
        f"Travel: {travel_how}. Applicants are drawn on the map only as hexagons of at least "
        f"{maps.MIN_CELL}; point at a neighborhood for its name."
    )


# ---------------------------------------------------------------- coverage by grade
left, right = st.columns(2)
with left:
    st.markdown("**Residents and seats by grade**")
    g = cov.grades.copy()
    g = g[(g["residents"] > 0) | (g["seats"] > 0)]
    g["grade_name"] = g["grade"].map(lambda x: format_grades((int(x),)))
    long = g.melt(
        id_vars=["zone", "grade", "grade_name"],
        value_vars=["residents", "seats", "guaranteed"],
        var_name="count",
    )
    st.altair_chart(
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X(
                "grade_name:N",
                sort=[GRADE_NAMES[i + 1] for i in sorted(g["grade"].unique())],
                title="grade",
                axis=alt.Axis(labelAngle=0),
            ),
            xOffset="count:N",
            y=alt.Y("value:Q", title=None),
            color=alt.Color(
                "count:N",
                scale=alt.Scale(
                    domain=["residents", "seats", "guaranteed"], range=["#999999", "#0072b2", "#009e73"]
                ),
            ),
            tooltip=["zone", "grade_name", "count", alt.Tooltip("value:Q", format=",")],
        )
        .properties(height=260),
        width="stretch",
    )
with right:
    st.markdown("**Zones**")
    ui.show_table(
        cov.zones, key="coverage_table", rename={"guaranteed": "seats cover", "share": "share covered"}
    )
    ui.download_csv(
        cov.grades, label="Download coverage by grade (CSV)", file_name="coverage.csv", key="dl_coverage"
    )


# ---------------------------------------------------------------- lottery outcomes
def _by_income(run) -> pd.DataFrame:
    """Outcomes by the low-income share of the applicant's neighborhood (above or below the city's median)."""
    hoods = run.aggregates(by=["neighborhood"], min_count=0)
    share = (
        dict(zip(units["name"].fillna(units["id"]), units["low_income_share"]))
        if "low_income_share" in units
        else {}
    )
    if not share:
        return pd.DataFrame()
    cut = float(np.nanmedian(list(share.values())))
    hoods["income"] = hoods["neighborhood"].map(
        lambda n: (
            "lower-income neighborhoods"
            if share.get(n, np.nan) > cut
            else ("higher-income neighborhoods" if n in share else "outside")
        )
    )
    out = hoods.groupby("income")[["students", "matched", "first_choice", "top_three"]].sum().reset_index()
    for col in ("matched", "first_choice", "top_three"):
        out[f"{col}_share"] = out[col] / out["students"]
    small = out["students"] < maps.MIN_CELL
    out.loc[small, out.columns.drop("income")] = np.nan
    return out


def _side_by_side(by: str) -> pd.DataFrame:
    """First choice and matched shares with and without the shared zone, by ``by``."""
    if by == "income":
        a, b = _by_income(outcome), _by_income(without)
    else:
        a, b = outcome.aggregates(by=[by]), without.aggregates(by=[by])
    if not len(a):
        return pd.DataFrame()
    cols = ["students", "first_choice_share", "matched_share"]
    return a[[by, *cols]].merge(b[[by, *cols]], on=by, how="outer", suffixes=(" with the zone", " without"))


if outcome is None:
    st.info(
        "Press **Run the lottery** to place applicants across every sector's schools, with and without the "
        "shared zone."
    )
else:
    summary = outcome.summary()
    st.subheader("The lottery's outcomes")
    who = (
        "simulated from the neighborhoods' population"
        if outcome.simulated_applicants
        else "the city's students"
    )
    lists = "simulated (distance and sector, seeded)" if outcome.simulated_choices else "given"
    st.caption(
        f"Applicants: {who}; ranked lists: {lists}; seed {summary['seed']}. Groups under {maps.MIN_CELL} "
        "applicants are blanked."
    )
    base = without.summary()
    m = st.columns(5)
    m[0].metric("Applicants", f"{summary['students']:,}")
    for col, (label, field) in zip(
        m[1:4],
        [
            ("Matched", "matched_share"),
            ("First choice", "first_choice_share"),
            ("Top three", "top_three_share"),
        ],
    ):
        change = summary[field] - base[field]
        col.metric(
            label,
            f"{summary[field]:.0%}",
            delta=None if abs(change) < 0.005 else f"{change:+.0%} vs without the zone",
        )
    m[4].metric(
        "Placed by the guarantee",
        f"{summary['guarantee']:,}",
        help="zone residents the lottery left unmatched, seated by the guarantee",
    )
    zone_rows = outcome.by_zone()
    left_out = int(zone_rows["unassigned"].fillna(0).sum()) if len(zone_rows) else 0
    if guarantee and left_out:
        st.warning(
            f"{left_out:,} of the zone's applicants have no seat although the guarantee is on: its schools "
            "had no room "
            "left in their grade after the lottery (seats filled by applicants from outside the zone or by "
            "other residents)."
        )
    tabs = st.tabs(["By sector", "By neighborhood", "By income", "By grade", "Shared zone residents"])
    for tab, by in zip(tabs[:3], ["sector", "neighborhood", "income"]):
        with tab:
            table = _side_by_side(by)
            if not len(table):
                st.caption("The city's neighborhoods have no low-income share.")
                continue
            long = table.melt(
                id_vars=by,
                value_vars=[c for c in table.columns if c.startswith("first_choice_share")],
                var_name="lottery",
                value_name="share",
            )
            long["lottery"] = long["lottery"].str.replace("first_choice_share ", "")
            st.altair_chart(
                alt.Chart(long.dropna(), title="First choice, with and without the shared zone")
                .mark_bar()
                .encode(
                    y=alt.Y(
                        f"{by}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=0, labelOverlap=False)
                    ),
                    yOffset="lottery:N",
                    x=alt.X("share:Q", axis=alt.Axis(format="%"), title=None),
                    color=alt.Color("lottery:N", sort=["with the zone", "without"]),
                    tooltip=[by, "lottery", alt.Tooltip("share:Q", format=".0%")],
                )
                .properties(height=max(160, 34 * table[by].nunique())),
                width="stretch",
            )
            ui.show_table(table, key=f"lottery_{by}")
    with tabs[3]:
        ui.show_table(outcome.aggregates(by=["grade"]), key="lottery_grade")
    with tabs[4]:
        ui.show_table(zone_rows, key="lottery_zone")
    all_tables = pd.concat(
        [outcome.aggregates(by=[b]).assign(by=b) for b in ("sector", "grade", "neighborhood")],
        ignore_index=True,
    )
    ui.download_csv(
        all_tables,
        label="Download lottery outcomes (CSV, aggregated)",
        file_name="lottery_outcomes.csv",
        key="dl_lottery",
    )

# ---------------------------------------------------------------- design
st.subheader("Design shared zones")
st.caption(
    "What `compact zones design` does: contiguous zones grown from the neighborhoods, compared with one "
    "zone per neighborhood."
)
with st.container(border=True):
    dc = st.columns([1, 1, 1, 1, 1])
    design_band = dc[0].selectbox("Grades", [b for b in BANDS if BANDS[b]], index=0, key="design_band")
    min_schools = int(dc[1].number_input("Fewest schools", 1, 20, 2, key="design_min"))
    max_schools = int(dc[2].number_input("Most schools", 1, 40, 8, key="design_max"))
    design_time = dc[3].slider("Time limit (s)", 1, 60, 5, key="design_time")
    design_go = dc[4].button("Design zones", type="primary", key="design_run", width="stretch")
design_inputs = (key, design_band, min_schools, max_schools, design_time, seed)
design_work = st.empty()  # the design's progress, in one slot on every run (the maps keep their places)
if design_go:
    from app.commands.zones import rider_walk_limit
    from facilities.zones import ZoneData, ZonePlan, compare_plans, greedy_zones
    from facilities.zones import design as make

    wanted = BANDS[design_band]
    with design_work.container(), st.spinner("Growing zones from the neighborhoods…"):
        try:
            data = ZoneData.from_city(city, travel=travel)
            options = {"min_schools": min_schools, "max_schools": max_schools, "grades": wanted}
            plans = {
                "each neighborhood": ZonePlan.from_labels(data, data.unit_ids, grades=wanted),
                "greedy": greedy_zones(data, **options),
                "designed": make(data, time_limit=float(design_time), seed=seed, **options),
            }
            table = compare_plans(plans, walk_m=rider_walk_limit(city, wanted)).reset_index(names="measure")
            design_error = None
        except (ValueError, ValidationError) as err:
            design_error = str(err)
    if design_error is None:
        design_work.empty()
        state.remember("design", design_inputs, (plans, table))
        st.session_state["zone_shade"] = DESIGNED  # the map (drawn below, in its place above) shows them
        st.session_state["design_draw"] = list(plans)[-1]
    else:
        design_work.error(design_error)  # no st.stop(): the map, drawn last, stays on the page
found_design = state.remembered("design", design_inputs)
if found_design is not None:
    plans, table = found_design[0]
    st.dataframe(table, hide_index=True, width="stretch", key="design_table")
    st.caption(f"The plans are drawn on the map above: shade it by **{DESIGNED}**.")

with map_place:
    _zone_map()
