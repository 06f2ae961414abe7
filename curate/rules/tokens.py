"""spaCy's English tokens for whole batches, for the heuristic scores (curate/rules/heuristic.py).

datatrove's filters count spaCy tokens (spacy.blank("en")), and spaCy tokenizes each
whitespace-separated chunk on its own. So a batch is cut into chunks by a numba kernel, and each
chunk is looked up in a process-wide vocabulary by a 64-bit hash of its bytes. Only chunks never
seen before are tokenized: the commonest shapes ("said", "said,", '"Well', "well-known.\u201d") over
the whole batch in polars, the rest (a fifth) by curate/rules/spacy_en.py. The vocabulary keeps, per
token, what the scores need (hash and length for n-grams, symbol / letter / stop-word marks for
Gopher, the class for the sentencizer), and per chunk their sums. It is emptied when it reaches
`LIMIT` chunks, which bounds memory (about 90 bytes per chunk and 35 per token: 170 MB at the limit)
without changing any result.
"""

from __future__ import annotations

import re
import threading

import numpy as np
import polars as pl
import pyarrow as pa

from curate.kernels import chunks as kernels
from curate.kernels.repetition import token_hashes
from curate.rules import spacy_en
from curate.text.normalize import arrow_buffers

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
"""Gopher's stop words, matched case-sensitively against whole tokens."""
CHUNK_STATS = ("words", "non_symbol", "non_symbol_chars", "alpha")
"""Per chunk: tokens, tokens with a character outside datatrove's punctuation, their characters,
tokens with a letter."""
LIMIT = 1_000_000


def _char_class(chars: frozenset[str]) -> str:
    return "".join(f"\\x{{{ord(c):x}}}" for c in sorted(chars))


_NON_SYMBOL = f"[^{_char_class(spacy_en.DATATROVE_PUNCTUATION)}]"
_SENTENCE_END = pl.Series(sorted(spacy_en.SENTENCE_PUNCT), dtype=pl.String).implode()
_SPECIAL = pl.Series(sorted(set(spacy_en.EXCEPTIONS) | spacy_en.FIRST_PIECES), dtype=pl.String).implode()
"""Chunks and tokens the tokenizer treats specially (exceptions, and pieces the special matcher joins)."""


_RUNS = pl.Series(
    sorted({run for key in (*spacy_en.EXCEPTIONS, *(p for pieces in spacy_en.PATTERNS for p in pieces)) for run in re.findall(r"[^\W\d_]+", key)}),
    dtype=pl.String,
).implode()
"""Letter runs of the tokenizer's exceptions and of the pieces its special matcher joins."""
_SKELETON = r"^([^\p{L}\p{N}$.]*)([A-Za-z]+(?:[-'’][A-Za-z]+){0,5})([^\p{L}\p{N}$]*)$"
"""Punctuation (no '$', which makes "US$"; no '.' before the letters), up to six runs of ASCII letters
joined by single hyphens or apostrophes, punctuation."""
_RUN = "[A-Za-z]+"
_SLOTS = "\x01\x02\x03\x04\x05\x06"
"""Stand-ins for the letter runs in a template. A chunk holding one of these control characters is
never made a template (the characters are part of its skeleton, so its look-alikes are not either)."""
_TEMPLATES: dict[str, tuple[str, ...] | None] = {}


def _template(skeleton: str, chunk: str) -> tuple[str, ...] | None:
    """The tokens of `chunk` with its letter runs replaced by stand-ins, if every run lies inside one
    token and no token has another letter; None otherwise. Remembered per skeleton."""
    if skeleton in _TEMPLATES:
        return _TEMPLATES[skeleton]
    if len(_TEMPLATES) >= 100_000:  # a few thousand cover a million chunks of prose
        _TEMPLATES.clear()
    pieces = spacy_en.tokens(chunk)
    runs = [(m.start(), m.end()) for m in re.finditer(_RUN, chunk)]
    template: tuple[str, ...] | None = None
    if "".join(pieces) == chunk and not any(c in _SLOTS for c in chunk):
        out, at, k = [], 0, 0
        for piece in pieces:
            end = at + len(piece)
            inside = [(a, b) for a, b in runs if at <= a and b <= end]
            if any(a < end and b > at for a, b in runs if (a, b) not in inside):
                break  # a run cut between tokens
            text = piece
            for a, b in reversed(inside):
                text = text[: a - at] + _SLOTS[k + inside.index((a, b))] + text[b - at :]
            k += len(inside)
            out.append(text)
            at = end
        else:
            if not any(c.isalpha() for piece in out for c in piece):
                template = tuple(out)
    _TEMPLATES[skeleton] = template
    return template


def _by_skeleton(rest: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Tokens of chunks made of punctuation around runs of ASCII letters joined by hyphens or
    apostrophes ('"well-known,', "Jones',"), from one tokenized chunk per skeleton: the punctuation and
    joints, and for each run the case of its first and last two letters and its length up to 3.
    spaCy's rules look at no more of the letters unless a run is part of an exception (or of a
    sequence its special matcher joins), which is ruled out. Returns (chunks with tokens, the rest)."""
    parts = rest.with_columns(pl.col("chunk").str.extract_groups(_SKELETON).struct.rename_fields(["lead", "middle", "trail"]).alias("parts")).unnest("parts")
    runs = pl.col("middle").str.extract_all(_RUN)
    parts = parts.with_columns(*(runs.list.get(k, null_on_oob=True).alias(f"run{k}") for k in range(len(_SLOTS))))

    def shape(run: pl.Expr) -> pl.Expr:
        return pl.concat_str(
            run.str.slice(0, 1).str.contains("[A-Z]").cast(pl.UInt8),
            run.str.slice(-1).str.contains("[a-z]").cast(pl.UInt8),
            run.str.slice(-2).str.contains("^[A-Z]{2}$").cast(pl.UInt8),
            pl.min_horizontal(run.str.len_chars(), pl.lit(3)),
        ).fill_null("")

    special = pl.any_horizontal(pl.col(f"run{k}").is_in(_RUNS) for k in range(len(_SLOTS))).fill_null(False)
    parts = parts.with_columns(
        pl.when(pl.col("middle").is_not_null() & ~special)
        .then(
            pl.concat_str(
                pl.col("lead"),
                pl.col("trail"),
                pl.col("middle").str.replace_all(_RUN, "_"),
                *(shape(pl.col(f"run{k}")) for k in range(len(_SLOTS))),
                separator="\x1f",
            )
        )
        .alias("skeleton")
    )
    firsts = parts.filter(pl.col("skeleton").is_not_null()).unique("skeleton", keep="first")
    templates = pl.DataFrame(
        {"skeleton": firsts["skeleton"], "template": ["\x1f".join(t) if (t := _template(*row)) else None for row in firsts.select("skeleton", "chunk").iter_rows()]},
        schema={"skeleton": pl.String, "template": pl.String},
    )
    parts = parts.join(templates, on="skeleton", how="left", maintain_order="left")
    done = parts.filter(pl.col("template").is_not_null())
    filled = pl.col("template")
    for k, slot in enumerate(_SLOTS):
        filled = filled.str.replace(slot, pl.col(f"run{k}").fill_null(""), literal=True)
    done = done.select("at", "chunk", filled.str.split("\x1f").alias("tokens"))
    return done, parts.filter(pl.col("template").is_null()).select("at", "chunk")


def chunk_tokens(chunks: pl.Series) -> tuple[np.ndarray, np.ndarray, pl.Series]:
    """spaCy's tokens of distinct chunks: (an order of the chunks, how many tokens each has in that
    order, all their tokens in that order). The commonest shapes are cut over the whole batch, where
    spaCy's rules provably give the same: letters ("said"), letters and one of , ; : ! ? ("said,"),
    ASCII letters ending lower-case and a period ("said."), a quote or bracket and letters ('"Well'),
    none of the pieces special; then letters within punctuation, by skeleton (`_by_skeleton`). The
    rest (digits, other scripts, exceptions: about a fifth of a corpus's distinct chunks) go through
    spacy_en.tokens one by one."""
    chunk = pl.col("chunk")
    trailing = chunk.str.contains(r"^\p{L}+[,;:!?]$") | chunk.str.contains(r"^[A-Za-z]*[a-z]\.$")
    leading = chunk.str.contains(r'^["“(_]\p{L}+$')
    head, tail = chunk.str.slice(0, 1), chunk.str.slice(-1)
    body = pl.when(trailing).then(chunk.str.slice(0, chunk.str.len_chars() - 1)).when(leading).then(chunk.str.slice(1)).otherwise(chunk)
    plain = ~chunk.is_in(_SPECIAL) & ~body.is_in(_SPECIAL)
    frame = pl.DataFrame({"chunk": chunks}).with_row_index("at").with_columns(
        pl.when(plain & chunk.str.contains(r"^\p{L}+$"))
        .then(pl.concat_list(chunk))
        .when(plain & trailing & ~tail.is_in(_SPECIAL))
        .then(pl.concat_list(body, tail))
        .when(plain & leading & ~head.is_in(_SPECIAL))
        .then(pl.concat_list(head, body))
        .alias("tokens")
    )
    fast = frame.filter(pl.col("tokens").is_not_null())
    templated, rest = _by_skeleton(frame.filter(pl.col("tokens").is_null()).select("at", "chunk"))
    cut = [spacy_en.tokens(c) for c in rest["chunk"].to_list()]
    order = np.concatenate((fast["at"].to_numpy(), templated["at"].to_numpy(), rest["at"].to_numpy())).astype(np.int64)
    counts = np.concatenate(
        (fast["tokens"].list.len().to_numpy(), templated["tokens"].list.len().to_numpy(), np.fromiter(map(len, cut), np.int64, len(cut)))
    ).astype(np.int64)
    tokens = pl.concat([fast["tokens"].explode(), templated["tokens"].explode(), pl.Series([t for pieces in cut for t in pieces], dtype=pl.String)])
    return order, counts, tokens


class Vocabulary:
    """Chunks seen so far, by hash: their tokens' marks (flat arrays, `first[c]` .. `first[c] + count[c]`)
    and per-chunk sums."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.keys = np.zeros(1 << 16, np.uint64)
        self.values = np.zeros(1 << 16, np.int64)
        self.size = 0
        self.first = np.zeros(0, np.int64)
        self.count = np.zeros(0, np.int64)
        self.stats = np.zeros((0, len(CHUNK_STATS)), np.int64)
        self.stop = np.zeros(0, np.int64)
        self.token_hash = np.zeros(0, np.uint64)
        self.token_power = np.zeros(0, np.uint64)
        self.token_inverse = np.zeros(0, np.uint64)
        self.token_chars = np.zeros(0, np.int64)
        self.token_class = np.zeros(0, np.uint8)

    def numbers(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        """The vocabulary number of each chunk occurrence, adding the chunks not seen before."""
        with self.lock:
            found = kernels.lookup(self.keys, self.values, hashes)
            missing = np.flatnonzero(found < 0)
            if missing.size == 0:
                return found
            new = missing[kernels.first_of_each(hashes[missing])]
            if self.size and self.size + new.size > LIMIT:
                self.clear()
                missing = np.arange(hashes.size)
                new = kernels.first_of_each(hashes)
            self._add(data, starts[new], ends[new], hashes[new])
            found[missing] = kernels.lookup(self.keys, self.values, hashes[missing])
            return found

    def _add(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray, hashes: np.ndarray) -> None:
        buffer, offsets = kernels.gather(data, starts, ends)
        chunks = pl.from_arrow(pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(buffer)))
        assert isinstance(chunks, pl.Series)  # an Arrow array, not a table
        order, counts, tokens = chunk_tokens(chunks)
        hashes = hashes[order]
        token = pl.col("token")
        marks = pl.DataFrame({"token": tokens}).select(
            token.str.contains(_NON_SYMBOL).alias("non_symbol"),
            token.str.contains(r"\p{L}").alias("alpha"),
            token.replace_strict(STOP_WORDS, [1 << i for i in range(len(STOP_WORDS))], default=0, return_dtype=pl.Int64).alias("stop"),
            pl.when(token.is_in(_SENTENCE_END))
            .then(kernels.SENTENCE_END)
            .when(token.str.contains(r"^\p{P}+$"))
            .then(kernels.PUNCT)
            .otherwise(kernels.OTHER)
            .cast(pl.UInt8)
            .alias("class"),
        )
        token_hash, token_power, token_inverse, token_chars = token_hashes(*arrow_buffers(tokens))
        owner = np.repeat(np.arange(len(starts), dtype=np.int64), counts)
        non_symbol = marks["non_symbol"].to_numpy().astype(np.int64)
        stats = np.stack(
            [
                counts,
                np.bincount(owner, weights=non_symbol, minlength=len(starts)),
                np.bincount(owner, weights=non_symbol * token_chars, minlength=len(starts)),
                np.bincount(owner, weights=marks["alpha"].to_numpy(), minlength=len(starts)),
            ],
            axis=1,
        ).astype(np.int64)
        stop = np.zeros(len(starts), np.int64)
        np.bitwise_or.at(stop, owner, marks["stop"].to_numpy())
        numbers = np.arange(self.size, self.size + len(starts), dtype=np.int64)
        self.first = np.concatenate((self.first, self.token_hash.size + np.concatenate(([0], np.cumsum(counts)[:-1])))).astype(np.int64)
        self.count = np.concatenate((self.count, counts))
        self.stats = np.concatenate((self.stats, stats))
        self.stop = np.concatenate((self.stop, stop))
        self.token_hash = np.concatenate((self.token_hash, token_hash))
        self.token_power = np.concatenate((self.token_power, token_power))
        self.token_inverse = np.concatenate((self.token_inverse, token_inverse))
        self.token_chars = np.concatenate((self.token_chars, token_chars))
        self.token_class = np.concatenate((self.token_class, marks["class"].to_numpy()))
        self.size += len(starts)
        if 2 * self.size > self.keys.size:  # keep the table at most half full
            capacity = self.keys.size
            while 2 * self.size > capacity:
                capacity *= 2
            old_keys, old_values = self.keys, self.values
            self.keys, self.values = np.zeros(capacity, np.uint64), np.zeros(capacity, np.int64)
            used = old_keys != kernels.EMPTY
            kernels.insert(self.keys, self.values, old_keys[used], old_values[used])
        kernels.insert(self.keys, self.values, hashes, numbers)


VOCABULARY = Vocabulary()


class Batch:
    """A batch's texts cut into chunks: for each occurrence, its text, bytes and vocabulary number."""

    def __init__(self, texts: pl.Series, vocabulary: Vocabulary = VOCABULARY):
        self.data, self.offsets = arrow_buffers(texts.fill_null(""))
        self.texts = len(texts)
        self.owner, self.starts, self.ends, hashes = kernels.chunk_spans(self.data, self.offsets)
        self.vocabulary = vocabulary
        self.chunks = vocabulary.numbers(self.data, self.starts, self.ends, hashes)
        # the vocabulary may have been emptied since: keep what this batch needs
        self.first, self.count = vocabulary.first, vocabulary.count
        self.stats, self.stop = vocabulary.stats, vocabulary.stop
        self.token_hash, self.token_power, self.token_inverse = vocabulary.token_hash, vocabulary.token_power, vocabulary.token_inverse
        self.token_chars = vocabulary.token_chars
        self.token_class = vocabulary.token_class

    def word_counts(self) -> pl.DataFrame:
        """Per text: spaCy words (punctuation included), non-symbol words and their characters, words
        with a letter, and how many distinct stop words occur."""
        sums, stops = kernels.per_text_sums(self.owner, self.chunks, self.stats, self.stop, self.texts)
        stop_words = sum((stops >> bit) & 1 for bit in range(len(STOP_WORDS)))
        return pl.DataFrame({**{name: sums[:, k] for k, name in enumerate(CHUNK_STATS)}, "stop_words": stop_words})

    def token_sequence(self) -> tuple[np.ndarray, np.ndarray]:
        """Every text's tokens in order (vocabulary token numbers), and where each text's begin."""
        return kernels.token_sequence(self.owner, self.chunks, self.first, self.count, self.texts)

    def sentence_counts(self) -> np.ndarray:
        """spaCy's sentencizer: sentences in each text (1 for a text without tokens)."""
        return kernels.sentence_counts(self.data, self.offsets, self.owner, self.starts, self.ends, self.chunks, self.first, self.count, self.token_class)
