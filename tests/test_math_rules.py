"""Math-problem rules (filters/math-problems.yaml): real-looking positives and tricky negatives per rule."""

import polars as pl
import pytest

from curate.columns import DROP, FAILED, ORDER
from curate.rules import SCORES
from curate.stages.filter_set import FilterSet

CASES = {
    "option_labels": (
        [
            "Which of the following is prime?\n(A) 21 (B) 33 (C) 37 (D) 39",
            r"What is $2^{10}$? $\textbf{(A)}\ 1000 \qquad \textbf{(B)}\ 1024 \qquad \textbf{(C)}\ 2048 \qquad \textbf{(D)}\ 512$",
            "设函数 $f(x)$ 可导，则（）\nA. $f(1)>0$\nB. $f(2)>0$\nC. $f(3)>0$\nD. $f(4)>0$",
        ],
        [
            "Statement (A) says the sum is even. Is statement (A) consistent with $n = 3$? Find the sum.",
            "Points (A) and (B) are labelled in the plane; find the distance between $A=(0,0)$ and $B=(3,4)$.",
            "[asy] label(\"(A)\",(0,0)); label(\"(B)\",(1,0)); label(\"(C)\",(2,0)); label(\"(D)\",(3,0)); [/asy] Find the perimeter.",
        ],
    ),
    "true_false": (
        ["True or false: every prime greater than 2 is odd.", "Is the following statement true? $\\sqrt{2}$ is rational.", "Determine whether the following statements are correct."],
        ["For how many integers $n$ is it true that $\\sqrt{n} \\le 4$?", "If it is true that $x+1=5$, what is $x$?", "Stacy assigns 45 true/false and free-response problems. How many are true/false?"],
    ),
    "yes_no": (
        ["Is $2^{31}-1$ a prime number?", "Can a triangle have sides 1, 2 and 4? Answer yes or no."],
        ["Is there a real $x$ with $x^2 = 2$? If so, find the positive one.", "What is the value of $x$ if $3x = 12$?"],
    ),
    "proof": (
        ["Prove that $n^3 - n$ is divisible by 6 for every integer $n$.", "Let $a, b > 0$. Show that $a + b \\ge 2\\sqrt{ab}$.", "(a) Find all $x$. (b) Prove that there are no others."],
        [
            "Find the minimum value of $x^2 + 2x$. (You need not prove that it is the minimum.)",
            "What is the smallest prime $p$ for which one can prove $2^p - 1$ is composite without a computer? Give $p$.",
            "Show your work: compute $17 \\cdot 23$.",
            "A proof-reader finds 3 typos per page. How many typos are on 12 pages?",
        ],
    ),
    "multi_part": (
        ["(a) Find the area of the triangle. (b) Find its perimeter.", "Part A: compute $f(2)$. Part B: compute $f(3)$.", "(1) Find $a_n$; (2) find the sum of the first $n$ terms."],
        [
            "Find $n$ such that: (i) $n^2$ is a difference of two cubes; (ii) $2n+79$ is a square.",
            "Compute $f(1) + f(2)$ where $f(x) = x^2$.",
            "The point $(a, b)$ lies on the line $y = 2x$; find $b$ when $a = 3$.",
        ],
    ),
    "hyperlink": (["See https://artofproblemsolving.com/wiki for the figure. Find $x$.", "Source: www.example.org/problem1"], ["Find the number of ways to arrange the letters of the word http.", "Compute $www$ where $w = 2$."]),
    "figure": (
        ["In the diagram below, $AB = 5$. Find $BC$.", "[asy] draw((0,0)--(1,1)); [/asy] Find the area of the shaded region.", "As shown in the figure, the circle has radius 3. Find the chord length.", "See Figure 2. How many paths are there?"],
        ["Find the area of a figure bounded by $y=x^2$ and $y=4$.", "The graph of $y = x^2$ is shifted up 3 units. Find the new vertex."],
    ),
}


def score_of(name, texts):
    return pl.DataFrame({"t": texts}).select(SCORES[name](pl.col("t"))).to_series().to_list()


@pytest.mark.parametrize("name", sorted(CASES))
def test_positives_and_negatives(name):
    positives, negatives = CASES[name]
    if name == "option_labels":
        assert all(v >= 3 for v in score_of(name, positives)), score_of(name, positives)
        assert all(v <= 2 for v in score_of(name, negatives)), score_of(name, negatives)
        return
    for text, value in zip(positives, score_of(name, positives)):
        assert value, f"{name} should fire: {text}"
    for text, value in zip(negatives, score_of(name, negatives)):
        assert not value, f"{name} should not fire: {text}"


def test_answer_rules():
    answers = [None, "", "42", "\\frac{3}{8}", "\\text{Evelyn}", "Yes", "\\boxed{\\text{No}}", "The answer is that the two sequences never meet", "x" * 120]
    assert score_of("answer_missing", answers)[:3] == [True, True, False]
    assert score_of("yes_no_answer", answers)[5:7] == [True, True] and not any(score_of("yes_no_answer", answers)[2:5])
    words = score_of("answer_words", answers)
    assert words[3] == 0 and words[4] <= 1 and words[7] >= 4
    assert score_of("answer_chars", answers)[8] == 120


def test_latin_share_keeps_latex_heavy_english():
    shares = score_of("latin_share", ["Compute $\\int_0^1 \\sqrt{x}\\,dx$.", "芳芳买了一本书有99页，看了90页，她还剩多少页没有看？", "$$\\frac{1}{2}$$"])
    assert shares[0] == 1.0 and shares[1] < 0.1 and shares[2] is None


def test_math_set_removes_under_first_rule_and_counts_every_rule():
    stage = FilterSet("math", path="math-problems", field="problem", answer_field="answer")
    df = pl.DataFrame(
        {
            "problem": ["Prove that (a) Find x. (b) Find y. There are 3.", "What is $1+1$?", "Is 7 prime?"],
            "answer": ["3", "2", "yes"],
            ORDER: [0, 1, 2],
        }
    )
    out = stage.apply(df)
    assert out[DROP].to_list() == ["proof", None, "yes_no"]
    assert out[FAILED].to_list()[0] == ["proof", "multi_part"] and out[FAILED].to_list()[2] == ["yes_no", "yes_no_answer"]
    assert out["math_proof"].to_list() == [1.0, 0.0, 0.0]


def test_answer_rules_are_skipped_without_an_answer_field():
    stage = FilterSet("math", path="math-problems", field="problem")
    assert "no_answer" not in stage.reasons() and "proof" in stage.reasons()


def test_answer_extract_judges_the_final_answer_of_a_worked_solution():
    solutions = [
        "She has 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18",
        "the final answer is 15 gallons * 8 pints / gallon = <<15*8=120>>120 pints\n#### 120",  # `####` wins
        "So the answer is \\boxed{\\text{The two sequences never meet at any point}}.",
        "No final answer anywhere in this long worked solution text.",
    ]
    df = pl.DataFrame({"question": ["How much?", "How many pints?", "When?", "What?"], "answer": solutions, ORDER: [0, 1, 2, 3]})
    whole = FilterSet("math", path="math-problems", field="question", answer_field="answer").apply(df)
    assert whole[DROP].to_list()[:2] == ["sentence_answer", "sentence_answer"]  # the solution judged as an answer
    extracted = FilterSet("math", path="math-problems", field="question", answer_field="answer", answer_extract=True).apply(df)
    assert extracted[DROP].to_list() == [None, None, "sentence_answer", "no_answer"]
    assert extracted["math_answer_chars_answer"].to_list()[:2] == [2.0, 3.0]
    assert extracted.columns == whole.columns  # the extracted answer is not a column of the output


def test_gsm8k_train_is_kept_when_the_rules_read_its_final_answers(shared_data):
    """The real GSM8K train set: judged as whole solutions the answer rules removed 7,455 of 7,473
    problems; on the extracted final answers they remove at most 2% (measured: none)."""
    df = pl.read_ndjson(shared_data / "math" / "gsm8k" / "train.jsonl").with_row_index(ORDER)
    out = FilterSet("math", path="math-problems", field="question", answer_field="answer", answer_extract=True).apply(df)
    assert out[DROP].is_not_null().sum() <= 0.02 * df.height
