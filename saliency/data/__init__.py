"""Data sets with ground truth by construction, for tests and benchmarks."""
