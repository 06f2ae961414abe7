"""Talking to models: one OpenAI-compatible endpoint driven hard and politely (`endpoint.py`), the
persistent cache of completed samples (`sample_cache.py`), and chat prompts from templates (`prompts.py`)."""
