"""How one sandboxed interpreter is started: the filesystem it sees, its limits, its identity.

The command is a chain of small programs, each doing one thing before it `exec`s the next:

    prlimit (rlimits) → setpriv (a uid of its own, when the server runs as root) → bwrap → interpreter

`bwrap` (Debian's `bubblewrap`) builds the box: new user, pid, network, IPC, UTS and cgroup
namespaces, no further user namespaces, a root filesystem made of read-only binds of the shared
libraries, the interpreter and the runner script only, a small private tmpfs as `/tmp` (the work
directory), a fresh `/proc` and a minimal `/dev`, an empty environment, a new session, and the
seccomp filter of `impl.sandbox.seccomp`. Nothing of the server is bound: not its data
directory, its database, its source, `/etc` or `/root`.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import itertools
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
BOX_ROOT = "/opt/sandbox"
BOX_SITE = f"{BOX_ROOT}/site"
BOX_V8 = f"{BOX_ROOT}/v8"
# The third-party modules Dify's sandbox image installs (httpx, requests, jinja2, PySocks) and
# what they import; each is offered when the server's environment has it.
OFFERED_DISTRIBUTIONS = (
    "requests",
    "urllib3",
    "charset-normalizer",
    "idna",
    "certifi",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "sniffio",
    "typing_extensions",
    "jinja2",
    "markupsafe",
    "pysocks",
)
# Each worker process gets a uid of its own (when the server runs as root), so the process limit
# counts that worker's processes only. The range is far above any uid a system hands out.
UID_BASE = 1_500_000_000
UID_SPAN = 100_000
_uids = itertools.count()
_uid_lock = threading.Lock()


@dataclass(frozen=True)
class Limits:
    """What one run may use. Memory is address space (RLIMIT_AS); time is both CPU and wall clock."""

    wall_seconds: float = 15.0
    cpu_seconds: int = 10
    memory_mb: int = 1024
    processes: int = 64
    file_size_mb: int = 16
    open_files: int = 256
    tmp_size_mb: int = 64
    output_bytes: int = 8 * 1024 * 1024
    node_heap_mb: int = 256


class SandboxUnavailable(RuntimeError):
    """A part the sandbox needs is missing on this machine; no code runs without it."""


@lru_cache(maxsize=1)
def tool(name: str) -> str:
    found = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if found is None:
        raise SandboxUnavailable(f"`{name}` is not installed (Debian package: {_PACKAGES.get(name, name)})")
    return found


_PACKAGES = {"bwrap": "bubblewrap", "prlimit": "util-linux", "setpriv": "util-linux", "node": "nodejs"}


@lru_cache(maxsize=1)
def stage_v8() -> Path:
    """A world-readable copy of the `mini-racer` package (V8), made when the V8 engine is first used."""
    try:
        dist = importlib.metadata.distribution("mini-racer")
    except importlib.metadata.PackageNotFoundError:
        raise SandboxUnavailable("the mini-racer package (embedded V8) is not installed") from None
    with _stage_lock:
        root = Path(tempfile.mkdtemp(prefix="dify-sandbox-v8-"))
        atexit.register(shutil.rmtree, root, True)
        source = Path(str(dist.locate_file("py_mini_racer")))
        shutil.copytree(source, root / "py_mini_racer", ignore=shutil.ignore_patterns("__pycache__"))
        _open_up(root)
        return root


def _open_up(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def _world_readable(path: str) -> bool:
    """Whether a uid with no rights of its own can reach `path` (every folder on the way lets others in)."""
    current = Path(path)
    try:
        for folder in [*current.parents][:-1]:
            if not folder.stat().st_mode & 0o001:
                return False
        return bool(current.stat().st_mode & 0o004)
    except OSError:
        return False


@lru_cache(maxsize=1)
def _python() -> tuple[str, list[str]]:
    """The interpreter user code runs on, and the folders to bind for it.

    The server's own base interpreter when a foreign uid can reach it (compiled modules then
    match exactly); else Debian's /usr/bin/python3 (same minor version on this project's machines).
    """
    base = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    if _world_readable(base) and _world_readable(sys.base_prefix):
        return base, [] if sys.base_prefix.startswith("/usr/") else [sys.base_prefix]
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system is None:
        raise SandboxUnavailable("no Python interpreter the sandbox uid can read (Debian package: python3)")
    return os.path.realpath(system), []


_stage_lock = threading.Lock()


@lru_cache(maxsize=1)
def stage() -> Path:
    """A world-readable copy of what the box binds from the project: runners and offered modules.

    The sandbox runs under a uid of its own, which cannot read a checkout or a virtualenv below a
    private home folder; the copy (a few MB, made once per server process) can be.
    """
    with _stage_lock:
        root = Path(tempfile.mkdtemp(prefix="dify-sandbox-"))
        atexit.register(shutil.rmtree, root, True)
        site = root / "site"
        site.mkdir()
        for path, name in offered_modules():
            source = Path(path)
            if source.is_dir():
                shutil.copytree(source, site / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, site / name)
        for runner in ("runner_python.py", "runner_node.js"):
            shutil.copy2(HERE / runner, root / runner)
        _open_up(root)
        return root


@lru_cache(maxsize=1)
def offered_modules() -> tuple[tuple[str, str], ...]:
    """(host path, name) of every top-level module or package offered to Python code."""
    found: dict[str, str] = {}
    for dist_name in OFFERED_DISTRIBUTIONS:
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            top = file.parts[0]
            if top in ("..", "__pycache__") or top.endswith((".dist-info", ".egg-info", ".pth")):
                continue
            path = Path(str(dist.locate_file(top)))
            if path.exists():
                found[top] = str(path)
    return tuple(sorted((path, name) for name, path in found.items()))


def _system_binds() -> list[str]:
    args: list[str] = []
    for name in ("lib", "lib64", "lib32", "libx32"):
        target = Path("/usr") / name
        if target.is_dir():
            args += ["--ro-bind", str(target), str(target)]
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    return args


# V8 reserves about 1 GB of address space up front (code range, heap cages) that it never
# touches; a JavaScript box gets that much on top of the limit, and its heap is capped apart.
V8_RESERVATION_MB = 1024


# Last of the box's set-up: its own root stays as built, so /tmp is the only writable place.
READ_ONLY_ROOT = ("--remount-ro", "/")


def heap_mb(limits: Limits) -> int:
    """The JavaScript heap cap: the configured one, at most half the memory limit."""
    return min(limits.node_heap_mb, max(16, limits.memory_mb // 2))


def javascript_engine() -> str:
    """Node.js when installed (the full runtime Dify's sandbox uses); else V8 embedded through the
    `mini-racer` wheel inside the Python box, so a machine with only python3 runs JS nodes too."""
    if shutil.which("node", path="/usr/bin:/bin:/usr/local/bin") is not None:
        return "node"
    try:
        importlib.metadata.distribution("mini-racer")
    except importlib.metadata.PackageNotFoundError:
        raise SandboxUnavailable("no JavaScript engine: install Node.js (Debian package: nodejs)") from None
    return "v8"


def memory_limit(language: str, limits: Limits, engine: str | None) -> str:
    """The prlimit option capping memory: address space for Python and Node.js; for the embedded
    V8, whose allocator reserves terabytes of address space it never touches, the data segment
    (private writable memory) instead, next to V8's own heap limit."""
    if language == "javascript" and engine == "v8":
        return f"--data={(limits.memory_mb + V8_RESERVATION_MB) * 1024 * 1024}"
    extra = V8_RESERVATION_MB if language == "javascript" else 0
    return f"--as={(limits.memory_mb + extra) * 1024 * 1024}"


def _next_uid() -> int:
    with _uid_lock:
        return UID_BASE + next(_uids) % UID_SPAN


def command(language: str, limits: Limits, seccomp_fd: int, engine: str | None = None) -> list[str]:
    """The argv of one sandboxed interpreter for `language` ("python3" or "javascript").

    `engine` picks the JavaScript engine ("node" or "v8"); None means `javascript_engine()`.
    """
    if language == "javascript" and engine is None:
        engine = javascript_engine()
    bwrap = tool("bwrap")
    prlimit = [
        tool("prlimit"),
        # SIGXCPU at the soft limit (a clear message), SIGKILL a second later if it is ignored
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
        memory_limit(language, limits, engine),
        f"--fsize={limits.file_size_mb * 1024 * 1024}",
        f"--nofile={limits.open_files}",
        "--core=0",
    ]
    identity: list[str] = []
    if os.geteuid() == 0:
        uid = _next_uid()
        prlimit.append(f"--nproc={limits.processes}")
        identity = [tool("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    else:  # the process limit counts every process of this user, so leave room for theirs
        prlimit.append(f"--nproc={_own_process_count() + limits.processes}")
    box = [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--clearenv",
        "--setenv",
        "PATH",
        "/nonexistent",
        "--setenv",
        "HOME",
        "/tmp",
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--setenv",
        "TMPDIR",
        "/tmp",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(limits.tmp_size_mb * 1024 * 1024),
        "--tmpfs",
        "/tmp",
        "--chdir",
        "/tmp",
        "--seccomp",
        str(seccomp_fd),
        *_system_binds(),
    ]
    if language == "python3" or (language == "javascript" and engine == "v8"):
        executable, binds = _python()
        for path in binds:
            box += ["--ro-bind", path, path]
        if not any(executable.startswith(p + "/") for p in binds):
            box += ["--ro-bind", executable, executable]
        staged = stage()
        box += ["--ro-bind", str(staged / "site"), BOX_SITE]
        box += ["--ro-bind", str(staged / "runner_python.py"), f"{BOX_ROOT}/runner.py"]
        if language == "javascript":
            box += ["--ro-bind", str(stage_v8()), BOX_V8]
        box += ["--setenv", "PYTHONIOENCODING", "utf-8", *READ_ONLY_ROOT, "--", executable, "-I", "-S", "-B"]
        box += [f"{BOX_ROOT}/runner.py", language, str(heap_mb(limits))]
    elif language == "javascript":
        node = os.path.realpath(tool("node"))
        box += ["--ro-bind", node, node]
        box += ["--ro-bind", str(stage() / "runner_node.js"), f"{BOX_ROOT}/runner.js"]
        box += [
            *READ_ONLY_ROOT,
            "--",
            node,
            f"--max-old-space-size={heap_mb(limits)}",
            f"{BOX_ROOT}/runner.js",
        ]
    else:
        raise ValueError(f"unsupported language {language!r}")
    return [*prlimit, "--", *identity, *box]


def _own_process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(list((entry / "task").iterdir()))
            except OSError:
                continue
    return count
