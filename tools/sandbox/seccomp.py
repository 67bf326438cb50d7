"""The two seccomp filters of the sandbox, compiled on the host with libseccomp (pyseccomp).

``worker_filter`` is installed by the sandbox worker once it has started; it denies
what no process in the sandbox needs: network, exec, ptrace, mount, namespaces,
keyrings and kernel administration. ``call_filter`` is added in each tool's process
on top of it: no new processes or threads, no signals, no file system writes, no
raising of limits. A denied call kills the process with SIGSYS, which the worker
reports as ``syscall_denied``.

pyseccomp drives the system's libseccomp through ctypes, so it works with any
CPython, including the venv's; Debian's python3-seccomp is a C extension built for
Debian's own interpreter and is not importable from another one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable

from tools.sandbox.exceptions import SandboxUnavailable

NETWORK = (
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
    "shutdown",
)
EXEC = ("execve", "execveat")
OTHER_PROCESSES = ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd")
MOUNT = (
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
)
NAMESPACES = ("unshare", "setns")
KEYRING = ("add_key", "request_key", "keyctl")
KERNEL = (
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "ioperm",
    "iopl",
    "personality",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "fanotify_init",
    "vhangup",
    # io_uring performs file and socket operations the filter never sees.
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)
# clone() flags that create namespaces (<linux/sched.h>); the worker's plain fork has none.
NAMESPACE_CLONE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)

NEW_PROCESSES = ("clone", "clone3", "fork", "vfork")
SIGNALS = (
    "kill",
    "tkill",
    "tgkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "pidfd_send_signal",
    "pidfd_open",
)
FILE_SYSTEM_WRITES = (
    "creat",
    "openat2",  # its flags sit in a struct the filter cannot read
    "memfd_create",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "rmdir",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "truncate",
    "ftruncate",
    "fallocate",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
)
LIMITS = ("setrlimit", "prlimit64")
# open() flags that write or create (<asm-generic/fcntl.h>, x86_64 and arm64 alike).
WRITE_OPEN_FLAGS = (
    0o1,  # O_WRONLY
    0o2,  # O_RDWR
    0o100,  # O_CREAT
    0o1000,  # O_TRUNC
    0o2000,  # O_APPEND
)
# The flags argument of open(path, flags) and openat(dirfd, path, flags).
OPEN_FLAGS_ARG = {"open": 1, "openat": 2}


def _compile(rules: Iterable[tuple[str, tuple[tuple[int, int], ...]]]) -> bytes:
    """A default-allow filter killing the process on each (syscall, masked-arg) rule."""
    try:
        import pyseccomp
    except (ImportError, RuntimeError) as exc:  # RuntimeError: libseccomp not found
        raise SandboxUnavailable(
            f"cannot compile seccomp filters: {exc}. Install libseccomp2 (Debian) and "
            "pyseccomp (pip; `make install` does)"
        ) from exc
    seccomp_filter = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    for name, masks in rules:
        try:
            number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
        except Exception:
            continue  # not a system call on this architecture (e.g. 'open' on arm64)
        if number < 0:
            continue
        args = [pyseccomp.Arg(index, pyseccomp.MASKED_EQ, mask, mask) for index, mask in masks]
        seccomp_filter.add_rule(pyseccomp.KILL_PROCESS, number, *args)
    with tempfile.TemporaryFile() as out:
        seccomp_filter.export_bpf(out)
        out.seek(0)
        return out.read()


def worker_filter() -> bytes:
    """BPF of the filter every process in the sandbox runs under."""
    rules: list[tuple[str, tuple[tuple[int, int], ...]]] = [
        (name, ())
        for group in (NETWORK, EXEC, OTHER_PROCESSES, MOUNT, NAMESPACES, KEYRING, KERNEL)
        for name in group
    ]
    rules += [("clone", ((0, flag),)) for flag in NAMESPACE_CLONE_FLAGS]
    return _compile(rules)


def call_filter() -> bytes:
    """BPF of the filter a tool's process adds before it runs the tool."""
    rules: list[tuple[str, tuple[tuple[int, int], ...]]] = [
        (name, ())
        for group in (NEW_PROCESSES, SIGNALS, FILE_SYSTEM_WRITES, LIMITS)
        for name in group
    ]
    rules += [
        (name, ((index, flag),))
        for name, index in OPEN_FLAGS_ARG.items()
        for flag in WRITE_OPEN_FLAGS
    ]
    return _compile(rules)


__all__ = ["call_filter", "worker_filter"]
