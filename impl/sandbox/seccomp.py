"""The seccomp filter every sandboxed process runs under (compiled once, handed to bwrap).

The filter is a deny list on top of the namespaces: the sandbox already has no network, no
view of the host's processes or files, and no capabilities. Seccomp takes away the kernel
interfaces that are the usual ways out of such a box, so a kernel bug behind one of them is
not reachable from user code:

- sockets of every family but AF_UNIX (no TCP/UDP/raw/netlink/packet socket can even be made);
- namespaces and mounts (`unshare`, `setns`, `mount`…, `clone` with a CLONE_NEW* flag; `clone3`
  answers ENOSYS so the C library falls back to `clone`, whose flags the filter can read);
- debugging and other processes' memory (`ptrace`, `process_vm_*`, `kcmp`, `pidfd_getfd`);
- kernel extension points (`bpf`, `perf_event_open`, `userfaultfd`, `io_uring_*`, keyrings,
  modules, kexec, `open_by_handle_at`);
- host-wide state (clock, swap, reboot, accounting, quota, syslog).

Denied calls fail with EPERM (ENOSYS for clone3), so user code sees an ordinary error.
The filter is built with libseccomp (Debian's `libseccomp2`) through `pyseccomp`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from functools import lru_cache

AF_UNIX = 1
# CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)

DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "syslog",
    "acct",
    "quotactl",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "iopl",
    "ioperm",
    "open_by_handle_at",
    "name_to_handle_at",
    "fanotify_init",
    "lookup_dcookie",
    "vhangup",
    "personality",
)


class SeccompUnavailable(RuntimeError):
    """libseccomp (or its Python binding) is missing, so no filter can be built."""


@lru_cache(maxsize=1)
def filter_program() -> bytes:
    """The compiled BPF program (what `bwrap --seccomp FD` reads)."""
    try:
        import pyseccomp as sc  # type: ignore[import-untyped]
    except (ImportError, OSError, RuntimeError) as exc:  # the binding loads libseccomp.so.2 on import
        raise SeccompUnavailable(f"libseccomp is not available: {exc}") from exc
    rules = sc.SyscallFilter(defaction=sc.ALLOW)
    deny = sc.ERRNO(errno.EPERM)
    for name in DENIED:
        try:
            rules.add_rule(deny, name)
        except (RuntimeError, ValueError, OSError):  # a call this architecture does not have
            continue
    rules.add_rule(deny, "socket", sc.Arg(0, sc.NE, AF_UNIX))
    for flag in CLONE_NAMESPACE_FLAGS:
        rules.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    with contextlib.suppress(RuntimeError, ValueError, OSError):
        rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.flush()
        handle.seek(0)
        program = handle.read()
    if not program:
        raise SeccompUnavailable("libseccomp produced an empty filter")
    return program


def program_fd() -> int:
    """A fresh, readable file descriptor holding the filter (bwrap reads it to the end)."""
    program = filter_program()
    fd = os.memfd_create("sandbox-seccomp", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
