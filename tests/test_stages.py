import polars as pl
import pytest

from curate.columns import DROP, DROP_DUPLICATE_OF, ID, KEY, ORDER
from curate.stages import BUILTIN, stage_type
from curate.stages.exact_dedup import ExactDedup
from curate.stages.filter import Filter
from curate.text.normalize import Normalize


def keys_and_reduce(stage, texts, order=None):
    df = pl.DataFrame({"text": texts, ORDER: pl.Series(order or list(range(len(texts))), dtype=pl.Int64), ID: [f"r{i}" for i in range(len(texts))]})
    keys = stage.keys(df)
    return keys, stage.reduce(keys)


def test_exact_dedup_keeps_first_in_input_order():
    stage = ExactDedup("exact")
    texts = ["Hello  World", "other", "hello world", "HELLO WORLD ", "other"]
    keys, decisions = keys_and_reduce(stage, texts, order=[5, 1, 2, 9, 7])
    assert keys[KEY].dtype == pl.UInt64
    removed = dict(zip(decisions[ORDER].to_list(), decisions[DROP_DUPLICATE_OF].to_list()))
    # input order is ORDER: "hello world" (2) comes first of its group, "other" (1) first of its own
    assert removed == {5: "r2", 9: "r2", 7: "r1"}
    assert set(decisions[DROP]) == {"exact_duplicate"}


def test_exact_dedup_without_normalisation_is_byte_exact():
    stage = ExactDedup("exact", field="text", normalize=Normalize(nfkc=False, casefold=False, whitespace=False))
    _, decisions = keys_and_reduce(stage, ["a b", "a  b", "A b", "a b"])
    assert decisions[ORDER].to_list() == [3]


def test_exact_dedup_distinct_texts_are_never_merged():
    texts = [f"document number {i}" for i in range(20000)]
    _, decisions = keys_and_reduce(ExactDedup("exact"), texts)
    assert decisions.height == 0


def test_filter_keeps_true_and_removes_false_and_null():
    stage = Filter("short", keep="length(trim(text)) >= 3", reason="too_short")
    out = stage.apply(pl.DataFrame({"text": ["abcd", "a", None, "  xyz "]}))
    assert out[DROP].to_list() == [None, "too_short", "too_short", None]
    assert stage.reads() == ("text",)


def test_filter_with_a_constant_expression():
    assert Filter("all", keep="true").apply(pl.DataFrame({"text": ["a", "b"]}))[DROP].to_list() == [None, None]
    assert Filter("none", keep="false", reason="r").apply(pl.DataFrame({"text": ["a", "b"]}))[DROP].to_list() == ["r", "r"]


def test_filter_must_be_boolean():
    with pytest.raises(TypeError, match="not a boolean"):
        Filter("f", keep="length(text)").apply(pl.DataFrame({"text": ["a"]}))


def test_registry():
    assert stage_type("exact_dedup") is ExactDedup
    assert set(BUILTIN) >= {"exact_dedup", "filter"}
    with pytest.raises(KeyError):
        stage_type("nope")


def test_builtin_names_match_their_classes_and_load_lazily():
    """A stage type's module is imported when a pipeline uses it; reading a run imports neither Ray
    nor openai, numba or fastText (curate stats and explain start in well under a second)."""
    import subprocess
    import sys

    for use in BUILTIN:
        assert BUILTIN[use].use == use
    code = (
        "import sys; from curate.config import build_pipeline; import curate.api as api; "
        "build_pipeline({'name': 'x', 'input': 'a.jsonl', 'output': 'o', 'stages': [{'name': 'e', 'use': 'exact_dedup', 'field': 'text'}]}); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'openai', 'numba', 'fasttext', 'math_verify'}), "
        "sorted(m for m in sys.modules if m.startswith('curate.stages.') and m != 'curate.stages.base'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] ['curate.stages.exact_dedup']", out.stdout


@pytest.mark.parametrize("options", [{}, {"nfkc": False}, {"casefold": False}, {"whitespace": False}, {"nfkc": False, "casefold": False, "whitespace": False}])
def test_exact_keys_fast_path_gives_the_same_text(options):
    """exact_dedup's normalisation in one compiled pass (issue 19) equals the polars expressions it
    replaced, on text that exercises each step."""
    from curate.text.normalize import Normalize, normalized, normalized_text

    texts = ["  Hello\t\tWORLD \n", "Straße  ÉTÉ\u00a0x", None, "", "  \n ", "Ａｂ  C ﬁ", "a\u2003b\u3000c", "İstanbul ΣΊΣΥΦΟΣ", "\u2167 Chapter\x0bX", "ǅemal ǈ", "x\x85y"]
    text = pl.Series(texts, dtype=pl.String)
    settings = Normalize(**options)
    assert normalized_text(text, settings).to_list() == pl.select(normalized(pl.lit(text), settings)).to_series().to_list()


def _same_partition(first: pl.Series, second: pl.Series) -> bool:
    """Two labellings of the same rows group them alike (equal in one iff equal in the other)."""
    pairs = pl.DataFrame({"a": first, "b": second}).unique()
    return pairs["a"].n_unique() == len(pairs) == pairs["b"].n_unique()


def _hash_groups(text: pl.Series, settings) -> pl.Series:
    from curate.text.normalize import normalized_hashes

    first, second = normalized_hashes(text, settings, (1, 2))
    return pl.DataFrame({"f": first, "s": second}).select(pl.struct("f", "s").rank("dense"))["f"]


@pytest.mark.parametrize("options", [{}, {"nfkc": False}, {"casefold": False}, {"whitespace": False}, {"nfkc": False, "casefold": False, "whitespace": False}])
def test_exact_keys_hash_equal_texts_alike(options):
    """exact_dedup hashes as it normalises (issue 19): two rows get the same hashes exactly when their
    normalised texts are equal, whichever path (compiled pass, or Unicode work on flagged rows) each took."""
    from curate.text.normalize import Normalize, normalized

    texts = [
        "  Hello\t\tWORLD \n", "hello world", "Straße  ÉTÉ\u00a0x", "strasse été x", None, None, "", "  \n ", "Ａｂ  C ﬁ", "ab c fi",
        "a\u2003b\u3000c", "a b c", "İstanbul ΣΊΣΥΦΟΣ", "i̇stanbul σίσυφοσ", "e\u0301t\u00e9", "\u00e9t\u00e9", "\u1100\u1161\u11a8", "\uac01",
        "x\x85y", "x y", "café — “quoted”", "CAFÉ — “quoted”", "café — “quoted” ", "x" * 17, "X" * 17 + " ", "x" * 16, "\U0001f600 ok", "\U0001F600  OK",
    ]  # fmt: skip
    text = pl.Series(texts, dtype=pl.String)
    settings = Normalize(**options)
    normal = pl.select(normalized(pl.lit(text), settings)).to_series().fill_null("\x00null")
    assert _same_partition(normal.rank("dense"), _hash_groups(text, settings))


def test_unicode_table_flags_every_character_the_ascii_pass_would_get_wrong():
    """A character the table leaves unflagged needs nothing beyond the compiled ASCII pass, whatever
    stands around it: checked for every such character of planes 0-2 between ASCII and before and
    after itself and others, against the polars normalisation."""
    import numpy as np

    from curate.text.normalize import Normalize, normalized, normalized_text, unicode_table

    table = unicode_table()
    unflagged = [chr(c) for c in np.flatnonzero(table == 0) if c >= 0x80 and not 0xD800 <= c < 0xE000]
    assert len(unflagged) > 100_000
    neighbours = unflagged[::997]
    texts = [f"A{c}{c} \t{neighbours[i % len(neighbours)]}{c}Z{c}" for i, c in enumerate(unflagged)]
    text = pl.Series(texts, dtype=pl.String)
    expected = pl.select(normalized(pl.lit(text), Normalize())).to_series()
    assert normalized_text(text, Normalize()).equals(expected)
    ascii_only = pl.Series([t.replace("A", "a").replace("Z", "z").replace(" \t", " ") for t in texts])
    assert expected.equals(ascii_only)


def test_exact_keys_fast_path_on_real_text(shared_data):
    from curate.text.normalize import Normalize, normalized, normalized_text

    books = pl.read_parquet(shared_data / "gutenberg" / "books-000.parquet", columns=["text"]).head(40)
    paragraphs = books.select(pl.col("text").str.split("\n\n")).explode("text")["text"]
    problems = pl.read_ndjson(shared_data / "math" / "benchmarks" / "kaoyan.jsonl", infer_schema_length=None)["problem"].cast(pl.String)
    for text in (paragraphs, problems):
        normal = pl.select(normalized(pl.lit(text), Normalize())).to_series()
        assert normalized_text(text, Normalize()).equals(normal)
        assert _same_partition(normal.rank("dense"), _hash_groups(text, Normalize()))
