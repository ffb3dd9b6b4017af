"""The app in a real browser, as its three users use it (Playwright + Debian's chromium).

The server starts as ``make app`` starts it (``streamlit run app/streamlit_app.py`` from the
project folder, so ``.streamlit/config.toml`` applies) on a free local port. Each visit goes
through the sidebar as a person would, changes controls, and checks the numbers the page shows
against the library's answer for the same inputs. Every request the browser makes is recorded
(pages, scripts, workers): none may leave 127.0.0.1, and none is let through if it tries. No
exception box and no console error may appear. Screenshots land in ``out/browser/``. Skips, saying
why, when chromium, Playwright or the demo city is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import DEMO, ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = ROOT / "out" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL = {"127.0.0.1", "localhost"}
#: Seconds a page may take to settle after a control change (solves are short: small time limits).
SETTLE_MS = 240_000


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("no chromium found (CI installs Debian's chromium with apt-get in .ci/run)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo():
    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    from facilities import read_city

    return read_city(DEMO)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, demo):
    """The app served as ``make app`` serves it (its config file, no extra flags but a port)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = {k: v for k, v in os.environ.items() if k != "COMPACT_CITY" and not k.startswith("STREAMLIT_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app/streamlit_app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


class Visit:
    """One user's browser tab: records every request and console error, and reads what the page shows."""

    def __init__(self, browser, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1440, "height": 900})
        self.context.route(
            "**/*", self._route
        )  # sees workers' requests too (a map style fetched by a worker)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route) -> None:
        self.requests.append(route.request.url)
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL:
            route.continue_()
        else:
            route.abort()  # recorded, never sent

    def open(self) -> None:
        self.page.goto(self.url, wait_until="domcontentloaded", timeout=60_000)
        self.page.wait_for_selector("h1", timeout=120_000)
        self.settle()

    def settle(self) -> None:
        """Wait until the app has finished its run (``stApp``'s script state, and no skeleton left)."""
        self.page.wait_for_timeout(400)
        self.page.wait_for_function(
            "() => { const app = document.querySelector(\"[data-testid='stApp']\");"
            " const state = app && app.getAttribute('data-test-script-state');"
            " return state && !['running', 'rerunRequested', 'initial'].includes(state)"
            " && !document.querySelector(\"[data-testid='stSkeleton']\"); }",
            timeout=SETTLE_MS,
        )

    def go(self, title: str) -> None:
        """Switch page through the sidebar, as a person does."""
        self.page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
        self.page.get_by_role("heading", name=title, exact=True).wait_for(timeout=120_000)
        self.settle()

    def metrics(self) -> dict[str, list[str]]:
        """Every metric on the page: label -> values, in page order."""
        pairs = self.page.evaluate(
            """() => [...document.querySelectorAll("[data-testid='stMetric']")].map(m => [
                (m.querySelector("[data-testid='stMetricLabel']") || {innerText: ""}).innerText.trim(),
                (m.querySelector("[data-testid='stMetricValue']") || {innerText: ""}).innerText.trim()])"""
        )
        out: dict[str, list[str]] = {}
        for label, value in pairs:
            out.setdefault(label, []).append(value)
        return out

    def press(self, button: str) -> None:
        self.page.get_by_role("button", name=button).click()
        self.settle()

    def slider_to_min(self, label: str) -> None:
        """Move a slider to its smallest value (keyboard: Home), as a person in a hurry does."""
        self.page.get_by_role("slider", name=label).focus()
        self.page.keyboard.press("Home")
        self.settle()

    def pick(self, label: str, option: str) -> None:
        """Add ``option`` to a multiselect or choose it in a selectbox."""
        box = self.page.get_by_role("combobox", name=label, exact=True)
        box.click()
        box.fill(option)
        self.page.get_by_role("option", name=option, exact=True).first.wait_for(timeout=30_000)
        self.page.keyboard.press("Enter")
        self.page.keyboard.press("Escape")
        self.settle()

    def check(self) -> None:
        """No exception box, no console error, no request to any other host."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{self.name}.png"), full_page=True)
        boxes = self.page.locator("[data-testid='stException']")
        assert boxes.count() == 0, boxes.first.inner_text()
        assert not self.cut_labels(), f"labels cut off at 1440x900: {self.cut_labels()}"
        assert not self.errors, self.errors
        outside = sorted(
            {
                u
                for u in self.requests
                if not u.startswith(("data:", "blob:")) and urlparse(u).hostname not in LOCAL
            }
        )
        assert not outside, f"requests left the machine: {outside}"

    def cut_labels(self) -> list[str]:
        """Metric labels and values, widget labels and tab names the page shows cut off (ellipsis)."""
        return self.page.evaluate(
            """() => [...document.querySelectorAll(
                "[data-testid='stMetricLabel'], [data-testid='stMetricValue'], "
                + "[data-testid='stWidgetLabel'], "
                + "button[role='tab']")]
              .flatMap(root => [root, ...root.querySelectorAll('*')])
              .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== 'visible')
              .map(e => e.innerText.trim())"""
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, app_url, request):
    v = Visit(browser, app_url, request.node.name)
    yield v
    v.close()


def test_facility_planner_visit(visit, demo):
    """City map, then Facilities: the needs and the match against the library, a what-if on the page."""
    from facilities.matching import MatchData, solve

    visit.open()
    shown = visit.metrics()
    assert shown["Schools"] == [f"{len(demo.schools):,}"] and shown["Students"] == [f"{len(demo.students):,}"]
    visit.page.wait_for_selector("[data-testid='stDeckGlJsonChart'] canvas", timeout=60_000)
    visit.go("Facilities")
    shown = visit.metrics()
    assert shown.get("Space needs") == [f"{len(demo.needs):,}"], shown
    visit.press("Run the match")  # the default 10 s: the demo's match is proven optimal well within it
    visit.page.get_by_role("heading", name="The match").wait_for(timeout=SETTLE_MS)
    result = solve(MatchData.from_city(demo), time_limit=10.0, seed=0)
    assert result.status.lower() == "optimal", (
        "the reference must be proven, or it could differ from the page's"
    )
    shown = visit.metrics()
    assert shown["Needs housed"] == [f"{len(result.assignments)} of {len(demo.needs)}"]
    assert shown["Whole buildings"] == [f"{int((result.assignments['mode'] == 'whole').sum())}"]
    # a what-if without leaving the page: one more need
    visit.page.get_by_text("What if: withdraw buildings, add a space need").click()
    field = visit.page.get_by_label("Name (empty: none)")
    field.fill("Riverside Middle (what-if)")
    field.press("Enter")
    visit.settle()
    assert visit.metrics()["Space needs"] == [f"{len(demo.needs) + 1:,}"]
    visit.page.get_by_text("What-if: 0 buildings withdrawn, 1 need added").wait_for(timeout=30_000)
    visit.check()


def test_transportation_director_visit(visit, demo):
    """Bell times, morning only, shortest limit: the cards are the library's compare for the same inputs."""
    from routing.scenarios import compare

    visit.open()
    visit.go("Bell times")
    visit.page.get_by_label("Morning only").check(force=True)
    visit.settle()
    visit.slider_to_min("Time limit (seconds in all)")
    visit.press("Run the scenarios")
    visit.page.get_by_role("heading", name="Side by side").wait_for(timeout=SETTLE_MS)
    expected = compare(demo, time_limit=4.0, seed=0, sessions=("am",)).summary()
    shown = visit.metrics()
    assert shown["Buses"] == [f"{int(b):,}" for b in expected["buses"]]
    assert shown["Miles a day"] == [f"{m:,.0f}" for m in expected["miles_per_day"]]
    assert shown["Driver hours a day"] == [f"{h:,.1f}" for h in expected["driver_hours_per_day"]]
    caption = visit.page.get_by_text(re.compile(r"AM: [\d,]+ runs on")).inner_text()
    assert f"{int(expected['buses'].iloc[0]):,} buses for the day" in caption
    # a control change that needs no solve: another scenario on the map, then one bus's day
    visit.pick("Scenario", "optimized")
    caption = visit.page.get_by_text(re.compile(r"AM: [\d,]+ runs on")).inner_text()
    assert f"{int(expected['buses'].iloc[-1]):,} buses for the day" in caption
    visit.pick("A bus's day (or click a run)", "bus 1")
    visit.page.get_by_text("Bus 1's AM day").wait_for(timeout=30_000)
    assert not visit.page.get_by_text(re.compile(r"stop for .*\((door-to-door|wheelchair)\)")).count()
    visit.check()


def test_superintendent_visit(visit, demo):
    """Enrollment zones: the zone's schools and seats, and the lottery, as the library gives them."""
    from facilities.enrollment import run_lottery
    from facilities.zones import (
        configured_grades,
        configured_zones,
        coverage,
        shared_zone,
    )

    visit.open()
    visit.go("Enrollment zones")
    zones = configured_zones(demo)
    cov = coverage(demo, zones, grades=configured_grades(demo)).summary()
    shown = visit.metrics()
    assert shown["Its schools"] == [f"{len(zones['schools'].iloc[0]):,}"]
    assert shown["Seats"] == [f"{cov['seats']:,}"] and shown["Residents"] == [f"{cov['residents']:,}"]
    visit.press("Run the lottery")
    visit.page.get_by_role("heading", name="The lottery's outcomes").wait_for(timeout=SETTLE_MS)
    run = run_lottery(demo, zones=zones, guarantee=True, seed=0, grades=[6]).summary()
    shown = visit.metrics()
    assert shown["Applicants"] == [f"{run['students']:,}"]
    assert shown["First choice"] == [f"{run['first_choice_share']:.0%}"]
    assert shown["Placed by the guarantee"] == [f"{run['guarantee']:,}"]
    # zone design: its plans on the page's one map (a second map is a second WebGL context)
    visit.slider_to_min("Time limit (s)")
    visit.press("Design zones")
    visit.page.get_by_text("The plans are drawn on the map above").wait_for(timeout=SETTLE_MS)
    maps = visit.page.locator("[data-testid='stDeckGlJsonChart']")
    assert maps.count() == 1 and maps.locator("canvas").count() >= 1
    assert visit.page.get_by_role("radio", name="Designed zones").is_checked()
    # build a zone: its schools follow the neighborhoods
    visit.page.get_by_text("Build a shared zone from neighborhoods").click()
    visit.settle()
    visit.pick("Neighborhoods in the shared zone", "Cedar Grove")
    picked = visit.page.get_by_role("combobox", name="Neighborhoods in the shared zone").locator(
        "xpath=ancestor::div[@data-testid='stMultiSelect']"
    )
    names = [
        n
        for n in demo.zones[demo.zones["kind"] == "neighborhood"]["name"]
        if picked.get_by_text(n, exact=True).count()
    ]
    zone = shared_zone(demo, units=names)
    assert visit.metrics()["Its schools"] == [f"{len(zone['schools'].iloc[0]):,}"]
    visit.check()
