"""City: every school by sector, every building by status, zones and where students live, on one map."""

import altair as alt
import pandas as pd
import streamlit as st

from app import maps, state, ui
from app.views._geocode import geocode_panel
from facilities.schema import SECTORS, STATUSES, format_grades
from facilities.zones import configured_zones

city = state.current_city()

st.title(city.name)
st.caption(f"{city.crs.name} · read from {city.root}" if city.root else city.crs.name)

schools, buildings, students, zones = city.schools, city.buildings, city.students, city.zones
hoods = zones[zones["kind"] == "neighborhood"]
other_zones = zones[zones["kind"] != "neighborhood"]
shared = configured_zones(city) if len(zones) else None
if shared is not None and len(shared):
    other_zones = pd.concat([other_zones, shared[["id", "name", "kind", "geometry"]]], ignore_index=True)

cols = st.columns(5)
cols[0].metric(
    "Schools", f"{len(schools):,}", help=", ".join(f"{(schools['sector'] == s).sum()} {s}" for s in SECTORS)
)
cols[1].metric(
    "Buildings", f"{len(buildings):,}", help="vacant and under-used ones are offered to charter schools"
)
cols[2].metric("Available buildings", f"{int(buildings['status'].isin(['vacant', 'under-used']).sum()):,}")
# a layer the city does not give is unknown, never a headline "0"
cols[3].metric(
    "Students",
    f"{len(students):,}" if len(students) else "not given",
    help=None if len(students) else "no students layer: add [layers.students] to city.toml",
)
cols[4].metric(
    "Neighborhoods",
    f"{len(hoods):,}" if len(hoods) else "not given",
    help=None if len(hoods) else 'no zones of kind "neighborhood": add them to [layers.zones] in city.toml',
)

# ---------------------------------------------------------------- map
controls = st.columns([3, 3, 2])
sectors = controls[0].multiselect(
    "Schools of",
    list(SECTORS),
    default=[s for s in SECTORS if (schools["sector"] == s).any()],
    key="city_sectors",
)
show = controls[1].pills(
    "Show",
    ["Buildings", "Student homes", *(["Zones"] if len(other_zones) else []), "Streets", "Names"],
    selection_mode="multi",
    default=["Buildings", "Student homes", "Streets"],
    key="city_layers",
)
cell = controls[2].select_slider(
    "Hexagon size (m)",
    options=[150, 250, 400, 600, 1000],
    value=400,
    key="city_cell",
    disabled=not len(students),
)

areas = []
if "Zones" in show and len(other_zones):
    areas.append(
        maps.polygon_layer(
            other_zones,
            fill=(0, 114, 178, 40),
            tip=[f"{n} ({k} zone)" for n, k in zip(other_zones["name"], other_zones["kind"])],
            line=(0, 114, 178),
            line_width=3,
            layer_id="zones",
        )
    )
homes_note = ""
homes_key = ""
if "Student homes" in show and len(students):
    cells = maps.hexbin(students, size=cell)
    areas.append(maps.hexbin_layer(cells))
    if len(cells):
        homes_key = maps.ramp_legend(
            f"{int(cells['count'].min()):,}",
            f"{int(cells['count'].max()):,} students",
            title="Student homes per hexagon",
        )
    homes_note = (
        f" Student homes are counted in hexagons of at least {maps.MIN_CELL}; "
        f"{cells.attrs['hidden']:,} students in sparser cells are not drawn."
    )
layers = maps.base_layers(city, under=areas, streets="Streets" in show, labels="Names" in show)
px = maps.metres_per_pixel(city, width=760)
if "Buildings" in show and len(buildings):
    layers.append(
        maps.point_layer(
            buildings,
            color=maps.STATUS_COLORS,
            by="status",
            radius=7,
            ring=True,
            scale=px,
            tip=lambda b: f"{b['name'] or b['id']} — {b['status']}, {int(b['rooms_classroom'])} classrooms",
            layer_id="buildings",
        )
    )
shown = schools[schools["sector"].isin(sectors)]
layers.append(
    maps.point_layer(
        shown,
        color=maps.SECTOR_COLORS,
        by="sector",
        radius=5,
        scale=px,
        tip=lambda s: (
            f"{s['name']} — {s['sector']}"
            + (f", grades {format_grades(s['grades'])}" if isinstance(s["grades"], tuple) else "")
        ),
        layer_id="schools",
    )
)
map_col, key_col = st.columns([4, 1])  # the keys beside the map, on the first screen
map_col.pydeck_chart(maps.deck(layers, city=city, width=760), key="city_map")
keys = [
    maps.legend(
        {s: maps.SECTOR_COLORS[s] for s in sectors},
        title="Schools",
        counts=schools["sector"].value_counts().to_dict(),
    )
]
if "Buildings" in show and len(buildings):
    keys.append(
        maps.legend(
            maps.STATUS_COLORS,
            title="Buildings",
            counts=buildings["status"].value_counts().to_dict(),
            ring=True,
        )
    )
if "Zones" in show and len(other_zones):
    keys.append(maps.legend({"zone": (0, 114, 178)}, line=True))
if homes_key:
    keys.append(homes_key)
key_col.markdown("<br><br>".join(keys), unsafe_allow_html=True)
key_col.caption(
    "Streets and neighborhoods are drawn from the city's own files; no map tiles are used. Point at a "
    "neighborhood for its name, or show **Names**." + homes_note
)

# ---------------------------------------------------------------- tables and charts
tabs = st.tabs(["Schools", "Buildings", "Students", "Zones", "Fleet and needs"])
with tabs[0]:
    left, right = st.columns([3, 2])
    with left:
        st.caption(
            f"{len(shown):,} schools of {', '.join(sectors) or 'no sector'} (the sectors picked above "
            "the map)."
        )
        ui.show_table(shown, height=360, key="schools_table")
        ui.download_csv(
            ui.readable(shown), label="Download schools", file_name="schools.csv", key="dl_schools"
        )
    with right:
        by_hood = (
            shown.groupby(["neighborhood", "sector"], dropna=False).size().rename("schools").reset_index()
        )
        by_hood["neighborhood"] = by_hood["neighborhood"].astype(object).fillna("(outside)")
        chart = (
            alt.Chart(by_hood)
            .mark_bar()
            .encode(
                y=alt.Y("neighborhood:N", sort="-x", title=None),
                x=alt.X("schools:Q", title="schools"),
                color=alt.Color(
                    "sector:N",
                    scale=alt.Scale(
                        domain=list(SECTORS), range=[f"rgb{maps.SECTOR_COLORS[s][:3]}" for s in SECTORS]
                    ),
                ),
                tooltip=["neighborhood", "sector", "schools"],
            )
            .properties(
                height=max(200, 16 * by_hood["neighborhood"].nunique()), title="Schools by neighborhood"
            )
        )
        st.altair_chart(chart, width="stretch")
with tabs[1]:
    if len(buildings):
        counts = buildings["status"].value_counts().reindex(list(STATUSES), fill_value=0)
        c = st.columns(len(STATUSES))
        for col, (status, n) in zip(c, counts.items()):
            col.metric(status.capitalize(), f"{n:,}")
        ui.show_table(buildings, height=360, key="buildings_table")
        ui.download_csv(
            ui.readable(buildings), label="Download buildings", file_name="buildings.csv", key="dl_buildings"
        )
    else:
        st.info("This city has no buildings layer: add [layers.buildings] to city.toml to plan space.")
with tabs[2]:
    if len(students):
        table = (
            students.groupby(["neighborhood", "grade"], dropna=False).size().rename("students").reset_index()
        )
        table["neighborhood"] = table["neighborhood"].astype(object).fillna("(outside)")
        small = table["students"] < maps.MIN_CELL
        table.loc[small, "students"] = pd.NA
        st.caption(f"Students by neighborhood and grade; counts under {maps.MIN_CELL} are withheld.")
        pivot = table.pivot(index="neighborhood", columns="grade", values="students")
        pivot.columns = [format_grades((int(g),)) for g in pivot.columns]
        st.dataframe(pivot, width="stretch")
        by_service = (
            students["service"].value_counts().rename_axis("service").rename("students").reset_index()
        )
        st.bar_chart(by_service, x="service", y="students", height=220)
    else:
        st.info("This city has no students layer.")
with tabs[3]:
    if len(zones):
        ui.show_table(zones, key="zones_table")
    else:
        st.info("This city has no zones layer.")
with tabs[4]:
    parts = [
        ("Bus types", city.bus_types),
        ("Bus yards", city.yards),
        ("Charter schools' space needs", city.needs),
    ]
    for title, frame in parts:
        st.markdown(f"**{title}**")
        if len(frame):
            ui.show_table(frame, key=f"fleet_{title}")
        else:
            st.caption("none in this city")

geocode_panel(city)
