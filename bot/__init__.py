"""Frontline bot."""
