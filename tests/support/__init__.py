"""Shared helpers for the test suite and the benchmarks (not a test module itself)."""
