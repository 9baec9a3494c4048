"""Benchmarks: peer comparisons and scaling runs (``make bench``)."""
