"""The City page's panel on students' addresses: counts only, small cells withheld, no address shown."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import DEMO, ROOT

APP = str(ROOT / "app" / "streamlit_app.py")


@pytest.mark.slow
def test_city_page_shows_how_addresses_were_placed(monkeypatch: pytest.MonkeyPatch) -> None:
    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    monkeypatch.delenv("COMPACT_CITY", raising=False)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert "Students' addresses" in [h.value for h in at.subheader]
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Addresses placed"].rstrip("%")) >= 98.0
    tables = [d.value for d in at.dataframe if "unmatched" in d.value.columns]
    assert tables and all(
        str(v) == "<10" or str(v) == "0" or int(str(v).replace(",", "")) >= 10
        for t in tables
        for c in ("unmatched", "fuzzy")
        for v in t[c]
    )
    addresses = pd.read_csv(DEMO / "students.csv", dtype=str, keep_default_na=False)["address"]
    shown = " ".join(str(e.value) for e in (*at.markdown, *at.caption))
    assert not any(a in shown for a in addresses if len(a) > 8)
