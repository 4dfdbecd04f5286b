"""The fast paths of the per-epoch analysis: PCA by the covariance's eigendecomposition, and one-thread probes.

Each must give what the slower path gives, to rounding: the covariance route the SVD's principal axes
(exact arithmetic gives the same axes; rounding differs by a few units in the last place of the
largest variance, so axes with well-separated variances agree to ~1e-12), the single-threaded probes
the multi-threaded ones (the same L-BFGS on the same data; only the order of parallel sums differs).
"""

from __future__ import annotations

import numpy as np
import pytest

from ibscope.compress import PCACompressor
from ibscope.compress.pca import choose_svd_solver
from ibscope.plane.decoders import LinearProbes, one_torch_thread


def _layer_like(n=1000, d=60, seed=0):
    """Activations with a decaying spectrum (distinct variances), a constant column and a copied one."""
    rng = np.random.default_rng(seed)
    scales = np.exp(-np.arange(d) / 8.0)
    x = (rng.standard_normal((n, d)) * scales) @ np.linalg.qr(rng.standard_normal((d, d)))[0] + 3.0
    x[:, 5] = 1.25  # a dead unit
    x[:, 7] = x[:, 8]  # a duplicated unit
    return x


@pytest.mark.parametrize("k,whiten", [(2, False), (20, True), (60, False)])  # subset eigh, full eigh, rotation
def test_covariance_route_equals_the_svd(k, whiten):
    x = _layer_like()
    full = PCACompressor(k, whiten=whiten, svd_solver="full").fit(x)
    cov = PCACompressor(k, whiten=whiten).fit(x)
    assert cov.svd_solver_ == "covariance_eigh"
    # the leading axes (well-separated variances) agree to rounding, signs included
    lead = min(k, 15)
    np.testing.assert_allclose(cov.components_[:lead], full.components_[:lead], atol=1e-9)
    np.testing.assert_allclose(cov.explained_variance_[:lead], full.explained_variance_[:lead], rtol=1e-10)
    np.testing.assert_allclose(cov.explained_variance_ratio_[:lead], full.explained_variance_ratio_[:lead],
                               rtol=1e-10)
    np.testing.assert_allclose(cov.singular_values_[:lead], full.singular_values_[:lead], rtol=1e-10)
    np.testing.assert_allclose(cov.mean_, full.mean_, rtol=1e-13)
    codes_full, codes_cov = full.transform(x)[:, :lead], cov.transform(x)[:, :lead]
    np.testing.assert_allclose(codes_cov, codes_full, atol=1e-8 * np.abs(codes_full).max())
    assert np.isfinite(cov.transform(x)).all() and (cov.explained_variance_ >= 0).all()
    assert cov.reconstruction_error_["train"] == pytest.approx(full.reconstruction_error_["train"], rel=1e-8)
    # sign convention: the largest-magnitude entry of every axis is positive
    rows = np.arange(k)
    assert (cov.components_[rows, np.abs(cov.components_).argmax(axis=1)] > 0).all()


def test_auto_solver_rule():
    assert choose_svd_solver("auto", 10_000, 1352, 4) == "covariance_eigh"   # the paper net's widest layer
    assert choose_svd_solver("auto", 60_000, 784, 4) == "covariance_eigh"    # the MNIST images
    assert choose_svd_solver("auto", 10_000, 12_544, 4) == "randomized"      # resnet-small's stem
    assert choose_svd_solver("auto", 500, 2000, 4) == "full"                 # fewer samples than features
    assert choose_svd_solver("covariance_eigh", 5, 10, 2) == "covariance_eigh"
    with pytest.raises(ValueError, match="svd_solver"):
        choose_svd_solver("eigh", 10, 5, 2)


def test_covariance_route_with_fewer_samples_than_features_when_asked():
    x = _layer_like(n=40, d=60)
    cov = PCACompressor(3, svd_solver="covariance_eigh").fit(x)
    full = PCACompressor(3, svd_solver="full").fit(x)
    np.testing.assert_allclose(np.abs(cov.transform(x)), np.abs(full.transform(x)), atol=1e-8)


def test_one_torch_thread_restores_the_count():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    with one_torch_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_probe_cross_entropies_independent_of_torch_threads():
    """The probes run single-threaded whatever torch's setting, so the thread count cannot change them."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    z = rng.standard_normal((600, 20))
    y = np.argmax(z[:, :5] + rng.gumbel(size=(600, 5)), axis=1)
    before = torch.get_num_threads()
    out = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out[threads] = LinearProbes(random_state=0).cross_entropies("L", z, y)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(out[1], out[2])
    assert 0 < out[1].mean() < np.log(5)  # better than the label frequencies, as a fitted probe must be
