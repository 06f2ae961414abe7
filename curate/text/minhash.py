"""MinHash LSH: the machinery behind `minhash_dedup`, usable on its own (explain, benchmarks).

Text is prepared (NFKC and case folding on rows that need them), tokenized (words, or characters),
cut into n-gram shingles and signed by the compiled kernel in `curate.kernels.minhash`, whose
semantics are datasketch 2.0's (see there). LSH cuts a signature into `bands` of `rows` values;
two records share a band key with probability 1 - (1 - s^rows)^bands for Jaccard s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa

from curate.kernels import minhash as kernel
from curate.text.normalize import Normalize, arrow_buffers, fold_non_ascii


@cache
def optimal_bands_rows(threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5) -> tuple[int, int]:
    """bands x rows minimising the weighted areas of false positives (below the threshold) and false
    negatives (above it) under the S-curve: datasketch's `_optimal_param`, integrated with numpy (same
    choice for every threshold 0.30-0.95 and num_perm 32-256, tested)."""
    low = np.linspace(0.0, threshold, 2001)
    high = np.linspace(threshold, 1.0, 2001)
    best, choice = float("inf"), (0, 0)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            false_positive = np.trapezoid(1 - (1 - low**rows) ** bands, low)
            false_negative = np.trapezoid((1 - high**rows) ** bands, high)
            error = float(false_positive * false_positive_weight + false_negative * false_negative_weight)
            if error < best:
                best, choice = error, (bands, rows)
    return choice


def candidate_probability(jaccard: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """The S-curve: the probability that two records of Jaccard s share at least one band."""
    return 1 - (1 - np.asarray(jaccard, dtype=float) ** rows) ** bands


@dataclass(frozen=True)
class MinHasher:
    tokenize: Literal["words", "chars"] = "words"
    ngram: int = 5
    normalize: Normalize = field(default_factory=Normalize)
    num_perm: int = 128
    seed: int = 1

    @property
    def _permutations(self) -> tuple[np.ndarray, np.ndarray]:
        return _cached_permutations(self.num_perm, self.seed)

    def _prepared(self, text: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """Words split at any whitespace; characters see whitespace as one space when it is collapsed."""
        spaces = self.tokenize == "words" or self.normalize.whitespace
        return arrow_buffers(fold_non_ascii(text, self.normalize, spaces=spaces))

    def signatures(self, text: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """(signatures: records x num_perm uint32, shingle counts: int64; 0 means no token)."""
        data, offsets = self._prepared(text)
        a, b = self._permutations
        out = np.empty((len(text), self.num_perm), dtype=np.uint32)
        counts = np.empty(len(text), dtype=np.int64)
        kernel.signatures(data, offsets, self.tokenize == "chars", self.ngram, self.normalize.casefold, self.normalize.whitespace, a, b, out, counts)
        return out, counts

    def shingle_sets(self, text: pl.Series) -> pl.Series:
        """Each record's sorted distinct 32-bit shingle hashes, as a List(UInt32) column."""
        data, offsets = self._prepared(text)
        set_offsets = np.empty(len(text) + 1, dtype=np.int64)
        values = kernel.shingle_sets(data, offsets, self.tokenize == "chars", self.ngram, self.normalize.casefold, self.normalize.whitespace, set_offsets)
        list_array = pa.LargeListArray.from_arrays(pa.array(set_offsets), pa.array(values, type=pa.uint32()))
        return pl.Series("shingles", list_array)

    def similarity(self, first: str, second: str) -> tuple[float, float]:
        """(estimated Jaccard from the signatures, true Jaccard of the shingle sets) of two texts."""
        text = pl.Series([first, second])
        signatures, _ = self.signatures(text)
        sets = self.shingle_sets(text).to_list()
        union = len(set(sets[0]) | set(sets[1]))
        true = len(set(sets[0]) & set(sets[1])) / union if union else 0.0
        return float((signatures[0] == signatures[1]).mean()), true


@lru_cache(maxsize=16)
def _cached_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return kernel.permutations(num_perm, seed)


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    out = np.empty((signatures.shape[0], bands), dtype=np.uint64)
    kernel.band_keys(signatures, bands, rows, out)
    return out
