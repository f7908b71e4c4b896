"""Persistence: async SQLAlchemy engine, ORM models and Alembic migrations."""
