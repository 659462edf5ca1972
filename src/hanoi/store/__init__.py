"""Persistence: engine and sessions, tables, Alembic migrations and the unit of work."""
