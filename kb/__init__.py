"""Frontline kb."""
