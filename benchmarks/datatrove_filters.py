"""Run datatrove's four quality filters on documents; for benchmarks/quality_filters.py and the test
fixture. It runs in a separate virtualenv, so that datatrove never becomes a dependency of curate:

    benchmarks/_data/datatrove-venv/bin/python benchmarks/datatrove_filters.py IN.parquet OUT.parquet

(quality_filters.py makes that virtualenv on first use from benchmarks/datatrove-requirements.txt.)

IN has `id` and `text`. OUT has, per document in order, the reason each filter gives (null: kept),
each filter built with its defaults (English) and given a fresh Document, so C4's rewrite of the text
does not reach the others; `c4_text`, the text C4 passes on when it keeps the document; and
`<filter>_seconds`, the time each filter took on it (for the cost of a chain, where a document stops at
the first filter that drops it). The last line of stdout is JSON: seconds spent in each filter.
"""

import json
import sys
import time

import polars as pl
from datatrove.data import Document
from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

FILTERS = {
    "gopher_quality": GopherQualityFilter,
    "gopher_repetition": GopherRepetitionFilter,
    "c4": C4QualityFilter,
    "fineweb": FineWebQualityFilter,
}


def main(source: str, target: str) -> None:
    docs = pl.read_parquet(source, columns=["id", "text"])
    filters = {name: make() for name, make in FILTERS.items()}
    filters["gopher_quality"].filter(Document(text="warm up the tokenizer " * 30, id="warm-up"))
    reasons: dict[str, list] = {name: [] for name in filters}
    c4_text: list = []
    seconds: dict[str, list] = {name: [] for name in filters}
    for doc_id, text in docs.iter_rows():
        for name, flt in filters.items():
            doc = Document(text=text, id=str(doc_id))
            start = time.perf_counter()
            verdict = flt.filter(doc)
            seconds[name].append(time.perf_counter() - start)
            kept, reason = (verdict, None) if isinstance(verdict, bool) else verdict
            reasons[name].append(None if kept else reason or "dropped")
            if name == "c4":
                c4_text.append(doc.text if kept else None)
    timings = {f"{name}_seconds": values for name, values in seconds.items()}
    pl.DataFrame({"id": docs["id"], **reasons, "c4_text": c4_text, **timings}, schema_overrides={n: pl.String for n in [*filters, "c4_text"]}).write_parquet(target)
    totals = {name: sum(values) for name, values in seconds.items()}
    print(json.dumps({"documents": docs.height, "seconds": totals, "total_seconds": sum(totals.values())}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
