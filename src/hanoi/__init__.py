"""Hanoi Exchange."""
