"""What Linux's /proc says of a server process the benchmarks started."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int, thread: bool = False) -> float:
    """User + system CPU time of process `pid` so far (with `thread`: of its main thread only, the
    one running the event loop)."""
    stat = Path(f"/proc/{pid}/task/{pid}/stat" if thread else f"/proc/{pid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    """Resident memory of process `pid`, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
