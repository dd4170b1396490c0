"""The allocator settings that keep a long lab's kernel small on Linux, and do nothing elsewhere."""

from __future__ import annotations

import subprocess
import sys

from labhelpers import memory

import pytest

LINUX_GLIBC = sys.platform.startswith("linux") and memory._glibc() is not None


@pytest.mark.skipif(not LINUX_GLIBC, reason="glibc's allocator only")
def test_both_calls_take_effect_on_glibc():
    # In a fresh process, so that this test session's allocator keeps its settings.
    code = (
        "from labhelpers import memory; print(memory.limit_arenas(), memory.return_freed_memory())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True"]


@pytest.mark.skipif(not LINUX_GLIBC, reason="glibc's allocator only")
def test_freed_memory_goes_back_to_the_system():
    code = """
from labhelpers.memory import return_freed_memory
def rss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024
blocks = [bytearray(100_000) for _ in range(3000)]  # 300 MB in blocks under mmap's threshold
keep = blocks[-1]
del blocks  # freed, but the top block is still in use: the heap cannot shrink by itself
before = rss()
return_freed_memory()
print(before - rss())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout) > 200, f"only {done.stdout.strip()} MiB went back"


def test_elsewhere_nothing_happens(monkeypatch):
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    memory._glibc.cache_clear()
    try:
        assert memory.limit_arenas() is False
        assert memory.return_freed_memory() is False
    finally:
        memory._glibc.cache_clear()
