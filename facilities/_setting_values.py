"""Readers of ``city.toml`` values: each returns the typed value or raises :class:`Bad` (message, fix).

Quantities take an explicit unit where a number alone would be ambiguous (``"250 m"``, ``"60 min"``);
times read as seconds after midnight; grades as the canonical integers of :mod:`facilities.schema`.
Used by :mod:`facilities.settings`, which holds the schema.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import numpy as np

from facilities._validate import parse_grades, parse_time

_METRES = {
    "m": 1.0,
    "metre": 1.0,
    "metres": 1.0,
    "meter": 1.0,
    "meters": 1.0,
    "km": 1000.0,
    "ft": 0.3048,
    "feet": 0.3048,
    "mi": 1609.344,
    "mile": 1609.344,
    "miles": 1609.344,
}
_SECONDS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_QUANTITY = re.compile(r"\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*([a-zA-Z]*)\s*")


class Bad(ValueError):
    """A bad value: its message and the fix."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


# --- value readers: each returns the typed value or raises Bad ---------------------------------


def number(
    value: object,
    key: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    example: str = "100",
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Bad(f"{value!r} is not a number", f"write {key} = {example} (a number, without quotes)")
    number = float(value)
    if not math.isfinite(number) or (integer and not number.is_integer()):
        raise Bad(f"{value!r} is not a {'whole ' if integer else ''}number", f"write {key} = {example}")
    if minimum is not None and number < minimum:
        raise Bad(f"{value!r} is below {minimum:g}", f"write a value of at least {minimum:g}")
    if maximum is not None and number > maximum:
        raise Bad(f"{value!r} is above {maximum:g}", f"write a value of at most {maximum:g}")
    return int(number) if integer else number


def quantity(value: object, key: str, units: Mapping[str, float], *, base: str, example: str) -> float:
    """A number in ``base`` units, or a string with an explicit unit (``"250 m"``, ``"60 min"``)."""
    if isinstance(value, str):
        match = _QUANTITY.fullmatch(value)
        unit = match.group(2).lower() if match else ""
        if not match or unit not in units:
            raise Bad(
                f"{value!r} is not a {'distance' if base == 'm' else 'duration'}",
                f'write {key} = {example} ({base}), or a number with its unit, e.g. "{example} {base}"; '
                f"units: {', '.join(sorted({u for u in units if len(u) <= 3}))}",
            )
        value = float(match.group(1)) * units[unit]
    amount = number(value, key, minimum=0.0, example=example)
    if amount <= 0:
        raise Bad(f"{key} must be more than 0", f"write {key} = {example}")
    return amount


def metres(example: str) -> Callable[[object, str], float]:
    return lambda value, key: quantity(value, key, _METRES, base="m", example=example)


def seconds(example: str) -> Callable[[object, str], float]:
    return lambda value, key: quantity(value, key, _SECONDS, base="s", example=example)


def money(example: str) -> Callable[[object, str], float]:
    def read(value: object, key: str) -> float:
        if isinstance(value, str):
            text = value.replace("$", "").replace(",", "").strip()
            try:
                value = float(text)
            except ValueError:
                raise Bad(f"{value!r} is not an amount of dollars", f"write {key} = {example}") from None
        return number(value, key, minimum=0.0, example=example)

    return read


def text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise Bad(f"{value!r} is not text", f'write {key} = "..." (in double quotes)')
    return value


def flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise Bad(f"{value!r} is not true or false", f"write {key} = true (or false), without quotes")
    return value


_YES = {"true", "yes", "y", "t", "1"}
_NO = {"false", "no", "n", "f", "0"}


def boolean(value: object, key: str) -> bool:
    """A yes/no value as a file or a table writes it: ``true``/``false``, ``yes``/``no``, ``1``/``0``
    (any case, as text or as a value); anything else (``"maybe"``, ``2``) is :class:`Bad`, never true."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _YES or text in _NO:
        return text in _YES
    raise Bad(f"{value!r} is not true or false", f"write {key} as true or false (or yes / no)")


def clock(value: object, key: str) -> float:
    try:
        return parse_time(value)
    except (ValueError, TypeError):
        raise Bad(
            f"{value!r} is not a time of day", f'write {key} = "08:30" (24-hour HH:MM, in quotes)'
        ) from None


def clocks(value: object, key: str) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise Bad(f"{value!r} is not a list of times", f'write {key} = ["07:30", "08:30"]')
    bad = [t for t in value if not is_clock(t)]
    if bad:
        raise Bad(
            f"{bad[0]!r} is not a time of day", f'write {key} = ["07:30", "08:30"] (24-hour HH:MM, in quotes)'
        )
    return tuple(parse_time(t) for t in value)


def is_clock(value: object) -> bool:
    try:
        parse_time(value)
    except (ValueError, TypeError):
        return False
    return True


def grades(value: object, key: str) -> tuple[int, ...]:
    try:
        return parse_grades(value)
    except (ValueError, TypeError) as err:
        raise Bad(str(err), f'write {key} = "K-5" (or "6-8", "PK,K,1")') from None


def numbers(example: str) -> Callable[[object, str], tuple[float, ...]]:
    def read(value: object, key: str) -> tuple[float, ...]:
        if not isinstance(value, list) or any(
            isinstance(x, bool) or not isinstance(x, (int, float)) for x in value
        ):
            raise Bad(f"{value!r} is not a list of numbers", f"write {key} = {example}")
        return tuple(float(x) for x in value)

    return read


def names(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(x, (str, int)) for x in value):
        raise Bad(f"{value!r} is not a list of names", f'write {key} = ["A", "B"]')
    return tuple(str(x) for x in value)


def band(value: object, key: str) -> tuple[float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in value)
    ):
        raise Bad(f"{value!r} is not two numbers", f"write {key} = [0.85, 1.0] (low and high utilization)")
    low, high = float(value[0]), float(value[1])
    if not 0 < low <= high:
        raise Bad(f"{value!r} must be low then high, both above 0", f"write {key} = [0.85, 1.0]")
    return low, high


def bbox(value: object, key: str) -> tuple[float, float, float, float]:
    given = numbers("[-71.19, 42.23, -70.99, 42.40]")(value, key)
    if len(given) != 4:
        raise Bad(f"{value!r} is not four numbers", f"write {key} = [west, south, east, north] in degrees")
    west, south, east, north = given
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise Bad(
            f"{value!r} is not west, south, east, north in degrees",
            f"write {key} = [-71.19, 42.23, -70.99, 42.40]",
        )
    return west, south, east, north


def choice(*allowed: str) -> Callable[[object, str], str]:
    def read(value: object, key: str) -> str:
        if value not in allowed:
            raise Bad(f"{value!r} is not one of {', '.join(allowed)}", f'write {key} = "{allowed[0]}"')
        return str(value)

    return read


def anything(value: object, key: str) -> object:
    return value
