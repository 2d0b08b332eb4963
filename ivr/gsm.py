"""Count SMS segments the way carriers do, on the GSM 03.38 alphabet.

A message in the GSM-7 alphabet fits 160 characters in one segment; once it is
split, each part carries a header and holds 153. Characters from the extension
table (such as ``{ } [ ] ~ \\ | ^ €``) take two places, and carriers never split
such a pair across parts. Anything outside GSM-7 forces UCS-2, which holds only
70 characters (67 when split) and so costs far more: the helpline's texts must
never need it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

CODEC = "gsm03.38"
GSM_SINGLE = 160
GSM_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


@dataclass(frozen=True)
class Cost:
    """What one text costs to send."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def septets(char: str) -> int:
    """Return how many GSM-7 places a character takes, or 0 if it is not GSM-7."""
    try:
        return len(char.encode(CODEC))
    except UnicodeEncodeError:
        return 0


def non_gsm(text: str) -> list[str]:
    """List the characters of a text that are outside GSM-7, each once, in order."""
    seen: dict[str, None] = {}
    for char in text:
        if septets(char) == 0:
            seen.setdefault(char, None)
    return list(seen)


def is_gsm(text: str) -> bool:
    """Say whether the whole text can be sent in the GSM-7 alphabet."""
    return not non_gsm(text)


def cost(text: str) -> Cost:
    """Count the segments a carrier bills for this text."""
    if not text:
        return Cost("GSM-7", 0, 0)
    if not is_gsm(text):
        return _ucs2_cost(text)
    widths = [septets(char) for char in text]
    total = sum(widths)
    if total <= GSM_SINGLE:
        return Cost("GSM-7", total, 1)
    return Cost("GSM-7", total, _split_parts(widths))


def _split_parts(widths: list[int]) -> int:
    """Fill 153-septet parts, moving an escape pair whole to the next part."""
    parts, used = 1, 0
    for width in widths:
        if used + width > GSM_PART:
            parts, used = parts + 1, 0
        used += width
    return parts


def _ucs2_cost(text: str) -> Cost:
    units = len(text.encode("utf-16-le")) // 2
    if units <= UCS2_SINGLE:
        return Cost("UCS-2", units, 1)
    return Cost("UCS-2", units, math.ceil(units / UCS2_PART))


def describe(char: str) -> str:
    """Name a character for an operator: the glyph and its Unicode code point."""
    return f"{char!r} (U+{ord(char):04X})"
