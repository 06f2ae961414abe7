"""Defects planted in real long chain-of-thought traces, and what the trace stages catch of them.

    .venv/bin/python benchmarks/trace_defects.py [--per-kind 300] [--seed 0]

Clean traces: the Sky-T1 traces with a closed thought and a closed solution that the evaluator marked
correct, and the correct DeepSeek-R1-Distill traces (../shared/data/math/traces/long_cot/). On a
seeded draw of them, one defect each:

    truncated       cut at a random point between 10% and 95% of its length (a max_tokens stop)
    loop            a run of 1-3 paragraphs of its thought's last half repeated 6-40 times at the end
                    of the thought, tags kept (a model that loops; Sky-T1's real loops are whole
                    repeated paragraphs, `Wait, no, for n=4, the number is 6.`)
    foreign         1-2 paragraphs in another language inserted into its thought: Chinese problems
                    and solutions from CMATH and Kaoyan, or reasoning written for this test in
                    French, German, Spanish and Russian
    no_closing_tag  `<|end_of_thought|>`, `<|end_of_solution|>`, both, or R1's `</think>` removed

The stages run as pipelines/long-cot-sft.yaml sets them. Prints the share of each defect caught (and
by which stage) and the share of the clean traces any stage flags. tests/test_trace_quality.py holds
the targets (>= 95% caught, <= 3% of clean traces flagged).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LONG_COT = SHARED / "math" / "traces" / "long_cot"
KINDS = ("truncated", "loop", "foreign", "no_closing_tag")

WRITTEN = {
    "fr": [
        "Maintenant, je dois vérifier si cette valeur satisfait bien l'équation de départ. En remplaçant x par trois dans l'expression, on obtient neuf moins six plus deux, ce qui donne cinq, et non zéro comme je l'espérais. Il faut donc reprendre le calcul depuis le début.",
        "Attendez, je crois que je me suis trompé dans le développement. Le produit des deux facteurs devrait contenir un terme croisé que j'ai oublié, et c'est justement ce terme qui change le signe du résultat final. Recommençons en écrivant chaque étape avec soin.",
        "Une autre façon de voir le problème consiste à dessiner le triangle et à placer les points sur un repère. Les coordonnées du milieu se calculent alors facilement, et la distance cherchée découle directement du théorème de Pythagore appliqué au petit triangle rectangle.",
    ],
    "de": [
        "Jetzt muss ich überprüfen, ob dieser Wert die ursprüngliche Gleichung tatsächlich erfüllt. Wenn ich drei für x einsetze, erhalte ich neun minus sechs plus zwei, also fünf und nicht null, wie ich gehofft hatte. Deshalb muss ich die Rechnung noch einmal von vorne beginnen.",
        "Moment, ich glaube, beim Ausmultiplizieren ist mir ein Fehler unterlaufen. Das Produkt der beiden Faktoren sollte einen gemischten Term enthalten, den ich vergessen habe, und genau dieser Term ändert das Vorzeichen des Ergebnisses. Fangen wir noch einmal sorgfältig an.",
        "Eine andere Möglichkeit besteht darin, das Dreieck zu zeichnen und die Punkte in ein Koordinatensystem zu legen. Die Koordinaten des Mittelpunkts lassen sich dann leicht berechnen, und der gesuchte Abstand folgt direkt aus dem Satz des Pythagoras.",
    ],
    "es": [
        "Ahora tengo que comprobar si este valor cumple realmente la ecuación original. Si sustituyo x por tres en la expresión, obtengo nueve menos seis más dos, es decir cinco y no cero como esperaba. Por lo tanto, tengo que volver a empezar el cálculo desde el principio.",
        "Espera, creo que me equivoqué al desarrollar el producto. La multiplicación de los dos factores debería tener un término cruzado que olvidé, y precisamente ese término cambia el signo del resultado final. Empecemos de nuevo escribiendo cada paso con cuidado.",
        "Otra manera de ver el problema consiste en dibujar el triángulo y colocar los puntos en un sistema de coordenadas. Las coordenadas del punto medio se calculan entonces fácilmente, y la distancia buscada se obtiene directamente del teorema de Pitágoras.",
    ],
    "ru": [
        "Теперь нужно проверить, действительно ли это значение удовлетворяет исходному уравнению. Подставив три вместо икс, получаем девять минус шесть плюс два, то есть пять, а не ноль, как я надеялся. Значит, придётся начать вычисления сначала.",
        "Подождите, кажется, я ошибся при раскрытии скобок. В произведении двух множителей должен быть перекрёстный член, который я забыл, и именно он меняет знак окончательного ответа. Начнём заново и аккуратно запишем каждый шаг.",
        "Можно посмотреть на задачу иначе: нарисовать треугольник и расположить точки в системе координат. Тогда координаты середины отрезка легко вычисляются, а искомое расстояние сразу следует из теоремы Пифагора.",
    ],
}
"""Reasoning in four other languages, written for this test (no set in ../shared/data has any)."""


def clean_traces(shared: Path = SHARED) -> pl.DataFrame:
    """question, answer, response, source of every complete correct trace."""
    sky = pl.read_ndjson(shared / "math" / "traces" / "long_cot" / "sky_t1_math.jsonl", infer_schema_length=None)
    complete = (
        pl.col("response").str.contains("<|end_of_thought|>", literal=True)
        & pl.col("response").str.contains("<|begin_of_solution|>", literal=True)
        & pl.col("response").str.contains("<|end_of_solution|>", literal=True)
    )
    sky = sky.filter(complete & pl.col("score")).select("question", "answer", "response", pl.lit("sky_t1").alias("source"))
    r1 = pl.read_ndjson(shared / "math" / "traces" / "long_cot" / "r1_distill_thought_anchors.jsonl", infer_schema_length=None)
    r1 = r1.filter(pl.col("score")).select("question", pl.col("answer").cast(pl.String), "response", pl.lit("r1_distill").alias("source"))
    return pl.concat([sky, r1])


def foreign_pool(shared: Path = SHARED, seed: int = 0) -> list[tuple[str, str]]:
    """(language, paragraph): Chinese problems and solutions from CMATH and Kaoyan, and WRITTEN."""
    rng = random.Random(seed)
    chinese: list[str] = []
    for name, fields in (("cmath.jsonl", ("question",)), ("kaoyan.jsonl", ("problem", "solution"))):
        for line in (shared / "math" / "benchmarks" / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            chinese += [str(row[f]).replace("\\n", "\n").strip() for f in fields if row.get(f) and len(str(row[f])) >= 40]
    pool = [("zh", text) for text in rng.sample(chinese, min(200, len(chinese)))]
    return pool + [(language, text) for language, texts in WRITTEN.items() for text in texts]


def _thought_bounds(response: str) -> tuple[int, int]:
    """(start, end) of the thought in a Sky-T1 or <think> response."""
    for opening, closing in (("<|begin_of_thought|>", "<|end_of_thought|>"), ("<think>", "</think>")):
        if closing in response:
            start = response.find(opening) + len(opening) if opening in response else 0
            return start, response.find(closing)
    return 0, len(response)


def plant(response: str, kind: str, rng: random.Random, pool: list[tuple[str, str]]) -> str:
    """`response` with one defect of `kind`."""
    start, end = _thought_bounds(response)
    thought = response[start:end]
    if kind == "truncated":
        return response[: int(len(response) * rng.uniform(0.10, 0.95))]
    if kind == "loop":
        paragraphs = [p for p in thought.strip().split("\n\n") if p.strip()]
        first = rng.randrange(len(paragraphs) // 2, len(paragraphs))
        unit = "\n\n".join(paragraphs[first : first + rng.randint(1, 3)])
        loop = "\n\n".join([unit] * rng.randint(6, 40))
        return response[:end].rstrip() + "\n\n" + loop + "\n\n" + response[end:]
    if kind == "foreign":
        cuts = [i for i in range(start, end) if response.startswith("\n\n", i)]
        cuts = [c for c in cuts if start + 0.2 * (end - start) <= c <= start + 0.9 * (end - start)] or cuts or [end]
        planted = response
        for cut in sorted(rng.sample(cuts, min(len(cuts), rng.randint(1, 2))), reverse=True):
            planted = planted[:cut] + "\n\n" + rng.choice(pool)[1] + planted[cut:]
        return planted
    if kind == "no_closing_tag":
        if "</think>" in response:
            return response.replace("</think>", "", 1)
        tags = rng.choice([("<|end_of_thought|>",), ("<|end_of_solution|>",), ("<|end_of_thought|>", "<|end_of_solution|>")])
        for tag in tags:
            response = response.replace(tag, "")
        return response
    raise ValueError(kind)


STAGES: list[dict[str, Any]] = [
    {"name": "format", "use": "trace_format", "response_field": "response", "require_thought": True},
    {"name": "repetition", "use": "trace_repetition"},
    {"name": "language", "use": "trace_language", "problem_field": "question"},
    {"name": "length", "use": "trace_length"},
    {"name": "behaviour", "use": "trace_behaviour"},
]
"""The trace stages as pipelines/long-cot-sft.yaml runs them."""


def flagged_by(frame: pl.DataFrame) -> list[list[str]]:
    """Per record of `frame` (question, response), the stages that flag its trace, each stage's `apply`
    run on all of them in turn (as a segment task runs them)."""
    from curate.columns import DROP
    from curate.stages import stage_type

    stages = []
    for entry in STAGES:
        settings = {k: v for k, v in entry.items() if k not in ("name", "use")}
        stage = stage_type(entry["use"])(entry["name"], **settings)
        stage.prepare()
        stages.append(stage)
    flags: list[list[str]] = [[] for _ in range(frame.height)]
    for stage in stages:
        out = stage.apply(frame)
        frame = (out[0] if isinstance(out, tuple) else out)
        for i, reason in enumerate(frame[DROP].to_list()):
            if reason is not None:
                flags[i].append(f"{stage.name}:{reason}")
        frame = frame.drop(DROP)
    return flags


def measure(per_kind: int = 300, seed: int = 0, shared: Path = SHARED) -> dict[str, Any]:
    rng = random.Random(seed)
    clean = clean_traces(shared)
    pool = foreign_pool(shared, seed)
    rows = [{"question": q, "response": r, "kind": "clean", "source": s} for q, r, s in clean.select("question", "response", "source").iter_rows()]
    for kind in KINDS:
        for i in rng.sample(range(clean.height), min(per_kind, clean.height)):
            question, response = clean["question"][i], clean["response"][i]
            rows.append({"question": question, "response": plant(response, kind, rng, pool), "kind": kind, "source": clean["source"][i]})
    frame = pl.DataFrame(rows)
    flags = flagged_by(frame.select("question", "response"))
    result: dict[str, Any] = {}
    for kind in ("clean", *KINDS):
        mine = [f for f, k in zip(flags, frame["kind"]) if k == kind]
        result[kind] = {"n": len(mine), "flagged": sum(bool(f) for f in mine), "by": dict(Counter(f[0] for f in mine if f))}
    result["examples"] = [{"kind": k, "flags": f, "tail": r[-300:]} for k, f, r in zip(frame["kind"], flags, frame["response"]) if (k == "clean") == bool(f)][:20]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-kind", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = measure(args.per_kind, args.seed)
    for kind in ("clean", *KINDS):
        r = result[kind]
        print(f"{kind:15s} {r['flagged']:5d} / {r['n']:5d} flagged ({100 * r['flagged'] / max(r['n'], 1):5.1f}%)  {r['by']}")
    for example in result["examples"]:
        print(example["kind"], example["flags"], repr(example["tail"][-200:]))


if __name__ == "__main__":
    main()
