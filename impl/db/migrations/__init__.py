"""Alembic migrations (revision 0001 creates every table of issue 3)."""
