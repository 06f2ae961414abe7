"""`trace_language`: a sample that drifts into another language (DeepSeek-R1 drops mixed-language
traces; Qwen-family models drift into Chinese).

Each paragraph (at blank lines) is judged against the reference language, the problem's own
(fastText lid.176 on the problem, math taken out; `language` when there is no problem field or too
few words to tell): a paragraph mostly in another script than the reference's (Chinese in an English
trace) is foreign without more ado; a paragraph in the same script goes to lid.176 only when it looks
unlike the reference (for English: few English function words), since identifying every paragraph
would cost ten times the rest of the trace stages. Scores on each sample: `foreign_share` (the share
of its letters in foreign paragraphs), `foreign_language` (the most common foreign language or script)
and `foreign_paragraphs`. A sample whose share is above `max_foreign_share` (by default, one with any
foreign paragraph) fails: `mixed_language`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from curate.kernels import traces as kernel
from curate.kernels.minhash import token_hash
from curate.stages.base import WARM_UP_TEXTS, Threshold
from curate.stages.language import _MATH
from curate.stages.traces import ISSUE, TEXT, TraceParams, TraceStage
from curate.text import fasttext_models
from curate.text.normalize import arrow_buffers

ENGLISH_FUNCTION_WORDS = (
    "the of and to a an in is it that this for we be are with as so on not but or by then if can which since let "
    "me i have at from there our its was will would should must has each all also these those what when where how "
    "now first number we're let's thus therefore because equal equals"
).split()
"""An English paragraph of eight words or more has some of these; one with few goes to lid.176."""
_CJK_WEIGHT = 4
_SCRIPT_LANGUAGE = {"zh": kernel.CJK, "ja": kernel.CJK, "ko": kernel.CJK, "ru": kernel.CYRILLIC, "uk": kernel.CYRILLIC, "bg": kernel.CYRILLIC,
                    "sr": kernel.CYRILLIC, "ar": kernel.ARABIC, "fa": kernel.ARABIC, "ur": kernel.ARABIC, "he": kernel.HEBREW,
                    "hi": kernel.INDIC, "bn": kernel.INDIC, "mr": kernel.INDIC, "ta": kernel.INDIC, "th": kernel.THAI}


class TraceLanguageParams(TraceParams):
    problem_field: str | None = None
    """The problem, whose language is the reference; none: `language` is."""
    language: str = "en"
    """The reference language (an lid.176 code) without a problem field, or for a problem too short to judge."""
    max_foreign_share: float = Field(0.0, ge=0, le=1)
    """A sample with more of its letters than this in foreign paragraphs is `mixed_language`; 0: any
    paragraph in another language. A word inside a paragraph is not one (two real Sky-T1 traces slip a
    Chinese word into English prose, `b=0,即 B is empty`: kept); no complete correct Sky-T1 trace has a
    foreign paragraph, and the one trace that drifts into Chinese has 311."""
    min_letters: int = Field(20, ge=1)
    """Paragraphs with fewer letters outside formulas (`Thus x = 6.`) are not judged; a Chinese,
    Japanese or Korean character counts as four (a word's worth)."""
    min_words: int = Field(8, ge=1)
    """A paragraph in the reference's script is sent to lid.176 from this many words of four letters or
    more (prose: a line of variables such as `|B| = b + ab + bcd` looks Turkish to it)."""
    max_function_words: float = Field(0.12, ge=0, le=1)
    """...when, with English as the reference, fewer than this share of its words are English function words."""
    min_score: float = Field(0.7, ge=0, le=1)
    """lid.176's probability for another language needed to call a same-script paragraph foreign."""
    min_problem_words: int = Field(5, ge=1)


class TraceLanguage(TraceStage):
    use = "trace_language"
    kind = "language"
    Params = TraceLanguageParams
    params: TraceLanguageParams

    def __init__(self, name: str, params: Any = None, **kwargs: Any):
        super().__init__(name, params, **kwargs)
        self.model_path: str | None = None

    def prepare(self) -> None:
        self.model_path = str(fasttext_models.lid176_path())
        fasttext_models.load(self.model_path)

    def record_fields(self) -> tuple[str, ...]:
        return (self.params.problem_field,) if self.params.problem_field else ()

    def sample_scores(self) -> dict[str, pl.DataType]:
        return {"foreign_share": pl.Float64(), "foreign_language": pl.String(), "foreign_paragraphs": pl.Int32()}

    def reasons(self) -> tuple[str, ...]:
        return ("mixed_language",)

    def summaries(self) -> dict[str, pl.Expr]:
        return {"foreign_share_min": pl.col("foreign_share").min()}

    def thresholds(self) -> list[Threshold]:
        return [Threshold("foreign_share_min", "mixed_language", max=self.params.max_foreign_share, setting="max_foreign_share")]

    def histograms(self) -> dict[str, list[float]]:
        return {"foreign_share_min": [0, 1e-9, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0001]}

    def warm_up(self) -> None:
        _paragraphs(pl.Series(WARM_UP_TEXTS))

    def score(self, samples: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        model = fasttext_models.load(self.model_path or str(fasttext_models.lid176_path()))
        reference = self._references(samples, model)
        paragraphs = _paragraphs(samples[TEXT])
        owner, letters = paragraphs["owner"], paragraphs["letters"]
        ref_script = self._scripts(samples, reference)[owner]
        english = (reference == "en")[owner]
        total = letters.sum(axis=1)
        dominant = letters.argmax(axis=1)
        judged = total + (_CJK_WEIGHT - 1) * letters[:, kernel.CJK] >= p.min_letters
        other_script = judged & (dominant != ref_script) & (letters.max(axis=1) * 2 >= total)
        unlike = ~english | (paragraphs["common"] < p.max_function_words * paragraphs["words"])
        candidates = judged & ~other_script & (paragraphs["long_words"] >= p.min_words) & unlike
        ask = np.flatnonzero(candidates | other_script)
        foreign = other_script.copy()
        labels: dict[int, str] = {int(i): kernel.SCRIPTS[dominant[i]] for i in np.flatnonzero(other_script)}
        if len(ask):
            buffer = paragraphs["data"]
            texts = pl.Series([bytes(buffer[s:e]).decode("utf-8", "replace") for s, e in zip(paragraphs["start"][ask], paragraphs["end"][ask])], dtype=pl.String)
            found, probabilities = fasttext_models.predict(model, fasttext_models.one_line(texts.str.replace_all(_MATH, " ")), k=1)
            for i, row, prob in zip(ask.tolist(), found, probabilities):
                label = row[0] if row else None
                if other_script[i]:
                    if label and _SCRIPT_LANGUAGE.get(label) == dominant[i]:
                        labels[i] = label  # the language, where lid.176 agrees with the script
                elif label and label != reference[owner[i]] and len(prob) and prob[0] >= p.min_score:
                    foreign[i], labels[i] = True, label
        n = samples.height
        all_letters = np.bincount(owner, weights=total, minlength=n)
        foreign_letters = np.bincount(owner, weights=total * foreign, minlength=n)
        share = np.divide(foreign_letters, all_letters, out=np.zeros(n), where=all_letters > 0)
        named: dict[int, Counter] = {}
        for i, label in labels.items():
            if foreign[i]:
                named.setdefault(int(owner[i]), Counter())[label] += 1
        language = [min(named[s].items(), key=lambda kv: (-kv[1], kv[0]))[0] if s in named else None for s in range(n)]
        issue = pl.when(pl.col("foreign_share") > p.max_foreign_share).then(pl.lit("mixed_language"))
        return samples.with_columns(
            pl.Series("foreign_share", share, dtype=pl.Float64),
            pl.Series("foreign_language", language, dtype=pl.String),
            pl.Series("foreign_paragraphs", np.bincount(owner, weights=foreign, minlength=n).astype(np.int32), dtype=pl.Int32),
        ).with_columns(issue.alias(ISSUE))

    def _scripts(self, samples: pl.DataFrame, reference: np.ndarray) -> np.ndarray:
        """Each sample's reference script: the one most of its problem's letters (outside formulas) are
        in, else its reference language's."""
        by_language = np.array([_SCRIPT_LANGUAGE.get(code, kernel.LATIN) for code in reference], np.int64)
        if not self.params.problem_field:
            return by_language
        paragraphs = _paragraphs(samples[self.params.problem_field].cast(pl.String))
        letters = np.zeros((samples.height, len(kernel.SCRIPTS)), np.int64)
        np.add.at(letters, paragraphs["owner"], paragraphs["letters"])
        return np.where(letters.sum(axis=1) > 0, letters.argmax(axis=1), by_language)

    def _references(self, samples: pl.DataFrame, model: Any) -> np.ndarray:
        """Each sample's reference language: its problem's, else `language`."""
        p = self.params
        if not p.problem_field:
            return np.array([p.language] * samples.height, dtype=object)
        problems = samples[p.problem_field].cast(pl.String).fill_null("").str.replace_all(_MATH, " ")
        found, _ = fasttext_models.predict(model, fasttext_models.one_line(problems), k=1)
        enough = problems.str.count_matches(r"\p{L}+").to_numpy() >= p.min_problem_words
        return np.array([row[0] if row and ok else p.language for row, ok in zip(found, enough)], dtype=object)


def _paragraphs(texts: pl.Series) -> dict[str, np.ndarray]:
    """Each text's paragraphs (owner = the text's position; byte start and end in `data`, the texts'
    UTF-8 buffer) with their letters per script, words and English function words."""
    data, offsets = arrow_buffers(texts.fill_null(""))
    texts = texts.fill_null("")
    room = int(texts.str.count_matches("\n\n", literal=True).sum()) + len(texts) + 1  # enough but for blank lines with spaces
    while True:
        owner, starts, ends = np.zeros(room, np.int64), np.zeros(room, np.int64), np.zeros(room, np.int64)
        letters = np.zeros((room, len(kernel.SCRIPTS)), np.int32)
        words, long_words, common = np.zeros(room, np.int32), np.zeros(room, np.int32), np.zeros(room, np.int32)
        count = kernel.paragraph_scripts(data, offsets, _FUNCTION_HASHES, owner, starts, ends, letters, words, long_words, common)
        if count >= 0:
            break
        room = int(texts.str.count_matches("\n", literal=True).sum()) + len(texts) + 1
    return {"owner": owner[:count], "start": starts[:count], "end": ends[:count], "letters": letters[:count],
            "words": words[:count], "long_words": long_words[:count], "common": common[:count], "data": data}


_FUNCTION_HASHES = kernel.word_table(np.unique(np.array([token_hash(np.frombuffer(w.encode(), np.uint8)) for w in ENGLISH_FUNCTION_WORDS if w.isalpha()], np.uint64)))


__all__ = ["ENGLISH_FUNCTION_WORDS", "TraceLanguage", "TraceLanguageParams"]
