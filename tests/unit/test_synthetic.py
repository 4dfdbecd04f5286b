"""Tests of the known-MI data module ``ibscope.synthetic``: renderers, tasks, Student-t MI.

Statistical checks use tolerances of 5 standard errors (plus the known bias where
there is one), so they hold for any seed; set ``IBSCOPE_TEST_SEED`` to try others.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.special import ndtr, ndtri
from scipy.stats import multivariate_t

from ibscope import synthetic
from ibscope.synthetic import (
    MultivariateStudentT,
    gaussian_mi,
    get_task,
    list_renderers,
    list_tasks,
    render,
    render_bump,
    render_elliptic_bump,
    render_rectangle,
    student_t_mi,
    student_t_shape_mi,
)
from ibscope.synthetic.images import _interval_ends


@pytest.fixture
def seed() -> int:
    return int(os.environ.get("IBSCOPE_TEST_SEED", "0"))


def plugin_gaussian_mi(x: np.ndarray, y: np.ndarray) -> float:
    """Gaussian closed form 1/2 log(det C_X det C_Y / det C) on the sample covariance."""
    c = np.cov(np.hstack([x, y]), rowvar=False)
    dx = x.shape[1]
    _, ld = np.linalg.slogdet(c)
    _, ldx = np.linalg.slogdet(c[:dx, :dx])
    _, ldy = np.linalg.slogdet(c[dx:, dx:])
    return 0.5 * (ldx + ldy - ld)


def plugin_tolerance(task, n: int) -> float:
    """Five standard errors plus the bias of the plug-in Gaussian MI.

    Delta method: a pair with correlation rho has MI -1/2 log(1 - rho^2), var(rho_hat)
    = (1 - rho^2)^2 / n and dI/drho = rho / (1 - rho^2), so var = rho^2 / n per pair.
    At rho = 0 the first-order term vanishes and 2 n I is chi^2 with dx*dy dof, which
    gives the bias dx*dy / (2n) and a standard deviation sqrt(2 dx dy) / (2n).
    """
    rho = np.asarray(task.metadata["rho"])
    dx, dy = task.dim_x, task.dim_y
    var = np.sum(rho**2) / n + 2.0 * dx * dy / (2.0 * n) ** 2
    return 5.0 * math.sqrt(var) + dx * dy / (2.0 * n)


# ---------------------------------------------------------------------------
# renderers
# ---------------------------------------------------------------------------
RENDER_FUNCS = {"bump": render_bump, "rectangle": render_rectangle, "elliptic_bump": render_elliptic_bump}


def test_renderer_registry():
    assert list_renderers() == {"bump": 2, "rectangle": 4, "elliptic_bump": 5}


@pytest.mark.parametrize("kind", sorted(RENDER_FUNCS))
@pytest.mark.parametrize("size", [16, 32, (12, 20)])
def test_render_shape_dtype_range(kind, size, seed):
    d = list_renderers()[kind]
    lat = np.random.default_rng(seed).standard_normal((50, d))
    img = render(lat, kind, size)
    h, w = (size, size) if isinstance(size, int) else size
    assert img.shape == (50, 1, h, w)
    assert img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0
    assert np.all(img.reshape(50, -1).max(axis=1) > 0.0)  # nothing renders blank
    # the dispatcher is Phi followed by the renderer on uniforms
    np.testing.assert_array_equal(img, RENDER_FUNCS[kind](ndtr(lat), size))


def _grid(d: int, k: int, lo: float = 0.02, hi: float = 0.98) -> np.ndarray:
    axes = np.meshgrid(*([np.linspace(lo, hi, k)] * d), indexing="ij")
    return np.stack([a.ravel() for a in axes], axis=1)


@pytest.mark.parametrize(
    ("kind", "k", "size"),
    [("bump", 25, 16), ("bump", 25, 32), ("rectangle", 5, 32), ("rectangle", 6, 16),
     ("elliptic_bump", 4, 16), ("elliptic_bump", 3, 32)],
)
def test_renderers_injective_on_grid(kind, k, size):
    """Distinct parameters on a grid give distinct images (min pairwise distance > 0)."""
    u = _grid(list_renderers()[kind], k)
    img = RENDER_FUNCS[kind](u, size).reshape(len(u), -1).astype(np.float64)
    assert pdist(img).min() > 1e-3


def test_render_injective_on_latent_grid():
    lat = _grid(2, 30, -3.0, 3.0)
    img = render(lat, "bump", 16).reshape(len(lat), -1).astype(np.float64)
    assert pdist(img).min() > 0.0


def test_bump_values_and_inversion():
    """Pixel = exp(-10 ||g - mu||^2) on linspace grids; the centre is recoverable from log-pixels."""
    u = np.array([[0.3, 0.8], [0.0, 1.0]])
    img = render_bump(u, (8, 12))[:, 0].astype(np.float64)
    gx, gy = np.linspace(0, 1, 12), np.linspace(0, 1, 8)
    expected = np.exp(-10 * ((gx[None, None, :] - u[:, :1, None]) ** 2 + (gy[None, :, None] - u[:, 1:, None]) ** 2))
    np.testing.assert_allclose(img, expected, rtol=1e-6)
    # log p along a row is -10 (x - mu0)^2 + c: the slope between two columns gives mu0
    logp = np.log(img)
    mu0 = (logp[:, 0, 1] - logp[:, 0, 0]) / (20 * (gx[1] - gx[0])) + (gx[0] + gx[1]) / 2
    np.testing.assert_allclose(mu0, u[:, 0], atol=1e-4)


def test_bump_sharpness_option():
    img = render_bump(np.array([[0.5, 0.5]]), 3, sharpness=12.5)
    assert img[0, 0, 0, 0] == pytest.approx(math.exp(-12.5 * 0.5), rel=1e-6)


def test_rectangle_coverage_is_area(seed):
    u = np.random.default_rng(seed).random((200, 4))
    size = 32
    img = render_rectangle(u, size)[:, 0].astype(np.float64)
    m = 2.0 / size
    ax, bx = _interval_ends(u[:, 0], u[:, 1], m)
    ay, by = _interval_ends(u[:, 2], u[:, 3], m)
    assert np.all(bx - ax >= m - 1e-12) and np.all(by - ay >= m - 1e-12)
    assert np.all((ax >= 0) & (bx <= 1) & (ay >= 0) & (by <= 1))
    # sum of pixel values = area in pixels
    np.testing.assert_allclose(img.sum(axis=(1, 2)), (bx - ax) * (by - ay) * size**2, rtol=1e-5)
    # a side of >= 2 px always holds a fully covered pixel
    np.testing.assert_allclose(img.max(axis=(1, 2)), 1.0)


def test_rectangle_ends_uniform_on_valid_set(seed):
    """(a, b) from two uniforms is uniform on {0 <= a, a + m <= b <= 1}: E[a] = (1 - m)/3."""
    m = 0.1
    u = np.random.default_rng(seed).random((200_000, 2))
    a, b = _interval_ends(u[:, 0], u[:, 1], m)
    # for the triangle of side L = 1 - m: E[a] = L/3, E[b] = m + 2L/3, sd(a) = L/sqrt(18)
    se = (1 - m) / math.sqrt(18) / math.sqrt(len(a))
    assert abs(a.mean() - (1 - m) / 3) < 5 * se
    assert abs(b.mean() - (m + 2 * (1 - m) / 3)) < 5 * se


def test_rectangle_rejects_sub_two_pixel_sides():
    with pytest.raises(ValueError, match=r"'min_side' parameter of render_rectangle must be at least 2 px"):
        render_rectangle(np.full((1, 4), 0.5), 32, min_side=1.0 / 32)
    img = render_rectangle(np.full((1, 4), 0.5), 32, min_side=0.2)  # mutinfo's choice is fine
    assert img.shape == (1, 1, 32, 32)


def test_elliptic_bump_tilt_and_width():
    u = np.array([[0.5, 0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 1.0, 0.0, 0.5], [0.5, 0.5, 0.5, 0.5, 1.0]])
    img = render_elliptic_bump(u, 33)[:, 0]
    assert np.allclose(img[0], img[0].T, atol=1e-6)  # round bump is symmetric
    assert img[1, 16, :].sum() > img[1, :, 16].sum()  # wide along x, narrow along y
    assert img[2, 20, 20] > img[2, 20, 12]  # positive correlation: mass along the diagonal


@pytest.mark.parametrize(
    ("call", "match", "exc"),
    [
        (lambda: render(np.zeros((3, 2)), "circle", 16), r"'kind' parameter of render must be one of", ValueError),
        (lambda: render(np.zeros((3, 3)), "bump", 16), r"'latents' argument of render must have shape \(n_images, 2\)", ValueError),
        (lambda: render(np.zeros((3, 2)), "bump", 1), r"'size' parameter of render_bump must be an int in the range \[2", ValueError),
        (lambda: render(np.zeros((3, 2)), "bump", "big"), r"'size' parameter of render_bump must be an int >= 2", TypeError),
        (lambda: render(np.zeros((3, 2)), "bump", (16,)), r"'size' parameter of render_bump", TypeError),
        (lambda: render(np.full((3, 2), np.nan), "bump", 16), r"'latents' argument contains NaN", ValueError),
        (lambda: render_bump(np.full((2, 2), 1.5), 16), r"'u' argument of render_bump must hold values in \[0, 1\]", ValueError),
        (lambda: render_bump(np.zeros((0, 2)), 16), r"'u' argument of render_bump has 0 rows", ValueError),
        (lambda: render_elliptic_bump(np.zeros((1, 5)), 2), r"'size' parameter of render_elliptic_bump", ValueError),
        (lambda: render_bump(np.zeros((1, 2)), 4, sharpness=-1.0), r"'sharpness' parameter", ValueError),
    ],
)
def test_render_bad_input(call, match, exc):
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------------------
# task registry
# ---------------------------------------------------------------------------
EXPECTED_TASKS = {
    "gaussian", "gaussian-10x4", "gaussian-cube", "gaussian-uniform", "student-t", "uniform-label", "anti-pca",
    "bump-16", "bump-32", "rectangle-16", "rectangle-32", "elliptic-bump-16", "elliptic-bump-32",
    "shells", "periodic-shear", "spiral", "inlier-mixture",
}


def test_list_tasks():
    assert set(list_tasks()) == EXPECTED_TASKS
    assert list_tasks() == sorted(list_tasks())


def test_unknown_task_name():
    with pytest.raises(ValueError, match=r"Unknown task 'bump-64'\. Valid task names: anti-pca, bump-16, bump-32"):
        get_task("bump-64")


@pytest.mark.parametrize(
    ("name", "params", "match", "exc"),
    [
        ("bump-16", {"size": 32}, r"task 'bump-16' has no parameter\(s\) 'size'\. Valid parameters: mi, mix, mix_seed", ValueError),
        ("gaussian-10x4", {"dim_x": 3}, r"has no parameter\(s\) 'dim_x'", ValueError),
        ("bump-16", {"mi": -1.0}, r"'mi' parameter of get_task\('bump-16'\) must be a float in the range \[0.0, inf\]", ValueError),
        ("gaussian", {"mi": "high"}, r"'mi' parameter of get_task\('gaussian'\) must be a float", TypeError),
        ("gaussian", {"dim_x": 0}, r"'dim_x' parameter of CorrelatedGaussian", ValueError),
        ("uniform-label", {"n_classes": 0}, r"'n_classes' parameter of get_task\('uniform-label'\)", ValueError),
        ("student-t", {"dof": 0.0}, r"'dof' parameter of MultivariateStudentT", ValueError),
        ("student-t", {"mi": 0.001, "dof": 1.0}, r"'mi' parameter of MultivariateStudentT must be at least", ValueError),
        ("anti-pca", {"dim_x": 1}, r"'dim_x' parameter of get_task\('anti-pca'\)", ValueError),
        ("bump-32", {"mix_seed": -2}, r"'mix_seed' parameter", ValueError),
    ],
)
def test_get_task_bad_params(name, params, match, exc):
    with pytest.raises(exc, match=match):
        get_task(name, **params)


@pytest.mark.parametrize("n", [0, -5])
def test_sample_rejects_bad_n(n):
    with pytest.raises(ValueError, match=r"'n' parameter of Task\('gaussian'\)\.sample must be an int in the range \[1, inf\)"):
        get_task("gaussian").sample(n, random_state=0)


def test_sample_rejects_non_int_n():
    with pytest.raises(TypeError, match=r"'n' parameter of Task\('bump-16'\)\.sample must be an int"):
        get_task("bump-16").sample(10.0, random_state=0)


@pytest.mark.parametrize("name", sorted(EXPECTED_TASKS))
def test_task_contract(name, seed):
    task = get_task(name)
    n = 64
    x, y = task.sample(n, random_state=seed)
    assert x.shape == (n, *task.shape_x) and y.shape == (n, *task.shape_y)
    assert task.dim_x == math.prod(task.shape_x) and task.dim_y == math.prod(task.shape_y)
    assert np.all(np.isfinite(x))
    if task.y_discrete:
        assert y.dtype == np.int64 and task.dim_y == 1
    else:
        assert np.all(np.isfinite(y))
    if task.metadata["family"] == "image":
        assert x.dtype == y.dtype == np.float32 and x.shape[1:] == (1, task.metadata["size"], task.metadata["size"])
        assert x.min() >= 0 and x.max() <= 1
    # seeds reproduce and differ; a Generator works as well
    x2, y2 = task.sample(n, random_state=seed)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = task.sample(n, random_state=seed + 1)
    assert not np.array_equal(x, x3)
    x4, _ = task.sample(n, random_state=np.random.default_rng(seed))
    assert x4.shape == x.shape
    # metadata and true MI
    mi = task.mutual_information()
    assert mi >= 0 and task.mutual_information("bits") == pytest.approx(mi / math.log(2))
    json.dumps(task.to_dict())
    assert name in repr(task)


def test_tasks_parametrised_by_mi():
    for name in ["gaussian", "gaussian-cube", "gaussian-uniform", "anti-pca", "bump-16", "rectangle-32", "elliptic-bump-16"]:
        for mi in [0.0, 0.25, 3.0, 10.0]:
            task = get_task(name, mi=mi)
            assert task.mutual_information() == pytest.approx(mi, abs=1e-12)
            if "rho" in task.metadata:  # the correlations realise the prescribed MI
                assert gaussian_mi(task.metadata["rho"]) == pytest.approx(mi, abs=1e-6)


def test_mix_seed_changes_rotation_only(seed):
    a = get_task("gaussian", dim_x=3, dim_y=3, mi=2.0, mix_seed=0)
    b = get_task("gaussian", dim_x=3, dim_y=3, mi=2.0, mix_seed=1)
    xa, _ = a.sample(10, seed)
    xb, _ = b.sample(10, seed)
    assert not np.allclose(xa, xb)
    np.testing.assert_allclose(np.linalg.norm(xa, axis=1), np.linalg.norm(xb, axis=1))  # same draw, rotated


# ---------------------------------------------------------------------------
# true MI
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "params", "inverse"),
    [
        ("gaussian", {"mi": 2.0}, None),
        ("gaussian", {"dim_x": 3, "dim_y": 2, "mi": 1.5}, None),
        ("gaussian", {"dim_x": 2, "dim_y": 2, "mi": 0.0}, None),
        ("gaussian-10x4", {"mi": 5.0}, None),
        ("gaussian-cube", {"dim_x": 2, "dim_y": 3, "mi": 1.0}, np.cbrt),
        ("gaussian-uniform", {"dim_x": 2, "dim_y": 2, "mi": 3.0}, ndtri),
    ],
)
def test_gaussian_task_mi_is_exact(name, params, inverse, seed):
    """The closed form on the sample covariance at large n matches the task's MI."""
    task = get_task(name, **params)
    n = 100_000
    x, y = task.sample(n, random_state=seed)
    if inverse is not None:  # undo the per-coordinate marginal map
        x, y = inverse(x), inverse(y)
    assert abs(plugin_gaussian_mi(x, y) - task.mutual_information()) < plugin_tolerance(task, n)


def test_non_gaussian_marginals(seed):
    x, _ = get_task("gaussian-uniform", dim_x=3, mi=1.0).sample(100_000, seed)
    assert x.min() >= 0 and x.max() <= 1
    np.testing.assert_allclose(x.var(axis=0), 1 / 12, rtol=0.03)
    x, _ = get_task("gaussian-cube", mi=1.0).sample(100_000, seed)
    kurtosis = np.mean(x**4) / np.mean(x**2) ** 2
    assert kurtosis > 10  # the cube of a standard normal has kurtosis 10395/225 = 46.2


@pytest.mark.parametrize("name", ["bump-16", "rectangle-32", "elliptic-bump-16"])
def test_image_tasks_render_their_latents(name, seed):
    """Images are the renderer applied to the latents; the latents have the prescribed MI."""
    task = get_task(name, mi=4.0)
    kind, size = task.metadata["renderer"], task.metadata["size"]
    x, y = task.sample(20, random_state=seed)
    lx, ly = task.sample_latents(20, random_state=seed)
    assert lx.shape == (20, task.metadata["latent_dim"])
    np.testing.assert_array_equal(x, render(lx, kind, size))
    np.testing.assert_array_equal(y, render(ly, kind, size))
    n = 100_000
    lx, ly = task.sample_latents(n, random_state=seed)
    assert abs(plugin_gaussian_mi(lx, ly) - 4.0) < plugin_tolerance(task_latent_view(task), n)


def task_latent_view(task):
    """A stand-in with the latent dimensions, for ``plugin_tolerance``."""
    d = task.metadata["latent_dim"]
    return type("Latent", (), {"metadata": task.metadata, "dim_x": d, "dim_y": d})()


def test_uniform_label_frequencies(seed):
    n_classes, n = 7, 70_000
    task = get_task("uniform-label", dim_x=4, n_classes=n_classes)
    assert task.y_discrete and task.shape_y == ()
    assert task.mutual_information() == pytest.approx(math.log(n_classes))
    x, y = task.sample(n, random_state=seed)
    np.testing.assert_array_equal(y, np.floor(x[:, 0] * n_classes).astype(np.int64))
    counts = np.bincount(y, minlength=n_classes)
    assert len(counts) == n_classes
    p = 1 / n_classes
    assert np.all(np.abs(counts - n * p) < 5 * math.sqrt(n * p * (1 - p)))
    assert 0 <= x.min() and x.max() < 1


# ---------------------------------------------------------------------------
# Student-t
# ---------------------------------------------------------------------------
def test_student_t_shape_mi_properties():
    values = [student_t_shape_mi(nu, 2, 3) for nu in [1.0, 3.0, 10.0, 100.0, 1e5]]
    assert all(v > 0 for v in values)
    assert all(a > b for a, b in zip(values, values[1:]))  # decreasing in dof
    assert values[-1] < 1e-6  # Gaussian limit
    assert student_t_mi(5.0, 2, 2, [0.5, 0.5]) == pytest.approx(
        student_t_shape_mi(5.0, 2, 2) - math.log(1 - 0.25), rel=1e-12
    )


@pytest.mark.parametrize(("dim_x", "dim_y", "dof", "mi"), [(1, 1, 1.0, None), (1, 1, 3.0, 1.0), (2, 3, 5.0, 1.5)])
def test_student_t_mi_matches_monte_carlo(dim_x, dim_y, dof, mi, seed):
    """E[log p(x, y) - log p(x) - log p(y)] over our own samples, with scipy's densities."""
    sampler = MultivariateStudentT(dim_x, dim_y, dof, mi)
    n = 100_000
    x, y = sampler.sample(n, random_state=seed)
    d = dim_x + dim_y
    shape = np.eye(d)
    for i, r in enumerate(sampler.rho):
        shape[i, dim_x + i] = shape[dim_x + i, i] = r
    log_ratio = (
        multivariate_t(np.zeros(d), shape, df=dof).logpdf(np.hstack([x, y]))
        - multivariate_t(np.zeros(dim_x), shape[:dim_x, :dim_x], df=dof).logpdf(x)
        - multivariate_t(np.zeros(dim_y), shape[dim_x:, dim_x:], df=dof).logpdf(y)
    )
    se = log_ratio.std() / math.sqrt(n)
    true = sampler.mutual_information()
    if mi is not None:
        assert true == pytest.approx(mi)
    assert abs(log_ratio.mean() - true) < 5 * se


def test_student_t_task(seed):
    task = get_task("student-t", dim_x=2, dim_y=2, dof=4.0, mi=2.0)
    assert task.mutual_information() == pytest.approx(2.0)
    assert task.metadata["shape_mi"] == pytest.approx(student_t_shape_mi(4.0, 2, 2))
    default = get_task("student-t")
    assert default.mutual_information() == pytest.approx(student_t_shape_mi(5.0, 1, 1))
    x, _ = task.sample(50_000, seed)
    assert np.mean(x[:, 0] ** 4) / np.mean(x[:, 0] ** 2) ** 2 > 4  # heavier tails than Gaussian (3)


# ---------------------------------------------------------------------------
# anti-PCA
# ---------------------------------------------------------------------------
def test_anti_pca_is_injective_and_fools_pca(seed):
    task = get_task("anti-pca", mi=2.0)
    assert task.mutual_information() == pytest.approx(2.0)
    (ux, uy), (x, y) = task.sample_latents(20_000, seed), task.sample(20_000, seed)
    assert x.shape == (20_000, 32) and y.shape == (20_000, 1)
    np.testing.assert_array_equal(x[:, :2], ux)  # (s, z) read off directly: injective
    np.testing.assert_array_equal(y, uy)
    # informative and predictive: corr(s_x, s_y) is high
    assert np.corrcoef(x[:, 0], y[:, 0])[0, 1] > 0.8
    xc = x - x.mean(axis=0)
    _, vecs = np.linalg.eigh(xc.T @ xc)
    codes = xc @ vecs[:, -2:]  # the top-2 principal components
    for k in range(2):  # PCA(2) keeps the nuisance only
        assert abs(np.corrcoef(codes[:, k], y[:, 0])[0, 1]) < 0.05
        assert abs(np.corrcoef(codes[:, k], ux[:, 0])[0, 1]) < 0.05
        assert abs(np.corrcoef(codes[:, k] ** 2, ux[:, 0] ** 2)[0, 1]) < 0.05


def test_anti_pca_symmetric_y(seed):
    task = get_task("anti-pca", mi=1.0, dim_x=16, dim_y=8)
    x, y = task.sample(100, seed)
    assert x.shape == (100, 16) and y.shape == (100, 8)


# ---------------------------------------------------------------------------
# exports
# ---------------------------------------------------------------------------
def test_exports():
    for name in synthetic.__all__:
        assert hasattr(synthetic, name), name
    for name in ["CorrelatedGaussian", "correlated_gaussian", "correlations_for_mi", "gaussian_mi"]:
        assert name in synthetic.__all__
