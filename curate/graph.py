"""Connected components of a graph held as partitioned edge files, by rounds of engine reduces.

The alternating algorithm of Kiveris et al. (2014, "Connected Components in MapReduce and Beyond"):
large-star then small-star, repeated until the edge set stops changing, at which point every component
is a star centred on its smallest node. Each step is one reduce over edges partitioned by node, so no
process ever holds more than one partition of the edges; rounds are O(log n).

Nodes are input positions (`ORDER`) with a priority `p`; a node is smaller when (p, ORDER) is. With p
the keep policy (0 for "first", -length for "longest", -value for "max:column"), each component's
smallest node is the record to keep.

Edge frames: u, pu, iu (node, priority, id) and v, pv, iv (neighbour).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.engine import Dataset, Engine

EDGE_SCHEMA = {"u": pl.Int64, "pu": pl.Float64, "iu": pl.String, "v": pl.Int64, "pv": pl.Float64, "iv": pl.String}
MAX_ROUNDS = 64
_SEEDS = (0x6A09E667, 0xBB67AE85)


def _less(pa: pl.Expr, a: pl.Expr, pb: pl.Expr, b: pl.Expr) -> pl.Expr:
    return (pa < pb) | ((pa == pb) & (a < b))


def _swap(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col("v").alias("u"), pl.col("pv").alias("pu"), pl.col("iv").alias("iu"),
        pl.col("u").alias("v"), pl.col("pu").alias("pv"), pl.col("iu").alias("iv"),
    )


def both_ways(frame: pl.DataFrame) -> pl.DataFrame:
    """An undirected edge as two directed rows, one keyed by each end."""
    return pl.concat([frame.select(list(EDGE_SCHEMA)), _swap(frame)])


def _fingerprint(frame: pl.DataFrame) -> dict[str, int]:
    """Count and two hash sums of the distinct undirected edges in `frame` (rows with u < v)."""
    if not frame.height:
        return {"edges": 0, "sum1": 0, "sum2": 0}
    h1 = (frame["u"].hash(_SEEDS[0]) ^ frame["v"].hash(_SEEDS[1])).to_numpy()
    h2 = (frame["u"].hash(_SEEDS[1]) ^ frame["v"].hash(_SEEDS[0])).to_numpy()
    return {"edges": frame.height, "sum1": int(h1.sum(dtype=np.uint64)), "sum2": int(h2.sum(dtype=np.uint64))}


def _smallest(edges: pl.DataFrame, with_self: bool = True) -> pl.DataFrame:
    """Per node u: the smallest of its neighbours (and of u itself): columns u, pm, m, im."""
    best = edges.sort(["pv", "v"]).group_by("u").agg(
        pl.col("pv").first().alias("pm"), pl.col("v").first().alias("m"), pl.col("iv").first().alias("im"),
        pl.col("pu").first(), pl.col("iu").first(),
    )
    if not with_self:
        return best.select("u", "pm", "m", "im")
    self_smaller = _less(pl.col("pu"), pl.col("u"), pl.col("pm"), pl.col("m"))
    return best.select(
        "u",
        pl.when(self_smaller).then(pl.col("pu")).otherwise(pl.col("pm")).alias("pm"),
        pl.when(self_smaller).then(pl.col("u")).otherwise(pl.col("m")).alias("m"),
        pl.when(self_smaller).then(pl.col("iu")).otherwise(pl.col("im")).alias("im"),
    )


def large_star(edges: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """Input: every edge both ways, partitioned by u. Links each larger neighbour of u to the smallest
    node around u. Output: each new edge once, keyed by its larger end (small-star's input)."""
    edges = edges.select(list(EDGE_SCHEMA)).unique(["u", "v"])
    counters = _fingerprint(edges.filter(_less(pl.col("pu"), pl.col("u"), pl.col("pv"), pl.col("v"))))
    smallest = _smallest(edges)
    larger = edges.join(smallest, on="u").filter(_less(pl.col("pu"), pl.col("u"), pl.col("pv"), pl.col("v")))
    linked = larger.select(
        pl.col("v").alias("u"), pl.col("pv").alias("pu"), pl.col("iv").alias("iu"),
        pl.col("m").alias("v"), pl.col("pm").alias("pv"), pl.col("im").alias("iv"),
    ).filter(pl.col("u") != pl.col("v"))
    return _keyed_by_larger(linked), counters


def small_star(edges: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """Input: each edge once, keyed by its larger end u. Links u and each of its smaller neighbours to
    the smallest of them. Output: every edge both ways (large-star's input)."""
    edges = edges.select(list(EDGE_SCHEMA)).unique(["u", "v"])
    counters = _fingerprint(edges)
    smallest = _smallest(edges, with_self=False)
    neighbours = edges.join(smallest, on="u").select(
        pl.col("v").alias("u"), pl.col("pv").alias("pu"), pl.col("iv").alias("iu"),
        pl.col("m").alias("v"), pl.col("pm").alias("pv"), pl.col("im").alias("iv"),
    )
    centre = edges.join(smallest, on="u").select(
        "u", "pu", "iu", pl.col("m").alias("v"), pl.col("pm").alias("pv"), pl.col("im").alias("iv")
    ).unique("u")
    linked = pl.concat([neighbours, centre]).filter(pl.col("u") != pl.col("v")).unique(["u", "v"])
    return both_ways(linked), counters


def _keyed_by_larger(frame: pl.DataFrame) -> pl.DataFrame:
    larger_first = _less(pl.col("pv"), pl.col("v"), pl.col("pu"), pl.col("u"))
    return pl.concat([frame.filter(larger_first), _swap(frame.filter(~larger_first))]).unique(["u", "v"])


def leaves(edges: pl.DataFrame) -> pl.DataFrame:
    """From converged stars (every edge both ways): each non-root node and its root."""
    edges = edges.select(list(EDGE_SCHEMA)).unique(["u", "v"])
    return edges.filter(_less(pl.col("pv"), pl.col("v"), pl.col("pu"), pl.col("u")))


def connected_components(engine: Engine, edges: Dataset, prefix: str = "cc") -> Dataset:
    """Edges both ways, partitioned by u -> (node u, root v) for every non-root node, partitioned by root."""
    current = edges
    previous = None
    for round_index in range(MAX_ROUNDS):
        large, counters = engine.reduce(f"{prefix}-{round_index}-large", [current], large_star, by="u")
        state = (counters.get("edges", 0), counters.get("sum1", 0) % (1 << 64), counters.get("sum2", 0) % (1 << 64))
        if state == previous or state[0] == 0:
            break
        previous = state
        current, _ = engine.reduce(f"{prefix}-{round_index}-small", [large], small_star, by="u")
    else:
        raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    result, _ = engine.reduce(f"{prefix}-leaves", [current], leaves, by="v")
    return result
