"""Where independent jobs run: local processes, this process, a Ray cluster or a Dask cluster.

Sweeps (:func:`ibscope.sweep.run_sweep`) and studies (:func:`ibscope.study.run_study`)
hand their jobs to :func:`map_jobs`, which runs a module-level function on each item
through joblib with the chosen *executor*:

* ``"loky"`` - local worker processes (the default);
* ``"sequential"`` - this process, one job after the other (debugging, tests);
* ``"threading"`` - threads of this process (sweeps only: IB runs share torch's global
  generator, so their numbers would depend on the interleaving);
* ``"ray"`` - a Ray cluster (``ray.util.joblib``; a local one is started when Ray is not
  initialised and no ``address`` is given);
* ``"dask"`` - a ``dask.distributed`` cluster (a local one when no client exists and no
  ``address`` is given).

Results are yielded as jobs finish. Workers that outlive their driver are a hazard (a study
driver killed with ``kill -9`` would leave local workers training, holding their run
folders' locks): every job started by :func:`map_jobs` on this machine watches the
driver's process and exits as soon as it is gone (:func:`watch_driver`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["EXECUTORS", "require_executor", "executor", "map_jobs", "thread_limits", "watch_driver"]

#: The executors :func:`map_jobs` knows.
EXECUTORS = ("loky", "ray", "dask", "sequential", "threading")

#: Seconds between two checks of the driver's process by a worker's watchdog.
WATCH_INTERVAL_S = 1.0


def require_executor(name: str) -> None:
    """Check that the package behind a cluster executor imports, before anything is written.

    Raises
    ------
    ImportError
        ``"ray"`` without Ray, ``"dask"`` without dask.distributed; the message names the
        ``pip install`` command. The local executors need nothing.
    """
    if name == "ray":
        try:
            import ray  # noqa: F401
            from ray.util.joblib import register_ray  # noqa: F401
        except ImportError:
            raise ImportError("backend='ray' needs Ray: pip install 'ibscope[ray]' (or pip install ray).") from None
    elif name == "dask":
        try:
            from distributed import Client, LocalCluster  # noqa: F401
        except ImportError:
            raise ImportError("backend='dask' needs dask.distributed: pip install 'ibscope[dask]' "
                              "(or pip install 'dask[distributed]').") from None


@contextlib.contextmanager
def executor(name: str, n_jobs: int | None, address: str | None) -> Iterator[tuple[str, int, int]]:
    """Set up ``name`` (a cluster is started or joined, and torn down if started here).

    Yields
    ------
    tuple
        ``(joblib backend name, n_jobs, threads per job)``.

    Raises
    ------
    ValueError
        An unknown executor, or an ``address`` for a local one.
    """
    import joblib

    if name not in EXECUTORS:
        raise ValueError(f"Unknown sweep backend {name!r}. Valid backends: {', '.join(EXECUTORS)}.")
    cpus = os.cpu_count() or 1
    if name in ("loky", "threading", "sequential"):
        if address is not None:
            raise ValueError(f"The 'address' option is for backend='ray' or 'dask', not {name!r}.")
        workers = 1 if name == "sequential" else int(joblib.effective_n_jobs(n_jobs if n_jobs else -1))
        yield name, (1 if name == "sequential" else workers), max(1, cpus // max(workers, 1))
        return
    if name == "ray":
        require_executor("ray")
        import ray
        from ray.util.joblib import register_ray

        started = False
        if not ray.is_initialized():
            kwargs = {"address": address} if address else {"num_cpus": n_jobs if n_jobs and n_jobs > 0 else None,
                                                           "include_dashboard": False}
            ray.init(log_to_driver=False, **kwargs)
            started = True
        register_ray()
        try:
            yield "ray", (n_jobs if n_jobs else -1), 1
        finally:
            if started:
                ray.shutdown()
        return
    require_executor("dask")
    from distributed import Client, LocalCluster

    client = cluster = None
    try:
        if address:
            client = Client(address)
        else:
            try:
                from distributed import get_client

                get_client()  # a client already exists in this process: use it
            except ValueError:
                cluster = LocalCluster(n_workers=n_jobs if n_jobs and n_jobs > 0 else cpus, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
                client = Client(cluster)
        yield "dask", -1, 1
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _driver_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def watch_driver(driver: tuple[str, int] | None) -> None:
    """In a worker process, end the process when the driver ``(host, pid)`` is gone.

    A daemon thread checks every :data:`WATCH_INTERVAL_S` seconds whether the driver's
    process still exists and calls ``os._exit(3)`` when it does not, so a killed driver
    leaves no orphans behind (their run folders' locks are released by the kernel). It does
    nothing in the driver's own process, on another host (a remote cluster worker, which the
    cluster manages), or when ``driver`` is None. Started once per process.
    """
    if driver is None:
        return
    host, pid = driver
    if pid == os.getpid() or host != socket.gethostname() or getattr(watch_driver, "_watching", None) == pid:
        return
    watch_driver._watching = pid  # type: ignore[attr-defined]

    def watch() -> None:
        while _driver_alive(pid):
            time.sleep(WATCH_INTERVAL_S)
        sys.stderr.write(f"ibscope: the driver process {pid} is gone; this worker (PID {os.getpid()}) stops.\n")
        sys.stderr.flush()
        os._exit(3)

    threading.Thread(target=watch, name="ibscope-driver-watch", daemon=True).start()


def _watched(fn: Callable[..., Any], driver: tuple[str, int] | None, item: Any, n_threads: int) -> Any:
    watch_driver(driver)
    return fn(item, n_threads)


def map_jobs(fn: Callable[[Any, int], Any], items: list, *, name: str, n_jobs: int, n_threads: int,
             watch: bool = True) -> Iterator[Any]:
    """Yield ``fn(item, n_threads)`` for every item, as the jobs finish (in any order).

    Parameters
    ----------
    fn : callable
        A module-level function (every executor must be able to send it to its workers).
    items : list
        One item per job.
    name : str
        The joblib backend name that :func:`executor` yielded.
    n_jobs : int
        Jobs at once (as :func:`executor` yielded).
    n_threads : int
        Threads each job may use (passed to ``fn``).
    watch : bool, default=True
        Make each worker process on this machine exit when this (the driver's) process is gone
        (:func:`watch_driver`).
    """
    import joblib

    if not items:
        return
    driver = (socket.gethostname(), os.getpid()) if watch else None
    if name == "sequential" or n_jobs == 1 and name in ("loky", "threading"):
        for item in items:
            yield fn(item, n_threads)
        return
    config: dict[str, Any] = {"backend": name, "n_jobs": n_jobs}
    if name == "loky":
        config["inner_max_num_threads"] = n_threads
    with joblib.parallel_config(**config):
        try:
            par = joblib.Parallel(return_as="generator_unordered", batch_size=1, pre_dispatch="2*n_jobs")
            results = par(joblib.delayed(_watched)(fn, driver, item, n_threads) for item in items)
        except ValueError as exc:
            if "does not support return_as" not in str(exc):
                raise
            results = None
        if results is not None:
            yield from results
            return
        # Backends without result streaming (Ray's joblib backend): run in rounds of a few jobs per
        # worker, so that rows are still written as each round finishes.
        size = max(2 * int(joblib.effective_n_jobs(n_jobs)), 2)
        par = joblib.Parallel(return_as="list", batch_size=1)
        for start in range(0, len(items), size):
            yield from par(joblib.delayed(_watched)(fn, driver, item, n_threads) for item in items[start:start + size])


def _limit_threads(n_threads: int | None, torch_needed: bool = False) -> None:
    """Limit torch and numba threads in this (worker) process; BLAS is limited by :func:`thread_limits`.

    torch is imported only when the work needs it (neural estimators, autoencoders) or is
    already loaded, so kNN-only jobs do not pay for the import.
    """
    if not n_threads:
        return
    if torch_needed or "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != n_threads:
            torch.set_num_threads(n_threads)
    try:
        import numba

        # numba.config sets its NUMBA_* attributes at import time, so the stubs do not know them
        numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    except Exception:  # numba missing or its thread pool fixed: leave it
        pass


@contextlib.contextmanager
def thread_limits(n_threads: int | None, torch_needed: bool = False) -> Iterator[None]:
    """Limit the threads of torch, numba and BLAS in a job to ``n_threads`` (None: no limit)."""
    _limit_threads(n_threads, torch_needed)
    if not n_threads:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        yield
        return
    with threadpool_limits(limits=n_threads):
        yield
