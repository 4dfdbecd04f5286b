"""CPU threads of the neighbour backends: the thread count and one shared pool.

The numba kernels are serial and release the GIL (``nogil=True``); parallelism
comes from a small pool of Python threads, each running a kernel on a chunk of
the work. Unlike OpenMP-style ``prange`` there is no spin-waiting, so a busy
machine (or a caller running several estimates at once) is not slowed down.
"""

from __future__ import annotations

import os

_POOL = None
_POOL_KEY = None


def default_threads() -> int:
    """Number of CPU threads the backends use: all cores available to this process,
    or the ``IBSCOPE_NUM_THREADS`` environment variable when set."""
    env = os.environ.get("IBSCOPE_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def thread_pool(threads: int):
    """The shared pool of ``threads`` worker threads (named ``ibscope-nn-*``).

    One pool is kept per process: a call with the same ``threads`` returns the
    same pool, a different count (or a forked child process) gets a new one.

    Parameters
    ----------
    threads : int
        Number of worker threads, usually :func:`default_threads`.

    Returns
    -------
    concurrent.futures.ThreadPoolExecutor
    """
    global _POOL, _POOL_KEY
    key = (os.getpid(), threads)
    if _POOL is None or _POOL_KEY != key:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ibscope-nn")
        _POOL_KEY = key
    return _POOL
