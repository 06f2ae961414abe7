"""Gutenberg documents for the heuristic quality filters (benchmarks/quality_filters.py and
tests/test_heuristic_rules.py): each book of ../shared/data/gutenberg cut into paragraphs at blank
lines, four paragraphs to a document, joined by a blank line. Ids are `<book id>-c<n>`, so a document
can be rebuilt from its id alone (the test fixture stores ids and datatrove's reasons, never texts)."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
PARAGRAPHS = 4


def book_documents(book: str, text: str) -> list[tuple[str, str]]:
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(text) if p.strip()]
    return [(f"{book}-c{k // PARAGRAPHS:05d}", "\n\n".join(paragraphs[k : k + PARAGRAPHS])) for k in range(0, len(paragraphs), PARAGRAPHS)]


def _books(root: Path) -> list[Path]:
    files = sorted((root / "gutenberg").glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Gutenberg books under {root / 'gutenberg'}")
    return files


def gutenberg_documents(limit: int | None = None, root: Path = SHARED) -> pl.DataFrame:
    """id, text: the books in file order, cut into documents, the first `limit` of them."""
    ids: list[str] = []
    texts: list[str] = []
    for path in _books(root):
        books = pl.read_parquet(path, columns=["id", "text"])
        for book, text in books.iter_rows():
            for doc_id, doc in book_documents(book, text):
                ids.append(doc_id)
                texts.append(doc)
                if limit is not None and len(ids) >= limit:
                    return pl.DataFrame({"id": ids, "text": texts})
    return pl.DataFrame({"id": ids, "text": texts})


def rebuild(ids: list[str], root: Path = SHARED) -> pl.DataFrame:
    """id, text of the documents named, in the order given: only their books are read and cut."""
    wanted = {i.rsplit("-c", 1)[0] for i in ids}
    found: dict[str, str] = {}
    for path in _books(root):
        present = pl.read_parquet(path, columns=["id"])["id"]
        if not present.is_in(list(wanted)).any():
            continue
        books = pl.read_parquet(path, columns=["id", "text"]).filter(pl.col("id").is_in(list(wanted)))
        for book, text in books.iter_rows():
            found.update(book_documents(book, text))
    missing = [i for i in ids if i not in found]
    if missing:
        raise KeyError(f"{len(missing)} documents not found in {root / 'gutenberg'}, e.g. {missing[0]}")
    return pl.DataFrame({"id": ids, "text": [found[i] for i in ids]})
