"""CUDA paths: GPU results against the CPU backends, and clear errors for bad devices.

Every test here is marked ``cuda`` (``pytest -m cuda`` runs them alone;
``benchmarks/gpu_check.py`` runs them on the GPU machine). Tests that need a GPU
skip cleanly without one. The no-CUDA message tests run only where CUDA is
missing, so they run in the default suite on CPU machines and skip on a GPU one
(``gpu_check.py`` reruns this file there with ``CUDA_VISIBLE_DEVICES=""``).

Tolerances, GPU against CPU
---------------------------
* Max-norm (chebyshev) kNN distances, range counts, KSG counts and therefore KSG
  estimates: **exact**. A max-norm distance is a maximum of absolute differences
  of float64 numbers, each correctly rounded, so every backend computes the same
  bits; counts compare those bits with the same radii; KSG sums digamma of the
  counts on the host.
* Euclidean kNN distances: ``rtol=1e-12``. The d squares may be summed in a
  different order (a few ulps, about d * 1e-16 relative).
* KL estimates: ``rtol=1e-9``. They are means of log Euclidean distances, each
  off by a few ulps, plus whitening; 1e-9 leaves a wide margin.
* KDE estimates: ``rtol=1e-8``. Float64 log-sum-exp over n kernel terms, reduced
  in a different order on the GPU (about n * 1e-16), then a bounded scalar
  bandwidth search that could move by a rounding-level step.
* Neural estimators and autoencoders on the GPU repeat within ``0.05`` (nats,
  or code units in [-1, 1]) with a fixed seed. GPU kernels may be
  non-deterministic (atomic adds in convolution, pooling and upsampling
  backward passes), so bitwise repeats are not asserted; ``gpu_check.py``
  records the actual difference.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import ibscope
from ibscope import neighbors
from ibscope.synthetic import correlated_gaussian

CUDA = torch.cuda.is_available()

pytestmark = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
without_cuda = pytest.mark.skipif(
    CUDA, reason="checks the no-CUDA message; runs where CUDA is missing (gpu_check.py: CUDA_VISIBLE_DEVICES='')")

#: relative tolerances of the GPU against the CPU (see the module notes)
RTOL_EUCLIDEAN = 1e-12
RTOL_KL = 1e-9
RTOL_KDE = 1e-8
#: repeat tolerance of trained models on the GPU (nats, or code units)
TOL_REPEAT = 0.05

#: the message of ibscope._torch.resolve_device (an owner prefix such as "KDE: " may come first)
NO_CUDA = r"device='cuda' was requested but CUDA is not available"


def _points(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 6))
    return x, x[:, :3] + rng.standard_normal((400, 3))


# --------------------------------------------------------------------------- entry points with a device
def _mine(x, y, device):
    from ibscope.estimators.neural import MINE

    return MINE(device=device, batch_size=32, max_steps=2, eval_every=1, random_state=0).estimate(x, y)


def _dense_ae(x, y, device):
    from ibscope.compress import DenseAutoencoder

    return DenseAutoencoder(2, device=device, epochs=1, random_state=0).fit(x)


def _conv_ae(x, y, device):
    from ibscope.compress import ConvAutoencoder

    imgs = np.random.default_rng(0).random((32, 8, 8))
    return ConvAutoencoder(latent_dim=2, device=device, epochs=1, random_state=0).fit(imgs)


def _ib_run(x, y, device, out):
    from ibscope.ib import IBConfig, run_ib

    return run_ib(IBConfig(dataset="digits", epochs=1, device=device), out=out)


#: name -> call(x, y, device) for every public entry point with a ``device``
CALLS = {
    "mutual_information-ksg": lambda x, y, dev: ibscope.mutual_information(x, y, device=dev),
    "mutual_information-kl": lambda x, y, dev: ibscope.mutual_information(x, y, estimator="kl", device=dev),
    "mutual_information-kde": lambda x, y, dev: ibscope.mutual_information(x, y, estimator="kde", device=dev),
    "mutual_information-infonce": lambda x, y, dev: ibscope.mutual_information(
        x, y, estimator="infonce", device=dev, batch_size=32, max_steps=2, eval_every=1),
    "mutual_information-flow": lambda x, y, dev: ibscope.mutual_information(x, y, estimator="flow", device=dev),
    "entropy-kl": lambda x, y, dev: ibscope.entropy(x, device=dev),
    "neighbors.knn": lambda x, y, dev: neighbors.knn(x, 3, backend="torch", device=dev),
    "neighbors.kth_distance": lambda x, y, dev: neighbors.kth_distance(x, 3, device=dev),
    "neighbors.count_within": lambda x, y, dev: neighbors.count_within(x, np.ones(len(x)), backend="torch",
                                                                       device=dev),
    "neighbors.ksg_counts": lambda x, y, dev: neighbors.ksg_counts(x, y, 3, backend="torch", device=dev),
    "DenseAutoencoder.fit": _dense_ae,
    "ConvAutoencoder.fit": _conv_ae,
    "MINE.estimate": _mine,
}


def _params(gaps: dict) -> list:
    """``CALLS`` as pytest params; ``gaps`` maps a name to the reason it fails today (strict xfail)."""
    return [pytest.param(name, call, id=name,
                         marks=[pytest.mark.xfail(strict=True, reason=gaps[name])] if name in gaps else [])
            for name, call in CALLS.items()]


# --------------------------------------------------------------------------- no CUDA: clear messages
#: entry points that do not give the no-CUDA ValueError today (strict xfail; see the reasons)
NO_CUDA_GAPS: dict = {}


@without_cuda
@pytest.mark.parametrize("name, call", _params(NO_CUDA_GAPS))
def test_cuda_requested_without_cuda_is_a_clear_value_error(pair, name, call):
    x, y = pair
    with pytest.raises(ValueError, match=NO_CUDA):
        call(x, y, "cuda")


@without_cuda
def test_ib_run_with_cuda_without_cuda(pair, tmp_path):
    x, y = pair
    with pytest.raises(ValueError, match=NO_CUDA):
        _ib_run(x, y, "cuda", tmp_path / "run")


# --------------------------------------------------------------------------- GPU against CPU: kNN
@needs_cuda
@pytest.mark.parametrize("d", [2, 8, 32])
def test_knn_chebyshev_equals_cpu_bit_for_bit(d):
    pts = _points(3000, d)
    dist_cpu, idx_cpu = neighbors.knn(pts, 5, metric="chebyshev", backend="numba")
    dist_gpu, idx_gpu = neighbors.knn(pts, 5, metric="chebyshev", backend="torch", device="cuda")
    assert np.array_equal(dist_gpu, dist_cpu)
    assert np.array_equal(idx_gpu, idx_cpu)


@needs_cuda
@pytest.mark.parametrize("d", [2, 8, 32])
def test_knn_euclidean_equals_cpu_to_rounding(d):
    pts = _points(3000, d, seed=1)
    dist_cpu, idx_cpu = neighbors.knn(pts, 5, metric="euclidean", backend="numba")
    dist_gpu, idx_gpu = neighbors.knn(pts, 5, metric="euclidean", backend="torch", device="cuda")
    np.testing.assert_allclose(dist_gpu, dist_cpu, rtol=RTOL_EUCLIDEAN, atol=0)
    assert np.array_equal(idx_gpu, idx_cpu)


@needs_cuda
@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("d", [2, 8, 32])
def test_chebyshev_counts_at_the_radius_equal_cpu(d, strict):
    # radii equal to a neighbour's distance put a point exactly on every sphere
    pts = _points(3000, d, seed=2)
    radii = neighbors.kth_distance(pts, 4, metric="chebyshev", backend="numba")
    cpu = neighbors.count_within(pts, radii, metric="chebyshev", strict=strict, backend="numba")
    gpu = neighbors.count_within(pts, radii, metric="chebyshev", strict=strict, backend="torch", device="cuda")
    assert np.array_equal(gpu, cpu)
    assert np.array_equal(cpu, np.full(len(pts), 3 if strict else 4))


@needs_cuda
def test_euclidean_counts_equal_cpu():
    # radii just above the 4th-neighbour distance: no point sits within rounding of a sphere
    pts = _points(3000, 8, seed=3)
    radii = neighbors.kth_distance(pts, 4, metric="euclidean", backend="numba") * (1.0 + 1e-9)
    cpu = neighbors.count_within(pts, radii, metric="euclidean", strict=False, backend="numba")
    gpu = neighbors.count_within(pts, radii, metric="euclidean", strict=False, backend="torch", device="cuda")
    assert np.array_equal(gpu, cpu)


@needs_cuda
@pytest.mark.parametrize("variant", [1, 2])
@pytest.mark.parametrize("d", [1, 4, 16])
def test_ksg_counts_equal_cpu(d, variant):
    pts = _points(3000, 2 * d, seed=4)
    x, y = pts[:, :d], pts[:, d:] + pts[:, :d]
    nx_cpu, ny_cpu = neighbors.ksg_counts(x, y, 5, variant=variant, backend="numba")
    nx_gpu, ny_gpu = neighbors.ksg_counts(x, y, 5, variant=variant, backend="torch", device="cuda")
    assert np.array_equal(nx_gpu, nx_cpu) and np.array_equal(ny_gpu, ny_cpu)


# --------------------------------------------------------------------------- GPU against CPU: estimates
@needs_cuda
@pytest.mark.parametrize("estimator", ["ksg", "ksg2"])
def test_ksg_estimate_on_cuda_equals_cpu(estimator):
    x, y, _ = correlated_gaussian(4000, dim_x=4, dim_y=4, mi=1.0, random_state=0)
    cpu = ibscope.mutual_information(x, y, estimator=estimator, random_state=0)
    gpu = ibscope.mutual_information(x, y, estimator=estimator, device="cuda", random_state=0)
    assert gpu.raw_value == cpu.raw_value


@needs_cuda
@pytest.mark.parametrize("estimator", ["kl", "wkl"])
def test_kl_estimate_on_cuda_equals_cpu(estimator):
    x, y, _ = correlated_gaussian(4000, dim_x=4, dim_y=4, mi=1.0, random_state=0)
    cpu = ibscope.mutual_information(x, y, estimator=estimator, random_state=0)
    gpu = ibscope.mutual_information(x, y, estimator=estimator, device="cuda", random_state=0)
    assert gpu.raw_value == pytest.approx(cpu.raw_value, rel=RTOL_KL, abs=1e-12)


@needs_cuda
def test_kde_estimate_on_cuda_equals_cpu():
    x, y, _ = correlated_gaussian(1000, dim_x=2, dim_y=2, mi=1.0, random_state=0)
    cpu = ibscope.mutual_information(x, y, estimator="kde", device="cpu", random_state=0)
    gpu = ibscope.mutual_information(x, y, estimator="kde", device="cuda", random_state=0)
    assert gpu.raw_value == pytest.approx(cpu.raw_value, rel=RTOL_KDE, abs=1e-10)


# --------------------------------------------------------------------------- training on the GPU
@needs_cuda
@pytest.mark.parametrize("estimator", ["mine", "infonce"])
def test_neural_estimator_trains_on_cuda_and_repeats(estimator):
    x, y, _ = correlated_gaussian(4000, dim_x=2, dim_y=2, mi=1.0, random_state=0)
    kw = {"estimator": estimator, "device": "cuda", "batch_size": 128, "max_steps": 300, "random_state": 0}
    first = ibscope.mutual_information(x, y, **kw)
    second = ibscope.mutual_information(x, y, **kw)
    assert first.extra["device"].startswith("cuda")
    assert np.isfinite(first.raw_value) and 0.3 < first.raw_value < 1.5
    assert abs(second.raw_value - first.raw_value) <= TOL_REPEAT


@needs_cuda
def test_flow_trains_on_cuda_near_the_cpu_value():
    """The flow on the GPU: same split and initial weights (drawn on the CPU), float32 kernels that may sum in
    another order; the held-out estimate stays within TOL_REPEAT of the CPU's."""
    x, y, _ = correlated_gaussian(3000, dim_x=3, dim_y=3, mi=1.0, mix=True, random_state=0)
    kw = {"estimator": "flow", "max_steps": 60, "random_state": 0}
    gpu = ibscope.mutual_information(x, y, device="cuda", **kw)
    cpu = ibscope.mutual_information(x, y, **kw)
    assert gpu.extra["flow"]["device"].startswith("cuda")
    assert abs(gpu.raw_value - cpu.raw_value) <= TOL_REPEAT


@needs_cuda
def test_conv_autoencoder_trains_on_cuda_and_repeats():
    from ibscope.compress import ConvAutoencoder

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16]
    centres = rng.uniform(3, 13, size=(512, 2))
    imgs = np.exp(-((xx - centres[:, 0, None, None]) ** 2 + (yy - centres[:, 1, None, None]) ** 2) / 8.0)

    def fit():
        return ConvAutoencoder(latent_dim=2, epochs=4, batch_size=64, device="cuda", random_state=0).fit(imgs)

    first, second = fit(), fit()
    assert first.device_.startswith("cuda")
    codes1, codes2 = first.transform(imgs), second.transform(imgs)
    assert codes1.shape == (512, 2) and np.isfinite(codes1).all()
    assert np.abs(codes2 - codes1).max() <= TOL_REPEAT
    assert np.isfinite(first.reconstruction_error_["train"])


@needs_cuda
def test_noise_layer_on_cuda_repeats_with_its_seed():
    from ibscope.nets.noise import GaussianNoise

    layer = GaussianNoise(0.5, kind="additive", seed=3)
    x = torch.zeros(10_000, device="cuda")
    a = layer(x)
    b = layer.reseed(3)(x)
    assert a.device.type == "cuda" and torch.equal(a, b) and float(a.std()) == pytest.approx(0.5, rel=0.05)


# --------------------------------------------------------------------------- bad devices on a GPU machine
#: entry points that do not give the missing-index ValueError today (strict xfail with the reason): none since
#: neighbors.resolve_device follows ibscope._torch.resolve_device
INDEX_GAPS: dict = {}


def _missing_index() -> str:
    return f"cuda:{max(7, torch.cuda.device_count())}"  # "cuda:7" on a one-GPU machine


def _index_message(bad: str) -> str:
    count = torch.cuda.device_count()
    return re.escape(f"device='{bad}' was requested but this machine has {count} CUDA device")


@needs_cuda
@pytest.mark.parametrize("name, call", _params(INDEX_GAPS))
def test_missing_gpu_index_is_a_clear_value_error(pair, name, call):
    x, y = pair
    bad = _missing_index()
    with pytest.raises(ValueError, match=_index_message(bad)):
        call(x, y, bad)


@needs_cuda
def test_ib_run_with_a_missing_gpu_index(pair, tmp_path):
    x, y = pair
    bad = _missing_index()
    with pytest.raises(ValueError, match=_index_message(bad)):
        _ib_run(x, y, bad, tmp_path / "run")


@pytest.fixture
def small_gpu_memory():
    """Cap this process's CUDA caching allocator at 8 MiB, so a few-MiB distance block does not fit."""
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction((8 << 20) / total, 0)
    try:
        yield
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
        torch.cuda.empty_cache()


def _big_vectors():
    # 3e5 x 16 float32 = 19 MiB per side: more than the capped allocator holds
    x = np.random.default_rng(0).standard_normal((300_000, 16)).astype(np.float32)
    return x, x[:, ::-1] + 0.5 * x


#: (id, data(), call on the GPU, call on the CPU, tolerance of a fallback against the CPU)
OOM_CALLS = [
    ("ksg", lambda: correlated_gaussian(50_000, dim_x=2, dim_y=2, mi=1.0, random_state=0)[:2],
     lambda x, y: ibscope.mutual_information(x, y, backend="torch", device="cuda", random_state=0),
     lambda x, y: ibscope.mutual_information(x, y, backend="numba", random_state=0), 0.0),
    ("kde", lambda: correlated_gaussian(8_000, dim_x=2, dim_y=2, mi=1.0, random_state=0)[:2],
     lambda x, y: ibscope.mutual_information(x, y, estimator="kde", device="cuda", random_state=0),
     lambda x, y: ibscope.mutual_information(x, y, estimator="kde", device="cpu", random_state=0), RTOL_KDE),
    ("mine", _big_vectors,
     lambda x, y: ibscope.mutual_information(x, y, estimator="mine", device="cuda", max_steps=2, eval_every=1,
                                             random_state=0),
     lambda x, y: ibscope.mutual_information(x, y, estimator="mine", device="cpu", max_steps=2, eval_every=1,
                                             random_state=0), TOL_REPEAT),
]


@needs_cuda
@pytest.mark.parametrize("name, data, on_gpu, on_cpu, tol", OOM_CALLS, ids=[c[0] for c in OOM_CALLS])
def test_data_too_large_for_gpu_memory(small_gpu_memory, name, data, on_gpu, on_cpu, tol):
    """Either a clear error naming memory, or a chunked/CPU fallback that says so in ``warnings``.

    What src does (simulated on the CPU in tests/unit/test_out_of_memory.py): the torch kNN backend halves its
    distance blocks and gives the CPU's bits with a memory warning; KDE does the same within ``RTOL_KDE``; MINE
    cannot copy its data to the device and raises a MemoryError naming GPU memory and batch_size/device='cpu'.
    """
    x, y = data()
    try:
        res = on_gpu(x, y)
    except Exception as exc:  # noqa: BLE001 - the test is about which exception
        assert not isinstance(exc, torch.cuda.OutOfMemoryError), f"torch's own error escaped: {exc}"
        assert isinstance(exc, (ValueError, MemoryError)) and "memory" in str(exc).lower(), repr(exc)
        return
    assert any("memory" in w.lower() for w in res.warnings), res.warnings
    ref = on_cpu(x, y)
    if tol == 0.0:
        assert res.raw_value == ref.raw_value
    else:
        assert res.raw_value == pytest.approx(ref.raw_value, rel=tol, abs=tol)
