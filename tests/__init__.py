"""Frontline test suite: mirrors the package tree."""
