"""Addresses as people write them, normalized the way USPS Publication 28 does.

A district's student file writes ``"12 adams ave., apt 2"``, ``"12 Adams Avenue #2"`` or
``"12 ADAMS AV"``; the city's address points write ``12 | ADAMS AVE | 2``. Both become the same
:class:`Address`: upper case, no punctuation, street suffixes, directionals and unit designators
in their Publication 28 abbreviations (appendices C1 and C2 and the directionals table), ordinals
written as ``21ST``, and a few name words people abbreviate (``MT`` for ``MOUNT``).

Parser choice
-------------
Three ways to split an address line into its parts were measured on the demo's noisy student
addresses and on Boston's school addresses (``python -m bench geocode`` prints the table; see
bench/README.md): ``usaddress`` (a conditional random field), ``usaddress-scourgify`` (``usaddress``
plus Pub 28 clean-up, which refuses what it cannot tag) and the hand-rolled Pub 28 tokenizer of this
module, each followed by the same standardization of the parts. On the 7,502 demo addresses none
makes a wrong match; the tokenizer and scourgify place 98.64 % of them, usaddress 98.56 % (it cannot
tag a few typed slips: on ``"21th Stret #3"`` it raises "more than one area has the same label"). The
tokenizer parses them five to nine times faster (0.3 s against 1.7 s for usaddress and 2.8 s for
scourgify, best of three, measured while the machine was shared), and all three place the same 134
of Boston's 137 school addresses. It needs only the suffix and unit tables that normalizing needs
anyway, so :func:`parse` uses it by default; ``parser="usaddress"`` and ``parser="scourgify"``
remain for comparison.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["PARSERS", "Address", "parse", "standardize_street"]

Parser = Literal["pub28", "usaddress", "scourgify"]
#: The parsers :func:`parse` knows.
PARSERS: tuple[str, ...] = ("pub28", "usaddress", "scourgify")

#: Street suffixes (Publication 28, appendix C1): every common spelling -> the USPS abbreviation.
_SUFFIX_SPELLINGS: dict[str, tuple[str, ...]] = {
    "ALY": ("ALLEY", "ALLEE", "ALLY"),
    "AVE": ("AVENUE", "AV", "AVEN", "AVENU", "AVN", "AVNUE"),
    "BLVD": ("BOULEVARD", "BOUL", "BOULV", "BLV"),
    "CIR": ("CIRCLE", "CIRC", "CIRCL", "CRCL", "CRCLE"),
    "CT": ("COURT", "CRT"),
    "CTR": ("CENTER", "CENTRE", "CEN", "CENT", "CENTR", "CNTER", "CNTR"),
    "CRES": ("CRESCENT", "CRSENT", "CRSNT"),
    "DR": ("DRIVE", "DRIV", "DRV"),
    "EXPY": ("EXPRESSWAY", "EXP", "EXPR", "EXPRESS", "EXPW"),
    "HL": ("HILL",),
    "HWY": ("HIGHWAY", "HIGHWY", "HIWAY", "HIWY", "HWAY"),
    "LN": ("LANE", "LA"),
    "PARK": ("PRK",),
    "PKWY": ("PARKWAY", "PARKWY", "PKWAY", "PKY"),
    "PIKE": ("PIKES",),
    "PL": ("PLACE",),
    "PLZ": ("PLAZA", "PLZA"),
    "RD": ("ROAD",),
    "ROW": (),
    "SQ": ("SQUARE", "SQR", "SQRE", "SQU"),
    "ST": ("STREET", "STR", "STRT", "STRE"),
    "TER": ("TERRACE", "TERR"),
    "TPKE": ("TURNPIKE", "TRNPK", "TURNPK"),
    "WAY": ("WY",),
    "WHRF": ("WHARF",),
}
SUFFIXES: dict[str, str] = {
    spelling: abbr for abbr, spellings in _SUFFIX_SPELLINGS.items() for spelling in (abbr, *spellings)
}
_LONG_SUFFIXES = tuple(s for s in SUFFIXES if len(s) >= 5)

DIRECTIONS: dict[str, str] = {
    "NORTH": "N",
    "SOUTH": "S",
    "EAST": "E",
    "WEST": "W",
    "N": "N",
    "S": "S",
    "E": "E",
    "W": "W",
    "NORTHEAST": "NE",
    "NORTHWEST": "NW",
    "SOUTHEAST": "SE",
    "SOUTHWEST": "SW",
    "NE": "NE",
    "NW": "NW",
    "SE": "SE",
    "SW": "SW",
}

#: Unit designators (Publication 28, appendix C2).
UNITS: dict[str, str] = {
    "APARTMENT": "APT",
    "APT": "APT",
    "AP": "APT",
    "UNIT": "UNIT",
    "#": "#",
    "NO": "#",
    "SUITE": "STE",
    "STE": "STE",
    "FLOOR": "FL",
    "FL": "FL",
    "FLR": "FL",
    "BUILDING": "BLDG",
    "BLDG": "BLDG",
    "ROOM": "RM",
    "RM": "RM",
    "BASEMENT": "BSMT",
    "BSMT": "BSMT",
    "FRONT": "FRNT",
    "FRNT": "FRNT",
    "REAR": "REAR",
    "LOWER": "LOWR",
    "LOWR": "LOWR",
    "UPPER": "UPPR",
    "UPPR": "UPPR",
}
#: Designators that need no identifier (``REAR``, ``BSMT``).
_UNIT_ALONE = {"REAR", "FRNT", "LOWR", "UPPR", "BSMT"}

#: Name words people abbreviate; the standard spells them out (``MT VERNON`` is ``MOUNT VERNON``).
_NAME_WORDS = {"MT": "MOUNT", "FT": "FORT", "PT": "POINT"}
_ORDINAL_WORDS = {
    "FIRST": 1,
    "SECOND": 2,
    "THIRD": 3,
    "FOURTH": 4,
    "FIFTH": 5,
    "SIXTH": 6,
    "SEVENTH": 7,
    "EIGHTH": 8,
    "NINTH": 9,
    "TENTH": 10,
    "ELEVENTH": 11,
    "TWELFTH": 12,
}
_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
    ]
)
_PO_BOX = re.compile(r"^(P\s*O|POST\s+OFFICE)?\s*BOX\b|^(GENERAL\s+DELIVERY)\b")
_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")
_NUMBER = re.compile(r"^(\d+)([A-Z]?)(?:-\d+[A-Z]?)?$")


@dataclass(frozen=True)
class Address:
    """One address, in Publication 28 form.

    Attributes
    ----------
    number
        The house number as an integer (the first of a range ``"12-14"``), or ``None``.
    number_suffix
        A letter after the number (``"12A"`` gives ``"A"``).
    predir, name, suffix, postdir
        The street: directional, name, suffix abbreviation and trailing directional.
    unit
        The unit identifier (``"APT 2"``, ``"#2"`` and ``"UNIT 2"`` all give ``"2"``), or ``""``.
    city, state, zip
        As written (upper case), ``""`` when absent; ``zip`` holds five digits.
    po_box
        Whether the line is a P.O. box or general delivery (not a home).
    """

    number: int | None = None
    number_suffix: str = ""
    predir: str = ""
    name: str = ""
    suffix: str = ""
    postdir: str = ""
    unit: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    po_box: bool = False

    @property
    def street(self) -> str:
        """The whole street, e.g. ``'N ADAMS AVE'``."""
        return " ".join(p for p in (self.predir, self.name, self.suffix, self.postdir) if p)


def _tokens(text: str) -> list[str]:
    text = text.upper().replace("#", " # ")
    text = re.sub(r"[^\w#/\- ]", " ", text)
    return [t for t in text.split() if t not in ("-", "/")]


def _ordinal(token: str) -> str:
    """``'21TH'``, ``'21'`` (before a suffix) and ``'TWENTY-FIRST'``-free forms: ``'21ST'``."""
    if token in _ORDINAL_WORDS:
        n = _ORDINAL_WORDS[token]
    else:
        match = re.fullmatch(r"(\d+)(ST|ND|RD|TH)", token)
        if not match:
            return token
        n = int(match.group(1))
    return f"{n}{'TH' if 10 <= n % 100 <= 20 else {1: 'ST', 2: 'ND', 3: 'RD'}.get(n % 10, 'TH')}"


def _street_parts(tokens: list[str]) -> tuple[str, str, str, str]:
    """Split street tokens into (predir, name, suffix, postdir), each standardized."""
    tokens = list(tokens)
    predir = postdir = suffix = ""
    if len(tokens) > 1 and tokens[0] in DIRECTIONS:
        predir = DIRECTIONS[tokens.pop(0)]
    if len(tokens) > 1 and tokens[-1] in DIRECTIONS:
        postdir = DIRECTIONS[tokens.pop()]
    if len(tokens) > 1 and tokens[-1] in SUFFIXES:
        suffix = SUFFIXES[tokens.pop()]
    elif len(tokens) > 1 and (typed := _misspelled_suffix(tokens[-1])):
        tokens.pop()
        suffix = typed
    words = [_NAME_WORDS.get(t, t) for t in tokens]
    if len(words) > 1 and words[0] == "ST":  # 'ST BOTOLPH' is Saint Botolph
        words[0] = "SAINT"
    words = [_ordinal(w) for w in words]
    return predir, " ".join(words), suffix, postdir


def _misspelled_suffix(token: str) -> str:
    """The suffix a token of five letters or more misspells by one slip (``STRET``, ``AVENEU``), or ``""``."""
    if len(token) < 5 or not token.isalpha():
        return ""
    from rapidfuzz import fuzz, process

    found = process.extractOne(token, _LONG_SUFFIXES, scorer=fuzz.ratio, score_cutoff=80.0)
    return SUFFIXES[found[0]] if found else ""


def standardize_street(text: str) -> tuple[str, str, str, str]:
    """Standardize a street as an address-point file writes it.

    ``'N. Adams Avenue'`` gives ``('N', 'ADAMS', 'AVE', '')``.

    Parameters
    ----------
    text
        The street alone (no number, unit or city).

    Returns
    -------
    tuple of str
        ``(predir, name, suffix, postdir)``.
    """
    return _street_parts(_tokens(text))


def parse(
    text: object, *, parser: Parser = "pub28", unit: object = None, city: object = None, zip: object = None
) -> Address:
    """Parse and normalize one address line.

    Parameters
    ----------
    text
        The address as written, e.g. ``"12 Adams Ave Apt 2, Riverton MA 02190"``; or just the
        number and street when the other parts come in their own columns.
    parser
        ``"pub28"`` (this module's tokenizer, the default: see the module docstring for why),
        ``"usaddress"`` or ``"scourgify"``.
    unit, city, zip
        The parts a file gives in their own columns; they win over what the line holds.

    Returns
    -------
    Address
        Empty (``number`` and ``name`` empty) when nothing could be read.
    """
    line = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text).strip()
    if parser == "pub28":
        found = _parse_pub28(line)
    elif parser == "usaddress":
        found = _parse_usaddress(line)
    elif parser == "scourgify":
        found = _parse_scourgify(line)
    else:
        raise ValueError(f"unknown parser {parser!r}: use one of {', '.join(PARSERS)}")
    extra = {}
    if unit is not None and str(unit).strip() and str(unit).strip().lower() != "nan":
        extra["unit"] = _unit_id(_tokens(str(unit)))
    if city is not None and str(city).strip() and str(city).strip().lower() != "nan":
        extra["city"] = " ".join(_tokens(str(city)))
    if zip is not None and str(zip).strip() and str(zip).strip().lower() != "nan":
        extra["zip"] = _zip5(str(zip))
    return Address(**{**found.__dict__, **extra}) if extra else found


def _zip5(text: str) -> str:
    digits = re.sub(r"\D", "", text.split("-")[0])
    return digits.zfill(5)[:5] if 3 <= len(digits) <= 5 else digits[:5]


def _unit_id(tokens: list[str]) -> str:
    """The identifier of a unit written ``APT 2``, ``#2``, ``UNIT 2``, ``2`` or ``2ND FL``."""
    ids = [t for t in tokens if t not in UNITS or t in _UNIT_ALONE]
    ids = [UNITS.get(t, t) for t in ids]
    if len(ids) == 1 and (m := re.fullmatch(r"(\d+)(ST|ND|RD|TH)", ids[0])):
        return m.group(1)
    return " ".join(ids)


def _split_number(token: str) -> tuple[int | None, str]:
    match = _NUMBER.match(token)
    if not match:
        return None, ""
    return int(match.group(1)), match.group(2)


def _parse_pub28(line: str) -> Address:
    """The tokenizer: number, street up to its suffix or a unit designator, unit, then city/state/ZIP."""
    if not line:
        return Address()
    if _PO_BOX.match(line.upper().replace(".", "").strip()):
        return Address(po_box=True)
    first, _, rest = line.partition(",")
    tokens = _tokens(first)
    tail = _tokens(rest)
    if tail and tail[0] in UNITS:  # '12 Adams Ave, Apt 2, Boston': the unit belongs to the street line
        take = 1 if tail[0] in _UNIT_ALONE or len(tail) < 2 else 2
        tokens, tail = tokens + tail[:take], tail[take:]
    zip_code = state = ""
    for part in (tail, tokens):  # ZIP and state at the end of the line, after a comma or not
        if part and _ZIP.match(part[-1]):
            zip_code = _ZIP.match(part.pop()).group(1)  # type: ignore[union-attr]
        if part and part[-1] in _STATES and len(part) > 1:
            state = part.pop()
        if zip_code:
            break
    number, number_suffix = (None, "")
    if tokens:
        number, number_suffix = _split_number(tokens[0])
        if number is not None:
            tokens = tokens[1:]
            if (
                len(tokens) > 2
                and re.fullmatch(r"[A-Z]", tokens[0])
                and tokens[0] not in DIRECTIONS
                and tokens[1] not in SUFFIXES
            ):
                number_suffix = tokens.pop(0)  # '12 A Adams St'; but '200 D Street' is D Street
    unit_at = next((k for k, t in enumerate(tokens) if k > 0 and t in UNITS), None)
    unit = ""
    city_tokens: list[str] = []
    if unit_at is not None:
        street, after = tokens[:unit_at], tokens[unit_at:]
        unit_tokens = after[:1] if after[0] in _UNIT_ALONE or len(after) < 2 else after[:2]
        unit = _unit_id(unit_tokens)
        city_tokens = after[len(unit_tokens) :]
    else:
        last_suffix = max((k for k, t in enumerate(tokens) if k > 0 and t in SUFFIXES), default=None)
        if last_suffix is not None and last_suffix + 1 < len(tokens):
            after = tokens[last_suffix + 1 :]
            if after and after[0] in DIRECTIONS and len(after) == 1:
                last_suffix += 1
            elif after and re.fullmatch(r"\d+[A-Z]?", after[0]):  # '12 Adams Ave 2': a bare unit number
                unit = after[0]
                after = after[1:]
            street, city_tokens = tokens[: last_suffix + 1], after
        else:
            street = tokens
    if tail:
        city_tokens = city_tokens + tail
    predir, name, suffix, postdir = _street_parts(street)
    return Address(
        number, number_suffix, predir, name, suffix, postdir, unit, " ".join(city_tokens), state, zip_code
    )


def _from_parts(parts: dict[str, str]) -> Address:
    """An :class:`Address` from a tagger's parts, standardized like the tokenizer's."""
    number, number_suffix = _split_number(parts.get("AddressNumber", "").upper().replace(" ", ""))
    street = " ".join(
        parts.get(k, "")
        for k in (
            "StreetNamePreDirectional",
            "StreetNamePreType",
            "StreetName",
            "StreetNamePostType",
            "StreetNamePostDirectional",
        )
    )
    predir, name, suffix, postdir = _street_parts(_tokens(street))
    unit = _unit_id(_tokens(" ".join(parts.get(k, "") for k in ("OccupancyType", "OccupancyIdentifier"))))
    zip_code = _ZIP.match(parts.get("ZipCode", "").strip())
    return Address(
        number,
        number_suffix,
        predir,
        name,
        suffix,
        postdir,
        unit,
        " ".join(_tokens(parts.get("PlaceName", ""))),
        parts.get("StateName", "").upper(),
        zip_code.group(1) if zip_code else "",
        po_box="USPSBoxID" in parts,
    )


def _parse_usaddress(line: str) -> Address:
    import usaddress

    if not line:
        return Address()
    try:
        parts, _ = usaddress.tag(line)
    except usaddress.RepeatedLabelError:
        return Address()
    return _from_parts(dict(parts))


def _parse_scourgify(line: str) -> Address:
    from scourgify import normalize_address_record
    from scourgify.exceptions import AddressNormalizationError

    if not line:
        return Address()
    try:
        record = normalize_address_record(line)
    except (AddressNormalizationError, ValueError, KeyError, TypeError):
        return Address()
    found = _parse_pub28(" ".join(filter(None, (record.get("address_line_1"), record.get("address_line_2")))))
    zip_code = _ZIP.match(str(record.get("postal_code") or ""))
    return Address(
        **{
            **found.__dict__,
            "city": str(record.get("city") or ""),
            "state": str(record.get("state") or ""),
            "zip": zip_code.group(1) if zip_code else "",
        }
    )
