"""Compact planner in the browser: ``streamlit run app/streamlit_app.py`` (or ``make app``).

One page per user, in ``app/views/``; the city to work on is picked in the sidebar.
"""

import streamlit as st

from app import state

st.set_page_config(page_title="Compact planner", page_icon="🏫", layout="wide")

page = st.navigation(
    [
        st.Page("views/city.py", title="City", icon=":material/map:", default=True),
        st.Page("views/facilities.py", title="Facilities", icon=":material/apartment:"),
        st.Page("views/bells.py", title="Bell times", icon=":material/directions_bus:"),
        st.Page("views/zones.py", title="Enrollment zones", icon=":material/hexagon:"),
    ]
)
state.city_picker()
page.run()
