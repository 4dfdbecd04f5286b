"""MI-preserving preprocessing shared by the kNN estimators.

Mutual information is invariant under invertible maps applied to X and to Y
separately, so the following never change the true MI, only how well a finite
sample estimator sees it:

* ``"standardize"`` - per-column zero mean, unit variance (the max-norm of KSG
  is not scale-invariant, so this matters; NPEET's unscaled KSG is a known trap);
* ``"rank"`` - per-column normal scores (copula transform): each column is
  replaced by seeded standard-normal order statistics in the order of its ranks.
  Marginals become Gaussian, which removes heavy tails and monotone distortions
  of each coordinate;
* ``None`` (or ``"none"``) - leave the data as they are.
"""

from __future__ import annotations

import zlib

import numpy as np

from .base import jitter_ties, standardize

PREPROCESS = ("standardize", "rank", "none", None)


#: fixed internal seed of the rank transform (documented, so that results are reproducible)
RANK_SEED = 0x1B5C0BE


def normal_scores(x: np.ndarray) -> np.ndarray:
    """Per-column normal scores: a monotone map of every column to a standard normal shape.

    Each column receives an i.i.d. N(0, 1) sample, drawn from a generator seeded by
    ``RANK_SEED`` and the column's own rank order, placed in the order of the data:
    a monotone, MI-preserving map that depends only on the ranks, so it is
    reproducible, symmetric in (X, Y) and exactly equivariant to column permutations.
    The textbook scores Phi^{-1}(rank / (n + 1)) are deliberately not used: they lie
    on a fixed, symmetric grid, which biases Kozachenko-Leonenko entropies of a 1-D
    column (the k-th neighbour is always k grid steps away: about +0.29 nat per 1-D
    entropy at k = 5) and creates exact distance ties that make KSG's neighbour
    sets ambiguous. Random order statistics have the spacings the estimators assume.
    """
    n = len(x)
    # rows sorted per column on a contiguous transposed copy (2x faster than a strided stable
    # sort); equal values within a column, rare after the duplicate-row jitter, are ordered by
    # the sort, deterministically for given data
    order = np.argsort(np.ascontiguousarray(x.T), axis=1)
    out = np.empty((x.shape[1], n))
    for j in range(x.shape[1]):
        # the draw depends on the column's own ranks only, so permuting columns
        # (or swapping X and Y) permutes the scores exactly
        column_rng = np.random.default_rng([RANK_SEED, zlib.crc32(order[j].tobytes())])
        out[j, order[j]] = np.sort(column_rng.standard_normal(n))
    return np.ascontiguousarray(out.T)


def _rank_inputs(x: np.ndarray, name: str, rng, warnings: list, jitter: bool):
    """The seeded, order-dependent part of the rank mode: standardise (flags constant
    columns), break ties. Returns the array to score and its constant columns."""
    x = standardize(x, name, warnings)
    constant = np.all(x == 0.0, axis=0)
    if jitter:
        x = jitter_ties(x, name, rng, warnings)
    return x, constant


def _scores(x: np.ndarray, constant: np.ndarray) -> np.ndarray:
    out = normal_scores(x)
    out[:, constant] = 0.0
    return out


def prepare_continuous(x: np.ndarray, name: str, mode, rng, warnings: list, *, jitter: bool = True) -> np.ndarray:
    """Apply ``mode`` preprocessing and break exact duplicate rows."""
    if mode == "rank":
        return _scores(*_rank_inputs(x, name, rng, warnings, jitter))
    if mode == "standardize":
        x = standardize(x, name, warnings)
    if jitter:
        x = jitter_ties(x, name, rng, warnings)
    return x


#: below this many values per side the two sides' normal scores are computed one after the other
_PAIR_PARALLEL_MIN = 100_000


def prepare_pair(x: np.ndarray, y: np.ndarray, mode, rng, warnings: list):
    """:func:`prepare_continuous` of ``x`` then ``y``, with the same results and
    warnings; in rank mode the two sides' normal scores (sorts that release the
    GIL) run on two threads when the data are large."""
    if mode != "rank":
        return (prepare_continuous(x, "x", mode, rng, warnings), prepare_continuous(y, "y", mode, rng, warnings))
    # the seeded steps stay in order (x, then y): the generator is shared
    xin = _rank_inputs(x, "x", rng, warnings, True)
    yin = _rank_inputs(y, "y", rng, warnings, True)
    from ..neighbors import default_threads, thread_pool

    threads = default_threads()
    if threads < 2 or min(x.size, y.size) < _PAIR_PARALLEL_MIN:
        return _scores(*xin), _scores(*yin)
    fut = thread_pool(threads).submit(_scores, *yin)
    return _scores(*xin), fut.result()


def whiten(x: np.ndarray, name: str, warnings: list, rel_tol: float = 1e-10):
    """Whiten ``x`` (zero mean, identity covariance) and return ``(z, half_logdet)``.

    ``H(x) = H(z) + half_logdet`` with ``half_logdet = 0.5 * log det C``. Directions
    with eigenvalues below ``rel_tol`` times the largest (singular covariance: dead
    units, constant PCA components) are dropped, and a warning says how many; the
    entropy of such data is -inf in theory, so treat the value with care.
    """
    xc = x - x.mean(axis=0)
    if x.shape[1] == 1:
        var = float(xc[:, 0].var())
        if var <= 0:
            raise ValueError(f"'{name}' is constant; its differential entropy is -inf.")
        return xc / np.sqrt(var), 0.5 * np.log(var)
    cov = np.cov(xc, rowvar=False, bias=True)
    evals, evecs = np.linalg.eigh(cov)
    keep = evals > rel_tol * evals.max()
    if not np.all(keep):
        warnings.append(
            f"The covariance of '{name}' is singular: {int((~keep).sum())} of {len(evals)} direction(s) have "
            "(near-)zero variance and were dropped before whitening; entropies involving them are not finite."
        )
    evals, evecs = evals[keep], evecs[:, keep]
    z = (xc @ evecs) / np.sqrt(evals)
    return z, 0.5 * float(np.sum(np.log(evals)))
