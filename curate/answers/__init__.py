"""Final answers: extraction and symbolic checking with math-verify, in worker processes that can be
killed (`verifier.py`). `curate.rewards` pays by the same checker inside a trainer."""
