"""Online geocoders, for users who have the network: the US Census batch geocoder and Nominatim.

They follow the same :class:`~facilities.geocode.match.Geocoder` interface as the address points,
and are used only when ``city.toml`` allows network use explicitly::

    [geocode]
    online = "census"        # or "nominatim": tried for the addresses the address points don't match
    allow_network = true     # without it, nothing leaves the machine
    city = "Boston"          # added to each query
    state = "MA"
    user_agent = "my-district-transportation"   # Nominatim's usage policy asks for one

Every answer is kept in a cache inside the city folder (``cache/geocode.sqlite``), so an address is
sent at most once; the points are private and never leave that folder. Requests are rate limited:
Nominatim at most one a second (its usage policy), the Census batch in chunks of at most 10,000
addresses with a pause between them. The transport is a parameter, so tests pass a fake one and
never touch the network.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from facilities.geocode.match import Match, unmatched
from facilities.geocode.normalize import Address

__all__ = ["Cache", "CensusBatch", "Nominatim", "format_address"]

CENSUS_URL = "https://geocoding.geo.census.gov/geocoder/locations/addressbatch"
#: The Census batch service takes at most this many addresses a request.
CENSUS_CHUNK = 10_000


def format_address(address: Address, *, city: str = "", state: str = "") -> str:
    """One line for a query: ``'12 ADAMS AVE, BOSTON, MA 02120'`` (the address's own city and state win)."""
    street = (
        f"{address.number}{address.number_suffix} {address.street}"
        if address.number is not None
        else address.street
    )
    place = ", ".join(
        p for p in (address.city or city, f"{address.state or state} {address.zip}".strip()) if p
    )
    return f"{street}, {place}" if place else street


class Cache:
    """Answers of online geocoders, kept in ``cache/geocode.sqlite`` inside the city folder.

    Parameters
    ----------
    path
        The SQLite file (created with its folder when first written).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path)
        con.execute(
            "CREATE TABLE IF NOT EXISTS answers (service TEXT, query TEXT, kind TEXT, score REAL,"
            " lon REAL, lat REAL,"
            " matched TEXT, reason TEXT, PRIMARY KEY (service, query))"
        )
        return con

    def get(self, service: str, queries: Sequence[str]) -> dict[str, Match]:
        """The cached answers of ``service`` for ``queries`` (those it has)."""
        if not self.path.exists() or not queries:
            return {}
        with self._connect() as con:
            found = {}
            for query in dict.fromkeys(queries):
                row = con.execute(
                    "SELECT kind, score, lon, lat, matched, reason FROM answers WHERE service=? AND query=?",
                    (service, query),
                ).fetchone()
                if row is not None:
                    lon = float("nan") if row[2] is None else row[2]
                    lat = float("nan") if row[3] is None else row[3]
                    found[query] = Match(row[0], row[1], lon, lat, row[4], row[5], service)
        return found

    def put(self, service: str, answers: dict[str, Match]) -> None:
        """Keep ``answers`` (query -> match) of ``service``."""
        if not answers:
            return
        with self._connect() as con:
            con.executemany(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        service,
                        q,
                        m.kind,
                        m.score,
                        None if m.lon != m.lon else m.lon,
                        None if m.lat != m.lat else m.lat,
                        m.matched,
                        m.reason,
                    )
                    for q, m in answers.items()
                ],
            )


def _multipart_post(
    url: str, fields: dict[str, str], file_name: str, content: bytes, *, timeout: float = 600.0
) -> str:
    """POST a form with one file (what the Census batch service takes); the default transport."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in fields.items():
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    body.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="addressFile"; '
        f'filename="{file_name}"\r\n'.encode()
    )
    body.write(b"Content-Type: text/csv\r\n\r\n" + content + f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(
        url, data=body.getvalue(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode("utf-8", errors="replace")


class CensusBatch:
    """The US Census Bureau's batch geocoder (``geocoding.geo.census.gov``), behind the common interface.

    Parameters
    ----------
    cache
        Where answers are kept; ``None`` keeps nothing.
    city, state
        Added to addresses that name none.
    post
        ``post(url, fields, file_name, content) -> response text``; the default sends it over HTTPS.
        Tests pass a fake.
    pause
        Seconds between two batches (rate limit).
    sleep
        How to wait (tests pass a recorder).
    benchmark
        The Census address benchmark.
    """

    name = "census"

    def __init__(
        self,
        *,
        cache: Cache | None = None,
        city: str = "",
        state: str = "",
        post: Callable[..., str] | None = None,
        pause: float = 2.0,
        sleep: Callable[[float], Any] = time.sleep,
        benchmark: str = "Public_AR_Current",
    ) -> None:
        self.cache, self.city, self.state = cache, city, state
        self._post = post or _multipart_post
        self.pause, self._sleep, self.benchmark = pause, sleep, benchmark

    def geocode(self, addresses: Sequence[Address]) -> list[Match]:
        """Place each address; cached answers are reused, the others sent in batches."""
        queries = [format_address(a, city=self.city, state=self.state) for a in addresses]
        known = self.cache.get(self.name, queries) if self.cache else {}
        todo = [q for q in dict.fromkeys(queries) if q not in known]
        for start in range(0, len(todo), CENSUS_CHUNK):
            if start:
                self._sleep(self.pause)
            chunk = todo[start : start + CENSUS_CHUNK]
            answers = self._batch(
                chunk, [a for a, q in zip(addresses, queries, strict=True) if q in set(chunk)]
            )
            known.update(answers)
            if self.cache:
                self.cache.put(self.name, answers)
        return [
            known.get(q) or unmatched("no answer from the Census geocoder", source=self.name) for q in queries
        ]

    def _batch(self, queries: list[str], addresses: list[Address]) -> dict[str, Match]:
        by_query = {format_address(a, city=self.city, state=self.state): a for a in addresses}
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for k, query in enumerate(queries):
            a = by_query[query]
            street = f"{a.number}{a.number_suffix} {a.street}" if a.number is not None else a.street
            writer.writerow([k, street, a.city or self.city, a.state or self.state, a.zip])
        text = self._post(
            CENSUS_URL, {"benchmark": self.benchmark}, "addresses.csv", buffer.getvalue().encode()
        )
        out: dict[str, Match] = {}
        for row in csv.reader(io.StringIO(text)):
            if not row or not row[0].strip().isdigit() or int(row[0]) >= len(queries):
                continue
            query = queries[int(row[0])]
            status = row[2].strip() if len(row) > 2 else ""
            if status == "Match" and len(row) > 5 and "," in row[5]:
                lon, lat = (float(x) for x in row[5].split(","))
                exact = row[3].strip() == "Exact"
                out[query] = Match(
                    "exact" if exact else "fuzzy",
                    1.0 if exact else 0.8,
                    lon,
                    lat,
                    row[4],
                    "" if exact else "Census: non-exact match",
                    self.name,
                )
            elif status == "Tie":
                out[query] = unmatched("the Census geocoder found several places (tie)", source=self.name)
            else:
                out[query] = unmatched("the Census geocoder found no match", source=self.name)
        return out


class Nominatim:
    """OpenStreetMap's Nominatim through ``geopy``, rate limited to one request a second.

    Only a house-level answer counts: a street or a neighborhood (what Nominatim returns when it
    does not know the number) is ``unmatched``, since a wrong place is worse than none.

    Parameters
    ----------
    user_agent
        Who is asking (Nominatim's usage policy requires it).
    cache, city, state
        As for :class:`CensusBatch`.
    geocode
        ``geocode(query) -> location or None`` (a ``geopy`` Location: ``latitude``, ``longitude``,
        ``address``, ``raw``); default geopy's Nominatim behind its ``RateLimiter``. Tests pass a fake.
    min_delay_seconds
        Pause between requests.
    """

    name = "nominatim"

    def __init__(
        self,
        *,
        user_agent: str = "compact-planner",
        cache: Cache | None = None,
        city: str = "",
        state: str = "",
        geocode: Callable[[str], Any] | None = None,
        min_delay_seconds: float = 1.0,
    ) -> None:
        self.cache, self.city, self.state = cache, city, state
        if geocode is None:
            from geopy.extra.rate_limiter import RateLimiter
            from geopy.geocoders import Nominatim as GeopyNominatim

            service = GeopyNominatim(user_agent=user_agent, timeout=30)
            geocode = RateLimiter(
                service.geocode, min_delay_seconds=min_delay_seconds, max_retries=2, swallow_exceptions=False
            )
        self._geocode = geocode

    def geocode(self, addresses: Sequence[Address]) -> list[Match]:
        """Place each address, one request per address not in the cache."""
        queries = [format_address(a, city=self.city, state=self.state) for a in addresses]
        known = self.cache.get(self.name, queries) if self.cache else {}
        fresh: dict[str, Match] = {}
        for query in dict.fromkeys(queries):
            if query in known:
                continue
            location = self._geocode(query)
            fresh[query] = self._read(location)
        if self.cache:
            self.cache.put(self.name, fresh)
        known.update(fresh)
        return [known[q] for q in queries]

    def _read(self, location: Any) -> Match:
        if location is None:
            return unmatched("Nominatim found no match", source=self.name)
        raw = getattr(location, "raw", {}) or {}
        level = raw.get("addresstype") or raw.get("type", "")
        if level not in ("house", "building") or ("address" in raw and "house_number" not in raw["address"]):
            return unmatched(f"Nominatim found only a {level or 'place'}, not the house", source=self.name)
        return Match(
            "exact",
            0.9,
            float(location.longitude),
            float(location.latitude),
            str(getattr(location, "address", "")),
            "",
            self.name,
        )
