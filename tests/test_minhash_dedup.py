"""minhash_dedup end to end on the session's Ray."""

import random
import subprocess
import sys

import polars as pl
import pytest

import curate
import curate.text.minhash
from curate.config import build_pipeline
from curate.errors import ConfigError
from tests.conftest import pipeline, subprocess_env, write_jsonl

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega".split()


def corpus(originals=200, length=120, every=4, changes=1, seed=3):
    """Random texts; every `every`-th one gets a near-copy with `changes` words replaced."""
    rng = random.Random(seed)
    records, pairs = [], []
    for i in range(originals):
        words = [rng.choice(WORDS) for _ in range(length)]
        records.append({"id": f"d{i}", "text": " ".join(words), "q": rng.random()})
        if i % every == 0:
            copy = list(words)
            for _ in range(changes):
                copy[rng.randrange(length)] = "CHANGED"
            records.append({"id": f"d{i}-copy", "text": " ".join(copy), "q": rng.random()})
            pairs.append((f"d{i}", f"d{i}-copy"))
    return records, pairs


def near(**params):
    return [{"name": "near", "use": "minhash_dedup", "field": "text", **params}]


def run(tmp_path, stages, *, ray_address, name="out", **input_options):
    config = pipeline(tmp_path, stages, **input_options)
    config["output"] = str(tmp_path / name)
    return curate.run(config, ray_address=ray_address)


def test_planted_copies_are_removed_with_their_original(tmp_path, ray_address):
    records, pairs = corpus()
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    result = run(tmp_path, near(write_clusters=True), ray_address=ray_address)
    removed = result.removed().collect()
    assert dict(zip(removed["id"], removed["duplicate_of"])) == {copy: original for original, copy in pairs}
    assert set(removed["reason"]) == {"near_duplicate"}
    stage = result.stats["stages"][1]
    assert stage["candidate_pairs"] == len(pairs) and stage["clusters"] == len(pairs)
    clusters = pl.read_parquet(tmp_path / "out" / "clusters" / "*.parquet")
    assert clusters.height == 2 * len(pairs) and clusters.filter("kept")["id"].sort().to_list() == sorted(o for o, _ in pairs)
    answer = result.explain(pairs[0][1])
    assert answer["duplicate"]["id"] == pairs[0][0]
    assert answer["similarity"]["true_jaccard"] == pytest.approx(111 / 121, abs=0.03)
    assert 0.7 < answer["similarity"]["estimated_jaccard"] <= 1.0


def test_results_do_not_depend_on_workers_tasks_or_partitions(tmp_path, ray_address, monkeypatch):
    records, _ = corpus(originals=400, every=2, changes=3)
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    one = run(tmp_path, near(), ray_address=ray_address, name="one")
    monkeypatch.setattr("curate.runner.planning.KEYS_PER_PARTITION", 37)
    many = run(tmp_path, near(), ray_address=ray_address, name="many", chunk_bytes=4000)
    assert len(list((tmp_path / "many" / "kept").iterdir())) > 10
    assert one.removed().collect().height > 50
    assert one.kept().collect().equals(many.kept().collect())
    assert one.removed().collect().sort("id").equals(many.removed().collect().sort("id"))


@pytest.mark.parametrize("keep", ["longest", "max:q"])
def test_keep_policies(tmp_path, ray_address, keep):
    rng = random.Random(5)
    base = " ".join(rng.choice(WORDS) for _ in range(100))
    records = [
        {"id": "short", "text": base, "q": 0.1},
        {"id": "long", "text": base + " omega", "q": 0.2},
        {"id": "best", "text": base + " psi", "q": 0.9},
    ]
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    kept = run(tmp_path, near(keep=keep), ray_address=ray_address).kept().collect()["id"].to_list()
    assert kept == (["long"] if keep == "longest" else ["best"])


def test_verify_jaccard_drops_false_candidates(tmp_path, ray_address):
    rng = random.Random(9)
    records = []
    for i in range(40):  # pairs at true Jaccard about 0.5: candidates with one-row bands, not duplicates at 0.8
        words = [rng.choice(WORDS) + str(rng.randint(0, 9)) for _ in range(100)]
        records.append({"id": f"a{i}", "text": " ".join(words)})
        records.append({"id": f"b{i}", "text": " ".join(words[:66] + [w + "x" for w in words[66:]])})
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    loose = run(tmp_path, near(bands=64, rows=2), ray_address=ray_address, name="loose")
    strict = run(tmp_path, near(bands=64, rows=2, verify_jaccard=True), ray_address=ray_address, name="strict")
    assert loose.stats["removed"] >= 30
    assert strict.stats["removed"] == 0 and strict.stats["stages"][1]["rejected_pairs"] >= 30


def test_verify_jaccard_keeps_chain_members_far_from_the_kept_record(tmp_path, ray_address):
    """a ~ b and b ~ c, but c is far from a: without verification c goes as a duplicate of a (clusters
    are transitive); with it, every removed record is within the threshold of the record kept for it."""
    rng = random.Random(4)
    a = [f"{rng.choice(WORDS)}{i}" for i in range(300)]
    b = [w if i % 30 else "B" for i, w in enumerate(a)]  # 10 words changed at positions 0, 30, ...
    c = [w if (i - 15) % 30 else "C" for i, w in enumerate(b)]  # 10 more, at 15, 45, ...
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": "a", "text": " ".join(a)}, {"id": "b", "text": " ".join(b)}, {"id": "c", "text": " ".join(c)}])
    hasher = curate.text.minhash.MinHasher()
    assert hasher.similarity(" ".join(a), " ".join(b))[1] >= 0.7 and hasher.similarity(" ".join(a), " ".join(c))[1] < 0.6
    loose = run(tmp_path, near(threshold=0.65, bands=42, rows=3), ray_address=ray_address, name="loose")
    strict = run(tmp_path, near(threshold=0.65, bands=42, rows=3, verify_jaccard=True), ray_address=ray_address, name="strict")
    assert sorted(loose.removed().collect()["id"]) == ["b", "c"]
    assert strict.removed().collect()["id"].to_list() == ["b"] and strict.kept().collect()["id"].to_list() == ["a", "c"]
    assert strict.stats["stages"][1]["kept_far_from_representative"] == 1


def test_character_shingles(tmp_path, ray_address):
    write_jsonl(tmp_path / "in" / "a.jsonl", [
        {"id": "1", "text": "Near-duplicate detection with character shingles works on short texts too."},
        {"id": "2", "text": "Near-duplicate detection with character shingles works on short texts, too."},
        {"id": "3", "text": "Something else entirely, with no words in common at all, and longer."},
    ])
    result = run(tmp_path, near(tokenize="chars", ngram=4, threshold=0.7), ray_address=ray_address)
    assert result.removed().collect()["id"].to_list() == ["2"]


def test_near_dedup_pipeline_ships(tmp_path, ray_address):
    from tests.conftest import ROOT

    records, pairs = corpus(originals=60)
    records.append(dict(records[0], id="exact-copy"))
    write_jsonl(tmp_path / "data" / "a.jsonl", records)
    result = curate.run(ROOT / "pipelines" / "near-dedup.yaml", input=str(tmp_path / "data" / "*.jsonl"), output=tmp_path / "run", set=["near.threshold=0.75"], ray_address=ray_address)
    assert result.stats["removed_by_reason"] == {"exact_duplicate": 1, "near_duplicate": len(pairs)}
    assert result.manifest["pipeline"]["stages"][1]["threshold"] == 0.75


def test_near_keys_ride_in_exact_dedups_segment(tmp_path, ray_address):
    """exact_dedup then minhash_dedup read the shards once for both keys (issue 19): the outputs equal
    those of the two in segments of their own (a no-op stage between them forces that), though exact
    copies are near copies too and both stages' keys hold them."""
    from tests.conftest import run_cli

    records, pairs = corpus(originals=120)
    records += [dict(records[i], id=f"exact-{i}", text=records[i]["text"].upper()) for i in range(0, 40, 3)]
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    exact = [{"name": "exact", "use": "exact_dedup", "field": "text"}]
    riding = run(tmp_path, exact + near(verify_jaccard=True), ray_address=ray_address, name="riding")
    apart = run(tmp_path, exact + [{"name": "noop", "use": "filter", "keep": "true"}] + near(verify_jaccard=True), ray_address=ray_address, name="apart")
    phases = [p["phase"] for p in riding.stats["phases"]]
    assert [p for p in phases if p.startswith("segment-")] == ["segment-0", "segment-1"] and phases.index("exact.reduce") < phases.index("near.buckets")
    assert [p for p in (p["phase"] for p in apart.stats["phases"]) if p.startswith("segment-")] == ["segment-0", "segment-1", "segment-2"]
    assert riding.stats["removed_by_reason"] == {"exact_duplicate": 14, "near_duplicate": len(pairs)}
    assert riding.kept().collect().equals(apart.kept().collect())
    removed = riding.removed().collect().sort("id")
    assert removed.equals(apart.removed().collect().sort("id"))
    counts = lambda run: [(s["name"], s["in"], s["out"], s["removed"]) for s in run.stats["stages"] if s["name"] != "noop"]
    assert counts(riding) == counts(apart)
    # killed between the two reduces, then resumed: the same outputs
    config = tmp_path / "riding.yaml"
    config.write_text(
        f"name: riding\ninput: {{path: '{tmp_path / 'in' / '*.jsonl'}'}}\noutput: '{tmp_path / 'killed'}'\n"
        "stages:\n  - {name: exact, use: exact_dedup, field: text}\n  - {name: near, use: minhash_dedup, field: text, verify_jaccard: true}\n"
    )
    killed = run_cli("run", str(config), "--quiet", "--ray-address", ray_address, env={"CURATE_FAULT": "phase:exact.reduce"})
    assert killed.returncode == -9, killed.stderr
    again = run_cli("run", str(config), "--quiet", "--ray-address", ray_address)
    assert again.returncode == 0, again.stderr
    assert curate.open_run(tmp_path / "killed").removed().collect().sort("id").equals(removed)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"bands": 4}, "give both bands and rows"),
        ({"bands": 20, "rows": 10}, "exceeds num_perm"),
        ({"keep": "biggest"}, "use first, longest, or max:<column>"),
        ({"tokenize": "sentences"}, "Input should be 'words' or 'chars'"),
    ],
)
def test_parameter_errors(params, message):
    with pytest.raises(ConfigError, match=message):
        build_pipeline({"name": "x", "input": "a.jsonl", "output": "o", "stages": near(**params)})


# In a fresh process: which kernels (and argument types) a stage's tasks use, against what its
# warm-up (run on the driver) compiled or loaded. Batches as a task reads them: from Parquet, with
# ASCII, non-ASCII and empty texts, and a batch of empty texts only.
_WARM_UP_CHILD = """
import sys
import numba
import polars as pl
from curate.columns import ID, ORDER
from curate.kernels import minhash, text
from curate.stages.minhash_dedup import MinHashDedup

def loaded():
    return {f"{m.__name__}.{name}": sorted(map(str, f.overloads)) for m in (minhash, text) for name, f in vars(m).items() if isinstance(f, numba.core.registry.CPUDispatcher)}

stage = MinHashDedup("near", **eval(sys.argv[1]))
stage.warm_up()
warmed = loaded()
assert warmed["curate.kernels.minhash.signatures"], warmed
for i, texts in enumerate([["Alpha beta gamma delta", "ÉCOLE  d'été\u00a0x", "", "ab"], ["", ""]]):
    path = f"{sys.argv[2]}/batch{i}.parquet"
    pl.DataFrame({"text": texts, ORDER: range(len(texts)), ID: [str(n) for n in range(len(texts))]}).write_parquet(path)
    stage.keys(pl.read_parquet(path))
after = loaded()
assert after == warmed, {k: v for k, v in after.items() if warmed[k] != v}
"""


@pytest.mark.parametrize("params", [{}, {"tokenize": "chars", "verify_jaccard": True}])
def test_warm_up_leaves_nothing_for_the_tasks_to_compile(tmp_path, params):
    done = subprocess.run([sys.executable, "-c", _WARM_UP_CHILD, repr(params), str(tmp_path)], capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_accuracy_on_gutenberg(tmp_path, ray_address, shared_data):
    """Small version of benchmarks/near_dedup_accuracy.py: recall >= 0.95 for pairs with true Jaccard
    >= threshold + 0.1; with verification, no removed record below threshold - 0.1 of its kept one."""
    from benchmarks.near_dup_corpus import evaluate, gutenberg_documents, plant_near_copies
    from curate.text.minhash import MinHasher

    documents = gutenberg_documents(books=30, root=shared_data)
    documents, labels = plant_near_copies(documents, 400)
    write_jsonl(tmp_path / "in" / "docs.jsonl", documents.to_dicts())
    texts = dict(zip(documents["id"], documents["text"]))
    for verify in (False, True):
        result = run(tmp_path, near(verify_jaccard=verify), ray_address=ray_address, name=f"out-{verify}")
        removed = result.removed().collect()
        scores = evaluate(labels, removed, set(), texts, MinHasher(), 0.8)
        high = scores["labels"].filter(pl.col("jaccard") >= 0.9)
        assert high.height >= 50 and high["found"].mean() >= 0.95, high["found"].mean()
        if verify:
            assert (scores["removed_jaccard"] < 0.7).sum() == 0
            assert (scores["removed_jaccard"] >= 0.8).mean() >= 0.99


def test_problems_with_other_numbers_or_answers_are_kept_apart(tmp_path, ray_address):
    """The same words with other numbers, or another answer, are other problems (MATH train: 26 of
    29 'near duplicates' removed by word 5-grams had another answer); a re-worded copy is still one."""
    base = "Let $f(x) = 3x^2 - 5x + 2$ for all real numbers $x$. What is the value of $f(-7)$ when it is computed?"
    write_jsonl(tmp_path / "in" / "a.jsonl", [
        {"id": "p", "text": base, "answer": "\\dfrac{1}{2}"},
        {"id": "reworded", "text": base.replace("What is", "What exactly is"), "answer": "$\\frac{1}{2}$"},  # same answer, written otherwise
        {"id": "numbers", "text": base.replace("f(-7)", "f(3)"), "answer": "\\frac{1}{2}"},
        {"id": "answer", "text": base.replace("value of", "value, of"), "answer": "7"},
    ])
    plain = run(tmp_path, near(tokenize="chars", ngram=5, threshold=0.75, verify_jaccard=True), ray_address=ray_address, name="plain")
    assert sorted(plain.removed().collect()["id"]) == ["answer", "numbers", "reworded"]
    apart = run(tmp_path, near(tokenize="chars", ngram=5, threshold=0.75, verify_jaccard=True, apart_numbers=True, apart_field="answer"), ray_address=ray_address, name="apart")
    removed = apart.removed().collect()
    assert removed["id"].to_list() == ["reworded"] and removed["duplicate_of"].to_list() == ["p"]


def test_verify_jaccard_with_no_candidate_pairs():
    """No two records share a band: the verification steps get an empty partition (no columns) and keep everything."""
    from curate.testing import run_stage

    rows = [{"text": f"problem number {i}: {' '.join(chr(97 + (i * 7 + j) % 26) * 3 for j in range(12))}"} for i in range(30)]
    result = run_stage({"name": "near", "use": "minhash_dedup", "field": "text", "verify_jaccard": True, "threshold": 0.9}, rows)
    assert result.removed.height == 0 and result.kept.height == 30 and result.stats["candidate_pairs"] == 0
