"""How many malloc arenas a service process keeps.

glibc gives each thread that allocates while another holds the main arena an arena of its
own, up to eight per core. A service is one event loop plus a few worker threads (the
notifier draws acts in them; DNS lookups and file reads run there too), and every arena
keeps freed memory of its own: on the benchmark the notifier's peak RSS was 141 MB with
the default and 132 MB with two arenas, the embedded database server's 148 and 134 MB, at
the same throughput (docs/performance.md). Two arenas are what the event loop and its
workers need.

``MALLOC_ARENA_MAX`` set in the environment is glibc's own knob and wins: glibc applied it
when the process started, and nothing is changed here. Other C libraries (musl, macOS)
have no arenas to limit.
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Keep at most ``arenas`` malloc arenas in this process (glibc only), unless
    ``MALLOC_ARENA_MAX`` is set; call before the process starts any thread. True if done."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def _glibc() -> ctypes.CDLL | None:
    """The C library the interpreter runs on, if it is glibc (no lookup of files)."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None
