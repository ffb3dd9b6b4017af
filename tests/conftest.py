"""Shared fixtures: the real public data in ../shared/data (skipped when absent) and small cities."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DEMO = ROOT / "data" / "demo"
CITIES = ROOT / "tests" / "cities"


def shared_path(*parts: str) -> Path:
    """A path in ../shared/data, skipping the test (saying why) when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"needs the shared real data at {path} (absent: ../shared/data sits beside the project in CI)"
        )
    return path


@pytest.fixture
def shared() -> Path:
    """The ../shared/data folder; skips when absent."""
    return shared_path()


@pytest.fixture(scope="session")
def demo_city():
    """The embedded demo city, loaded once per session."""
    from facilities import read_city

    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    return read_city(DEMO)
