"""Out-of-memory handling of the torch code paths, simulated on the CPU.

``torch.cuda.OutOfMemoryError`` can be built without a GPU, so these tests make
``torch.cdist`` (the distance kernel of the torch kNN backend and of KDE), the
critic's scores or the flows' forward pass raise it, for blocks above a size or
always, and check that

* the torch kNN backend halves its blocks and gives the same bits as an
  unconstrained run, with a memory note in the result's ``warnings``;
* KDE does the same within rounding;
* a persistent out-of-memory gives a ``MemoryError`` naming memory and what to
  change, never torch's own error.

``tests/unit/test_cuda.py::test_data_too_large_for_gpu_memory`` checks the same on
a real GPU with a capped allocator.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ibscope
from ibscope import _torch as ib_torch
from ibscope import neighbors
from ibscope.estimators import kde as kde_module
from ibscope.neighbors import _torch as knn_torch
from ibscope.synthetic import correlated_gaussian

_real_cdist = torch.cdist


def _oom(text="CUDA out of memory. Tried to allocate 2.00 GiB (simulated)"):
    return torch.cuda.OutOfMemoryError(text)


@pytest.fixture
def cdist_limit(monkeypatch):
    """``limit(rows)``: from now on ``torch.cdist`` raises OutOfMemoryError for blocks of more than ``rows`` rows
    (``rows=0``: always). Returns the list of block sizes tried."""
    tried: list = []

    def limit(rows: int, error=None):
        def fake(a, b, *args, **kwargs):
            tried.append(a.shape[0])
            if a.shape[0] > rows:
                raise error if error is not None else _oom()
            return _real_cdist(a, b, *args, **kwargs)

        monkeypatch.setattr(torch, "cdist", fake)
        return tried

    return limit


def _pts(n=1500, d=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


# ----------------------------------------------------------------------------- helpers
def test_out_of_memory_errors_are_recognised():
    assert ib_torch.is_out_of_memory(torch.cuda.OutOfMemoryError("x"))
    assert ib_torch.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"))  # old torch
    assert ib_torch.is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not ib_torch.is_out_of_memory(RuntimeError("shape mismatch"))
    assert not ib_torch.is_out_of_memory(ValueError("out of memory"))


def test_memory_notes_are_collected_only_inside_the_block():
    ib_torch.note_memory("outside: dropped")
    with ib_torch.collect_memory_notes() as notes:
        ib_torch.note_memory("a")
        ib_torch.note_memory("a")
        ib_torch.note_memory("b")
    assert notes == ["a", "b"]


def test_cuda_blocks_are_sized_from_free_memory(monkeypatch):
    n = 100_000
    monkeypatch.setattr(knn_torch, "_cuda_free_bytes", lambda dev: 800 << 20)
    rows = knn_torch._block_rows(n, "cuda:0", 3, 6)
    assert rows == int((800 << 20) * knn_torch._CUDA_FREE_SHARE) // (8 * 6 * n)
    assert rows * n * 8 * 6 <= (800 << 20) * knn_torch._CUDA_FREE_SHARE
    # a large GPU: capped at _CUDA_MAX_BLOCK_ENTRIES per array
    monkeypatch.setattr(knn_torch, "_cuda_free_bytes", lambda dev: 80 << 30)
    assert knn_torch._block_rows(n, "cuda", 3, 6) == knn_torch._CUDA_MAX_BLOCK_ENTRIES // n
    # almost nothing free: one row, never zero
    monkeypatch.setattr(knn_torch, "_cuda_free_bytes", lambda dev: 1000)
    assert knn_torch._block_rows(n, "cuda", 3, 6) == 1
    # the fixed size (diagnostic) and the CPU budget ignore the free memory
    monkeypatch.setattr(knn_torch, "_CUDA_BLOCK_ENTRIES", 1 << 21)
    assert knn_torch._block_rows(n, "cuda", 3, 6) == (1 << 21) // (3 * n)
    assert knn_torch._block_rows(n, "cpu", 3, 6) == knn_torch._chunk_rows(n, 3) == (1 << 21) // (3 * n)


# ----------------------------------------------------------------------------- torch kNN backend
def _all_torch_outputs(pts):
    half = pts.shape[1] // 2 + 1
    x, y = pts[:, :half], pts[:, half:] + pts[:, :pts.shape[1] - half]
    out = {}
    for metric in ("chebyshev", "euclidean"):
        d, i = neighbors.knn(pts, 5, metric=metric, backend="torch", device="cpu")
        out[f"knn {metric}"] = (d, i)
        for strict in (True, False):
            out[f"count {metric} {strict}"] = neighbors.count_within(pts, d[:, -1], metric=metric, strict=strict,
                                                                     backend="torch", device="cpu")
    for variant in (1, 2):
        out[f"ksg {variant}"] = neighbors.ksg_counts(x, y, 5, variant=variant, backend="torch", device="cpu")
    return out


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        for u, v in zip(a[key] if isinstance(a[key], tuple) else (a[key],),
                        b[key] if isinstance(b[key], tuple) else (b[key],)):
            assert np.array_equal(u, v), key


def test_block_size_does_not_change_values(monkeypatch):
    pts = _pts()
    # a few distinct distances repeated, so ties (points on the spheres) are exercised too
    pts = np.round(pts * 4) / 4
    ref = _all_torch_outputs(pts)
    for entries in (1, 7 * len(pts), 1 << 26):  # one row per block, 7 (or 2) rows, all rows in one block
        monkeypatch.setattr(knn_torch, "_BLOCK_ENTRIES", entries)
        _assert_same(_all_torch_outputs(pts), ref)


def test_knn_out_of_memory_halves_the_blocks_with_identical_values(cdist_limit):
    pts = _pts()
    ref = _all_torch_outputs(pts)
    tried = cdist_limit(40)
    with ib_torch.collect_memory_notes() as notes:
        got = _all_torch_outputs(pts)
    _assert_same(got, ref)
    assert max(tried) > 40 and any(r <= 40 for r in tried)
    assert notes and all("memory" in t for t in notes)
    assert any("KSG-1 counts" in t and "same results" in t for t in notes)


def test_old_style_runtime_error_out_of_memory_is_handled(cdist_limit):
    pts = _pts(600)
    ref = neighbors.knn(pts, 3, backend="torch", device="cpu")
    cdist_limit(10, error=RuntimeError("CUDA out of memory. Tried to allocate 1.00 GiB"))
    got = neighbors.knn(pts, 3, backend="torch", device="cpu")
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])


def test_other_runtime_errors_are_not_swallowed(cdist_limit):
    cdist_limit(0, error=RuntimeError("CUDA error: an illegal memory access was encountered"))
    with pytest.raises(RuntimeError, match="illegal memory access"):
        neighbors.knn(_pts(300), 3, backend="torch", device="cpu")


def test_ksg_estimate_after_out_of_memory_equals_the_cpu_value_and_warns(cdist_limit):
    x, y, _ = correlated_gaussian(2000, dim_x=2, dim_y=2, mi=1.0, random_state=0)
    ref = ibscope.mutual_information(x, y, backend="numba", random_state=0)
    cdist_limit(25)
    res = ibscope.mutual_information(x, y, backend="torch", device="cpu", random_state=0)
    assert res.raw_value == ref.raw_value
    assert any("memory" in w.lower() for w in res.warnings), res.warnings
    assert not any("memory" in w.lower() for w in ref.warnings)


def test_persistent_out_of_memory_gives_a_clear_error(cdist_limit):
    x, y, _ = correlated_gaussian(500, dim_x=2, dim_y=2, mi=1.0, random_state=0)
    cdist_limit(0)
    with pytest.raises(MemoryError) as info:
        ibscope.mutual_information(x, y, backend="torch", device="cpu", random_state=0)
    assert not isinstance(info.value, torch.cuda.OutOfMemoryError)
    text = str(info.value)
    assert "memory" in text and "n=500" in text and "backend='numba'" in text and "device='cpu'" in text
    assert info.value.__cause__ is None or not isinstance(info.value.__cause__, torch.cuda.OutOfMemoryError)
    with pytest.raises(MemoryError, match="one row of distances"):
        neighbors.knn(_pts(300), 3, backend="torch", device="cpu")


def test_out_of_memory_copying_the_data_gives_a_clear_error(monkeypatch):
    def fake_upload(self, *args, **kwargs):
        raise _oom()

    monkeypatch.setattr(torch.Tensor, "to", fake_upload)
    with pytest.raises(MemoryError, match=r"copying the points \(300 x 3 float64"):
        neighbors.knn(_pts(300), 3, backend="torch", device="cpu")


# ----------------------------------------------------------------------------- KDE
def test_kde_out_of_memory_halves_the_blocks_within_rounding(monkeypatch, cdist_limit):
    x, y, _ = correlated_gaussian(1200, dim_x=2, dim_y=2, mi=1.0, random_state=0)
    monkeypatch.setattr(kde_module, "_KDE_BLOCK_ENTRIES", 200 * 1200)  # 200-row blocks, so halving shows
    ref = ibscope.mutual_information(x, y, estimator="kde", random_state=0)
    cdist_limit(60)
    res = ibscope.mutual_information(x, y, estimator="kde", random_state=0)
    assert res.raw_value == pytest.approx(ref.raw_value, rel=1e-8, abs=1e-10)
    assert any("KDE ran out of memory" in w for w in res.warnings), res.warnings


def test_kde_persistent_out_of_memory_gives_a_clear_error(cdist_limit):
    x, y, _ = correlated_gaussian(300, dim_x=2, dim_y=2, mi=1.0, random_state=0)
    cdist_limit(0)
    with pytest.raises(MemoryError, match=r"KDE: out of memory .*device='cpu'"):
        ibscope.mutual_information(x, y, estimator="kde", random_state=0)
    with pytest.raises(MemoryError, match="KDE: out of memory"):
        ibscope.entropy(x, estimator="kde", random_state=0)


# ----------------------------------------------------------------------------- neural estimators
@pytest.mark.parametrize("name", ["mine", "infonce"])
def test_neural_out_of_memory_gives_a_clear_error(monkeypatch, name):
    from ibscope.estimators.neural import training

    def fake(*args, **kwargs):
        raise _oom()

    monkeypatch.setattr(training, "score_matrix", fake)
    x, y, _ = correlated_gaussian(400, dim_x=2, dim_y=2, mi=1.0, random_state=0)
    with pytest.raises(MemoryError) as info:
        ibscope.mutual_information(x, y, estimator=name, batch_size=32, max_steps=2, eval_every=1, random_state=0)
    text = str(info.value)
    assert "memory" in text and "batch_size" in text and "device='cpu'" in text and "400 rows" in text


def test_flow_out_of_memory_gives_a_clear_error(monkeypatch):
    from ibscope.estimators.neural import flows

    def fake(self, *args, **kwargs):
        raise _oom()

    monkeypatch.setattr(flows.SideFlow, "forward", fake)
    x, y, _ = correlated_gaussian(400, dim_x=2, dim_y=2, mi=1.0, random_state=0)
    with pytest.raises(MemoryError) as info:
        ibscope.mutual_information(x, y, estimator="flow", max_steps=2, eval_every=1, random_state=0)
    text = str(info.value)
    assert text.startswith("FlowMI") and "memory" in text and "batch_size" in text and "device='cpu'" in text


def test_any_estimator_turns_torch_out_of_memory_into_memory_error(monkeypatch):
    from ibscope.estimators.kl import KLMI

    def fake(self, x, y, call):
        raise _oom()

    monkeypatch.setattr(KLMI, "_core", fake)
    x, y, _ = correlated_gaussian(200, dim_x=2, dim_y=2, mi=1.0, random_state=0)
    with pytest.raises(MemoryError, match=r"out of memory .*device='cpu'"):
        ibscope.mutual_information(x, y, estimator="kl", random_state=0)
