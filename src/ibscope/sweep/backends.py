"""Where sweep jobs run: the executors of :mod:`ibscope.executors` (kept here under their old names)."""

from __future__ import annotations

from ..executors import EXECUTORS as BACKENDS
from ..executors import executor as _backend
from ..executors import require_executor as require_backend

__all__ = ["BACKENDS", "require_backend"]


def _parallel_map(items: list, backend_name: str, n_jobs: int, n_threads: int, func=None):
    """:func:`ibscope.executors.map_jobs` with the sweep's job function by default."""
    from ..executors import map_jobs
    from . import jobs

    return map_jobs(jobs._execute if func is None else func, items, name=backend_name, n_jobs=n_jobs,
                    n_threads=n_threads)


__all__ += ["_backend", "_parallel_map"]
