"""The demo's sample corpus: math word problems with reference answers, generated here (no downloads),
deterministic for a seed, with planted exact duplicates, near-duplicates, junk and bad lines."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAMES = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farah", "George", "Hana", "Ivan", "Jun", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya"]
ITEMS = ["apple", "marble", "sticker", "pencil", "book", "shell", "coin", "card"]
VEHICLES = ["train", "car", "cyclist", "boat", "bus"]


def _problems(rng: random.Random) -> list[Callable[[], tuple[str, str, int]]]:
    def name() -> str:
        return rng.choice(NAMES)

    def buy() -> tuple[str, str, int]:
        n, item, a, b = name(), rng.choice(ITEMS), rng.randint(3, 90), rng.randint(2, 60)
        return f"{n} has {a} {item}s. {n} buys {b} more {item}s at the market. How many {item}s does {n} have now?", str(a + b), 1

    def travel() -> tuple[str, str, int]:
        v, s, h = rng.choice(VEHICLES), rng.randint(20, 120), rng.randint(2, 9)
        return f"A {v} travels at a steady {s} kilometers per hour for {h} hours. How many kilometers does it travel?", str(s * h), 1

    def reading() -> tuple[str, str, int]:
        n, p, d = name(), rng.randint(5, 40), rng.randint(3, 30)
        return f"{n} reads {p} pages of a novel every day. How many pages does {n} read in {d} days?", str(p * d), 1

    def rectangle() -> tuple[str, str, int]:
        length, width = rng.randint(3, 50), rng.randint(2, 40)
        return f"A rectangle has a length of {length} cm and a width of {width} cm. What is its area in square centimeters?", str(length * width), 2

    def money() -> tuple[str, str, int]:
        n, m = name(), rng.randint(20, 500)
        s = rng.randint(1, m - 1)
        return f"{n} had ${m} in a savings jar and spent ${s} on a birthday present. How many dollars are left in the jar?", str(m - s), 1

    def sum_difference() -> tuple[str, str, int]:
        small, d = rng.randint(3, 200), rng.randint(1, 100)
        large = small + d
        return f"The sum of two numbers is {small + large} and their difference is {d}. What is the larger of the two numbers?", str(large), 3

    def cookies() -> tuple[str, str, int]:
        a, b = rng.randint(2, 9), rng.randint(6, 24)
        c = rng.randint(1, a * b - 1)
        return f"A baker makes {a} batches of {b} cookies each and sells {c} cookies before noon. How many cookies are left?", str(a * b - c), 2

    def workers() -> tuple[str, str, int]:
        x, d = rng.randint(2, 12), rng.randint(2, 12)
        y = rng.choice([k for k in range(2, 40) if (x * d) % k == 0 and k != x] or [x * d])
        return f"If {x} workers can build a wall in {d} days, how many days would {y} workers take, working at the same rate?", str(x * d // y), 3

    def remainder() -> tuple[str, str, int]:
        a, b = rng.randint(100, 9999), rng.randint(3, 29)
        return f"What is the remainder when {a} is divided by {b}?", str(a % b), 2

    def fraction() -> tuple[str, str, int]:
        n, total = name(), rng.choice([12, 18, 24, 30, 36, 48, 60])
        part = rng.choice([k for k in (2, 3, 4, 6) if total % k == 0])
        return f"{n} has {total} marbles and gives one {['', '', 'half', 'third', 'quarter', '', 'sixth'][part]} of them to a friend. How many marbles does {n} keep?", str(total - total // part), 2

    return [buy, travel, reading, rectangle, money, sum_difference, cookies, workers, remainder, fraction]


def _respace(rng: random.Random, text: str) -> str:
    """A copy that exact_dedup's normalisation must see through: case and whitespace changes."""
    words = text.split(" ")
    if rng.random() < 0.5:
        words[0] = words[0].upper()
    return "".join(w + rng.choice([" ", "  ", " \t", "\u00a0"]) for w in words).strip()


def _reword(rng: random.Random, text: str) -> str:
    """A near-duplicate: one or two words swapped for synonyms (exact_dedup keeps it; MinHash should not)."""
    swaps = [("How many", "How much"), ("buys", "gets"), ("every day", "each day"), ("steady", "constant"), ("What is", "Find"), ("spent", "used"), ("gives", "hands")]
    for old, new in rng.sample(swaps, len(swaps)):
        if old in text:
            return text.replace(old, new, 1)
    return text.replace(" the ", " a ", 1) if " the " in text else text + " Explain briefly."


JUNK = ["", "asdf", "???", "todo: write problem", "x = ?", "lorem ipsum", "1 2 3"]
BAD_LINES = ['{"id": "demo-bad-1", "problem": "Missing a closing brace", "answer": "1"', "not json at all", '{"id": "demo-bad-3", "problem": 42, "answer": "42"}', '{"id": "demo-bad-4", "answer": "7"}']


def demo_records(problems: int = 2000, seed: int = 7) -> tuple[list[dict[str, Any] | str], dict[str, int]]:
    rng = random.Random(seed)
    makers = _problems(rng)
    originals: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(originals) < problems:
        text, answer, level = rng.choice(makers)()
        if text in seen:
            continue
        seen.add(text)
        originals.append({"id": f"demo-{len(originals):05d}", "problem": text, "answer": answer, "level": level, "source": "demo"})
    records: list[dict[str, Any] | str] = list(originals)
    planted = {"exact_duplicates": 0, "near_duplicates": 0, "junk": 0, "no_answer": 0, "bad_lines": len(BAD_LINES)}
    for record in rng.sample(originals, problems // 12):
        records.append({**record, "id": f"demo-{len(records):05d}", "problem": _respace(rng, record["problem"])})
        planted["exact_duplicates"] += 1
    for record in rng.sample(originals, problems // 20):
        records.append({**record, "id": f"demo-{len(records):05d}", "problem": _reword(rng, record["problem"])})
        planted["near_duplicates"] += 1
    for _ in range(problems // 40):
        records.append({"id": f"demo-{len(records):05d}", "problem": rng.choice(JUNK), "answer": str(rng.randint(0, 9)), "level": 1, "source": "demo"})
        planted["junk"] += 1
    for record in rng.sample(originals, problems // 50):
        records.append({**record, "id": f"demo-{len(records):05d}", "problem": record["problem"].replace("?", ", to the nearest whole number?"), "answer": ""})
        planted["no_answer"] += 1
    for record in rng.sample(originals, problems // 50):  # rewards for these are easy to hack: math-problems removes them
        kind = rng.choice(["multiple_choice", "proof", "yes_no"])
        answer = record["answer"]
        if kind == "multiple_choice":
            options = [answer, str(rng.randint(1, 99)), str(rng.randint(100, 999)), str(rng.randint(1000, 9999))]
            rng.shuffle(options)
            text = record["problem"] + "\n" + "\n".join(f"({letter}) {option}" for letter, option in zip("ABCD", options))
        elif kind == "proof":
            text, answer = "Prove that " + record["problem"][0].lower() + record["problem"][1:].rstrip("?") + " has a unique answer.", "proof"
        else:
            text, answer = "Is the answer to the following a prime number? " + record["problem"], "no"
        records.append({**record, "id": f"demo-{len(records):05d}", "problem": text, "answer": answer})
        planted[kind] = planted.get(kind, 0) + 1
    rng.shuffle(records)
    for line in BAD_LINES:
        records.insert(rng.randrange(len(records)), line)
    solver = random.Random(f"{seed}-solutions")  # its own stream: the problems do not depend on it
    for entry in records:
        if isinstance(entry, dict):
            entry["solutions"] = _solutions(solver, entry)
    return records, planted


_CHECKS = ["Let me double-check the arithmetic once more.", "Reading the question again, that is what it asks for.", "The units work out as well."]


def _solutions(rng: random.Random, record: dict[str, Any]) -> list[str]:
    """Four worked solutions "from students" of the problem's level, some wrong: verify checks them when
    no endpoint is configured, and their pass rates give difficulty something to sort."""
    answer = str(record.get("answer") or "")
    if not answer.lstrip("-").isdigit():
        return [f"I am not sure how to approach this.\n\nThe answer is \\boxed{{{answer or 0}}}."] * 4
    skill = {1: 0.8, 2: 0.6, 3: 0.45}.get(int(record.get("level") or 2), 0.6) * rng.choice([0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.15])
    solutions = []
    for _ in range(4):
        value = int(answer) if rng.random() < skill else int(answer) + rng.choice([-10, -2, -1, 1, 2, 10])
        steps = " ".join(rng.sample(_CHECKS, rng.randint(0, len(_CHECKS))))
        solutions.append(f"Working through the quantities in the problem step by step gives {value}. {steps}".strip() + f"\n\nThe answer is \\boxed{{{value}}}.")
    return solutions


def write_demo_data(directory: str | Path, problems: int = 2000, seed: int = 7) -> dict[str, Any]:
    """Two files, to show that formats mix: plain JSONL and zstd-compressed JSONL."""
    import zstandard

    records, planted = demo_records(problems, seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("problems-*"):
        stale.unlink()
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    half = len(lines) // 2
    (directory / "problems-0.jsonl").write_text("\n".join(lines[:half]) + "\n", encoding="utf-8")
    data = ("\n".join(lines[half:]) + "\n").encode("utf-8")
    (directory / "problems-1.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=10).compress(data))
    # a made-up "benchmark" that some training problems leak into: decontaminate removes them
    leaked = [r for r in records if isinstance(r, dict) and r.get("answer")][: max(3, problems // 100)]
    benchmark = [{"question": r["problem"], "answer": r["answer"]} for r in leaked]
    (directory / "benchmark.jsonl").write_text("".join(json.dumps(b) + "\n" for b in benchmark), encoding="utf-8")
    planted["benchmark_problems"] = len(benchmark)
    return {"records": len(lines), "planted": planted}


# ---------------------------------------------------------------- web text for pipelines/web-quality.yaml

_ADJECTIVES = "old young quiet busy narrow wide bright dark early late small large gentle cold warm heavy simple careful patient honest curious famous local distant modern ancient empty crowded sudden steady".split()
_NOUNS = "farmer teacher river bridge village market doctor garden station letter harbour museum library engineer council mill bakery painter sailor forest valley road window kitchen festival orchard tower lantern merchant student".split()
_VERBS = "visited repaired described carried noticed opened followed painted crossed measured built answered watched remembered explained borrowed delivered protected discovered planted".split()
_PLACES = "near the coast|behind the church|across the square|along the canal|under the old oak|beside the station|at the edge of town|in the northern hills|before the storm|after the long winter".split("|")
_LINKS = ["and", "while", "because", "although", "so", "but", "since"]


def _phrase(rng: random.Random) -> str:
    return f"the {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"


def _sentence(rng: random.Random) -> str:
    first = f"{_phrase(rng)} {rng.choice(_VERBS)} {_phrase(rng)} {rng.choice(_PLACES)}"
    second = f"{_phrase(rng)} {rng.choice(_VERBS)} {_phrase(rng)} with {_phrase(rng)}"
    return f"{first[0].upper()}{first[1:]}, {rng.choice(_LINKS)} {second}."


_FRENCH = [
    "Le comité a décidé que le pont serait réparé avant la première neige de l'hiver.",
    "Notre voisine se souvient que la récolte avait été meilleure que prévu dans la vallée.",
    "La bibliothèque restera ouverte tard le dernier vendredi de chaque mois, selon la mairie.",
    "Les enfants du village apprennent à nager dans le lac froid pendant tout l'été.",
]


def _prose(rng: random.Random, paragraphs: int) -> str:
    return "\n\n".join(" ".join(_sentence(rng) for _ in range(rng.randint(3, 5))) for _ in range(paragraphs))


def web_records(documents: int = 300, seed: int = 7) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Prose documents, and planted ones that the web-quality rules remove: too short, bullet lists,
    repeated paragraphs, lorem ipsum, lines without punctuation, hashtag spam, French."""
    rng = random.Random(seed)
    records = [{"id": f"web-{i:05d}", "text": _prose(rng, rng.randint(3, 5)), "planted": "prose"} for i in range(documents)]
    planted: dict[str, int] = {}

    def plant(kind: str, text: str) -> None:
        records.append({"id": f"web-{len(records):05d}", "text": text, "planted": kind})
        planted[kind] = planted.get(kind, 0) + 1

    for _ in range(max(2, documents // 30)):
        plant("short", _sentence(rng))
        plant("bullets", "\n".join(f"- {_phrase(rng)} {rng.choice(_PLACES)}" for _ in range(25)))
        paragraph = _prose(rng, 1)
        plant("repeated", "\n\n".join([paragraph] * 8))
        plant("lorem_ipsum", _prose(rng, 2) + "\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n\n" + _prose(rng, 2))
        plant("no_punctuation", "\n".join(_sentence(rng).rstrip(".").replace(",", "") for _ in range(30)))
        plant("hashtags", " ".join(f"#{rng.choice(['sale', 'deal', 'win', 'free'])} {rng.choice(['now', 'today', 'here'])}" for _ in range(60)))
        plant("french", "\n\n".join(" ".join(rng.sample(_FRENCH, 4)) for _ in range(4)))
    rng.shuffle(records)
    return records, planted


def write_web_data(directory: str | Path, documents: int = 300, seed: int = 7) -> dict[str, Any]:
    records, planted = web_records(documents, seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "web-0.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return {"records": len(records), "planted": planted}
