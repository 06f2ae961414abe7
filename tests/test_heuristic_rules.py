"""Heuristic rule sets (filters/gopher-quality.yaml, gopher-repetition.yaml, c4.yaml, fineweb.yaml):
the spaCy tokenizer on the cases that decide documents, each score on small hand-made texts, and the
sets' decisions against datatrove 0.10.1's on real text (tests/fixtures/datatrove_reasons.jsonl)."""

import hashlib
from pathlib import Path

import polars as pl
import pytest

from curate.columns import DROP, FAILED
from curate.config import build_pipeline
from curate.errors import ConfigError
from curate.rules import SCORES, spacy_en, tokens
from curate.rules import sets as filter_sets
from curate.rules.heuristic import PY_WHITESPACE
from curate.stages.filter_set import FilterSet

FIXTURE = Path(__file__).parent / "fixtures" / "datatrove_reasons.jsonl"
SETS = {"gopher_quality": "gopher-quality", "gopher_repetition": "gopher-repetition", "c4": "c4", "fineweb": "fineweb"}


def scores(name, texts, **args):
    return pl.DataFrame({"t": texts}, schema={"t": pl.String}).select(SCORES[name](pl.col("t"), **args)).to_series().to_list()


@pytest.mark.parametrize(
    "chunk, tokens",
    [
        ("word,", ["word", ","]),
        ("(word)", ["(", "word", ")"]),
        ('"Word!"', ['"', "Word", "!", '"']),
        ("“Word,”", ["“", "Word", ",", "”"]),
        ("_word_", ["_", "word", "_"]),
        ("***", ["*", "*", "*"]),
        ("--", ["--"]),
        ("——", ["—", "—"]),
        ("end--with", ["end", "--", "with"]),
        ("to--", ["to--"]),  # '-' and '--' are neither prefixes nor suffixes
        ("way,--I", ["way,--I"]),
        ("well-known", ["well", "-", "known"]),
        ("3-4", ["3", "-", "4"]),
        ("don't", ["do", "n't"]),
        ("can't", ["ca", "n't"]),
        ("cannot", ["can", "not"]),
        ("DON'T", ["DON'T"]),
        ("I'm", ["I", "'m"]),
        ("John's", ["John", "'s"]),
        ("John’s", ["John", "’s"]),
        ("Jones'", ["Jones", "'"]),
        ("'tis", ["'", "tis"]),
        ("o'clock", ["o'clock"]),
        ("Mr.", ["Mr."]),
        ("MR.", ["MR", "."]),  # two capitals before the period
        ("A.", ["A."]),
        ("etc.", ["etc", "."]),
        ("e.g.", ["e.g."]),
        ("U.S.", ["U.S."]),
        ("word...", ["word", "..."]),
        ("word....", ["word", "...."]),
        ("word…", ["word", "…"]),
        ("……", ["…", "…"]),  # the first prefix in list order wins, not the longest
        ('word."', ["word", ".", '"']),
        ("end.Next", ["end", ".", "Next"]),
        ("1,000", ["1,000"]),
        ("a,b", ["a", ",", "b"]),
        ("and/or", ["and/or"]),
        ("a/b", ["a", "/", "b"]),
        ("$5", ["$", "5"]),
        ("5%", ["5", "%"]),
        ("10km", ["10", "km"]),
        ("http://x.org", ["http://x.org"]),
        ("www.x.org", ["www.x.org"]),
        ("¿Qué?", ["¿", "Qué", "?"]),
        ("ΑΒΓ.", ["ΑΒΓ", "."]),
        (":)", [":)"]),
        ("10a.m.", ["10", "a.m."]),
        ("°C.", ["°", "C", "."]),
    ],
)
def test_spacy_tokens(chunk, tokens):
    assert list(spacy_en.tokens(chunk)) == tokens


@pytest.mark.parametrize(
    "line, count",
    [
        ('He said "Stop." Then he left.', 2),
        ("Wait... what? Really?! Yes.", 3),
        ("Mr. Smith went to Washington. He did. etc. and so on.", 4),
        ("It's 5 p.m. Now go.", 1),
        ("He was a Ph.D. He knew.", 1),
        ("I. II. III. IV.", 3),
        ("Yes... No... Maybe.", 1),
        ("Go. $5 please. = sign", 3),
        ("One. - Two.", 2),
        ("One.  Two.", 2),  # two spaces: a whitespace token ends the sentence
        ("", 1),
    ],
)
def test_spacy_sentences(line, count):
    assert spacy_en.sentence_count(line) == count


def test_python_whitespace_is_str_isspace():
    assert set(PY_WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


def test_gopher_word_scores():
    text = "The cat sat on the mat, with a hat."  # 11 tokens; ',' and '.' are symbols
    assert scores("non_symbol_words", [text, ""]) == [9, 0]
    assert scores("mean_word_length", [text, "", "..."]) == [pytest.approx(25 / 9), None, None]
    assert scores("alpha_word_ratio", [text, '"No," he said.']) == [pytest.approx(9 / 11), pytest.approx(3 / 7)]
    assert scores("stop_words", [text, "The The THE", "the the to of"]) == [2, 0, 3]  # case-sensitive, distinct
    assert scores("hash_ratio", ["#tag #tag2 word", ""]) == [pytest.approx(2 / 5), None]  # '#' is a token of its own
    assert scores("ellipsis_ratio", ["Wait... what…", "Well...... no"]) == [pytest.approx(2 / 4), pytest.approx(2 / 3)]


def test_gopher_line_scores():
    # str.splitlines: a final line break starts no line, \r\n is one break, blank lines count
    assert scores("bullet_line_ratio", ["• one\n  - two\n– three\n\n", "- a\r\n- b\r\nc", ""]) == [0.5, pytest.approx(2 / 3), None]
    assert scores("end_ellipsis_line_ratio", ["one...\ntwo… \nthree\n", "a....\x0bb"]) == [pytest.approx(2 / 3), 0.5]


def test_gopher_repetition_scores():
    text = "a\n\nb\n\na\n\n\na"  # paragraphs a, b, a, a
    assert scores("dup_para_fraction", [text, " \n "]) == [0.5, 0.0]
    assert scores("dup_para_char_fraction", [text]) == [pytest.approx(2 / 11)]
    assert scores("dup_line_fraction", ["x\ny\nx\n", "\nx\n"]) == [0.25, pytest.approx(1 / 3)]  # the second empty line repeats the first
    assert scores("dup_line_char_fraction", ["x\ny\nx\n"]) == [pytest.approx(1 / 6)]
    assert scores("empty", ["", " "]) == [True, False]


def test_top_ngrams():
    assert scores("top_ngram_char_fraction", ["Hello world", "Hi"], n=2) == [1.0, None]  # a gram seen once counts
    # "x yy" and "yy zzz" both occur twice: the first to occur wins, not the longer
    assert scores("top_ngram_char_fraction", ["x yy zzz x yy zzz"], n=2) == [pytest.approx(8 / 17)]
    assert scores("top_ngram_char_fraction", ["ab, cd. ab, cd."], n=3) == [pytest.approx(2 * len("ab , cd") / 15)]  # words joined by spaces
    assert scores("top_ngram_char_fraction", ["x, y. x, y."], n=3) == [pytest.approx(2 * len("x , y.") / 11)]  # "y." is an exception: one token


def test_duplicated_ngrams():
    assert scores("dup_ngram_char_fraction", ["a b c d e a b c d e"], n=5) == [pytest.approx(5 / 19)]
    # grams are joined without spaces: ab+c+d+e+f and a+bc+d+e+f are the same gram
    assert scores("dup_ngram_char_fraction", ["ab c d e f a bc d e f"], n=5) == [pytest.approx(6 / 21)]
    # after a repeat the scan jumps past it: 7 x "a" repeats once, not three times
    assert scores("dup_ngram_char_fraction", ["a a a a a a a", "a b c"], n=5) == [pytest.approx(5 / 13), 0.0]


def test_fineweb_scores():
    assert scores("line_punct_ratio", ["Hello.\nWorld\n\nAgain!\r\nok?", 'He said "hi."', "\n"]) == [0.5, 0.0, None]
    assert scores("short_line_ratio", ["short\n" + "x" * 31 + "\n   \n" + " " * 29 + "a"]) == [pytest.approx(2 / 3)]
    assert scores("char_dup_ratio", ["abc\nabc\nxy\n\nabc"]) == [pytest.approx(6 / 11)]
    assert scores("list_ratio", ["a\nb\n\nc"]) == [1.0]
    assert scores("blank", ["  \n\t", "x", "", "\x1c"]) == [True, False, True, True]


C4_TEXT = (
    "This is one sentence. And two.\n"
    "no terminal punctuation here\n"
    "Short.\n"
    "It costs $5. Buy it now!\n"
    "We use cookies on this site.\n"
    "Some javascript is needed here.\n"
    "[1] A cited line ends here."
)


def test_c4_scores():
    assert scores("c4_sentences", [C4_TEXT, "Only one line here."]) == [5, 1]
    assert scores("c4_lorem_ipsum", ["Lorem ipsum dolor sit amet.", "lorem ipsum dolor sit amet", "A { b c.\nLorem ipsum is text."]) == [True, False, False]
    assert scores("c4_curly_bracket", ["var x = {a: 1}; done.", "Use javascript {x} here.", "A { b c.\nLorem ipsum is text."]) == [True, False, True]


def test_c4_rewrite_keeps_only_c4s_lines_in_kept_records():
    df = pl.DataFrame({"text": [C4_TEXT, "Too short to keep."]})
    out, counters = FilterSet("c4", path="c4", rewrite=True).apply(df)
    assert out[DROP].to_list() == [None, "too_few_sentences"]
    kept_text = "This is one sentence. And two.\nIt costs $5. Buy it now!\n A cited line ends here."
    assert out["text"].to_list() == [kept_text, "Too short to keep."]
    # accounted for: the share each record keeps, and what the kept records lost in all
    assert out["c4_rewrite_kept"].to_list() == [len(kept_text) / len(C4_TEXT), 1.0]
    assert counters["rewrite"] == {
        "records_changed": 1, "chars_in": len(C4_TEXT), "chars_out": len(kept_text),
        "lines_in": C4_TEXT.count("\n") + 1, "lines_out": 3,
    }
    assert FilterSet("c4", path="c4").apply(df)["text"].to_list() == df["text"].to_list()  # without rewrite: unchanged
    with pytest.raises(ConfigError, match="gopher-quality names no rewrite"):
        build_pipeline({"name": "x", "input": "a.jsonl", "output": "o", "stages": [{"name": "q", "use": "filter_set", "path": "gopher-quality", "rewrite": True}]})


def test_first_failing_rule_is_datatroves_reason():
    out = FilterSet("gq", path="gopher-quality").apply(pl.DataFrame({"text": ["# # #", "word " * 60]}))
    assert out[DROP].to_list() == ["gopher_short_doc", "gopher_enough_stop_words"]
    assert out[FAILED].to_list()[0] == ["gopher_short_doc", "gopher_too_many_hashes", "gopher_below_alpha_threshold", "gopher_enough_stop_words"]


@pytest.mark.parametrize("path", sorted(SETS.values()))
def test_every_rule_has_a_source(path):
    loaded = filter_sets.load(path)
    assert loaded.source and all(rule.source for rule in loaded.rules)


def assert_agrees_with_datatrove(docs, expected):
    """Each set's reasons equal datatrove's on >= 99% of `docs`, and C4's kept text is datatrove's (by digest)."""
    for name, path in SETS.items():
        out = FilterSet(name, path=path, rewrite=name == "c4").apply(docs)
        out = out[0] if isinstance(out, tuple) else out  # with rewrite: (frame, counters)
        agree = out[DROP].eq_missing(expected[name])
        assert agree.mean() >= 0.99, (name, out.filter(~agree).select("id", DROP).head(5).to_dicts())
        if name == "c4":
            kept = out.filter(pl.col(DROP).is_null())["text"].to_list()
            digests = [hashlib.blake2b(t.encode(), digest_size=16).hexdigest() for t in kept]
            assert digests == expected.filter(pl.col("c4").is_null())["c4_text_blake2b"].to_list()


def test_agreement_with_datatrove_on_gutenberg(shared_data):
    """The four sets against datatrove 0.10.1's reasons, stored for 300 documents of real books (150
    with rare reasons); texts are rebuilt from ../shared/data (tests/fixtures/make_datatrove_reasons.py)."""
    from benchmarks.quality_corpus import rebuild

    expected = pl.read_ndjson(FIXTURE, schema={**{name: pl.String for name in ["id", *SETS, "c4_text_blake2b"]}})
    docs = rebuild(expected["id"].to_list(), root=shared_data)
    assert_agrees_with_datatrove(docs, expected)


def test_batch_chunks_split_at_pythons_whitespace():
    spaces = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
    text = "a" + "b".join(spaces) + "c\u200bd\ufeffe"  # U+200B and U+FEFF are not whitespace
    batch = tokens.Batch(pl.Series([text, "", "  ", "x"]))
    chunks = [text.encode()[s:e].decode() for s, e in zip(batch.starts[batch.owner == 0], batch.ends[batch.owner == 0])]
    assert chunks == text.split()
    assert batch.word_counts()["words"].to_list() == [len(spacy_en.words(text)), 0, 0, 1]


@pytest.mark.parametrize(
    "line",
    ["One.  Two.", "One.\tTwo.", "One.\xa0Two.", " One. Two.", "One. Two.  ", "One. Two. ", "Hi!", "", "   ", 'He said "Stop." Then he left.', "Wait... what? Really?! Yes."],
)
def test_sentence_kernel_matches_the_sentencizer(line):
    assert tokens.Batch(pl.Series([line])).sentence_counts().tolist() == [spacy_en.sentence_count(line)]


def test_fast_chunk_shapes_match_the_tokenizer():
    chunks = ["said", "said,", "said.", '"Well', "“Well", "(Well", "_word", "dont", "dont,", "Mr.", "a.", "that,", '"It', "it.", "AB.", "Ab.", "café", "café,", "(:", "cannot!", "Its,"]
    # by skeleton: punctuation around letter runs joined by hyphens or apostrophes, and look-alikes that are not
    chunks += ['said."', "said.”", "WORD.”", "Word.”", "A.”", "(Well,", "well-known,", "Well-Known.", "Jones',", "o'er.", "ne’er-do-well", "John's.", "don't.", "(it's", "“e.g.", "US$5", "$word", "word-", "-word", "(a)", "b)", ":D,", "x-ray)", "Lord’s,", "A-B."]
    order, counts, flat = tokens.chunk_tokens(pl.Series(chunks))
    pieces = flat.to_list()
    cut, at = {}, 0
    for i, n in zip(order, counts):
        cut[chunks[i]] = tuple(pieces[at : at + n])
        at += n
    assert cut == {c: spacy_en.tokens(c) for c in chunks}


def test_emptying_the_vocabulary_changes_nothing(monkeypatch):
    texts = pl.Series(["The cat sat on the mat, with a hat. " * 3, "Dr. Who's there?\nNobody -- at all...", "x y z"])
    before = tokens.Batch(texts, vocabulary=tokens.Vocabulary()).word_counts()
    monkeypatch.setattr(tokens, "LIMIT", 5)
    small = tokens.Vocabulary()
    tokens.Batch(pl.Series(["filling up the vocabulary with other words"]), vocabulary=small)
    assert tokens.Batch(texts, vocabulary=small).word_counts().equals(before)
    assert small.size <= 40


def test_web_quality_pipeline_end_to_end(tmp_path, ray_address):
    """pipelines/web-quality.yaml through the runner: reasons per stage, scores on every record, and
    C4's text on the records it keeps."""
    import curate
    from tests.conftest import ROOT, write_jsonl

    prose = (
        "The old man walked slowly to the river and sat down by the water with his dog. It was late in the "
        "autumn, and the leaves had turned from green to gold and brown. Across the valley a bell rang for "
        "the evening service, and smoke rose from the chimneys of the village where his daughter lived with "
        "her husband and three children. He thought of the years that had passed since he first came to "
        "that place as a young soldier, tired and hungry, with nothing but a coat and a letter of introduction."
    )
    records = [
        {"id": "kept", "text": prose + "\nA short heading\nIt was the end of the day. The sun went down. Birds sang. He got up and went home to eat."},
        {"id": "short", "text": "Too short."},
        {"id": "repeated", "text": "\n\n".join(["Same paragraph here, with the words repeated again and again."] * 5)},
        {"id": "code", "text": prose + "\nvar x = {a: 1}; print the value of x to the screen now."},
    ]
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    result = curate.run(ROOT / "pipelines" / "web-quality.yaml", input=str(tmp_path / "in" / "*"), output=tmp_path / "out", ray_address=ray_address)
    # "Too short." is too short for language ID to judge (2 words, under min_words): Gopher's rules remove it
    assert result.stats["removed_by_reason"] == {"top_2_gram": 1, "dup_para_frac": 1, "curly_bracket": 1}
    c4 = next(s for s in result.stats["stages"] if s["name"] == "c4")
    assert c4["rewrite"]["records_changed"] == 1 and c4["rewrite"]["lines_in"] - c4["rewrite"]["lines_out"] == 1  # "A short heading"
    kept = result.kept().collect()
    assert kept["id"].to_list() == ["kept"]
    assert "A short heading" not in kept["text"].item() and kept["text"].item().endswith("went home to eat.")  # C4 dropped the line
    assert kept["gopher_quality_alpha_word_ratio"].item() > 0.8 and kept["c4_c4_sentences"].item() >= 5
    removed = result.removed().collect()
    assert removed.filter(pl.col("id") == "code")["text"].item() == records[3]["text"]  # removed records keep their text


def test_unit_separator_is_whitespace_inside_lines():
    """U+001F is whitespace for Python but not a line break for str.splitlines (U+001C-U+001E are)."""
    assert scores("bullet_line_ratio", ["\x1f- a\nb"]) == [0.5]
    assert scores("end_ellipsis_line_ratio", ["a...\x1f\nb"]) == [0.5]
    assert scores("c4_sentences", ["One\x1ftwo three.\nFour five six. Seven eight nine. Ten eleven twelve. A b c."]) == [5]  # 3 words


def test_agreement_with_datatrove_on_edge_cases():
    """The four sets against datatrove 0.10.1's reasons for 1,500 made-up documents full of edge cases
    (tests/fixtures/synthetic.py): odd line breaks and whitespace, repeats, citations, code, policies."""
    from tests.fixtures.synthetic import documents

    expected = pl.read_ndjson(FIXTURE.with_name("datatrove_synthetic_reasons.jsonl"), schema={name: pl.String for name in ["id", *SETS, "c4_text_blake2b"]})
    texts = documents()
    docs = pl.DataFrame({"id": expected["id"], "text": texts})
    assert_agrees_with_datatrove(docs, expected)
