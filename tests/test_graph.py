"""Distributed connected components against union-find, on random graphs and partition counts."""

import random

import polars as pl
import pytest

from curate.graph import both_ways, connected_components
from curate.testing import LocalEngine


def union_find_roots(nodes, edges, key):
    parent = {n: n for n in nodes}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    groups = {}
    for n in nodes:
        groups.setdefault(find(n), []).append(n)
    return {n: min(members, key=key) for members in groups.values() for n in members if len(members) > 1}


def random_graph(seed, nodes, edges, chains=False):
    rng = random.Random(seed)
    pairs = set()
    if chains:  # long paths: the worst case for naive label propagation
        order = list(range(nodes))
        rng.shuffle(order)
        pairs |= {(order[i], order[i + 1]) for i in range(0, nodes - 1) if rng.random() < 0.9}
    while len(pairs) < edges:
        a, b = rng.randrange(nodes), rng.randrange(nodes)
        if a != b:
            pairs.add((a, b))
    return sorted(pairs)


@pytest.mark.parametrize("seed, nodes, edges, chains", [(1, 50, 30, False), (2, 400, 300, False), (3, 300, 50, True), (4, 2000, 1500, True)])
@pytest.mark.parametrize("partitions", [1, 3, 8])
@pytest.mark.parametrize("priority", ["order", "random"])
def test_components_match_union_find(tmp_path, seed, nodes, edges, chains, partitions, priority):
    rng = random.Random(seed * 7)
    weight = {n: (0.0 if priority == "order" else float(rng.randint(0, 5))) for n in range(nodes)}
    pairs = random_graph(seed, nodes, edges, chains)
    frame = pl.DataFrame(
        {
            "u": [a for a, _ in pairs], "pu": [weight[a] for a, _ in pairs], "iu": [f"id{a}" for a, _ in pairs],
            "v": [b for _, b in pairs], "pv": [weight[b] for _, b in pairs], "iv": [f"id{b}" for _, b in pairs],
        },
        schema={"u": pl.Int64, "pu": pl.Float64, "iu": pl.String, "v": pl.Int64, "pv": pl.Float64, "iv": pl.String},
    )
    engine = LocalEngine(tmp_path, partitions)
    result = engine.read(connected_components(engine, engine.dataset("edges", both_ways(frame), "u")))
    expected = union_find_roots(range(nodes), pairs, key=lambda n: (weight[n], n))
    got = dict(zip(result["u"].to_list(), result["v"].to_list()))
    assert got == {n: r for n, r in expected.items() if n != r}
    assert dict(zip(result["u"], result["iv"])) == {n: f"id{r}" for n, r in got.items()}
    rounds = sum(1 for step in engine.steps if step.endswith("-large"))
    assert rounds <= 2 * max(nodes, 2).bit_length()


def test_no_edges(tmp_path):
    engine = LocalEngine(tmp_path, 2)
    empty = engine.dataset("edges", pl.DataFrame(schema={"u": pl.Int64, "pu": pl.Float64, "iu": pl.String, "v": pl.Int64, "pv": pl.Float64, "iv": pl.String}), "u")
    assert engine.read(connected_components(engine, empty)).height == 0
