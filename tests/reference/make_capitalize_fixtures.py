#!/usr/bin/env python3
"""str.capitalize() fixtures: inputs and what this Python gives, for HellaSwag's preprocessing
(lm-eval capitalizes ctx_b). Plain python3, no packages. Covers full titlecase mappings of the
first character (ß -> Ss, ǆ -> ǅ), full lowercase mappings of the rest (İ -> i̇), Final_Sigma with
the first character as context, scripts with case, and seeded random strings over a mixed pool.

Writes tests/fixtures/text/capitalize.json. Regenerate: python3 tests/reference/make_capitalize_fixtures.py
"""
import json
import os
import platform
import random
import unicodedata

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "text", "capitalize.json")

NAMED = [
    "élodie", "ÉCOLE", "ΟΔΟΣ ΟΔΟΣ", "ΣΑΣ", "Σ", "ΑΣ.", "ΑΣ'Α", "ß", "ßa", "aß", "ŉ", "ŉA", "ǆ", "Ǆ", "ǅ",
    "ǆUNGLA", "İSTANBUL", "ıi", "ﬁne", "ﬃ", "ﬆART", "ǰ", "ΐ", "ᾳ", "ᾼΣ", "МОСКВА и ПИТЕР", "ёлка",
    "ԱՐԱՄ", "և", "ﬓ", "e\u0301cole", "E\u0301COLE", "\u0301abc", "Σ\u0301", "ΑΣ\u0301", "🙂 HELLO", "😀Ä",
    "123 ABC", "1ß", "", " ", " leading", "[step] Dig the SOIL", "ⓐⒷⓒ", "ⅰⅱⅲ ⅠⅡ", "ＡＢＣ ｄｅｆ", "𐐨𐐀", "ꭰᏸ",
    "ᲐᲑᲒ", "ა", "ǈ", "Ǉ", "ǲ", "ǳ", "ﬀ", "ŉ ŉ", "ὒ", "ᾀ", "ᾈ", "ﬔ", "ẞ", "ÀÉÎÕÜ",
]

# Blocks with case, so the random strings mix scripts; only their cased code points are drawn.
CASED_RANGES = [
    (0x41, 0x24F), (0x370, 0x3FF), (0x400, 0x52F), (0x531, 0x587), (0x10A0, 0x10FF), (0x13A0, 0x13FD),
    (0x1C80, 0x1CBF), (0x1E00, 0x1FFF), (0x2160, 0x2188), (0x24B6, 0x24E9), (0x2C00, 0x2CFF),
    (0xA640, 0xA69F), (0xA722, 0xA7FF), (0xAB70, 0xABBF), (0xFB00, 0xFB17), (0xFF21, 0xFF5A),
    (0x10400, 0x1044F), (0x104B0, 0x104FB), (0x10570, 0x105BC), (0x10C80, 0x10CF2), (0x118A0, 0x118DF),
    (0x16E40, 0x16E7F), (0x1E900, 0x1E943),
]
# Not cased but part of the rules: case-ignorable marks and punctuation (Final_Sigma context),
# spaces, digits, an emoji, and extra capital sigmas.
OTHERS = ["\u0301", "\u0308", "\u0345", "'", ".", ":", "\u00AD", " ", " ", "-", "1", "7", "\U0001F642",
          "Σ", "Σ", "Σ", "İ", "ß"]


def cased_pool():
    pool = []
    for first, last in CASED_RANGES:
        for cp in range(first, last + 1):
            c = chr(cp)
            if unicodedata.category(c) == "Cn":
                continue
            if c.lower() != c or c.upper() != c or c.title() != c:
                pool.append(c)
    return pool


def random_strings(count=200, seed=14):
    rng = random.Random(seed)
    pool = cased_pool()
    strings = []
    for _ in range(count):
        n = rng.randint(1, 12)
        strings.append("".join(rng.choice(OTHERS) if rng.random() < 0.3 else rng.choice(pool) for _ in range(n)))
    return strings


def main():
    inputs = NAMED + random_strings()
    fixture = {
        "format_version": 1,
        "python_version": platform.python_version(),
        "unicode_version": unicodedata.unidata_version,
        "note": "output is str.capitalize() of input. Inputs use only code points assigned in unicode_version; "
                "matquant's ICU may know a newer Unicode (ICU 72: 15.0) and agreed on every entry, so none is excluded",
        "entries": [{"input": s, "output": s.capitalize()} for s in inputs],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(inputs)} entries, Python {fixture['python_version']}, Unicode {fixture['unicode_version']} -> {OUT}")


if __name__ == "__main__":
    main()
