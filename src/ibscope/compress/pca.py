"""Principal component analysis as a compressor (a thin, deterministic wrapper of scikit-learn's PCA)."""

from __future__ import annotations

import numpy as np

from .._random import resolve_seed
from .._validation import check_int
from ._base import BaseCompressor

#: Above this many samples *and* features, ``svd_solver="auto"`` may pick the randomized SVD.
RANDOMIZED_ABOVE = 2000

_SOLVERS = ("auto", "full", "covariance_eigh", "randomized")

#: rows per block when the covariance matrix is accumulated (bounds the centred copy's memory)
_COV_BLOCK = 8192


def choose_svd_solver(solver, n_samples: int, n_features: int, n_components: int, *, owner="PCACompressor") -> str:
    """The SVD solver used for a fit: ``solver`` itself, or the ``"auto"`` rule of :class:`PCACompressor`."""
    if solver not in _SOLVERS:
        raise ValueError(f"The 'svd_solver' parameter of {owner} must be one of {list(_SOLVERS)}. Got {solver!r} "
                         "instead.")
    if solver != "auto":
        return solver
    small = min(n_samples, n_features)
    if small > RANDOMIZED_ABOVE and n_components <= small // 10:
        return "randomized"
    return "covariance_eigh" if n_samples >= n_features else "full"


def _covariance_pca(rows: np.ndarray, k: int):
    """Leading ``k`` principal axes from the eigendecomposition of the covariance matrix.

    Returns ``(mean, components, explained_variance, total_variance)`` with the
    components as rows, by decreasing variance, signed like scikit-learn's
    (the largest-magnitude entry of each axis is positive). Costs ``O(n d^2)``
    for the covariance plus ``O(d^3)`` for the eigenproblem, against
    ``O(n d^2)`` with a much larger constant (and an ``n x d`` factor ``U``) for
    the full SVD; the leading axes agree with the SVD's to rounding when their
    variances are not tiny against the largest (see :class:`PCACompressor`).
    """
    from scipy.linalg import eigh

    n, d = rows.shape
    mean = rows.mean(axis=0)
    cov = np.zeros((d, d))
    for start in range(0, n, _COV_BLOCK):
        block = rows[start:start + _COV_BLOCK] - mean
        cov += block.T @ block
    cov /= max(n - 1, 1)
    if k <= d // 20:  # a few leading eigenpairs: MRRR on that subset only
        values, vectors = eigh(cov, subset_by_index=[d - k, d - 1], driver="evr")
    else:
        values, vectors = eigh(cov, driver="evd")
        values, vectors = values[d - k:], vectors[:, d - k:]
    components = np.ascontiguousarray(vectors[:, ::-1].T)
    values = np.maximum(values[::-1], 0.0)  # rounding can leave a null direction slightly negative
    pivot = np.abs(components).argmax(axis=1)
    components *= np.where(components[np.arange(k), pivot] < 0, -1.0, 1.0)[:, None]
    return mean, components, values, float(np.trace(cov))


class PCACompressor(BaseCompressor):
    """Project onto the leading principal components.

    Fitting eigendecomposes the covariance matrix when there are at least as
    many samples as features, and otherwise runs
    :class:`sklearn.decomposition.PCA` with the exact LAPACK SVD or, for large
    inputs, a seeded randomized SVD (see ``svd_solver``); all are
    deterministic, and component signs follow scikit-learn's convention (the
    largest-magnitude entry of each axis is positive). The fitted mean and components are stored as
    plain arrays, so ``transform`` is ``(x - mean_) @ components_.T`` (divided by
    ``sqrt(explained_variance_)`` when whitening) and saving is exact;
    ``inverse_transform`` maps codes back to the input space (the best linear
    reconstruction).

    Parameters
    ----------
    n_components : int
        Code dimension, in ``[1, min(n_samples, n_features)]``. ``n_components ==
        n_features`` is allowed: it is a rotation, a lossless change of basis.
    whiten : bool, default=False
        Scale each component to unit variance. Mutual information is unchanged
        by this per-coordinate rescaling; kNN estimators may behave better.
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the randomized solver (None: 0, so a fit is always reproducible);
        unused by the exact one.
    svd_solver : {"auto", "full", "covariance_eigh", "randomized"}, default="auto"
        ``"full"``: exact SVD of the centred data. ``"covariance_eigh"``: exact
        eigendecomposition of the ``d x d`` covariance matrix (the leading
        eigenpairs only when ``n_components`` is small); the same axes as the
        SVD up to rounding, several times faster when ``n_samples >= n_features``,
        but a variance below about 1e-12 of the largest loses its relative
        accuracy. ``"randomized"``: Halko et al.'s randomized SVD with
        scikit-learn's default oversampling and power iterations. ``"auto"``:
        the randomized SVD when both ``n_samples`` and ``n_features`` exceed
        :data:`RANDOMIZED_ABOVE` (2000) and ``n_components`` is at most a tenth
        of the smaller one, where exact solvers' ``O(n d min(n, d))`` cost
        explodes; otherwise ``"covariance_eigh"`` when ``n_samples >=
        n_features``, else ``"full"``. So the layers of the paper's net (1352-D
        at most, 10 000 probes) and its 784-pixel images get the covariance
        route, and the 12 544-D stem of ``resnet-small`` the randomized SVD
        (``benchmarks/bench_ib.py`` times the fits).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Principal axes (rows), by decreasing explained variance.
    mean_ : ndarray of shape (n_features,)
        Per-feature mean of the training data.
    explained_variance_ : ndarray of shape (n_components,)
        Variance of each component on the training data (ddof=1).
    explained_variance_ratio_ : ndarray of shape (n_components,)
        Fraction of the total variance explained by each component.
    singular_values_ : ndarray of shape (n_components,)
    n_components_, n_features_in_ : int
    input_shape_ : tuple
        Shape of one input sample; inputs with more than 2 axes are flattened.
    reconstruction_error_ : dict
        ``{"train": mean absolute error of inverse_transform(transform(x)), "val": None}``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 6))
    >>> PCACompressor(n_components=2).fit_transform(x).shape
    (100, 2)
    """

    _array_attrs = ("components_", "mean_", "explained_variance_", "explained_variance_ratio_", "singular_values_")

    def __init__(self, n_components, *, whiten=False, random_state=None, svd_solver="auto"):
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state
        self.svd_solver = svd_solver

    def fit(self, x, y=None):
        """Fit the principal axes on ``x``.

        Parameters
        ----------
        x : array-like of shape (n_samples, n_features) or (n_samples, d1, d2, ...)
            Training data; trailing axes are flattened.
        y : ignored
            Accepted for scikit-learn pipeline compatibility.

        Returns
        -------
        self : PCACompressor
        """
        rows, shape = self._flat_input(x, "x", fitting=True)
        n, d = rows.shape
        k = check_int(self.n_components, "n_components", self._owner, low=1)
        self._check_latent(k, d, shape, "n_components", allow_equal=True)
        if k > n:
            raise ValueError(
                f"The 'n_components' parameter of {self._owner} must be <= n_samples. Got n_components={k} "
                f"with n_samples={n}. Pass more samples or fewer components."
            )
        if not isinstance(self.whiten, (bool, np.bool_)):
            raise TypeError(f"The 'whiten' parameter of {self._owner} must be a bool. Got {self.whiten!r}.")
        self.seed_ = resolve_seed(self.random_state) if self.random_state is not None else None
        solver = choose_svd_solver(self.svd_solver, n, d, k, owner=self._owner)
        self.svd_solver_ = solver
        if solver == "covariance_eigh":
            mean, components, variance, total = _covariance_pca(rows, k)
            self.components_ = components
            self.mean_ = np.ascontiguousarray(mean, dtype=np.float64)
            self.explained_variance_ = variance
            self.explained_variance_ratio_ = variance / total if total > 0 else np.zeros(k)
            self.singular_values_ = np.sqrt(variance * max(n - 1, 1))
        else:
            from sklearn.decomposition import PCA

            pca = PCA(n_components=k, whiten=bool(self.whiten), svd_solver=solver,
                      random_state=(self.seed_ or 0) if solver == "randomized" else None).fit(rows)
            self.components_ = np.ascontiguousarray(pca.components_, dtype=np.float64)
            self.mean_ = np.ascontiguousarray(pca.mean_, dtype=np.float64)
            self.explained_variance_ = np.asarray(pca.explained_variance_, dtype=np.float64)
            self.explained_variance_ratio_ = np.asarray(pca.explained_variance_ratio_, dtype=np.float64)
            self.singular_values_ = np.asarray(pca.singular_values_, dtype=np.float64)
        return self._finish_fit(rows, shape, k)

    def _scale(self) -> np.ndarray:
        ev = self.explained_variance_
        # a zero-variance component (data of lower rank than n_components) is left unscaled
        return np.where(ev > 0, np.sqrt(np.where(ev > 0, ev, 1.0)), 1.0)

    def _encode(self, rows: np.ndarray) -> np.ndarray:
        z = (rows - self.mean_) @ self.components_.T
        if self.whiten:
            z = z / self._scale()
        return z

    def _decode(self, z: np.ndarray) -> np.ndarray:
        if self.whiten:
            z = z * self._scale()
        return z @ self.components_ + self.mean_
