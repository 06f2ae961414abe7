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


def test_exact_keys_fast_path_on_real_text(shared_data):
    from curate.text.normalize import Normalize, normalized, normalized_text

    books = pl.read_parquet(shared_data / "gutenberg" / "books-000.parquet", columns=["text"]).head(40)
    paragraphs = books.select(pl.col("text").str.split("\n\n")).explode("text")["text"]
    problems = pl.read_ndjson(shared_data / "math" / "benchmarks" / "kaoyan.jsonl", infer_schema_length=None)["problem"].cast(pl.String)
    for text in (paragraphs, problems):
        assert normalized_text(text, Normalize()).equals(pl.select(normalized(pl.lit(text), Normalize())).to_series())
