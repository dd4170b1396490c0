"""Keep a long notebook's memory down on Linux, where Binder stops a session above 2 GB.

glibc gives each thread that allocates under contention its own arena (TensorFlow's thread
pools make many) and frees memory into them rather than back to the system: a lab that trains
a dozen models grows by a few hundred MiB that nothing uses (four trainings on a 2-core CPU
left 900 MiB resident, 718 MiB with both calls below). Elsewhere these calls do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

__all__ = ["limit_arenas", "return_freed_memory"]

_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 (glibc has both; musl has neither)
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = 2) -> bool:
    """Let glibc's allocator use at most ``arenas`` arenas; True where that was applied."""
    libc = _glibc()
    return bool(libc and libc.mallopt(_M_ARENA_MAX, arenas) == 1)


def return_freed_memory() -> bool:
    """Hand memory that has been freed back to the system; True where glibc did so."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0) == 1)
