"""The per-app limit of active generation requests: 429 with Retry-After, in one worker and
across workers through a real Redis."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from support.redis_server import RedisServer
from support.server import LiveServer, run_cli, start_server

from impl.limits.active import InProcessActiveRequests, RedisActiveRequests

# 20 tokens at 0.1 s: each stream stays open about two seconds.
SLOW_QUERY = "hold the line [[delay:0.1]] [[tokens:20]]"


async def _exercise(counter: InProcessActiveRequests | RedisActiveRequests) -> None:
    assert await counter.enter("app-a", "r1", 2)
    assert await counter.enter("app-a", "r2", 2)
    assert not await counter.enter("app-a", "r3", 2)
    assert await counter.enter("app-b", "r1", 2)  # counted per app
    assert await counter.count("app-a") == 2
    await counter.exit("app-a", "r1")
    assert await counter.enter("app-a", "r3", 2)
    for request in ("r2", "r3"):
        await counter.exit("app-a", request)
    await counter.exit("app-b", "r1")
    assert await counter.count("app-a") == 0


def test_in_process_counter() -> None:
    asyncio.run(_exercise(InProcessActiveRequests()))


def test_redis_counter(redis_server: RedisServer) -> None:
    async def run() -> None:
        counter = RedisActiveRequests(redis_server.url, prefix="test-counter")
        try:
            await _exercise(counter)
            # An entry older than ten minutes (its worker died) no longer holds a place.
            await counter._redis.hset(counter._key("app-c"), "lost", str(time.time() - 3600))
            assert await counter.enter("app-c", "fresh", 1)
            assert await counter.count("app-c") == 1
            assert not await counter.enter("app-c", "more", 1)
        finally:
            await counter._redis.delete(counter._key("app-c"))
            await counter.close()

    asyncio.run(run())


def _chat(server: LiveServer, query: str, mode: str = "streaming") -> dict[str, object]:
    return {"query": query, "inputs": {"name": "Ada"}, "user": "limit-user", "response_mode": mode}


def _hold_streams(server: LiveServer, count: int, opened: threading.Barrier) -> list[threading.Thread]:
    """Open `count` slow streams on `server`, each in a thread; `opened` trips once all answered."""

    def hold() -> None:
        headers = {"Authorization": f"Bearer {server.keys['chat']}"}
        with httpx.stream(
            "POST",
            server.base_url + "/chat-messages",
            headers=headers,
            json=_chat(server, SLOW_QUERY),
            timeout=30,
        ) as r:
            assert r.status_code == 200
            opened.wait(timeout=20)
            for _ in r.iter_bytes():
                pass

    threads = [threading.Thread(target=hold, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def _assert_limited(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["Retry-After"] == "1"
    assert r.json() == {
        "code": "too_many_requests",
        "message": "Too many requests. Please try again later. "
        f"The current maximum concurrent requests allowed is {limit}.",
        "status": 429,
    }


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("limited"), env={"APP_MAX_ACTIVE_REQUESTS": "2"})
    try:
        yield server
    finally:
        server.stop()


def test_app_max_active_requests_answers_429(limited_server: LiveServer) -> None:
    opened = threading.Barrier(3)
    threads = _hold_streams(limited_server, 2, opened)
    opened.wait(timeout=20)
    headers = {"Authorization": f"Bearer {limited_server.keys['chat']}"}
    for mode in ("blocking", "streaming"):
        r = httpx.post(
            limited_server.base_url + "/chat-messages",
            headers=headers,
            json=_chat(limited_server, "hi", mode),
            timeout=10,
        )
        _assert_limited(r, 2)
    # Another app has its own count; reads are never limited.
    other = {"Authorization": f"Bearer {limited_server.keys['completion']}"}
    body = {"inputs": {"query": "hi"}, "user": "limit-user", "response_mode": "blocking"}
    assert (
        httpx.post(
            limited_server.base_url + "/completion-messages", headers=other, json=body, timeout=10
        ).status_code
        == 200
    )
    assert httpx.get(limited_server.base_url + "/parameters", headers=headers, timeout=10).status_code == 200
    for thread in threads:
        thread.join(timeout=30)
    r = httpx.post(
        limited_server.base_url + "/chat-messages",
        headers=headers,
        json=_chat(limited_server, "hi", "blocking"),
        timeout=10,
    )
    assert r.status_code == 200, r.text


def test_a_refused_or_failed_request_frees_its_place(limited_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {limited_server.keys['chat']}"}
    url = limited_server.base_url + "/chat-messages"
    for _ in range(5):
        bad = httpx.post(url, headers=headers, json={"inputs": {}, "user": "u"}, timeout=10)
        assert bad.status_code == 400
        failed = httpx.post(
            url,
            headers=headers,
            json=_chat(limited_server, "x [[fail:completion_request_error]]", "blocking"),
            timeout=10,
        )
        assert failed.status_code == 400
    # A client that goes away mid-stream releases its place as well.
    for _ in range(3):
        with httpx.stream(
            "POST", url, headers=headers, json=_chat(limited_server, SLOW_QUERY), timeout=10
        ) as r:
            assert r.status_code == 200
            next(r.iter_bytes())
    deadline = time.monotonic() + 10
    while True:
        ok = httpx.post(url, headers=headers, json=_chat(limited_server, "hi", "blocking"), timeout=10)
        if ok.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert ok.status_code == 200, ok.text


def test_the_apps_own_limit_overrides_the_default(limited_server: LiveServer, tmp_path: Path) -> None:
    dsl = (Path(__file__).resolve().parents[3] / "examples" / "apps" / "chat.yml").read_text()
    assert "\napp:\n" in dsl
    path = tmp_path / "limited.yml"
    path.write_text(dsl.replace("\napp:\n", "\napp:\n  max_active_requests: 1\n", 1))
    data_dir = str(limited_server.data_dir)
    out = run_cli("apps", "import", str(path), "--data-dir", data_dir, env=limited_server.env)
    assert out.returncode == 0, out.stderr
    key = [w for w in out.stdout.split() if w.startswith("app-")][-1]
    own = replace(limited_server, keys={"chat": key})
    opened = threading.Barrier(2)
    threads = _hold_streams(own, 1, opened)
    opened.wait(timeout=20)
    headers = {"Authorization": f"Bearer {key}"}
    r = httpx.post(
        own.base_url + "/chat-messages", headers=headers, json=_chat(own, "hi", "blocking"), timeout=10
    )
    _assert_limited(r, 1)
    for thread in threads:
        thread.join(timeout=30)
    # A DSL with a limit that is not a non-negative integer is refused at import.
    path.write_text(dsl.replace("\napp:\n", "\napp:\n  max_active_requests: many\n", 1))
    refused = run_cli("apps", "import", str(path), "--data-dir", data_dir, env=limited_server.env)
    assert refused.returncode != 0 and "max_active_requests" in refused.stderr + refused.stdout


def test_the_limit_holds_across_workers_with_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    env = {"APP_MAX_ACTIVE_REQUESTS": "1", "REDIS_URL": redis_server.url}
    first = start_server(tmp_path / "shared", env=env)
    second = None
    try:
        second = start_server(tmp_path / "shared", env=env, demo=False)
        keys = json.loads((tmp_path / "shared" / "demo-keys.json").read_text())
        second.keys = keys
        opened = threading.Barrier(2)
        threads = _hold_streams(first, 1, opened)
        opened.wait(timeout=20)
        headers = {"Authorization": f"Bearer {keys['chat']}"}
        r = httpx.post(
            second.base_url + "/chat-messages",
            headers=headers,
            json=_chat(second, "hi", "blocking"),
            timeout=10,
        )
        _assert_limited(r, 1)
        for thread in threads:
            thread.join(timeout=30)
        r = httpx.post(
            second.base_url + "/chat-messages",
            headers=headers,
            json=_chat(second, "hi", "blocking"),
            timeout=10,
        )
        assert r.status_code == 200, r.text
    finally:
        first.stop()
        if second is not None:
            second.stop()
