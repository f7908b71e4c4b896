"""A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free port, for the test session.

PostgreSQL refuses to run as root; as root the cluster runs as the `postgres` user
through `runuser`, in a temporary directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from support.server import free_port


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if not candidates:
        raise RuntimeError("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
    return Path(candidates[-1])


@dataclass
class PostgresCluster:
    root: Path
    port: int
    bin_dir: Path
    as_user: str | None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def _run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        full = [*(["runuser", "-u", self.as_user, "--"] if self.as_user else []), *cmd]
        return subprocess.run(full, check=True, capture_output=True, text=True, timeout=timeout)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run(
            str(self.bin_dir / "createdb"),
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        )
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> PostgresCluster:
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="dify-pg-"))
    as_user = "postgres" if os.geteuid() == 0 else None
    cluster = PostgresCluster(root, free_port(), bin_dir, as_user)
    cluster.socket_dir.mkdir()
    if as_user:
        shutil.chown(root, as_user, as_user)
        shutil.chown(cluster.socket_dir, as_user, as_user)
    cluster._run(
        str(bin_dir / "initdb"),
        "-D",
        str(cluster.data_dir),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
    )
    options = (
        f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    cluster._run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(cluster.data_dir),
        "-o",
        options,
        "-l",
        str(root / "pg.log"),
        "-w",
        "-t",
        "60",
        "start",
    )
    return cluster
