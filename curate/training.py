"""`curate train-classifier`: a fastText quality classifier from labelled text, with held-out
precision and recall, saved for the `classifier` stage."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from curate.errors import ConfigError, InputError
from curate.tables import read_table
from curate.text import fasttext_models


def labelled(field: str, positives: list[str], negatives: list[str], data: list[str], label_field: str | None) -> pl.DataFrame:
    """text, label: from positive/negative files, or from files with a label column."""
    frames = []
    for label, paths in (("positive", positives), ("negative", negatives)):
        for path in paths:
            frames.append(_texts(path, field).with_columns(pl.lit(label).alias("label")))
    for path in data:
        if not label_field:
            raise ConfigError("--data needs --label-field (or give --positives and --negatives)")
        frame = read_table(Path(path))
        if label_field not in frame.columns:
            raise InputError(f"{path}: no label field {label_field!r} (fields: {', '.join(frame.columns)})")
        frames.append(_texts(path, field, frame).with_columns(frame[label_field].cast(pl.String).alias("label")))
    if not frames:
        raise ConfigError("no training data: give --positives and --negatives, or --data with --label-field")
    table = pl.concat(frames).filter(pl.col("text").str.strip_chars().str.len_chars() > 0, pl.col("label").is_not_null())
    counts = dict(table["label"].value_counts().iter_rows())
    if len(counts) < 2 or min(counts.values()) < 5:
        raise InputError(f"need at least two labels with 5+ examples each; found {counts}")
    bad = [label for label in counts if not label.replace("_", "").replace("-", "").isalnum()]
    if bad:
        raise InputError(f"labels must be words (letters, digits, _ and -): {bad}")
    return table


def _texts(path: str, field: str, frame: pl.DataFrame | None = None) -> pl.DataFrame:
    try:
        frame = read_table(Path(path)) if frame is None else frame
    except ValueError as err:
        raise InputError(str(err)) from None
    if field not in frame.columns:
        raise InputError(f"{path}: no text field {field!r} (fields: {', '.join(frame.columns)})")
    return frame.select(pl.col(field).cast(pl.String).alias("text"))


def train(
    table: pl.DataFrame,
    output: str,
    *,
    holdout: float = 0.1,
    epoch: int = 10,
    lr: float = 0.5,
    word_ngrams: int = 2,
    dim: int = 64,
    min_count: int = 1,
    threads: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Train on all but a held-out share (chosen by a hash of the text, so the same data gives the
    same split), report per-label precision/recall on it, then save the model and `OUTPUT.json`."""
    import fasttext

    table = table.with_columns(pl.Series("line", fasttext_models.one_line(table["text"])))
    held = (table["line"].hash(seed=seed) % 1000) < int(holdout * 1000)
    train_rows, test_rows = table.filter(~held), table.filter(held)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.txt")
        with open(path, "w", encoding="utf-8") as handle:
            for label, line in train_rows.select("label", "line").iter_rows():
                handle.write(f"__label__{label} {line}\n")
        try:
            model = fasttext.train_supervised(input=path, epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim, minCount=min_count, thread=threads, seed=seed, verbose=0)
        except (RuntimeError, ValueError) as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            hint = " (too few distinct words: fastText needs about 100+ per label; add data or lower --lr)" if "NaN" in message else ""
            raise InputError(f"fastText training failed: {message}{hint}") from None
    labels = sorted(table["label"].unique().to_list())
    metrics: dict[str, Any] = {"train": train_rows.height, "held_out": test_rows.height, "labels": dict(table["label"].value_counts().sort("label").iter_rows())}
    if test_rows.height:
        predicted, _ = fasttext_models.predict(model, test_rows["line"].to_list(), k=1)
        guess = np.array([row[0] if row else "" for row in predicted], dtype=object)
        truth = test_rows["label"].to_numpy()
        per_label = {}
        for label in labels:
            tp = int(((guess == label) & (truth == label)).sum())
            predicted_n, actual_n = int((guess == label).sum()), int((truth == label).sum())
            per_label[label] = {"precision": round(tp / predicted_n, 4) if predicted_n else None, "recall": round(tp / actual_n, 4) if actual_n else None, "support": actual_n}
        metrics["held_out_metrics"] = per_label
        metrics["accuracy"] = round(float((guess == truth).mean()), 4)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    model.save_model(output)
    metrics["model"] = str(output)
    metrics["parameters"] = {"epoch": epoch, "lr": lr, "word_ngrams": word_ngrams, "dim": dim, "min_count": min_count, "seed": seed, "holdout": holdout}
    Path(f"{output}.json").write_text(json.dumps(metrics, indent=2))
    return metrics
