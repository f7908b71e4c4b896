"""Alembic environment: runs on a synchronous engine for the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from impl.db import (
    chat_extras_models,  # noqa: F401  (registers the annotation and agent tables)
    knowledge_models,  # noqa: F401  (registers the local knowledge index)
    lease_models,  # noqa: F401  (registers the run lease table)
    workflow_models,  # noqa: F401  (registers the workflow tables on Base.metadata)
)
from impl.db.engine import install_sqlite_pragmas, is_sqlite, sync_url
from impl.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_offline() -> None:
    context.configure(
        url=sync_url(config.get_main_option("sqlalchemy.url") or ""),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    if is_sqlite(url):
        install_sqlite_pragmas(engine)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=is_sqlite(url),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
