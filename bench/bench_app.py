"""The Streamlit app in a real browser on the demo city: page loads, control changes and solves.

Starts the app as ``make app`` does (``streamlit run app/streamlit_app.py``, its config file) on a
free local port and drives Debian's chromium with Playwright, as a person would: through the
sidebar, the controls and the buttons. Each step is timed from the action (for a picker: the choice
made, Enter, once its option is typed) until the app has finished its run (``stApp``'s script
state), nothing is loading and every map is drawn: a Chrome trace of each step, kept 3 s longer,
tells when the GPU process finished drawing maps (deck.gl compiles and draws after the page says it
is done) and the seconds it spent on it (WebGL). Each solve is set beside a reference measured in
the same run: the same library call from Python.

Targets (2-core machine): a control change that needs no solve redraws in under 1 s; a page
switch in under 2 s; a rerun with unchanged inputs never solves again (the tests count the
library's calls; here the rerun's time is set beside the solve's).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
CHROMIUM = "/usr/bin/chromium"
_SETTLED = (
    "() => { const app = document.querySelector(\"[data-testid='stApp']\");"
    " const state = app && app.getAttribute('data-test-script-state');"
    " return state && !['running', 'rerunRequested', 'initial'].includes(state)"
    " && !document.querySelector(\"[data-testid='stSkeleton']\")"
    " && [...document.querySelectorAll(\"[data-testid='stDeckGlJsonChart']\")]"
    ".every(m => m.querySelector('canvas')); }"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "COMPACT_CITY"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    server = subprocess.Popen(
        [
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
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("streamlit did not start within 120 s")


_QUIET_MS = 3000
# two frames, then each map's WebGL context finished (the GPU process has drawn what it was sent)
_DRAWN = (
    "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {"
    " for (const c of document.querySelectorAll(\"[data-testid='stDeckGlJsonChart'] canvas\")) {"
    " const gl = c.getContext('webgl2') || c.getContext('webgl'); if (gl) gl.finish(); }"
    " done(); })))"
)


class _Timer:
    """Times browser actions until the app has settled and the page is drawn, and how much of that
    the browser's GPU process spent drawing maps (WebGL, from a Chrome trace of the step)."""

    def __init__(self, page, browser=None, trace: Path | None = None) -> None:
        self.page, self.browser, self.trace = page, browser, trace
        self.rows: list[tuple[str, str, float, float | None, str, float | None]] = []

    def settle(self) -> None:
        self.page.wait_for_timeout(150)
        self.page.wait_for_function(_SETTLED, timeout=600_000)
        self.page.evaluate(_DRAWN)  # the maps' WebGL drawing is done too

    def step(
        self,
        kind: str,
        what: str,
        action,
        *,
        reference: float | None = None,
        target: str = "",
        prepare=None,
    ) -> float:
        """Time ``action`` (after ``prepare``, untimed: e.g. typing an option's name into a picker)."""
        if prepare is not None:
            prepare()
        tracing = self.browser is not None and self.trace is not None
        if tracing:
            self.browser.start_tracing(page=self.page, path=str(self.trace), categories=["gpu"])
        t0 = time.perf_counter()
        action()
        self.settle()
        seconds = time.perf_counter() - t0 - 0.15
        webgl = None
        if tracing:
            # deck.gl compiles its shaders and draws asynchronously, after the page reports it is done:
            # the trace, kept a while longer, tells when the GPU process finished drawing
            self.page.wait_for_timeout(_QUIET_MS)
            self.browser.stop_tracing()
            webgl, drawn = _webgl_seconds(self.trace)
            seconds = max(seconds, drawn)
        self.rows.append((kind, what, seconds, reference, target, webgl))
        gl = f" (WebGL {webgl:5.2f} s)" if webgl is not None else ""
        print(f"  {kind:<15} {what:<48} {seconds:7.2f} s{gl}", flush=True)
        return seconds


def _webgl_seconds(trace: Path) -> tuple[float, float]:
    """Seconds the GPU process spent on WebGL commands (the maps drawn in software) in a trace, and
    when (seconds after the trace began) the last of them ended."""
    import json

    events = json.loads(trace.read_text(encoding="utf-8"))
    events = events["traceEvents"] if isinstance(events, dict) else events
    timed = [e for e in events if e.get("ph") == "X" and e.get("ts")]
    webgl = [e for e in timed if e.get("name") == "WebGL"]
    if not webgl:
        return 0.0, 0.0
    start = min(e["ts"] for e in timed)
    end = max(e["ts"] + e.get("dur", 0) for e in webgl)
    return sum(e.get("dur", 0) for e in webgl) / 1e6, (end - start) / 1e6


def _references(quick: bool) -> dict[str, float]:
    """The library calls behind the page's solves, timed in this process."""
    from app._common import travel_for
    from facilities import read_city
    from facilities.enrollment import run_lottery
    from facilities.matching import MatchData, solve
    from facilities.zones import ZoneData, ZonePlan, configured_zones, greedy_zones
    from facilities.zones import design as make
    from routing.scenarios import compare

    city = read_city(DEMO)
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    solve(MatchData.from_city(city), time_limit=10.0, seed=0)
    out["match"] = time.perf_counter() - t0
    zones = configured_zones(city)
    t0 = time.perf_counter()
    run_lottery(city, zones=zones, guarantee=True, seed=0, grades=[6])
    run_lottery(city, zones=None, guarantee=False, seed=0, grades=[6])
    out["lottery"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = ZoneData.from_city(city, travel=travel_for(city)[0])
    options = {"min_schools": 2, "max_schools": 8, "grades": tuple(range(6))}
    ZonePlan.from_labels(data, data.unit_ids, grades=options["grades"])
    greedy_zones(data, **options)
    make(data, time_limit=1.0, seed=0, **options)
    out["design"] = time.perf_counter() - t0
    if not quick:
        t0 = time.perf_counter()
        compare(city, time_limit=4.0, seed=0, sessions=("am",))
        out["bells"] = time.perf_counter() - t0
    out.update(_scripts())
    return out


def _scripts() -> dict[str, float]:
    """Seconds the server spends rerunning each page (no browser): ``AppTest``, warm caches."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app" / "streamlit_app.py"), default_timeout=600)
    at.run()
    out = {}
    for name, path in (
        ("City", "views/city.py"),
        ("Facilities", "views/facilities.py"),
        ("Enrollment zones", "views/zones.py"),
    ):
        at.switch_page(path).run()
        t0 = time.perf_counter()
        at.run()
        out[f"script {name}"] = time.perf_counter() - t0
    return out


def run(quick: bool = False) -> None:
    """Print the table: each step's seconds in the browser, the library's seconds, and the target."""
    from playwright.sync_api import sync_playwright

    if not (DEMO / "city.toml").exists() or not Path(CHROMIUM).exists():
        print("bench app needs data/demo and Debian's chromium at /usr/bin/chromium; skipped")
        return
    print("references (the same library calls from Python)…", flush=True)
    refs = _references(quick)
    server, url = _serve()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
            )
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            timer = _Timer(page, browser, Path(tempfile.mkdtemp(prefix="bench-app-")) / "trace.json")

            def nav(link: str, heading: str | None = None):
                return lambda: (
                    page.locator("[data-testid='stSidebarNav'] a", has_text=link).first.click(),
                    page.get_by_role("heading", name=heading or link, exact=True).wait_for(timeout=600_000),
                )

            def pick(label: str, option: str) -> dict:
                """A picker's choice: the box opened and the option typed (untimed), then Enter (timed:
                the redraw starts when the user makes the choice)."""

                def typed() -> None:
                    box = page.get_by_role("combobox", name=label, exact=True)
                    box.click()
                    box.fill(option)
                    page.get_by_role("option", name=option, exact=True).first.wait_for(timeout=30_000)

                def chosen() -> None:
                    page.keyboard.press("Enter")
                    page.keyboard.press("Escape")

                return {"prepare": typed, "action": chosen}

            timer.step(
                "first load",
                "City (the app opens)",
                lambda: (page.goto(url), page.wait_for_selector("h1", timeout=600_000)),
            )
            timer.step(
                "control change",
                "City: streets off (a map layer)",
                lambda: page.get_by_role("button", name="Streets").click(),
                target="< 1 s",
            )
            timer.step("first load", "Facilities", nav("Facilities"))
            timer.step(
                "solve",
                "Facilities: Run the match (10 s limit)",
                lambda: page.get_by_role("button", name="Run the match").click(),
                reference=refs["match"],
            )
            timer.step(
                "control change",
                "Facilities: sites for high school",
                **pick("For students of", "high (9-12)"),
                target="< 1 s",
            )
            timer.step("first load", "Enrollment zones", nav("Enrollment zones"))
            timer.step(
                "solve",
                "Zones: Run the lottery (with and without the zone)",
                lambda: page.get_by_role("button", name="Run the lottery").click(),
                reference=refs["lottery"],
            )
            timer.step(
                "control change",
                "Zones: shade by matched",
                lambda: page.get_by_text("Lottery: matched").click(),
                target="< 1 s",
            )
            timer.step(
                "solve",
                "Zones: Design zones (K-5, 5 s limit)",
                lambda: page.get_by_role("button", name="Design zones").click(),
                reference=refs["design"],
            )
            timer.step(
                "page switch",
                "to City (seen before)",
                nav("City", "Riverton (demo)"),
                target="< 2 s",
                reference=refs["script City"],
            )
            timer.step(
                "page switch",
                "to Facilities (seen before)",
                nav("Facilities"),
                target="< 2 s",
                reference=refs["script Facilities"],
            )
            timer.step(
                "page switch",
                "to Enrollment zones (seen before)",
                nav("Enrollment zones"),
                target="< 2 s",
                reference=refs["script Enrollment zones"],
            )
            timer.step("first load", "Bell times", nav("Bell times"))
            if not quick:
                page.get_by_label("Morning only").check(force=True)
                timer.settle()
                page.get_by_role("slider", name="Time limit (seconds in all)").focus()
                page.keyboard.press("Home")
                timer.settle()
                timer.step(
                    "solve",
                    "Bells: Run the scenarios (AM, 4 s)",
                    lambda: page.get_by_role("button", name="Run the scenarios").click(),
                    reference=refs["bells"],
                )
                timer.step(
                    "control change",
                    "Bells: map scenario optimized",
                    **pick("Scenario", "optimized"),
                    target="< 1 s",
                )
                timer.step(
                    "control change",
                    "Bells: a bus's day (bus 1)",
                    **pick("A bus's day (or click a run)", "bus 1"),
                    target="< 1 s",
                )
                timer.step(
                    "rerun",
                    "Bells: rerun, same inputs (no solve)",
                    lambda: (page.locator("h1").first.click(), page.keyboard.press("r")),
                    target="no solve",
                )
                timer.step(
                    "page switch",
                    "to City (after the bell-time results)",
                    nav("City", "Riverton (demo)"),
                    target="< 2 s",
                )
                timer.step(
                    "page switch",
                    "back to Bell times (its results kept)",
                    nav("Bell times"),
                    target="< 2 s",
                )
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print()
    print(
        "Reference: for a solve, the same library call from Python; for a page switch, the page's script "
        "rerun alone"
    )
    print(
        "(no browser, streamlit.testing AppTest). The rest of a step's time is the browser drawing the page."
    )
    print("WebGL: seconds the browser's GPU process spent drawing maps (software WebGL, no graphics card).")
    print("| step | what | browser (s) | of it WebGL (s) | reference (s) | target |")
    print("|---|---|---:|---:|---:|---|")
    for kind, what, seconds, reference, target, webgl in timer.rows:
        ref = f"{reference:.2f}" if reference is not None else ""
        gl = f"{webgl:.2f}" if webgl is not None else ""
        print(f"| {kind} | {what} | {seconds:.2f} | {gl} | {ref} | {target} |")
