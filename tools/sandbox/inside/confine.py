"""Confining a process from inside: resource limits and installing a seccomp filter.

The filters are compiled on the host (``tools/sandbox/seccomp.py``) and arrive as
classic BPF; installing one needs only ``prctl``, so no seccomp library is needed here.
"""

from __future__ import annotations

import ctypes
import os
import resource
from collections.abc import Mapping

# <linux/prctl.h> and <linux/seccomp.h>
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
# One classic BPF instruction: u16 code, u8 jt, u8 jf, u32 k.
BPF_INSTRUCTION_BYTES = 8


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompProgram:
    """A compiled filter held in memory, so that a forked child installs it in microseconds."""

    def __init__(self, bpf: bytes) -> None:
        if not bpf or len(bpf) % BPF_INSTRUCTION_BYTES:
            raise ValueError(f"not a BPF program: {len(bpf)} bytes")
        self._buffer = ctypes.create_string_buffer(bpf, len(bpf))
        self._program = _SockFprog(
            len(bpf) // BPF_INSTRUCTION_BYTES, ctypes.cast(self._buffer, ctypes.c_void_p)
        )
        self._libc = ctypes.CDLL(None, use_errno=True)

    def install(self) -> None:
        """Apply the filter to this process and every process it starts; raises OSError."""
        prctl = self._libc.prctl
        if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self._program), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


# Limit name (as the host sends it) -> the rlimit it sets; soft and hard alike unless noted.
RLIMITS: Mapping[str, int] = {
    "cpu_s": resource.RLIMIT_CPU,
    "memory_bytes": resource.RLIMIT_AS,
    "file_size_bytes": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
    "processes": resource.RLIMIT_NPROC,
    "core_bytes": resource.RLIMIT_CORE,
}


def set_rlimits(limits: Mapping[str, int]) -> None:
    """Lower every limit named in ``limits``; CPU gets one more hard second.

    Past the soft CPU limit the kernel sends SIGXCPU, past the hard one SIGKILL: the
    extra second makes a spinning tool end by SIGXCPU, which names the cause.
    """
    for name, value in limits.items():
        which = RLIMITS[name]
        hard = value + 1 if which == resource.RLIMIT_CPU else value
        resource.setrlimit(which, (value, hard))


# The descriptor a tool's process writes its result to.
RESULT_FD = 3


def isolate_descriptors(keep: int, null: int) -> int:
    """Point stdin, stdout and stderr at ``null`` (/dev/null), move ``keep`` to RESULT_FD
    and close every other descriptor: the tool's process holds nothing of its parent's."""
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if keep != RESULT_FD:
        os.dup2(keep, RESULT_FD)
    os.closerange(RESULT_FD + 1, 1 << 20)
    return RESULT_FD
