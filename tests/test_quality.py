"""Quality stages end to end: filter_set (per-rule counts, histograms), decontaminate, language,
classifier and train-classifier, and `curate stats --stage / --samples`."""

import json
import random

import polars as pl
import pytest

import curate
from curate.columns import DROP
from curate.config import build_pipeline
from curate.errors import ConfigError
from curate.text.ngrams import _word_counts
from tests.conftest import pipeline, run_cli, write_jsonl

PROBLEMS = [
    {"id": "ok1", "problem": "What is the remainder when 2208 is divided by 19?", "answer": "4"},
    {"id": "proof", "problem": "Prove that there are infinitely many primes. (a) Find one. (b) Find two.", "answer": "2"},
    {"id": "mc", "problem": "Which is prime?\n(A) 4\n(B) 6\n(C) 7\n(D) 9", "answer": "C"},
    {"id": "yn", "problem": "Is 91 prime?", "answer": "No"},
    {"id": "noans", "problem": "Compute $3 \\cdot 7$.", "answer": ""},
    {"id": "ok2", "problem": "Find the sum of the roots of $x^2 - 5x + 6 = 0$.", "answer": "5"},
]


def run(tmp_path, stages, *, ray_address, **input_options):
    config = pipeline(tmp_path, stages, **input_options)
    return curate.run(config, ray_address=ray_address)


def test_filter_set_counts_every_failing_rule_and_removes_under_the_first(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", PROBLEMS)
    result = run(tmp_path, [{"name": "math", "use": "filter_set", "path": "math-problems", "field": "problem", "answer_field": "answer"}], ray_address=ray_address, text_fields=["problem"])
    stage = result.stats["stages"][1]
    assert stage["removed"] == {"multiple_choice": 1, "no_answer": 1, "proof": 1, "yes_no": 1}
    assert stage["failed"]["multi_part"] == 1 and stage["failed"]["proof"] == 1 and stage["failed"]["yes_no_answer"] == 1
    assert stage["histograms"]["math_option_labels"]["counts"][-1] == 1 and sum(stage["histograms"]["math_proof"]["counts"]) == len(PROBLEMS)
    kept = result.kept().collect()
    assert kept["id"].to_list() == ["ok1", "ok2"] and kept["math_proof"].to_list() == [0.0, 0.0]  # scores stay on kept records
    removed = result.removed().collect()
    assert removed.filter(pl.col("id") == "proof")["math_multi_part"].item() == 1.0  # ... and on removed ones

    detail = run_cli("stats", str(tmp_path / "out"), "--stage", "math")
    assert detail.returncode == 0, detail.stderr
    assert "multi_part" in detail.stdout and "math_option_labels" in detail.stdout
    samples = run_cli("stats", str(tmp_path / "out"), "--samples", "yes_no")
    assert samples.returncode == 0 and "Is 91 prime?" in samples.stdout
    missing = run_cli("stats", str(tmp_path / "out"), "--samples", "nonsense")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "reasons in this run" in missing.stderr


@pytest.mark.parametrize(
    "params, message",
    [
        ({"path": "no-such-set"}, "no filter set 'no-such-set'"),
        ({"path": "math-problems", "skip": ["nope"]}, "skip: no rule nope"),
        ({"path": "c4", "thresholds": {"nope": {"min": 1}}}, "thresholds: no rule nope in c4"),
        ({"path": "c4", "thresholds": {"too_few_sentences": {"low": 1}}}, "only min and max can be set"),
        ({"path": "c4", "thresholds": {"too_few_sentences": {"min": None}}}, "needs min, max or both"),
    ],
)
def test_filter_set_errors_name_the_stage(params, message):
    with pytest.raises(ConfigError, match=message):
        build_pipeline({"name": "x", "input": "a.jsonl", "output": "o", "stages": [{"name": "q", "use": "filter_set", **params}]})


def test_filter_set_thresholds_move_a_rule_for_one_run():
    """`thresholds` moves a rule's bound (score first, threshold later: the scores are the same) and the
    manifest's thresholds say so, for `curate report`."""
    from curate.testing import run_stage

    rows = [{"text": "One. Two. Three."}, {"text": "One. Two. Three. Four. Five. Six."}, {"text": "no sentence at all"}]
    default = run_stage({"name": "c4", "use": "filter_set", "path": "c4", "skip": ["curly_bracket", "lorem_ipsum"]}, rows)
    moved = run_stage({"name": "c4", "use": "filter_set", "path": "c4", "skip": ["curly_bracket", "lorem_ipsum"],
                       "thresholds": {"too_few_sentences": {"min": 3}}}, rows)
    assert default.removed["id"].to_list() == ["r0", "r2"] and moved.removed["id"].to_list() == ["r2"]
    assert default.kept["c4_c4_sentences"].to_list() == [6.0] and sorted(moved.kept["c4_c4_sentences"].to_list()) == [3.0, 6.0]


def test_a_broken_filter_set_names_its_file_and_rule(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrules:\n  - reason: short\n    score: no_such_score\n    min: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: rules.0: .*unknown score 'no_such_score'"):
        build_pipeline({"name": "x", "input": "a.jsonl", "output": "o", "stages": [{"name": "q", "use": "filter_set", "path": str(bad)}]})


def test_decontaminate_against_benchmark_files(tmp_path, ray_address):
    bench = tmp_path / "bench"
    write_jsonl(bench / "aime.jsonl", [{"problem": "Every morning Aya goes for a $9$-kilometer-long walk and stops at a coffee shop afterwards. Find the time."}])
    (bench / "math.json").write_text(json.dumps([{"question": "芳芳买了一本书有99页，看了90页，她还剩多少页没有看？", "answer": 9}]))
    records = [
        {"id": "copy", "text": "Intro. EVERY morning, Aya goes for a 9 kilometer long walk and stops at a coffee shop afterwards!"},
        {"id": "zh", "text": "题目：芳芳买了一本书有99页，看了90页，她还剩多少页没有看？"},
        {"id": "clean", "text": "Every morning Bob goes for a swim and then he has breakfast with his family at home."},
    ]
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    stage = {"name": "decon", "use": "decontaminate", "against": [str(bench / "*.json*")], "n": 8}
    result = run(tmp_path, [stage], ray_address=ray_address)
    assert result.stats["removed_by_reason"] == {"contaminated:aime.jsonl": 1, "contaminated:math.json": 1}
    assert result.kept().collect()["decon_matches"].to_list() == [0]
    assert {b["name"] for b in result.manifest["pipeline"]["stages"][0]["benchmarks"]} == {"aime.jsonl", "math.json"}


def test_decontaminate_errors_before_any_work(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": "1", "text": "x"}])
    write_jsonl(tmp_path / "b.jsonl", [{"other": "field"}])
    for against, message in (([str(tmp_path / "none*.jsonl")], "no benchmark files match"), ([str(tmp_path / "b.jsonl")], "none of the fields")):
        with pytest.raises(ConfigError, match=message):
            run(tmp_path, [{"name": "decon", "use": "decontaminate", "against": against}], ray_address=ray_address)
        assert not (tmp_path / "out").exists()


def test_decontaminate_on_the_real_benchmarks(tmp_path, ray_address, shared_data):
    math500 = pl.read_ndjson(shared_data / "math" / "math500" / "test.jsonl")
    train = pl.read_ndjson(shared_data / "math" / "gsm8k" / "train.jsonl").head(300)
    problems = math500["problem"].head(50)
    records = [{"id": f"m{i}", "text": p} for i, p in enumerate(problems)] + [{"id": f"g{i}", "text": q} for i, q in enumerate(train["question"])]
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    against = [str(shared_data / "math" / "math500" / "test.jsonl"), str(shared_data / "math" / "benchmarks" / "*.jsonl")]
    result = run(tmp_path, [{"name": "decon", "use": "decontaminate", "against": against}], ray_address=ray_address)
    removed = result.removed().collect()
    assert set(removed.filter(pl.col("id").str.starts_with("m"))["reason"]) == {"contaminated:test.jsonl"}
    long_enough = int((_word_counts(problems) >= 6).sum())  # shorter texts are not indexed (min_words)
    assert long_enough >= 45 and removed.filter(pl.col("id").str.starts_with("m")).height == long_enough
    assert removed.filter(pl.col("id").str.starts_with("g")).height <= 3  # GSM8K train shares no 13-grams with these sets, bar boilerplate


def test_language_stage(tmp_path, ray_address):
    records = [
        {"id": "en", "text": "The committee will meet again next week to discuss the budget for the coming year."},
        {"id": "fr", "text": "Le comité se réunira de nouveau la semaine prochaine pour discuter du budget de l'année."},
        {"id": "math", "text": "Compute $\\int_0^1 x^2\\,dx$ and simplify $\\frac{a^2-b^2}{a-b}$ when $a \\neq b$, then evaluate the result."},
        {"id": "empty", "text": "   "},
    ]
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    result = run(tmp_path, [{"name": "lang", "use": "language", "languages": ["en"]}], ray_address=ray_address)
    kept = result.kept().collect()
    assert kept["id"].to_list() == ["en", "math", "empty"]  # the last two too short to judge (8 and 0 words)
    assert result.stats["removed_by_reason"] == {"language:fr": 1}
    assert kept["lang_determined"].to_list() == [True, False, False] and kept["lang_words"].to_list()[1:] == [8, 0]
    assert kept.filter(pl.col("lang_determined"))["lang_score"].min() >= 0.65
    config = {**pipeline(tmp_path, [{"name": "lang", "use": "language", "languages": ["en"], "min_words": 0}]), "output": str(tmp_path / "judged")}
    judged = curate.run(config, ray_address=ray_address)
    assert judged.stats["removed_by_reason"] == {"language:fr": 1, "language_score_low": 1}  # the empty text


def test_language_keeps_math_it_cannot_read_and_removes_chinese(shared_data):
    """The real sets: MATH train (English, LaTeX, Asymptote) kept, CMATH (Chinese) removed. Without
    min_words and the drawings stripped, 1,246 of 7,474 MATH problems went (100 of them as French)."""
    import json

    from curate.stages.language import Language

    stage = Language("lang", languages=["en"], field="problem")
    stage.prepare()
    math = pl.DataFrame(json.loads((shared_data / "math" / "math" / "train.json").read_text()))
    kept = stage.apply(math)[DROP].is_null().mean()
    chinese = pl.read_ndjson(shared_data / "math" / "benchmarks" / "cmath.jsonl")
    removed = stage.apply(chinese.rename({"question": "problem"}))[DROP].is_not_null().mean()
    assert kept >= 0.99 and removed >= 0.95, (kept, removed)


def _regex_lines_and_words(text: pl.Series) -> tuple[list[str], list[int]]:
    """What language ID did before issue 19: polars regular expressions, one pass each."""
    from curate.text.normalize import CJK_CHARACTER

    filled = text.fill_null("")
    lines = filled.str.replace_all(r"\s+", " ").str.strip_chars().to_list()
    words = filled.str.replace_all(CJK_CHARACTER, " $1 ").str.count_matches(r"\p{L}+").to_list()
    return lines, words


def test_one_line_and_words_equal_the_regular_expressions():
    """fastText's line and the word count come from one compiled pass (issue 19) with polars' own
    classes of every code point: equal to the regexes on whitespace of every kind, CJK, letters
    beyond the Basic Plane, marks and missing texts."""
    from curate.text.normalize import one_line_and_words

    texts = [
        "  Hello,\t\tworld!\n\nNew  paragraph. ", "", "   ", None, "a\u00a0b  c\u2003d\u3000\u3000e\x1cf\x85g", "\u2028x\u2029",
        "日本語のテキスト abc漢字def", "한국어 텍스트입니다", "〇々〆 ー", "x\u200by\ufeffz", "\U00020000\U00020001 ab", "ǅemal Σ e\u0301t\u00e9 123 x_y",
        "Compute  .  and simplify", "\U0001d400\U0001d401 bold", "ﬁ ﬂ", "\u0663\u0664 عربي", "e.g. 3.14 — “quoted”",
    ]  # fmt: skip
    text = pl.Series(texts, dtype=pl.String)
    lines, words = one_line_and_words(text)
    assert (lines.to_list(), words.tolist()) == _regex_lines_and_words(text)


def test_one_line_and_words_on_real_text(shared_data):
    import json

    from curate.text.normalize import one_line_and_words

    books = pl.read_parquet(shared_data / "gutenberg" / "books-000.parquet", columns=["text"]).head(30)["text"]
    math = pl.DataFrame(json.loads((shared_data / "math" / "math" / "train.json").read_text()))["problem"]
    chinese = pl.read_ndjson(shared_data / "math" / "benchmarks" / "cmath.jsonl")["question"].cast(pl.String)
    for text in (books, math, chinese):
        lines, words = one_line_and_words(text)
        assert (lines.to_list(), words.tolist()) == _regex_lines_and_words(text)


def _labelled_files(tmp_path):
    rng = random.Random(0)
    good = [f"word{i}" for i in range(300)] + ["the", "of", "and"] * 30
    bad = [f"spam{i}" for i in range(300)] + ["the", "of", "and"] * 30
    write_jsonl(tmp_path / "pos.jsonl", [{"text": " ".join(rng.choice(good) for _ in range(30))} for _ in range(300)])
    write_jsonl(tmp_path / "neg.jsonl", [{"text": " ".join(rng.choice(bad) for _ in range(30))} for _ in range(300)])
    return rng, good, bad


def test_train_classifier_then_classifier_stage(tmp_path, ray_address):
    rng, good, bad = _labelled_files(tmp_path)
    model = tmp_path / "quality.bin"
    done = run_cli("train-classifier", "-o", str(model), "--positives", str(tmp_path / "pos.jsonl"), "--negatives", str(tmp_path / "neg.jsonl"))
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "quality.bin.json").read_text())
    assert metrics["held_out"] > 30 and metrics["held_out_metrics"]["positive"]["precision"] >= 0.95 and metrics["held_out_metrics"]["positive"]["recall"] >= 0.95

    records = [{"id": f"g{i}", "text": " ".join(rng.choice(good) for _ in range(30))} for i in range(20)]
    records += [{"id": f"b{i}", "text": " ".join(rng.choice(bad) for _ in range(30))} for i in range(20)]
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    result = run(tmp_path, [{"name": "quality", "use": "classifier", "model": str(model), "threshold": 0.5}], ray_address=ray_address)
    assert sorted(result.kept().collect()["id"]) == sorted(f"g{i}" for i in range(20))
    assert result.stats["removed_by_reason"] == {"low_quality": 20}


def test_classifier_and_training_errors(tmp_path):
    write_jsonl(tmp_path / "tiny-pos.jsonl", [{"text": "good text"}] * 3)
    write_jsonl(tmp_path / "tiny-neg.jsonl", [{"text": "bad text"}] * 3)
    done = run_cli("train-classifier", "-o", str(tmp_path / "m.bin"), "--positives", str(tmp_path / "tiny-pos.jsonl"), "--negatives", str(tmp_path / "tiny-neg.jsonl"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "5+ examples" in done.stderr
    with pytest.raises(ConfigError, match="no such fastText model"):
        curate.run({"name": "x", "input": str(tmp_path / "tiny-pos.jsonl"), "output": str(tmp_path / "o"), "stages": [{"name": "q", "use": "classifier", "model": str(tmp_path / "none.bin")}]})


@pytest.mark.parametrize("percent, ties", [(30, False), (50, True), (100, False)])
def test_keep_top_keeps_exactly_the_top_share(tmp_path, ray_address, percent, ties):
    rng = random.Random(percent)
    values = [rng.choice([0.1, 0.5, 0.9]) if ties else rng.random() for _ in range(997)]
    records = [{"id": f"r{i}", "text": "x", "q": v} for i, v in enumerate(values)] + [{"id": "none", "text": "x", "q": None}]
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    result = run(tmp_path, [{"name": "top", "use": "keep_top", "column": "q", "percent": percent}], ray_address=ray_address, chunk_bytes=5000)
    keep = -(-len(records) * percent // 100)
    cut = sorted(values, reverse=True)[min(keep, len(values)) - 1]
    expected = {f"r{i}" for i, v in enumerate(values) if v >= cut}
    assert set(result.kept().collect()["id"]) == expected  # the k-th highest and everything tied with it
    assert result.removed().collect().filter(pl.col("id") == "none")["reason"].item() == "below_top_percent"
    if not ties:
        assert len(expected) == min(keep, len(values))


def _decon(tmp_path, items, **params):
    from curate.stages.decontaminate import Decontaminate

    write_jsonl(tmp_path / "bench" / "set.jsonl", [{"id": f"b{i}", "problem": p} for i, p in enumerate(items)])
    stage = Decontaminate("d", field="text", against=[str(tmp_path / "bench" / "set.jsonl")], n=8, **params)
    stage.prepare()
    return stage


PROBLEM = "Let $f(x) = 3x^2 - 5$ and $g(x) = 2x + 7$. What is the value of $f(g(4))$ when we express the answer as a common fraction?"
STOCK = "Express your answer as a common fraction in simplest form, please"


def test_decontaminate_scores_each_benchmark_item_and_says_which(tmp_path):
    """Re-typed and embedded copies hold the whole item; the same template with other numbers, or a
    problem sharing stock phrasing, do not; the removed record names the item and what matched."""
    others = [f"Item {i}: what is {i} plus {i + 1}? {STOCK}." for i in range(12)]  # the stock phrase in 12 items
    stage = _decon(tmp_path, [PROBLEM, *others])
    records = pl.DataFrame({"text": [
        "Problem 7.  " + PROBLEM.replace(" ", "  ").upper() + "\nPut the answer in \\boxed{}.",  # re-typed
        "Warm-up: add 2 and 2. Then: " + PROBLEM + " Finally, rest.",  # embedded in a longer text
        PROBLEM.replace("g(4)", "g(9)"),  # the same template, another number
        f"What is the sum of the roots of $x^2 - 9x + 14$? {STOCK}.",  # stock phrasing only
    ]})
    out = stage.apply(records)
    assert out[DROP].to_list() == ["contaminated:set.jsonl", "contaminated:set.jsonl", None, None]
    assert out["d_overlap"].to_list()[:2] == [1.0, 1.0] and out["d_item"].to_list()[:3] == ["b0", "b0", "b0"]
    assert out["d_numbers"][2] < 1.0 and out["d_overlap"][2] > 0.5  # the words matched, the numbers did not
    assert out["d_overlap"][3] == 0.0 and out["d_item"][3] is None  # the stock phrase is in 12 items: ignored
    from curate.text.ngrams import words_of

    assert out["d_item_text"][0] == PROBLEM and out["d_longest"][1] == len(words_of(PROBLEM))  # all of it, in one run
    assert out["d_ngrams"][0][0] == "let f x 3x 2 5 and g"


def test_decontaminate_common_phrasing_counts_when_asked(tmp_path):
    stage = _decon(tmp_path, [PROBLEM, *[f"Item {i}: what is {i} plus {i + 1}? {STOCK}." for i in range(12)]], common_items=100, min_overlap=0.01)
    out = stage.apply(pl.DataFrame({"text": [f"What is the sum of the roots of $x^2 - 9x + 14$? {STOCK}."]}))
    assert out["d_overlap"][0] > 0 and out[DROP][0] is None  # matched, but only the item's numbers decide... none shared


def test_decontaminate_on_math_train_with_planted_leaks(shared_data):
    """math-rl.yaml's settings on the real sets: re-typed benchmark items planted into MATH train are
    removed (>= 0.95), and MATH train itself is not, apart from its real copies of AIME problems."""
    from benchmarks.decontamination_accuracy import AGAINST, planted
    from curate.stages.decontaminate import Decontaminate

    train = pl.DataFrame(json.loads((shared_data / "math" / "math" / "train.json").read_text())).select("problem")
    leaks = planted(30, 1, train["problem"].to_list())
    stage = Decontaminate("d", field="problem", against=AGAINST, n=8, min_overlap=0.5)
    stage.prepare()
    found = stage.apply(leaks.select("problem"))
    assert found[DROP].is_not_null().mean() >= 0.95
    natural = stage.apply(train)
    removed = natural.filter(pl.col(DROP).is_not_null())
    not_aime = removed.filter(~pl.col("d_source").str.contains("aime_1983_2023"))
    assert not_aime.height <= 0.02 * train.height, not_aime.select("problem", "d_item").head(5).to_dicts()
    copies = removed.filter(pl.col("d_source").str.contains("aime_1983_2023"))
    assert (copies["d_overlap"] >= 0.95).mean() > 0.8  # the AIME ones are copies, not shared phrasing
