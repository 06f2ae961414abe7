"""Compiled hot loops (numba). Each works on flat numpy arrays: Arrow string buffers in, arrays out."""
