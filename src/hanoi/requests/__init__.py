"""Cooperation requests under Chapter V of the Convention: contents, lifecycle, deadlines and
responses. Pure domain code: no database, no HTTP, no clock (``now`` is always an argument)."""
