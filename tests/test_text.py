import re
import sys
import unicodedata

import polars as pl
import pytest

from curate.text._casefold import CASEFOLD_AFTER_LOWER
from curate.text.normalize import Normalize, normalized


def test_casefold_table_is_pythons():
    """The generated table is exactly what str.casefold does beyond str.lower, for every code point."""
    expected = {}
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        if char.lower() != char.casefold():
            expected[char.lower()] = char.casefold()
    assert CASEFOLD_AFTER_LOWER == expected


SAMPLES = [
    "Straße STRASSE straße",
    "ΟΔΟΣ ΣΑΣ σας",
    "ﬁnal ﬀ Ｆｕｌｌｗｉｄｔｈ ①②",
    "  tabs\tand\nnewlines\u00a0and\u2003em-spaces  ",
    "İstanbul ǅemal Ǉ",
    "Café cafe\u0301",
    "µ and μ, ſ and s",
    "",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_normalize_matches_python_reference(text):
    got = pl.DataFrame({"t": [text]}).select(normalized(pl.col("t"), Normalize())).item()
    expected = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()
    assert got == expected


def test_each_option_can_be_turned_off():
    frame = pl.DataFrame({"t": ["Ｆｕｌｌ  Straße"]})

    def run(**options):
        return frame.select(normalized(pl.col("t"), Normalize(**options))).item()

    assert run() == "full strasse"
    assert run(nfkc=False) == "ｆｕｌｌ strasse"
    assert run(casefold=False) == "Full Straße"
    assert run(whitespace=False) == "full  strasse"
    assert run(nfkc=False, casefold=False, whitespace=False) == "Ｆｕｌｌ  Straße"
