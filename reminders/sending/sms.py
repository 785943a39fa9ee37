"""How many SMS segments a text costs (docs/reference/sms-segments.md).

A text made only of GSM 03.38 characters is sent 7 bits a character: 160 characters in one
segment, 153 per segment once concatenated (the rest carries the joining header). Any other
character (any Chinese character) switches the whole text to UCS-2: 70 in one segment, 67 per
segment once concatenated. Characters of the GSM extension table (€, [, ], {, }, ...) cost two.
"""

from __future__ import annotations

import math

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
# The budget the shipped short texts are held to (tests/unit/reminders/sending/test_sms_budget.py).
MAX_SEGMENTS = 2


def is_gsm7(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def sms_length(text: str) -> tuple[str, int]:
    """(encoding, units): GSM-7 septets (extension characters count two) or UCS-2 code units
    (a character outside the Basic Multilingual Plane, such as an emoji, counts two)."""
    if is_gsm7(text):
        return "gsm7", sum(2 if c in GSM_EXTENSION else 1 for c in text)
    return "ucs2", sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def sms_segments(text: str) -> int:
    encoding, units = sms_length(text)
    single, part = (160, 153) if encoding == "gsm7" else (70, 67)
    if units <= single:
        return 1
    return math.ceil(units / part)
