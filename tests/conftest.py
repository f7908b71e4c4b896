"""Session fixtures shared by the whole suite: the live demo server (SQLite and PostgreSQL)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

# Connexion warns at import time (starlette.testclient wants httpx2; jsonschema.RefResolver is
# deprecated) and the pyproject filter does not match.  Import it once here, quietly.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    warnings.filterwarnings("ignore", message="jsonschema.*is deprecated", category=DeprecationWarning)
    import connexion
    import connexion.json_schema  # noqa: F401
from support.postgres import PostgresCluster, start_cluster
from support.redis_server import RedisServer, start_redis
from support.server import LiveServer, start_server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`dify-service serve --demo --validate-responses` on loopback, over SQLite."""
    server = start_server(tmp_path_factory.mktemp("live-sqlite"), docs=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real `redis-server` on a free loopback port, removed after the session."""
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def live_server_pg(
    tmp_path_factory: pytest.TempPathFactory, postgres_cluster: PostgresCluster
) -> Iterator[LiveServer]:
    """The same server over a real PostgreSQL database."""
    url = postgres_cluster.create_database("dify_live")
    server = start_server(tmp_path_factory.mktemp("live-pg"), env={"DATABASE_URL": url})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def any_server(request: pytest.FixtureRequest) -> LiveServer:
    """Parametrises a test over both live servers."""
    name = "live_server" if request.param == "sqlite" else "live_server_pg"
    server: LiveServer = request.getfixturevalue(name)
    return server


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
