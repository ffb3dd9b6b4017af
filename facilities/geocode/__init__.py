"""Students as a district exports them: addresses to points, offline first, with a match report.

- :mod:`~facilities.geocode.normalize`: addresses in USPS Publication 28 form (the parser choice is
  explained there).
- :mod:`~facilities.geocode.local`: the offline geocoder on a city's own address points.
- :mod:`~facilities.geocode.online`: the US Census batch geocoder and Nominatim, behind the same
  interface, used only when ``city.toml`` allows the network.
- :mod:`~facilities.geocode.load`: placing the students layer when a city is read.
- :mod:`~facilities.geocode.report`: the match report.
- :mod:`~facilities.geocode.synthetic`: house numbers, address points and a noisy export for the demo city.

>>> from facilities.geocode import AddressPoints, parse
>>> AddressPoints(city.address_points).geocode([parse("12 Adams Ave Apt 2")])  # doctest: +SKIP
"""

from facilities.geocode.local import AddressPoints
from facilities.geocode.match import KINDS, Geocoder, Match
from facilities.geocode.normalize import Address, parse
from facilities.geocode.report import MIN_CELL, MatchReport

__all__ = ["KINDS", "MIN_CELL", "Address", "AddressPoints", "Geocoder", "Match", "MatchReport", "parse"]
