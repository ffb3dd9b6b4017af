"""Addresses for a generated city: house numbers, an address-point file, and a district's noisy export.

Used by :mod:`facilities.demo` to give Riverton addresses. Every candidate home beside a street
gets a house number the way American cities number them: the hundred of its block along the
street, odd numbers on one side and even on the other, rising along the block. A quarter of the
homes are triple-deckers (units 1-3, one address point per unit at the building's point).

The students' export then writes each student's true address as a student information system
would hold it, with the noise of hand-typed records (shares in :data:`NOISE`): abbreviations,
case and punctuation, units written four ways or left out, a typo in the street name, a home
built after the address-point file was made (so only a neighbouring number is on file), a
dropped street suffix, a ZIP left out or wrong, and a few rows that can match
nothing (a P.O. box, a shelter, an empty cell, a street that does not exist, a town elsewhere).
The file keeps each student's true coordinates beside the address: the truth tests and the bench
measure matches against.

All draws come from their own generator (seeded from the city's seed), so adding addresses
changes no other layer of the city.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["NOISE", "address_points", "house_numbers", "student_addresses", "zip_codes"]

#: Variants of a student's address line and their shares (the rest are written in full, cleanly).
NOISE: dict[str, float] = {
    "abbreviated": 0.30,
    "shouting": 0.06,
    "unit missing": 0.05,
    "typo": 0.04,
    "not on file": 0.012,
    "no suffix": 0.006,
    "nothing": 0.01,
}
_ABBR = {"Street": "St", "Avenue": "Ave", "Road": "Rd", "Terrace": "Ter", "Lane": "Ln", "Way": "Way"}
_ODD_ABBR = {"Street": "Str", "Avenue": "Av", "Road": "Rd.", "Terrace": "Terr", "Lane": "La", "Way": "Wy"}
_UNIT_FORMS = ("Apt {}", "#{}", "Unit {}", "Apt. {}")
_NOTHING = (
    "PO Box {n}",
    "",
    "Shelter - see office",
    "{n} Nonesuch Lane",
    "{n} Main Street, Springfield MA 01103",
)


def zip_codes(count: int) -> list[str]:
    """One ZIP code per neighborhood: ``02190``, ``02191``, ..."""
    return [f"02{190 + k:03d}" for k in range(count)]


def house_numbers(
    *, street: np.ndarray, block: np.ndarray, along: np.ndarray, left: np.ndarray
) -> np.ndarray:
    """House numbers of points beside streets.

    Parameters
    ----------
    street
        The street name of each point.
    block
        The block's index along its street (0 for the first block).
    along
        Position along the block, 0 to 1, in the direction numbers rise.
    left
        Whether the point is on the left of the street (odd numbers) or the right (even).

    Returns
    -------
    numpy.ndarray
        ``100 * block + 2 * rank + 1`` on the left, ``+ 2`` on the right, ``rank`` the point's
        order along its side of the block; unique per street.
    """
    frame = pd.DataFrame({"street": street, "block": block, "left": left, "along": along})
    rank = frame.groupby(["street", "block", "left"])["along"].rank(method="first").astype(int) - 1
    if rank.max() >= 49:
        raise ValueError("more than 49 homes on one side of a block: the hundred would overflow")
    return (100 * frame["block"] + 2 * rank + np.where(frame["left"], 1, 2)).to_numpy()


def address_points(
    *,
    number: np.ndarray,
    street: np.ndarray,
    zip_code: np.ndarray,
    units: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    missing: np.ndarray,
) -> pd.DataFrame:
    """The city's address-point file: one row per address, or per unit of a multi-unit building.

    Parameters
    ----------
    number, street, zip_code, lon, lat
        Each home's address and point.
    units
        Units in each building (0 for a single-family house).
    missing
        Homes left out of the file (built after it was made).
    """
    keep = ~missing
    repeat = np.maximum(units[keep], 1)
    rows = np.repeat(np.flatnonzero(keep), repeat)
    unit = np.concatenate(
        [np.arange(1, r + 1) if u else [0] for r, u in zip(repeat, units[keep], strict=True)]
    )
    frame = pd.DataFrame(
        {
            "number": number[rows],
            "street": street[rows],
            "unit": np.where(unit > 0, unit.astype(str), ""),
            "zip": zip_code[rows],
            "lon": lon[rows],
            "lat": lat[rows],
        }
    )
    return frame.sort_values(["street", "number", "unit"], kind="stable").reset_index(drop=True)


def student_addresses(
    *,
    homes: np.ndarray,
    number: np.ndarray,
    street: np.ndarray,
    zip_code: np.ndarray,
    units: np.ndarray,
    all_zips: list[str],
    rng: np.random.Generator,
) -> tuple[list[str], list[str], list[str]]:
    """Each student's address line and ZIP as a district's export writes them, and the variant drawn.

    Parameters
    ----------
    homes
        Index of each student's home among the points.
    number, street, zip_code, units
        Per point, as for :func:`address_points`.
    all_zips
        The city's ZIP codes (a wrong ZIP is another of them).
    rng
        The generator of the noise (its own, so the city's other layers do not change).

    Returns
    -------
    lines, zips, variants
        The address column, the ZIP column, and which :data:`NOISE` variant (or ``"clean"``) each
        row got.
    """
    names = list(NOISE)
    shares = np.array([NOISE[k] for k in names])
    draw = rng.random(len(homes))
    edges = np.cumsum(shares)
    variants = [
        names[int(np.searchsorted(edges, u, side="right"))] if u < edges[-1] else "clean" for u in draw
    ]
    lines, zips = [], []
    for k, (home, variant) in enumerate(zip(homes.tolist(), variants, strict=True)):
        name, _, kind = str(street[home]).rpartition(" ")
        n_units = int(units[home])
        unit = int(rng.integers(1, n_units + 1)) if n_units else 0
        unit_text = rng.choice(_UNIT_FORMS).format(unit) if unit else ""
        kind_text = kind
        if variant == "abbreviated":
            kind_text = _ABBR[kind] + ("." if rng.random() < 0.3 else "")
        elif variant == "shouting":
            kind_text = _ODD_ABBR[kind]
        elif (
            variant == "typo" and name[0].isdigit()
        ):  # '21st Stret': numbered streets get the slip in the suffix
            kind_text = _typo(kind, rng)
        elif variant == "typo":
            name = _typo(name, rng)
        elif variant == "no suffix":
            kind_text = ""
        elif variant == "unit missing":
            unit_text = ""
        line = " ".join(p for p in (str(number[home]), name, kind_text) if p)
        if unit_text:
            line += (", " if rng.random() < 0.3 else " ") + unit_text
        if variant == "shouting":
            line = line.upper().replace(" ", "  ", 1)
        elif variant == "abbreviated" and rng.random() < 0.3:
            line = line.lower()
        if variant == "nothing":
            line = str(rng.choice(_NOTHING)).format(n=int(rng.integers(2, 400)))
        zip_text = str(zip_code[home])
        u = rng.random()
        if u < 0.03:
            zip_text = ""
        elif u < 0.04:
            zip_text = str(rng.choice([z for z in all_zips if z != zip_text] or [zip_text]))
        lines.append(line)
        zips.append(zip_text)
    return lines, zips, variants


def _typo(name: str, rng: np.random.Generator) -> str:
    """One slip of the keyboard in a street name's letters: a letter swapped, dropped, doubled or wrong."""
    letters = [k for k, ch in enumerate(name) if ch.isalpha() and k > 0]
    if not letters:
        return name
    k = int(rng.choice(letters))
    how = int(rng.integers(4))
    if how == 0 and k + 1 < len(name) and name[k + 1].isalpha():
        return name[:k] + name[k + 1] + name[k] + name[k + 2 :]
    if how == 1 and len(letters) > 3:
        return name[:k] + name[k + 1 :]
    if how == 2:
        return name[:k] + name[k] + name[k:]
    return name[:k] + str(rng.choice([c for c in "aeiou" if c != name[k].lower()])) + name[k + 1 :]
