"""Warm workers: sandboxed interpreters started ahead of time, each used for exactly one job.

Starting a sandbox (namespaces, binds, interpreter start-up) costs tens of milliseconds; a run
should not wait for it. The pool keeps a few started workers per language, blocked on stdin.
A job takes one, writes the code and inputs, reads one answer line, and the worker exits; a
replacement is started in the background. A worker is never reused, so nothing one run leaves
behind (files, globals, threads) is seen by the next.

Processes are started from one long-lived thread: bwrap's `--die-with-parent` ties the sandbox
to the thread that started it, so short-lived threads must not do it. Job I/O runs in worker
threads (`asyncio.to_thread`), which keeps the pool usable from any event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from impl.sandbox import launcher, seccomp
from impl.sandbox.launcher import Limits

LANGUAGES = ("python3", "javascript")
STDERR_KEEP = 16 * 1024


class CodeExecutionError(Exception):
    """User code failed, or broke a limit; the message says which (Dify's error type name)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Worker:
    language: str
    process: subprocess.Popen[bytes]
    started: float

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def spawn(language: str, limits: Limits, engine: str | None = None) -> Worker:
    fd = seccomp.program_fd()
    try:
        process = subprocess.Popen(
            launcher.command(language, limits, fd, engine),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(fd,),
            env={},
            cwd="/",
            start_new_session=True,
        )
    finally:
        os.close(fd)
    return Worker(language, process, time.monotonic())


def _describe_exit(returncode: int, limits: Limits, elapsed: float, stderr: str) -> str:
    # bwrap reports a command killed by a signal as 128 + the signal number.
    sig = -returncode if returncode < 0 else returncode - 128 if 128 < returncode < 160 else 0
    text = stderr.strip()
    if any(
        marker in text
        for marker in ("heap out of memory", "MemoryError", "Cannot allocate memory", "Fatal process OOM")
    ):
        return f"the code ran out of memory (limit {limits.memory_mb} MB)"
    if sig:
        if sig == signal.SIGXCPU:
            return f"the code used more than {limits.cpu_seconds} seconds of CPU time and was stopped"
        if sig == signal.SIGXFSZ:
            return f"the code wrote a file larger than {limits.file_size_mb} MB and was stopped"
        if sig == signal.SIGKILL and elapsed >= limits.wall_seconds:
            return f"the code ran longer than {limits.wall_seconds:g} seconds and was stopped"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        if sig == signal.SIGKILL:
            return f"the code was killed (signal {name}): it may have run out of memory or processes"
        return f"the code was killed by signal {name}"
    if text:
        return f"the code's process exited with status {returncode}: {text[-2000:]}"
    return f"the code's process exited with status {returncode} without an answer"


def execute(worker: Worker, job: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """Hand `job` to `worker`, wait for its answer within the limits; blocking (run in a thread)."""
    process = worker.process
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    payload = json.dumps(job, ensure_ascii=False, default=str).encode("utf-8")
    started = time.monotonic()
    deadline = started + limits.wall_seconds
    out = bytearray()
    err = bytearray()
    too_large = False
    answered = False
    try:
        process.stdin.write(payload)
        process.stdin.close()
    except (BrokenPipeError, OSError):
        pass  # the worker died before reading: its exit status says why
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, out)
        selector.register(process.stderr, selectors.EVENT_READ, err)
        open_streams = 2
        while open_streams:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in selector.select(timeout=min(remaining, 0.5)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                buffer: bytearray = key.data
                if buffer is err:
                    if len(err) < STDERR_KEEP:
                        err.extend(chunk[: STDERR_KEEP - len(err)])
                    continue
                buffer.extend(chunk)
                if len(out) > limits.output_bytes:
                    too_large = True
                    open_streams = 0
                    break
                if out.endswith(b"\n"):  # the runner's one answer line: no need to wait for its exit
                    answered = True
                    open_streams = 0
                    break
    elapsed = time.monotonic() - started
    if process.poll() is None and not answered:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
    timed_out = process.poll() is None and not answered
    worker.kill()
    if too_large:
        size_mb = limits.output_bytes // (1024 * 1024)
        raise CodeExecutionError(f"the code's output is larger than {size_mb} MB")
    if timed_out:
        raise CodeExecutionError(f"the code ran longer than {limits.wall_seconds:g} seconds and was stopped")
    lines = [line for line in bytes(out).decode("utf-8", "replace").splitlines() if line.strip()]
    returncode = process.returncode
    if not answered and (not lines or returncode != 0):
        raise CodeExecutionError(
            _describe_exit(returncode, limits, elapsed, bytes(err).decode("utf-8", "replace"))
        )
    try:
        answer = json.loads(lines[-1])
    except ValueError as exc:
        raise CodeExecutionError("the code's answer could not be read") from exc
    if not isinstance(answer, dict):
        raise CodeExecutionError("the code's answer could not be read")
    if not answer.get("ok"):
        raise CodeExecutionError(str(answer.get("error") or "the code failed"))
    result = answer.get("result")
    if not isinstance(result, dict):
        raise CodeExecutionError("main() must return a dict")
    return result


class Pool:
    """Ready workers per language, refilled by one spawner thread."""

    def __init__(
        self, limits: Limits | None = None, size: int = 2, javascript_engine: str | None = None
    ) -> None:
        self.limits = limits or Limits()
        self.size = size
        self.javascript_engine = javascript_engine  # "node", "v8", or None: launcher.javascript_engine()
        self._ready: dict[str, deque[Worker]] = {lang: deque() for lang in LANGUAGES}
        self._wanted: dict[str, int] = dict.fromkeys(LANGUAGES, 0)
        self._lock = threading.Lock()
        self._requests: queue.Queue[tuple[str, Future[Worker] | None] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ---- the spawner thread --------------------------------------------------------------

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._spawner, name="sandbox-spawner", daemon=True)
                self._thread.start()

    def _spawner(self) -> None:
        while True:
            request = self._requests.get()
            if request is None:
                return
            language, future = request
            try:
                worker = spawn(language, self.limits, self.javascript_engine)
            except BaseException as exc:
                if future is not None:
                    future.set_exception(exc)
                with self._lock:
                    self._wanted[language] = max(0, self._wanted[language] - 1)
                continue
            if future is not None:
                if future.set_running_or_notify_cancel():
                    future.set_result(worker)
                    continue
                # the job that asked was cancelled (its run stopped or a sibling branch failed):
                # the worker joins the ready ones, and the thread lives on for the next request
                with self._lock:
                    if self._closed:
                        worker.kill()
                    else:
                        self._ready[language].append(worker)
                continue
            with self._lock:
                self._wanted[language] = max(0, self._wanted[language] - 1)
                if self._closed:
                    worker.kill()
                else:
                    self._ready[language].append(worker)

    def _refill(self, language: str) -> None:
        with self._lock:
            missing = self.size - len(self._ready[language]) - self._wanted[language]
            if self._closed or missing <= 0:
                return
            self._wanted[language] += missing
        for _ in range(missing):
            self._requests.put((language, None))

    def warm(self, language: str) -> None:
        self._ensure_thread()
        self._refill(language)

    # ---- jobs ----------------------------------------------------------------------------

    def _take_ready(self, language: str) -> Worker | None:
        with self._lock:
            ready = self._ready[language]
            while ready:
                worker = ready.popleft()
                if worker.alive():
                    return worker
                worker.kill()
        return None

    async def take(self, language: str) -> Worker:
        if language not in LANGUAGES:
            raise CodeExecutionError(f"Unsupported language {language}")
        self._ensure_thread()
        worker = self._take_ready(language)
        if worker is None:
            future: Future[Worker] = Future()
            self._requests.put((language, future))
            try:
                worker = await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                future.add_done_callback(_discard)  # a worker spawned after the caller left is killed
                raise
        self._refill(language)
        return worker

    async def run(self, language: str, code: str, inputs: dict[str, Any]) -> dict[str, Any]:
        try:
            worker = await self.take(language)
        except launcher.SandboxUnavailable as exc:
            raise CodeExecutionError(f"the code sandbox is not available: {exc}") from exc
        except seccomp.SeccompUnavailable as exc:
            raise CodeExecutionError(f"the code sandbox is not available: {exc}") from exc
        try:
            return await asyncio.to_thread(execute, worker, {"code": code, "inputs": inputs}, self.limits)
        finally:
            worker.kill()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = [w for ready in self._ready.values() for w in ready]
            for ready in self._ready.values():
                ready.clear()
        for worker in workers:
            worker.kill()
        self._requests.put(None)


def _discard(future: Future[Worker]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().kill()
