"""First use of the compiled kernels: served by the exact scipy route while they compile in the background.

The numba kernels (:mod:`ibscope.neighbors._numba`) are compiled once per
environment and cached on disk by numba (``cache=True``). Compiling them takes
seconds to tens of seconds of CPU; loading them from the cache, about a second.
So that a fresh environment's first calls do not wait for the compiler:

* when this process has not used the kernels yet and no complete cache is
  known, calls that would run on the ``"numba"`` (or ``"sorted"``) backend run
  on the ``"kdtree"`` backend instead, which returns the same values bit for
  bit (:mod:`ibscope.neighbors._scipy`), and a background process
  (:func:`_main`) compiles every kernel into numba's
  cache;
* that process holds a lock file while it compiles (so that concurrent
  processes start one compilation, not several) and, when it is done, writes a
  marker file next to numba's cache files; its name carries a fingerprint of
  the kernels' source file (content, size, modification time), the numba and
  Python versions and the CPU, the things numba's own cache is keyed on;
* from then on, this and every later process use the compiled kernels (loaded
  from the cache on first use).

:func:`warm_up` does the same work in the foreground: it waits for a running
background compilation or compiles here, then loads the kernels, so that the
next call runs compiled. Setting ``IBSCOPE_BACKGROUND_COMPILE=0`` turns the
background route off: the first call then compiles in the calling process
(numba's behaviour). If the background process fails, the next call compiles
in the calling process.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

#: environment variable; "0" turns the background compilation (and the fallback while it runs) off
ENV_BACKGROUND = "IBSCOPE_BACKGROUND_COMPILE"

#: the background process's program
_CHILD = "import sys; from ibscope.neighbors._warm import _main; sys.exit(_main())"

_LOCK = threading.Lock()
_STATE: dict = {"loaded": False, "warm": False, "failed": False, "child": None, "paths": None}


def _fingerprint_paths():
    """``(marker, lock file)`` next to numba's cache of the kernels, or None when it cannot be located."""
    if _STATE["paths"] is not None:
        return _STATE["paths"] or None
    paths = ()
    try:
        import numba
        from numba.core.registry import cpu_target

        from . import _numba

        cache_dir = Path(_numba.build_init._cache._cache_path)
        src = Path(_numba.__file__)
        st = src.stat()
        h = hashlib.sha256(src.read_bytes())
        h.update(repr((numba.__version__, sys.version, int(st.st_mtime), st.st_size,
                       cpu_target.target_context.codegen().magic_tuple())).encode())
        fp = h.hexdigest()[:20]
        paths = (cache_dir / f"ibscope-kernels-{fp}.ok", cache_dir / "ibscope-kernels.lock")
    except Exception:  # noqa: BLE001 - a numba without these internals: compile in the calling process
        paths = ()
    _STATE["paths"] = paths
    return paths or None


def _background_enabled() -> bool:
    return os.environ.get(ENV_BACKGROUND, "1").strip() != "0" and bool(sys.executable)


def _lock_held(lock_file: Path) -> bool:
    """Whether another process holds the compilation lock (False where locks are not available)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _our_child():
    child = _STATE["child"]
    if child is None or child[0] != os.getpid():  # a forked process does not own its parent's child
        return None
    return child[1]


def _start_child(cache_dir: Path) -> None:
    """Start the background compilation (its output goes to ``ibscope-kernels.log`` in the cache folder)."""
    env = dict(os.environ)
    src_root = str(Path(__file__).resolve().parents[2])  # the folder holding the ibscope package
    env["PYTHONPATH"] = src_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log: Any = subprocess.DEVNULL
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        log = open(cache_dir / "ibscope-kernels.log", "ab")  # noqa: SIM115 - handed to the child
    except OSError:
        pass
    try:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD], env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
                                start_new_session=True)
    except OSError:
        _STATE["failed"] = True
        return
    finally:
        if log is not subprocess.DEVNULL:
            log.close()
    _STATE["child"] = (os.getpid(), proc)


def use_compiled() -> bool:
    """Whether a call should run the compiled kernels now (True) or the exact scipy route (False).

    False only while the kernels are neither loaded here nor complete in the cache and a background
    compilation (started by this call if none runs) is under way.
    """
    if _STATE["loaded"]:
        return True
    with _LOCK:
        if _STATE["loaded"] or _STATE["failed"] or not _background_enabled():
            _STATE["loaded"] = True
            return True
        paths = _fingerprint_paths()
        if paths is None:
            _STATE["loaded"] = True
            return True
        marker, lock_file = paths
        child = _our_child()
        if marker.exists():
            if child is not None:
                child.poll()  # reap it when it has exited
            _STATE["loaded"] = True
            return True
        if child is not None:
            if child.poll() is None:
                return False
            if not marker.exists():
                # finished without a marker (compilation failed, or the cache cannot be written): compile here
                _STATE["failed"] = True
            _STATE["loaded"] = True
            return True
        if not _lock_held(lock_file):
            _start_child(marker.parent)
            if _STATE["failed"]:
                _STATE["loaded"] = True
                return True
        return False


def _exercise() -> None:
    """Run every kernel once on small data: compiles (or loads from the cache) each signature used.

    Metric, strictness, KSG variant and flat mode are run-time arguments of the kernels, and the
    drivers in :mod:`ibscope.neighbors._tree` always pass fresh C arrays of float64 / int64, so one
    call per driver covers every compiled version."""
    from . import _tree

    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 3))
    y = rng.standard_normal((300, 2))
    for variant in (1, 2):
        _tree.ksg(x, y, 3, variant)
    for metric in ("chebyshev", "euclidean"):
        dist, _ = _tree.knn(x, 3, metric)
        _tree.count(x, dist[:, -1], metric, True)
    _tree.count(x[:, :1], np.full(len(x), 0.5), "chebyshev", True)


def _write_marker(marker: Path) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
        tmp.write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n", encoding="utf-8")
        os.replace(tmp, marker)
    except OSError:
        pass  # an unwritable cache folder: every process compiles for itself, as numba alone would


def _under_lock(lock_file: Path, fn) -> None:
    """Run ``fn()`` holding the compilation lock (waiting while another process compiles)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        fcntl = None  # type: ignore[assignment]
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        fn()
        return
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        fn()
    finally:
        os.close(fd)  # releases the lock


def warm_up() -> float:
    """Make the compiled neighbour kernels ready in this process; returns the seconds it took.

    Waits while a compilation runs (this process's background one, or another process's),
    compiles here when numba's on-disk cache lacks the kernels, and loads every kernel, so the
    next neighbour search runs compiled. Cheap when the cache is warm (it loads the cached
    machine code) and a no-op once done. Call it once before timing anything, or in a test
    session's fixture.

    Returns
    -------
    float
        Wall-clock seconds spent.
    """
    t0 = time.perf_counter()
    if _STATE.get("warm"):
        return time.perf_counter() - t0
    paths = _fingerprint_paths()
    if paths is None:
        _exercise()
    else:
        marker, lock_file = paths

        def load_or_compile():
            _exercise()
            if not marker.exists():
                _write_marker(marker)

        _under_lock(lock_file, load_or_compile)
    with _LOCK:
        _STATE["loaded"] = True
        _STATE["warm"] = True
    return time.perf_counter() - t0


def _main() -> int:
    """The background compilation: under the lock, compile every kernel into the cache and write the marker."""
    paths = _fingerprint_paths()
    if paths is None:
        return 1
    marker, lock_file = paths

    def compile_once():
        if not marker.exists():
            _exercise()
            _write_marker(marker)

    _under_lock(lock_file, compile_once)
    return 0 if marker.exists() else 1


if __name__ == "__main__":
    sys.exit(_main())
