"""Benchmarks that print figures; speed claims are checked here, never in timed tests."""
