"""The sandbox itself (impl.sandbox), run for real: what a box sees, the limits, the pool.

Each test starts real bwrap boxes; the limits are lowered per test so the slow cases stay short.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
from typing import Any

import pytest

from impl.sandbox import CodeExecutionError, Limits, Pool, launcher, seccomp


def run(code: str, language: str = "python3", limits: Limits | None = None, **inputs: Any) -> dict[str, Any]:
    pool = Pool(limits or Limits(wall_seconds=10, cpu_seconds=5), size=1)
    try:
        return asyncio.run(pool.run(language, textwrap.dedent(code), inputs))
    finally:
        pool.close()


def fails(code: str, language: str = "python3", limits: Limits | None = None) -> str:
    with pytest.raises(CodeExecutionError) as info:
        run(code, language, limits)
    return info.value.message


def test_what_a_python_box_sees() -> None:
    seen = run(
        """
        import os, socket
        def main():
            return {
                "uid": os.getuid(),
                "root": sorted(os.listdir("/")),
                "tmp": os.getcwd(),
                "host": socket.gethostname(),
                "links": [line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:]],
                "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                "env": sorted(os.environ),
            }
        """
    )
    assert seen["uid"] == 65534 and seen["tmp"] == "/tmp" and seen["host"] == "sandbox"
    assert set(seen["root"]) <= {
        "usr",
        "lib",
        "lib64",
        "lib32",
        "libx32",
        "bin",
        "opt",
        "proc",
        "dev",
        "tmp",
        "root",
    }
    assert "etc" not in seen["root"] and "work" not in seen["root"] and "home" not in seen["root"]
    assert seen["links"] == ["lo"]  # a network namespace of its own, with nothing but loopback
    assert len(seen["pids"]) <= 3  # the box's init, the interpreter and nothing of the host
    assert "PATH" in seen["env"] and all(
        not name.startswith(("OPENAI", "DATABASE", "DIFY")) for name in seen["env"]
    )


def test_seccomp_denies_namespaces_ptrace_and_network_sockets() -> None:
    seen = run(
        """
        import ctypes, socket
        def main():
            libc = ctypes.CDLL(None, use_errno=True)
            def errno_of(result):
                return ctypes.get_errno() if result != 0 else 0
            local = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            local.close()
            try:
                socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                inet6 = "made"
            except PermissionError:
                inet6 = "denied"
            return {
                "unshare": errno_of(libc.unshare(0x10000000)),
                "ptrace": errno_of(libc.ptrace(16, 1, 0, 0)),
                "mount": errno_of(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
                "inet6": inet6,
            }
        """
    )
    assert seen == {"unshare": 1, "ptrace": 1, "mount": 1, "inet6": "denied"}  # EPERM
    assert len(seccomp.filter_program()) % 8 == 0  # a BPF program: 8-byte instructions


def test_offered_modules_import_but_reach_nothing() -> None:
    message = fails(
        """
        import requests, httpx, jinja2, socks
        def main():
            text = jinja2.Template("{{ x }}").render(x=1)
            requests.get("http://192.0.2.1/", timeout=2)
            return {"text": text}
        """
    )
    assert "ConnectionError" in message or "Operation not permitted" in message


def test_a_worker_runs_one_job_only() -> None:
    pool = Pool(Limits(wall_seconds=10), size=1)
    code = """
import os
SEEN = []
def main():
    left = os.path.exists("/tmp/mark")
    open("/tmp/mark", "w").write("x")
    return {"left": left, "pid": os.getpid()}
"""

    async def twice() -> list[dict[str, Any]]:
        return [await pool.run("python3", code, {}), await pool.run("python3", code, {})]

    try:
        first, second = asyncio.run(twice())
    finally:
        pool.close()
    assert first["left"] is False and second["left"] is False


def test_javascript_box() -> None:
    seen = run(
        """
        async function main({name}) {
          const os = require('os');
          const fs = require('fs');
          await new Promise((r) => setTimeout(r, 10));
          return {hello: `hi ${name}`, root: fs.readdirSync('/').sort(), env: Object.keys(process.env).sort(),
                  host: os.hostname()};
        }
        """,
        "javascript",
        name="ada",
    )
    assert seen["hello"] == "hi ada" and seen["host"] == "sandbox" and "etc" not in seen["root"]
    assert all(not name.startswith(("OPENAI", "DATABASE", "DIFY")) for name in seen["env"])


def test_javascript_on_embedded_v8() -> None:
    """Without Node.js, JavaScript runs on V8 (the mini-racer wheel) inside the Python box."""
    pool = Pool(Limits(wall_seconds=3, cpu_seconds=2, memory_mb=512), size=0, javascript_engine="v8")

    async def attempt(code: str, **inputs: Any) -> dict[str, Any] | str:
        try:
            return await pool.run("javascript", code, inputs)
        except CodeExecutionError as exc:
            return exc.message

    async def all_cases() -> list[dict[str, Any] | str]:
        return [
            await attempt("function main({a, b}) { return {sum: a + b, t: typeof require}; }", a=1, b=2),
            await attempt("const main = async ({s}) => ({up: s.toUpperCase()});", s="v8"),
            await attempt("function main() { throw new RangeError('nope'); }"),
            await attempt("function main() { return [1]; }"),
            await attempt("function main() { const a = []; for (;;) a.push(new Array(1e6).fill(1.5)); }"),
            await attempt("function main() { for (;;) {} }"),
        ]

    try:
        results = asyncio.run(all_cases())
    finally:
        pool.close()
    assert results[0] == {"sum": 3, "t": "undefined"}  # no Node APIs: no files, no processes, no sockets
    assert results[1] == {"up": "V8"}
    assert isinstance(results[2], str) and results[2].startswith("RangeError: nope")
    assert results[3] == "TypeError: main() must return an object, got array"
    assert results[4] == "JavaScript memory limit reached"
    assert isinstance(results[5], str) and "seconds" in results[5]


def test_wall_clock_cpu_and_output_limits() -> None:
    sleepy = "import time\ndef main():\n    time.sleep(30)\n    return {}"
    assert (
        fails(sleepy, limits=Limits(wall_seconds=1.5))
        == "the code ran longer than 1.5 seconds and was stopped"
    )
    busy = "def main():\n    while True:\n        pass"
    message = fails(busy, limits=Limits(wall_seconds=20, cpu_seconds=1))
    assert message == "the code used more than 1 seconds of CPU time and was stopped"
    chatty = "def main():\n    return {'x': 'y' * 5000}"
    assert fails(chatty, limits=Limits(output_bytes=1000)) == "the code's output is larger than 0 MB"
    js_busy = "function main() { for (;;) {} }"
    assert "seconds" in fails(js_busy, "javascript", Limits(wall_seconds=20, cpu_seconds=1))


def test_disk_limits() -> None:
    big_file = "def main():\n    open('/tmp/big', 'wb').write(b'x' * 3 * 1024 * 1024)\n    return {}"
    message = fails(big_file, limits=Limits(file_size_mb=1))
    # Both runtimes ignore SIGXFSZ, so the write fails with EFBIG, an ordinary error of the code.
    assert message.endswith("OSError: [Errno 27] File too large")
    js = (
        "function main() { require('fs').writeFileSync('/tmp/big', 'x'.repeat(3 * 1024 * 1024)); return {}; }"
    )
    assert fails(js, "javascript", Limits(file_size_mb=1)).startswith("Error: EFBIG: file too large, write")
    many_files = """
def main():
    for i in range(64):
        open(f'/tmp/f{i}', 'wb').write(b'x' * 1024 * 1024)
    return {}
"""
    assert "No space left on device" in fails(many_files, limits=Limits(tmp_size_mb=8))


def test_missing_tools_refuse_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def absent(name: str) -> str:
        raise launcher.SandboxUnavailable(f"`{name}` is not installed (Debian package: bubblewrap)")

    monkeypatch.setattr(launcher, "tool", absent)
    message = fails("def main():\n    return {}")
    assert (
        message == "the code sandbox is not available: `bwrap` is not installed (Debian package: bubblewrap)"
    )


def test_close_stops_idle_workers() -> None:
    pool = Pool(Limits(), size=2)

    async def warm() -> None:
        pool.warm("python3")
        for _ in range(100):
            if len(pool._ready["python3"]) == 2:
                return
            await asyncio.sleep(0.05)

    asyncio.run(warm())
    workers = list(pool._ready["python3"])
    assert len(workers) == 2 and all(w.alive() for w in workers)
    pool.close()
    assert not any(w.alive() for w in workers)
    for worker in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(worker.process.pid, 0)
