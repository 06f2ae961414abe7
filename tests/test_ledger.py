import polars as pl
import pytest

from curate.errors import LedgerError
from curate.runner import ledger


def book(**stages):
    result = ledger.Ledger([(name, "x") for name in stages])
    result.add(stages)
    return result


def test_fingerprint_is_a_multiset_sum():
    a = ledger.id_fingerprint(pl.Series(["a", "b", "c"]))
    parts = ledger.add(ledger.id_fingerprint(pl.Series(["c"])), ledger.id_fingerprint(pl.Series(["b", "a"])))
    assert a == parts
    assert ledger.id_fingerprint(pl.Series(["a", "b", "b"])) != ledger.id_fingerprint(pl.Series(["a", "b", "c"]))
    assert ledger.subtract(a, ledger.id_fingerprint(pl.Series(["a"]))) == ledger.id_fingerprint(pl.Series(["b", "c"]))


def test_balanced_counts_pass():
    book(input={"in": 10, "out": 10}, exact={"in": 10, "out": 7, "removed": {"exact_duplicate": 3}}).check_counts(10, 7)


@pytest.mark.parametrize(
    "stages, total, kept, message",
    [
        ({"a": {"in": 10, "out": 8, "removed": {"r": 1}}}, 10, 8, "10 in != 8 out \\+ 1 removed"),
        ({"a": {"in": 9, "out": 9}}, 10, 9, "received 9 records but the input passed on 10"),
        ({"a": {"in": 10, "out": 10}}, 10, 9, "passed on 10 records but 9 were kept"),
    ],
)
def test_unbalanced_counts_fail(stages, total, kept, message):
    with pytest.raises(LedgerError, match=message):
        book(**stages).check_counts(total, kept)


def test_files_must_hold_every_id_exactly_once():
    counts = book(input={"in": 3, "out": 3}, a={"in": 3, "out": 2, "removed": {"r": 1}})
    ids = ledger.id_fingerprint(pl.Series(["x", "y", "z"]))
    kept = ledger.id_fingerprint(pl.Series(["x", "y"]))
    removed = ledger.id_fingerprint(pl.Series(["z"]))
    ledger.check_files(counts, ids, 2, kept, removed, {("a", "r"): 1})
    with pytest.raises(LedgerError, match="lost or duplicated"):  # z lost, x twice
        ledger.check_files(counts, ids, 2, kept, ledger.id_fingerprint(pl.Series(["x"])), {("a", "r"): 1})
    with pytest.raises(LedgerError, match="kept/ holds 3"):
        ledger.check_files(counts, ids, 3, kept, removed, {("a", "r"): 1})
    with pytest.raises(LedgerError, match="removed/ does not match"):
        ledger.check_files(counts, ids, 2, kept, removed, {("a", "other"): 1})
