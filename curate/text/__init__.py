"""Text machinery below the stages: normalisation as polars expressions (`normalize.py`), MinHash LSH
(`minhash.py`), word n-gram indexes for decontamination (`ngrams.py`), fastText models
(`fasttext_models.py`) and the generated case-folding table (`_casefold.py`)."""
