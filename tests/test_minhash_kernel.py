"""MinHash semantics are datasketch's: same shingles + hash function + seed -> the same signatures."""

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from curate.kernels.minhash import combine_tokens, token_hash
from curate.text.minhash import MinHasher, candidate_probability, optimal_bands_rows
from curate.text.normalize import Normalize, normalized
from tests.conftest import ROOT, subprocess_env

ALPHABET = list("abcdefghij ABCDE  ") + ["é", "É", "ß", "Σ", "ς", "ﬁ", "Ⓐ", "ǅ", "中", "文", "\u00a0", "\u2003", "\u2028", "\u0085", "\t", "\n", ".", ",", "😀"]


def random_texts(count, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 120))) for _ in range(count)]


def reference_tokens(text, chars):
    """What the kernel should see: normalized text (NFKC, case folding, whitespace), then tokens."""
    clean = pl.DataFrame({"t": [text]}).select(normalized(pl.col("t"), Normalize())).item()
    if chars:
        return [c.encode() for c in clean]
    return [w.encode() for w in re.split(r"\s+", clean) if w]


def hashfunc(shingle_tokens):
    return int(combine_tokens(np.array([token_hash(np.frombuffer(t, np.uint8)) for t in shingle_tokens], np.uint64)))


@pytest.mark.parametrize("chars, n, num_perm, seed", [(False, 5, 128, 1), (False, 1, 64, 7), (False, 3, 256, 42), (True, 5, 128, 1), (True, 2, 32, 3)])
def test_signatures_equal_datasketch(chars, n, num_perm, seed):
    texts = random_texts(60, seed) + ["", "   ", "one", "The Quick  brown fox, jumps!"]
    hasher = MinHasher("chars" if chars else "words", n, Normalize(), num_perm, seed)
    ours, counts = hasher.signatures(pl.Series(texts))
    for text, signature, count in zip(texts, ours, counts):
        tokens = reference_tokens(text, chars)
        width = min(n, len(tokens))
        shingles = [tuple(tokens[i : i + width]) for i in range(len(tokens) - width + 1)] if tokens else []
        reference = MinHash(num_perm=num_perm, seed=seed, hashfunc=hashfunc)  # datasketch 2.0: scheme affine32
        reference.update_batch(shingles)
        assert count == len(shingles)
        assert reference.hashvalues.dtype == np.uint32 and np.array_equal(reference.hashvalues, signature), text


def test_permutations_are_datasketchs():
    from curate.kernels.minhash import permutations

    for num_perm, seed in ((128, 1), (256, 99)):
        a, b = permutations(num_perm, seed)
        assert np.array_equal(MinHash(num_perm=num_perm, seed=seed).permutations, np.array([a, b]))


def test_ascii_fast_path_equals_full_normalisation():
    texts = random_texts(200, 5)
    full = pl.DataFrame({"t": texts}).select(normalized(pl.col("t"), Normalize())).to_series()
    for chars in (False, True):
        hasher = MinHasher("chars" if chars else "words", 4, Normalize(), 64, 1)
        assert np.array_equal(hasher.signatures(pl.Series(texts))[0], hasher.signatures(full)[0])


def test_optimal_bands_rows_are_datasketchs():
    for num_perm in (64, 128, 256):
        for threshold in (0.5, 0.7, 0.8, 0.9):
            assert optimal_bands_rows(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)
    assert optimal_bands_rows(0.8, 128) == (9, 13)
    assert candidate_probability(1.0, 9, 13) == 1.0 and candidate_probability(0.0, 9, 13) == 0.0


def test_shingle_sets_and_similarity():
    hasher = MinHasher()
    first = "one two three four five six seven eight nine ten"
    second = "one two three four five six seven eight nine eleven"
    sets = hasher.shingle_sets(pl.Series([first, second])).to_list()
    assert len(sets[0]) == 6 and len(set(sets[0]) & set(sets[1])) == 5
    estimated, true = hasher.similarity(first, second)
    assert true == pytest.approx(5 / 7) and abs(estimated - true) < 0.15


def test_signatures_are_the_same_on_every_machine():
    """Pinned values: the hash and permutation functions must never change silently."""
    signature, _ = MinHasher(num_perm=8).signatures(pl.Series(["the quick brown fox jumps over the lazy dog"]))
    assert signature[0].tolist() == PINNED


PINNED = [441417912, 490258669, 1156727321, 318246988, 1420581169, 823686856, 572156501, 1033076645]


_READ_ONLY_CHILD = """
import numba, numpy as np
from curate.kernels.text import any_high_byte
out = np.zeros(1, np.bool_)
any_high_byte(np.frombuffer(b"\\xc3\\xa9", np.uint8), np.array([0, 2]), out)
print(out[0], any_high_byte._cache._cache_path)
"""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("setpriv"), reason="runs a child as user nobody: needs root and setpriv")
def test_kernels_work_from_a_read_only_install_without_a_home():
    """Where numba can write neither beside the kernels nor in ~/.cache, the kernels still import,
    run and are cached, in a private directory of the user's in the temporary directory."""
    top = Path(tempfile.mkdtemp(prefix="curate-read-only-"))  # not under pytest's 0700 tmp_path: nobody reads it
    try:
        top.chmod(0o755)
        shutil.copytree(ROOT / "curate", top / "curate", ignore=shutil.ignore_patterns("__pycache__"))
        (top / "tmp").mkdir()
        os.chown(top / "tmp", 65534, 65534)
        env = {k: v for k, v in subprocess_env().items() if not k.startswith("NUMBA_")}
        env.update(PYTHONPATH=str(top), HOME="/nonexistent", TMPDIR=str(top / "tmp"))
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", _READ_ONLY_CHILD]
        done = subprocess.run(command, env=env, cwd=top, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        found, cache = done.stdout.split()
        assert found == "True"
        assert Path(cache).parent == top / "tmp" / "curate-numba-65534"
        assert list(Path(cache).glob("text.any_high_byte-*.nbi"))
        assert not (top / "curate" / "kernels" / "__pycache__").exists()
    finally:
        shutil.rmtree(top)
