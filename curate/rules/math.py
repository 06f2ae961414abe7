"""Scores for math problems: can a reward check the answer? (filters/math-problems.yaml)

Kimi k1.5 drops multiple-choice, true/false and proof questions from RL prompts because a reward
for them is easy to hack; Big-Math also drops multi-part questions, questions that need a figure or a
link, and non-English ones. Each score is a regular expression or a count over whole batches, tuned on
real problem sets (tests/test_math_rules.py has positives and tricky negatives for each).
"""

from __future__ import annotations

import polars as pl

from curate.rules import score

# Option labels A-E: "(A)", "\textbf{(A)}", or "A." / "A)" / "A:" / "A．" at the start of a line.
_OPTION = r"(?:\(\s*{L}\s*\)|(?m:^)\s*(?:\$?\\textbf\{)?{L}\s*[.)．:：、]\s)"


@score("option_labels")
def option_labels(text: pl.Expr) -> pl.Expr:
    """How many of the option labels A, B, C, D appear as options; a problem that lists three or more
    is multiple choice. "(A)" alone is usually a label (a point, a statement), not options."""
    prose = text.str.replace_all(r"(?s)\[asy\].*?\[/asy\]", " ")  # labels in a drawing are not options
    return pl.sum_horizontal(prose.str.contains(_OPTION.replace("{L}", letter)).cast(pl.UInt8) for letter in "ABCD")


_TRUE_FALSE = (
    r"(?i)\btrue\s+or\s+false\b|\bis\s+(?:this|the\s+(?:following\s+)?statement)\s+true\b"
    r"|\b(?:determine|decide|state)\s+(?:whether|if)\s+(?:the\s+following|this|each)?\s*(?:statements?|claims?|propositions?)\b"
)


@score("true_false")
def true_false(text: pl.Expr) -> pl.Expr:
    """Asks whether a statement is true."""
    return text.str.contains(_TRUE_FALSE)


_YES_NO_QUESTION = r"(?i)\byes\s+or\s+no\b|^\s*(?:is|are|does|do|can|could|will|would|was|were|has|have|should|must)\b[^.?!]*\?\s*$"


@score("yes_no")
def yes_no(text: pl.Expr) -> pl.Expr:
    """A yes/no question: says "yes or no", or is one sentence that starts like one ("Is there ...?")."""
    return text.str.contains(_YES_NO_QUESTION)


_PROOF = (
    r"(?i)(?:^|[.!?:;]\s+|\n\s*|\(\s*[a-z0-9ivx]{1,3}\s*\)\s*)(?:(?:prove|demonstrate)\b|(?:show|verify|justify|explain\s+why)\s+that\b)"
    r"|\b(?:give|write|provide|find)\s+(?:a|an)\s+(?:\w+\s+)?proof\b|\bprove\s+or\s+disprove\b|\bproof\s*:"
)
_PROOF_NOT_NEEDED = r"(?i)\b(?:no|not|without|need\s+not|needn't|don't\s+need\s+to|do\s+not\s+need\s+to)\s+(?:\w+\s+){0,2}(?:prove|proof|proving|show)"


@score("proof")
def proof(text: pl.Expr) -> pl.Expr:
    """Asks for a proof: a sentence that starts with "Prove", "Show that", ...; "(You need not prove
    it.)" or "prove" in the middle of a computational sentence does not count."""
    return text.str.replace_all(_PROOF_NOT_NEEDED, " ").str.contains(_PROOF)


_ASKS = r"\s*(?:find|compute|calculate|determine|evaluate|solve|simplify|express|give|write|show|prove|explain|what|how|which|is|are|does|do|can|if)\b"
_PARTS = [
    (r"(?i)(?:^|[\s:.;,])\(a\)" + _ASKS, r"(?i)(?:^|[\s:.;,])\(b\)" + _ASKS),
    (r"(?i)(?:^|[\s:.;,])\(i\)" + _ASKS, r"(?i)(?:^|[\s:.;,])\(ii\)" + _ASKS),
    (r"(?i)(?:^|[\s:.;,])\(1\)" + _ASKS, r"(?i)(?:^|[\s:.;,])\(2\)" + _ASKS),
    (r"(?im)^\s*(?:part\s+)?a[.)]" + _ASKS, r"(?im)^\s*(?:part\s+)?b[.)]" + _ASKS),
    (r"(?i)\bpart\s+\(?(?:a|1|i)\)?[\s:.]", r"(?i)\bpart\s+\(?(?:b|2|ii)\)?[\s:.]"),
]


@score("multi_part")
def multi_part(text: pl.Expr) -> pl.Expr:
    """Asks two or more questions under part labels: "(a) Find ... (b) What ...", "(1) Compute ...
    (2) Show ...", "Part A ... Part B". Labelled conditions ("(i) n^2 is ...; (ii) 2n + 79 is ...") and
    "f(1)" are not parts."""
    return pl.any_horizontal(text.str.contains(first) & text.str.contains(second) for first, second in _PARTS)


@score("hyperlink")
def hyperlink(text: pl.Expr) -> pl.Expr:
    return text.str.contains(r"(?i)\bhttps?://|\bwww\.[a-z0-9-]+\.[a-z]")


_FIGURE = (
    r"\[asy\]|\[/asy\]|\\includegraphics|<img\b|!\[[^\]]*\]\("
    r"|(?i)\b(?:see|in|from|shown\s+in|given\s+in|depicted\s+in|refer\s+to)\s+(?:the\s+)?(?:accompanying\s+|following\s+|adjoining\s+)?(?:figure|diagram|picture|image|graph|table)\b"
    r"|(?i)\b(?:figure|diagram|picture|image)\s+(?:below|above|shown)\b|(?i)\bfig(?:ure)?\.?\s*\d"
)


@score("figure")
def figure(text: pl.Expr) -> pl.Expr:
    """Needs a figure the text does not carry: Asymptote code, an image, "see the figure", "diagram below"."""
    return text.str.contains(_FIGURE)


@score("answer_missing")
def answer_missing(text: pl.Expr) -> pl.Expr:
    return text.is_null() | (text.cast(pl.String).str.strip_chars().str.len_chars() == 0)


@score("answer_chars")
def answer_chars(text: pl.Expr) -> pl.Expr:
    """The answer's length in characters, LaTeX included (null when missing)."""
    return text.cast(pl.String).str.strip_chars().str.len_chars()


@score("answer_words")
def answer_words(text: pl.Expr) -> pl.Expr:
    """Words of two or more letters outside math ($...$, \\(...\\), \\boxed{}) and LaTeX commands: a
    sentence, not a value, when it is large. "\\text{Monday}" or "x = 3" count 1 or 0."""
    plain = (
        text.cast(pl.String)
        .str.replace_all(r"\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]", " ")
        .str.replace_all(r"\\[A-Za-z]+", " ")
    )
    return plain.str.count_matches(r"\b[A-Za-z]{2,}\b")


@score("yes_no_answer")
def yes_no_answer(text: pl.Expr) -> pl.Expr:
    """The reference answer is yes/no or true/false (possibly boxed or in \\text{})."""
    clean = text.cast(pl.String).str.to_lowercase().str.replace_all(r"\\(?:boxed|text|textbf|mathrm)\s*\{|[{}$.\s]", "")
    return clean.is_in(["yes", "no", "true", "false", "t", "f"])


@score("latin_share")
def latin_share(text: pl.Expr) -> pl.Expr:
    """Share of letters that are Latin, outside math and LaTeX commands (null without letters): a
    cheap script check that keeps English math with heavy LaTeX, which fastText language ID misjudges."""
    plain = text.str.replace_all(r"\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\\[A-Za-z]+", " ")
    letters = plain.str.count_matches(r"\p{L}")
    latin = plain.str.count_matches(r"\p{Latin}")
    return pl.when(letters > 0).then(latin / letters).otherwise(None)
