"""The app in a real browser: Playwright drives Debian's chromium (installed by .ci/run with apt-get).

Starts ``streamlit run app/streamlit_app.py`` on a free local port, opens every page, checks that
it shows no exception and that map pages draw their map canvas, and saves a screenshot of each
page under ``out/browser/``. Skips, saying why, when chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import CITIES, DEMO, ROOT, SHARED

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = ROOT / "out" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Pages: url path ("" is the default page), screenshot name, the button that runs the page's
#: analysis (None: nothing to run), and a heading the result shows.
PAGES = [
    ("", "city", None, None),
    ("facilities", "facilities", "Run the match", "The match"),
    ("bells", "bells", "Run the scenarios", "Side by side"),
    ("zones", "zones", "Run the lottery", "The lottery's outcomes"),
]


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("no chromium found (CI installs Debian's chromium with apt-get in .ci/run)")


def _city() -> Path:
    if (DEMO / "city.toml").exists():
        return DEMO
    if SHARED.exists():
        return CITIES / "boston"
    pytest.skip("no city to show: data/demo is not generated and ../shared/data is absent")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = {**os.environ, "COMPACT_CITY": str(_city())}
    command = [
        sys.executable, "-m", "streamlit", "run", "app/streamlit_app.py",
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
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


def _settle(page) -> None:
    """Wait until the app has finished running its script."""
    page.wait_for_selector("[data-testid='stApp']", timeout=60_000)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget'] [data-testid='stStatusWidgetRunningIcon']\")"
        " && !document.querySelector(\"[data-testid='stSkeleton']\")",
        timeout=180_000,
    )


@pytest.mark.parametrize(("path", "name", "button", "result"), PAGES)
def test_page_in_browser(browser, app_url, path, name, button, result):
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    try:
        page.goto(f"{app_url}/{path}", wait_until="domcontentloaded", timeout=60_000)
        page.wait_for_selector("h1", timeout=180_000)
        _settle(page)
        if button:
            if path == "bells":
                page.get_by_label("Morning only").check(force=True)
                _settle(page)
            page.get_by_role("button", name=button).click()
            page.get_by_role("heading", name=result).wait_for(timeout=300_000)
            _settle(page)
        page.wait_for_selector("[data-testid='stDeckGlJsonChart'] canvas", timeout=180_000)
        page.wait_for_timeout(2000)  # let deck.gl paint before the screenshot
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        assert page.locator("[data-testid='stException']").count() == 0, page.locator("[data-testid='stException']").first.inner_text()
        assert "Page not found" not in page.content()
        box = page.locator("[data-testid='stDeckGlJsonChart'] canvas").first.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 300
    finally:
        page.close()
