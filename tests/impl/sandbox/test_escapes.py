"""Escape attempts against the code sandbox, each a real attempt run by a real server.

A live `dify-service` (uvicorn on loopback) imports one workflow per language whose code node
runs the attempt it is given as input, so every attempt below goes through the whole path:
HTTP → engine → code node → pool → bwrap box. Each must end as a failed node (a clean
`failed` run with the reason in its error), and the server must answer the next request.
The server runs with a fake secret in its environment and a short code timeout.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.server import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
import live_workflows as lw

APPS = Path(__file__).resolve().parent / "apps"
SECRET = "sk-sandbox-canary-7f3e1d"
TIMEOUT_SECONDS = 4

RUNNERS = {
    "python3": """\
def main(attack: str) -> dict:
    scope = {}
    exec(attack, scope)
    return {"result": scope["attempt"]()}
""",
    "javascript": """\
function main({attack}) {
  const attempt = eval(`(${attack})`);
  return Promise.resolve(attempt()).then((result) => ({result}));
}
""",
}


def _dsl(language: str) -> str:
    template = (APPS / "attack.yml.tmpl").read_text(encoding="utf-8")
    return template.format(language=language, code=textwrap.indent(RUNNERS[language], " " * 10))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "FAKE_PROVIDER_SECRET": SECRET,
        "OPENAI_API_KEY": SECRET,
        "CODE_EXECUTION_TIMEOUT": str(TIMEOUT_SECONDS),
        "CODE_EXECUTION_MEMORY_MB": "512",
    }
    with lw.workflow_server(tmp_path_factory.mktemp("escapes"), extra_env=env) as live:
        yield live


@pytest.fixture(scope="module")
def keys(server: LiveServer) -> dict[str, str]:
    return {language: lw.install(server, _dsl(language))[0] for language in RUNNERS}


def attempt(server: LiveServer, key: str, code: str) -> dict[str, Any]:
    """Run one attempt; returns the run's data. Then prove the server still answers."""
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60.0
    ) as client:
        reply = client.post(
            "/workflows/run", json={"inputs": {"attack": code}, "response_mode": "blocking", "user": "eve"}
        )
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()["data"]
        assert client.get("/info").status_code == 200
        assert client.get("/parameters").status_code == 200
    return data


def failed_with(data: dict[str, Any], *fragments: str) -> str:
    assert data["status"] == "failed", data
    error = str(data["error"])
    assert any(f in error for f in fragments), error
    assert SECRET not in error
    return error


def py(body: str) -> str:
    return "def attempt():\n" + textwrap.indent(textwrap.dedent(body), "    ")


def test_a_harmless_attempt_runs(server: LiveServer, keys: dict[str, str]) -> None:
    data = attempt(server, keys["python3"], py("import json, requests, httpx, jinja2\nreturn {'ok': 1}"))
    assert data["status"] == "succeeded" and data["outputs"] == {"result": {"ok": 1}}
    data = attempt(server, keys["javascript"], "() => ({ok: [1, 2].length})")
    assert data["status"] == "succeeded" and data["outputs"] == {"result": {"ok": 2}}, data["error"]


def test_read_etc_passwd(server: LiveServer, keys: dict[str, str]) -> None:
    failed_with(
        attempt(server, keys["python3"], py("return {'x': open('/etc/passwd').read()}")), "FileNotFoundError"
    )
    js = "() => ({x: require('fs').readFileSync('/etc/passwd', 'utf8')})"
    failed_with(attempt(server, keys["javascript"], js), "ENOENT")


def test_read_the_server_database(server: LiveServer, keys: dict[str, str]) -> None:
    database = (server.data_dir / "dify.db").resolve()
    assert database.exists()
    code = py(f"return {{'x': open({str(database)!r}, 'rb').read().hex()[:100]}}")
    failed_with(attempt(server, keys["python3"], code), "FileNotFoundError")
    js = f"() => ({{x: require('fs').readFileSync({str(database)!r}).length}})"
    failed_with(attempt(server, keys["javascript"], js), "ENOENT")


def test_read_the_server_environment(server: LiveServer, keys: dict[str, str]) -> None:
    failed_with(
        attempt(server, keys["python3"], py("import os\nreturn {'x': os.environ['FAKE_PROVIDER_SECRET']}")),
        "KeyError",
    )
    js = "() => ({x: process.env.FAKE_PROVIDER_SECRET.slice(0)})"
    failed_with(attempt(server, keys["javascript"], js), "TypeError")
    # The whole environment, as user code sees it: nothing of the server's.
    data = attempt(server, keys["python3"], py("import os\nreturn dict(os.environ)"))
    assert data["status"] == "succeeded"
    seen = data["outputs"]["result"]
    assert SECRET not in str(seen) and "OPENAI_API_KEY" not in seen and "DATABASE_URL" not in seen
    assert set(seen) <= {"PATH", "HOME", "LANG", "TMPDIR", "PYTHONIOENCODING", "PWD", "LC_CTYPE"}
    proc = attempt(server, keys["python3"], py("return {'x': open('/proc/1/environ').read()}"))
    if proc["status"] == "succeeded":  # pid 1 is the box's own init: still nothing of the server
        assert SECRET not in str(proc["outputs"])


@pytest.mark.parametrize("target", ["loopback", "server"])
def test_open_a_socket(server: LiveServer, keys: dict[str, str], target: str) -> None:
    port = 22 if target == "loopback" else server.port
    code = py(
        f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\nreturn {{'x': 1}}"
    )
    failed_with(attempt(server, keys["python3"], code), "PermissionError", "Operation not permitted")
    js = f"""() => new Promise((resolve, reject) => {{
      const s = require('net').connect({port}, '127.0.0.1', () => resolve({{x: 1}}));
      s.on('error', reject);
    }})"""
    failed_with(attempt(server, keys["javascript"], js), "EPERM", "ECONNREFUSED", "ENETUNREACH")


def test_fork_bomb(server: LiveServer, keys: dict[str, str]) -> None:
    code = py("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n")
    failed_with(attempt(server, keys["python3"], code), "seconds", "Resource temporarily unavailable")
    js = """() => { const cp = require('child_process');
      for (;;) { try { cp.spawn(process.execPath, ['-e', 'for(;;){}']); } catch (e) {} } }"""
    failed_with(attempt(server, keys["javascript"], js), "seconds", "EAGAIN")
    # The pool is not starved afterwards: a new run gets a fresh box at once.
    assert attempt(server, keys["python3"], py("return {'ok': 1}"))["status"] == "succeeded"


def test_infinite_loop(server: LiveServer, keys: dict[str, str]) -> None:
    failed_with(attempt(server, keys["python3"], py("while True:\n    pass")), "seconds")
    failed_with(attempt(server, keys["javascript"], "() => { for (;;) {} }"), "seconds")


def test_allocate_ten_gigabytes(server: LiveServer, keys: dict[str, str]) -> None:
    failed_with(
        attempt(server, keys["python3"], py("x = bytearray(10 * 1024 ** 3)\nreturn {'n': len(x)}")),
        "MemoryError",
    )
    js = "() => { const a = []; for (;;) a.push(new Array(1e6).fill(1.5)); }"
    failed_with(attempt(server, keys["javascript"], js), "memory")
    js_buffer = "() => ({n: Buffer.alloc(10 * 1024 ** 3).length})"
    failed_with(attempt(server, keys["javascript"], js_buffer), "RangeError", "memory")


def test_write_outside_the_work_dir(server: LiveServer, keys: dict[str, str]) -> None:
    target = server.data_dir.resolve() / "planted.txt"
    for path in ("/usr/lib/planted.txt", "/opt/sandbox/planted.txt", str(target)):
        code = py(f"open({path!r}, 'w').write('x')\nreturn {{'x': 1}}")
        failed_with(attempt(server, keys["python3"], code), "Error")
        js = f"() => {{ require('fs').writeFileSync({path!r}, 'x'); return {{x: 1}}; }}"
        failed_with(attempt(server, keys["javascript"], js), "EROFS", "ENOENT", "EACCES", "EPERM")
    assert not target.exists()
    # The work dir itself is writable, and private to the run.
    data = attempt(
        server, keys["python3"], py("open('/tmp/f', 'w').write('x')\nreturn {'x': open('/tmp/f').read()}")
    )
    assert data["status"] == "succeeded"


def test_signal_the_parent(server: LiveServer, keys: dict[str, str]) -> None:
    pid = server.process.pid
    code = py(
        "import os, signal\n"
        f"os.kill(os.getppid(), signal.SIGKILL)\nos.kill({pid}, signal.SIGKILL)\nreturn {{}}"
    )
    failed_with(attempt(server, keys["python3"], code), "ProcessLookupError")
    js = f"() => {{ process.kill({pid}, 'SIGKILL'); return {{}}; }}"
    failed_with(attempt(server, keys["javascript"], js), "ESRCH")
    assert server.process.poll() is None


def test_ctypes(server: LiveServer, keys: dict[str, str]) -> None:
    code = py(
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.ptrace(16, 1, 0, 0) != 0:  # PTRACE_ATTACH to the box's init
            raise OSError(ctypes.get_errno(), "ptrace refused")
        fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM
        if fd < 0:
            raise OSError(ctypes.get_errno(), "socket refused")
        return {"fd": fd}
        """
    )
    failed_with(attempt(server, keys["python3"], code), "refused")
    crash = py("import ctypes\nctypes.memset(8, 0, 8)\nreturn {'x': 1}")  # write to address 8
    failed_with(attempt(server, keys["python3"], crash), "SIGSEGV")


def test_subprocess(server: LiveServer, keys: dict[str, str]) -> None:
    code = py(
        "import subprocess\nreturn {'x': subprocess.run(['/bin/sh', '-c', 'id'], capture_output=True).stdout}"
    )
    failed_with(attempt(server, keys["python3"], code), "FileNotFoundError")
    js = "() => ({x: require('child_process').execSync('id').toString()})"
    failed_with(attempt(server, keys["javascript"], js), "ENOENT")
