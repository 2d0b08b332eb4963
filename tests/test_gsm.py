"""Segment counting as carriers bill it."""

from __future__ import annotations

import pytest

from ivr import gsm


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a", "GSM-7", 1, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("a" * 459, "GSM-7", 459, 3),
        ("a" * 460, "GSM-7", 460, 4),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters take two places
        ("{" * 81, "GSM-7", 162, 2),
        ("a" * 152 + "€" + "a" * 8, "GSM-7", 162, 2),  # the escape pair is not split
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # ...so it moves to part two
        ("é£$¥èùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà\n", "GSM-7", 62, 1),
        ("it’s", "UCS-2", 4, 1),
        ("–" * 70, "UCS-2", 70, 1),
        ("–" * 71, "UCS-2", 71, 2),
        ("😀", "UCS-2", 2, 1),
    ],
    ids=[
        "empty", "one", "160", "161", "306", "307", "459", "460", "euro-80", "brace-81",
        "escape-at-boundary", "escape-moves", "basic-set", "curly-apostrophe", "ucs2-70",
        "ucs2-71", "emoji",
    ],
)
def test_cost(text: str, encoding: str, units: int, segments: int) -> None:
    assert gsm.cost(text) == gsm.Cost(encoding, units, segments)


def test_non_gsm_names_each_character_once_in_order() -> None:
    assert gsm.non_gsm("it’s – ok’ 😀") == ["’", "–", "😀"]


def test_describe_gives_the_code_point() -> None:
    assert gsm.describe("’") == "'’' (U+2019)"
