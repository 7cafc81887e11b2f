"""Benchmarks (``make bench``): every figure printed with a ratio against a baseline from the same run."""
