"""Where sweep jobs run: joblib's local backends, a Ray cluster or a Dask cluster."""

from __future__ import annotations

import contextlib
import os

from . import jobs

__all__ = ["BACKENDS", "require_backend"]

#: Accepted values of ``run_sweep(backend=...)``.
BACKENDS = ("loky", "ray", "dask", "sequential", "threading")

def require_backend(backend: str) -> None:
    """Check that the package behind a cluster backend imports, before anything is written.

    Raises
    ------
    ImportError
        ``"ray"`` without Ray, ``"dask"`` without dask.distributed; the message names the
        ``pip install`` command. The local backends need nothing.
    """
    if backend == "ray":
        try:
            import ray  # noqa: F401
            from ray.util.joblib import register_ray  # noqa: F401
        except ImportError:
            raise ImportError("backend='ray' needs Ray: pip install 'ibscope[ray]' (or pip install ray).") from None
    elif backend == "dask":
        try:
            from distributed import Client, LocalCluster  # noqa: F401
        except ImportError:
            raise ImportError("backend='dask' needs dask.distributed: pip install 'ibscope[dask]' "
                              "(or pip install 'dask[distributed]').") from None


@contextlib.contextmanager
def _backend(backend: str, n_jobs: int | None, address: str | None):
    """Yield ``(joblib backend name, n_jobs, threads per job)`` with the cluster set up and torn down."""
    import joblib

    if backend not in BACKENDS:
        raise ValueError(f"Unknown sweep backend {backend!r}. Valid backends: {', '.join(BACKENDS)}.")
    cpus = os.cpu_count() or 1
    if backend in ("loky", "threading", "sequential"):
        if address is not None:
            raise ValueError(f"The 'address' option is for backend='ray' or 'dask', not {backend!r}.")
        workers = 1 if backend == "sequential" else int(joblib.effective_n_jobs(n_jobs if n_jobs else -1))
        yield backend, (1 if backend == "sequential" else workers), max(1, cpus // max(workers, 1))
        return
    if backend == "ray":
        require_backend("ray")
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
    # dask
    require_backend("dask")
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


def _parallel_map(items: list, backend_name: str, n_jobs: int, n_threads: int, func=None):
    """Yield ``func(item, n_threads)`` results as they finish (any order).

    ``func`` (default: the sweep's ``jobs._execute``) must be a module-level function, so that
    every backend can send it to its workers; IB studies pass their own (:mod:`ibscope.ib.study`).
    """
    import joblib

    if not items:
        return
    fn = jobs._execute if func is None else func
    if backend_name == "sequential" or n_jobs == 1 and backend_name in ("loky", "threading"):
        for item in items:
            yield fn(item, n_threads)
        return
    config = {"backend": backend_name, "n_jobs": n_jobs}
    if backend_name == "loky":
        config["inner_max_num_threads"] = n_threads
    with joblib.parallel_config(**config):
        try:
            par = joblib.Parallel(return_as="generator_unordered", batch_size=1, pre_dispatch="2*n_jobs")
            results = par(joblib.delayed(fn)(item, n_threads) for item in items)
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
            yield from par(joblib.delayed(fn)(item, n_threads) for item in items[start:start + size])
