"""A labelled near-duplicate corpus from the Gutenberg books in ../shared/data (never copied here).

Books are cut into documents of a few hundred words. Books that appear twice in the collection are
kept once, so that the only near-duplicates are the ones planted here (plus whatever books truly
repeat, which the precision measure does not need labels for: it computes every removed record's true
Jaccard to the record kept for it). Planted copies get word substitutions, insertions, deletions and
sentence swaps in controlled amounts; each (original, copy) pair is labelled with its true Jaccard
over the stage's own shingle sets. Hard negatives are everywhere: neighbouring chunks of one book,
books of one author.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from curate.text.minhash import MinHasher

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def gutenberg_documents(
    words: tuple[int, int] = (200, 400), books: int | None = None, max_docs: int | None = None, seed: int = 0, root: Path = SHARED
) -> pl.DataFrame:
    """id, book, author, text: books cut into documents of `words` words (a random length in that range)."""
    files = sorted((root / "gutenberg").glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Gutenberg books under {root / 'gutenberg'}")
    library = pl.concat([pl.read_parquet(f, columns=["id", "author", "text"]) for f in files])
    library = library.unique("text", keep="first", maintain_order=True)  # books filed twice: kept once
    if books is not None:
        library = library.head(books)
    rng = random.Random(seed)
    ids, book_ids, authors, texts = [], [], [], []
    for book, author, text in library.iter_rows():
        tokens = text.split()
        start = 0
        while start < len(tokens) - words[0] // 2:
            length = rng.randint(*words)
            ids.append(f"{book}-{len(ids):07d}")
            book_ids.append(book)
            authors.append(author)
            texts.append(" ".join(tokens[start : start + length]))
            start += length
            if max_docs is not None and len(ids) >= max_docs:
                return pl.DataFrame({"id": ids, "book": book_ids, "author": authors, "text": texts})
    return pl.DataFrame({"id": ids, "book": book_ids, "author": authors, "text": texts})


@dataclass
class Edits:
    substitutions: int = 0
    insertions: int = 0
    deletions: int = 0
    swaps: int = 0


def edit(text: str, edits: Edits, rng: random.Random, vocabulary: list[str]) -> str:
    sentences = _SENTENCE.split(text)
    for _ in range(edits.swaps):
        if len(sentences) > 2:
            i, j = rng.sample(range(len(sentences)), 2)
            sentences[i], sentences[j] = sentences[j], sentences[i]
    words = " ".join(sentences).split()
    for _ in range(edits.substitutions):
        if words:
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
    for _ in range(edits.insertions):
        words.insert(rng.randrange(len(words) + 1), rng.choice(vocabulary))
    for _ in range(edits.deletions):
        if len(words) > 1:
            del words[rng.randrange(len(words))]
    return " ".join(words)


def plant_near_copies(documents: pl.DataFrame, pairs: int, seed: int = 1, hasher: MinHasher | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The documents with `pairs` near-copies appended (each right after a random position), and the
    labels: original, copy, jaccard (true, over the hasher's shingle sets), and the edits made."""
    hasher = hasher or MinHasher()
    rng = random.Random(seed)
    vocabulary = documents["text"].head(2000).str.split(" ").explode().unique().sort().to_list()
    chosen = rng.sample(range(documents.height), pairs)
    originals = documents[chosen]
    copies, labels = [], []
    for number, (doc_id, book, author, text) in enumerate(originals.select("id", "book", "author", "text").iter_rows()):
        words = len(text.split())
        rate = rng.choice([0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2])  # spreads the true Jaccard over 0.3-1
        kinds = Edits(
            substitutions=round(words * rate * rng.uniform(0.3, 1.0)),
            insertions=round(words * rate * rng.uniform(0.0, 0.5)),
            deletions=round(words * rate * rng.uniform(0.0, 0.5)),
            swaps=rng.choice([0, 0, 1, 2]),
        )
        copy_text = edit(text, kinds, rng, vocabulary)
        copy_id = f"{doc_id}-copy{number}"
        copies.append({"id": copy_id, "book": book, "author": author, "text": copy_text})
        labels.append({"original": doc_id, "copy": copy_id, **kinds.__dict__})
    labels_frame = pl.DataFrame(labels)
    sets_original = hasher.shingle_sets(originals["text"]).to_list()
    sets_copy = hasher.shingle_sets(pl.Series([c["text"] for c in copies])).to_list()
    jaccard = [len(set(a) & set(b)) / max(1, len(set(a) | set(b))) for a, b in zip(sets_original, sets_copy)]
    labels_frame = labels_frame.with_columns(pl.Series("jaccard", jaccard))
    # copies are interleaved into the corpus at random places, not appended in a block
    corpus = pl.concat([documents, pl.DataFrame(copies)]).with_columns(pl.Series("_at", [rng.random() for _ in range(documents.height + len(copies))]))
    return corpus.sort("_at").drop("_at"), labels_frame


def evaluate(labels: pl.DataFrame, removed: pl.DataFrame, kept_ids: set[str], texts: dict[str, str], hasher: MinHasher, threshold: float) -> dict:
    """Recall per true-Jaccard bin (a pair is found when its two records end in one cluster), and the
    true Jaccard of every removed record to the record kept for it."""
    representative = dict(zip(removed["id"].to_list(), removed["duplicate_of"].to_list()))

    def root(record: str) -> str:
        seen = 0
        while record in representative and seen < 100:
            record, seen = representative[record], seen + 1
        return record

    found = [root(o) == root(c) for o, c in zip(labels["original"], labels["copy"])]
    scored = labels.with_columns(pl.Series("found", found))
    pairs = list(zip(removed["id"].to_list(), removed["duplicate_of"].to_list()))
    sets = {}
    for start in range(0, len(pairs), 5000):
        batch = pairs[start : start + 5000]
        ids = sorted({i for pair in batch for i in pair} - set(sets))
        for record, shingles in zip(ids, hasher.shingle_sets(pl.Series([texts[i] for i in ids])).to_list()):
            sets[record] = set(shingles)
    true = [len(sets[a] & sets[b]) / max(1, len(sets[a] | sets[b])) for a, b in pairs]
    return {"labels": scored, "removed_jaccard": pl.Series("jaccard", true, dtype=pl.Float64), "threshold": threshold}
