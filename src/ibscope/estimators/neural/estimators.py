"""Neural (variational) mutual-information estimators: MINE-DV, NWJ and InfoNCE.

Each estimator trains a critic network ``T(x, y)`` (:mod:`.critics`) to maximise a
variational lower bound on I(X; Y) (:mod:`.bounds`) and reports the bound evaluated
on **held-out** data that the critic never saw (:mod:`.training`). Evaluating on the
training data instead overfits and can report several nats for independent
variables (Czyż et al., NeurIPS 2023).

Data flow of one ``estimate(x, y)`` call (the base class's driver,
:meth:`ibscope.estimators.base.MIEstimator.estimate`, with these hooks):

1. validate (vectors of shape (n, d) or (n,), images of shape (n, C, H, W) or
   (n, H, W)) and standardise;
2. split, train, select and evaluate the critic (:func:`.training.train`);
3. report the held-out bound with a standard error and, with ``ci``, an interval.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..._torch import resolve_device
from ..._validation import (
    as_samples,
    check_choice,
    check_float,
    check_int,
    check_same_length,
    constant_columns,
    scale_free,
    to_numpy,
)
from ..base import MIEstimator, standardize
from . import bounds
from .critics import CRITICS, build_critic
from .training import convergence_warnings, train

__all__ = ["MINE", "NWJ", "InfoNCE"]

#: an InfoNCE estimate this close (nats) to its log(B) ceiling triggers a warning
_CEILING_MARGIN = 0.3


# --------------------------------------------------------------------------- input
def _as_input(arr, name: str) -> tuple[np.ndarray, bool]:
    """Validate one side: returns ``(array, is_image)``.

    Vectors become (n, d) float64; images (n, C, H, W) or (n, H, W) become
    float64 of shape (n, C, H, W) (cast to float32 after standardisation).
    """
    raw = to_numpy(arr, name)
    if raw.ndim > 4:
        raise ValueError(
            f"The '{name}' argument must be vectors of shape (n_samples, n_features) or (n_samples,), or "
            f"images of shape (n_samples, C, H, W) or (n_samples, H, W). Got {raw.ndim} dimensions, "
            f"shape {raw.shape}."
        )
    if raw.ndim < 3:
        return as_samples(raw, name), False
    if raw.dtype == object or not (np.issubdtype(raw.dtype, np.number) or np.issubdtype(raw.dtype, np.bool_)):
        raise TypeError(f"The '{name}' argument must hold numeric data. Got dtype {raw.dtype}.")
    if raw.ndim == 3:
        raw = raw[:, None, :, :]
    if raw.shape[0] == 0 or min(raw.shape[1:]) == 0:
        raise ValueError(f"The '{name}' image array has an empty axis (shape {raw.shape}).")
    img = np.ascontiguousarray(raw, dtype=np.float64)
    if not np.all(np.isfinite(img)):
        first = int(np.argwhere(~np.isfinite(img))[0][0])
        raise ValueError(
            f"The '{name}' argument contains non-finite values (first in image {first}). "
            "Remove or impute those images before estimating."
        )
    return img, True


def _standardize_images(img: np.ndarray, name: str, warnings: list) -> np.ndarray:
    """Per-channel scalar standardisation at any scale (:func:`ibscope._validation.scale_free`), which keeps
    the spatial structure; constant channels become 0."""
    n, c = img.shape[:2]
    columns = np.moveaxis(np.asarray(img, dtype=np.float64), 1, -1).reshape(-1, c)  # one column per channel
    constant = constant_columns(columns)
    if np.any(constant):
        warnings.append(f"'{name}' has {int(constant.sum())} constant image channel(s); they were set to 0.")
    z = scale_free(columns)
    z[:, constant] = 0.0
    return np.moveaxis(z.reshape(n, *img.shape[2:], c), -1, 1).astype(np.float32)


# --------------------------------------------------------------------------- base class
class _NeuralMIEstimator(MIEstimator):
    """Shared settings, input handling and training; subclasses define the bound (:mod:`.bounds`).

    ``estimate`` is the base class's driver (:meth:`MIEstimator.estimate`); the hooks
    below validate images as well as vectors, train the critic instead of running a
    kNN core, and take the interval from the held-out terms.
    """

    name = ""
    _negative_reason = ("a variational lower bound below 0 means the critic found no dependence that "
                        "generalises to held-out data")
    #: no permutation test (it would train 19 critics), no k-NN dimension rule (the critics are built for
    #: high-dimensional inputs; the log(batch_size) ceiling is warned about here), no cost forecast (progress=)
    _skip_rules = frozenset({"independence", "dims", "cost"})

    def __init__(
        self,
        *,
        critic: str | Callable = "separable",
        hidden_sizes: tuple[int, ...] = (64, 64),
        embed_dim: int = 32,
        conv_channels: tuple[int, ...] = (16, 32, 32),
        lr: float = 1e-3,
        batch_size: int = 256,
        max_steps: int = 3000,
        test_fraction: float = 0.5,
        val_fraction: float = 0.2,
        eval_every: int = 50,
        patience: int | None = 10,
        standardize: bool = True,
        device: str | None = None,
        units: str = "nats",
        ci: float | None = None,
        random_state=None,
        progress: bool = False,
    ):
        self.critic = critic
        self.hidden_sizes = hidden_sizes
        self.embed_dim = embed_dim
        self.conv_channels = conv_channels
        self.lr = lr
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.test_fraction = test_fraction
        self.val_fraction = val_fraction
        self.eval_every = eval_every
        self.patience = patience
        self.standardize = standardize
        self.device = device
        self.units = units
        self.ci = ci
        self.random_state = random_state
        self.progress = progress

    # ------------------------------------------------------------ bound hooks
    def _batch_value(self, s: torch.Tensor) -> torch.Tensor:
        """The bound (nats) on one batch's score matrix; differentiable."""
        raise NotImplementedError

    def _loss(self, s: torch.Tensor, state: dict) -> torch.Tensor:
        """Training loss (minimised); default: minus the batch bound."""
        return -self._batch_value(s)

    def _row_terms(self, s: torch.Tensor) -> torch.Tensor:
        """Per-row terms of one batch's score matrix, shape (B, n_terms)."""
        raise NotImplementedError

    def _pooled(self, terms: np.ndarray) -> tuple[float, float]:
        """Estimate and standard error (nats) from the stacked per-row terms."""
        return bounds.mean_pooled(terms)

    def _ceiling(self, batch: int) -> float:
        """Upper limit (nats) of the bound at this batch size (inf when none)."""
        return math.inf

    def _extra_params(self) -> None:
        """Validate estimator-specific parameters."""

    # ------------------------------------------------------------ validation
    def _check_settings(self) -> None:
        owner = self._owner
        if not callable(self.critic):
            if not isinstance(self.critic, str):
                raise TypeError(
                    f"The 'critic' parameter of {owner} must be one of {list(CRITICS)} or a callable "
                    f"(x_shape, y_shape) -> nn.Module. Got {self.critic!r} of type {type(self.critic).__name__}."
                )
            check_choice(self.critic, "critic", owner, CRITICS)
        hs = self.hidden_sizes
        if isinstance(hs, numbers.Integral) and not isinstance(hs, bool):
            hs = (hs,)
        if (not isinstance(hs, (tuple, list)) or len(hs) == 0
                or any(isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1 for h in hs)):
            raise ValueError(
                f"The 'hidden_sizes' parameter of {owner} must be a non-empty tuple of positive ints. "
                f"Got {self.hidden_sizes!r} instead."
            )
        cc = self.conv_channels
        if (not isinstance(cc, (tuple, list)) or len(cc) == 0
                or any(isinstance(c, bool) or not isinstance(c, numbers.Integral) or c < 1 for c in cc)):
            raise ValueError(
                f"The 'conv_channels' parameter of {owner} must be a non-empty tuple of positive ints. "
                f"Got {self.conv_channels!r} instead."
            )
        check_int(self.embed_dim, "embed_dim", owner, low=1)
        check_float(self.lr, "lr", owner, low=0.0, low_open=True)
        check_int(self.batch_size, "batch_size", owner, low=2)
        check_int(self.max_steps, "max_steps", owner, low=1)
        check_float(self.test_fraction, "test_fraction", owner, low=0.0, high=1.0, low_open=True, high_open=True)
        check_float(self.val_fraction, "val_fraction", owner, low=0.0, high=1.0, high_open=True)
        check_int(self.eval_every, "eval_every", owner, low=1)
        if self.patience is not None:
            check_int(self.patience, "patience", owner, low=1, hint="Pass patience=None to disable early stopping.")
        if not isinstance(self.standardize, (bool, np.bool_)):
            raise TypeError(f"The 'standardize' parameter of {owner} must be a bool. Got {self.standardize!r}.")
        self._device()
        self._extra_params()

    def _device(self) -> str:
        return resolve_device(self.device, self._owner)

    def _split_sizes(self, n: int) -> tuple[int, int, int]:
        """(n_train, n_val, n_test) for ``n`` rows; raises when a part is too small for a batch."""
        n_test = int(round(self.test_fraction * n))
        n_fit = n - n_test
        n_val = int(round(self.val_fraction * n_fit)) if self.val_fraction > 0 else 0
        n_train = n_fit - n_val
        b = self.batch_size
        if n_train < b or n_test < b or (self.val_fraction > 0 and n_val < 2):
            need = math.ceil(max(b / self.test_fraction,
                                 b / ((1.0 - self.test_fraction) * (1.0 - self.val_fraction)),
                                 (2 / ((1.0 - self.test_fraction) * self.val_fraction))
                                 if self.val_fraction > 0 else 0))
            raise ValueError(
                f"Too few samples for {self._owner} with batch_size={b}: n_samples={n} splits into "
                f"n_train={n_train}, n_val={n_val}, n_test={n_test} (test_fraction={self.test_fraction}, "
                f"val_fraction={self.val_fraction}), but the training and held-out parts need at least "
                f"batch_size rows each. Pass a smaller batch_size or at least about {need} samples."
            )
        return n_train, n_val, n_test

    # ------------------------------------------------------------ data
    def _validate_inputs(self, x, y):
        """Validate both sides: ``(x, y, x_is_image, y_is_image)``."""
        x, img_x = _as_input(x, "x")
        y, img_y = _as_input(y, "y")
        check_same_length(x, y)
        return x, y, img_x, img_y

    def _prepare_inputs(self, x, y, img_x, img_y, warnings):
        """Standardise; flatten images unless the critic uses their spatial structure."""
        keep_images = self.critic == "conv" or callable(self.critic)
        if self.critic == "conv" and not (img_x or img_y):
            raise ValueError(
                f"The 'conv' critic of {self._owner} needs image input of shape (n, C, H, W) or (n, H, W) "
                f"for x or y. Got shapes {x.shape} and {y.shape}. Use critic='mlp' for vectors."
            )
        out = []
        for arr, img, name in ((x, img_x, "x"), (y, img_y, "y")):
            if img and not keep_images:
                arr, img = arr.reshape(len(arr), -1).astype(np.float64), False
            if self.standardize:
                arr = _standardize_images(arr, name, warnings) if img else standardize(arr, name, warnings)
            with np.errstate(over="ignore"):
                arr = np.ascontiguousarray(arr, dtype=np.float32)
            if not np.all(np.isfinite(arr)):
                raise ValueError(
                    f"The '{name}' argument of {self._owner} has values too large for the float32 critic "
                    "(beyond 3.4e38). Keep standardize=True, or rescale the data."
                )
            out.append(arr)
        return out[0], out[1]

    def _build_critic(self, x_shape, y_shape, gen: torch.Generator, seed: int) -> nn.Module:
        return build_critic(self.critic, x_shape, y_shape, hidden_sizes=self.hidden_sizes, embed_dim=self.embed_dim,
                            conv_channels=self.conv_channels, gen=gen, seed=seed, owner=self._owner)

    # ------------------------------------------------------------ driver hooks
    def _validate(self, x, y):
        x, y, _, _ = self._validate_inputs(x, y)
        return x, y

    def _check_params(self, n_samples: int) -> None:
        self._check_settings()
        self._split_sizes(n_samples)

    def _prepare(self, x, y, call):
        """Standardise validated arrays (4-D arrays are images); remember their shapes."""
        call.notes["shapes"] = (tuple(x.shape[1:]), tuple(y.shape[1:]))
        return self._prepare_inputs(x, y, x.ndim == 4, y.ndim == 4, call.warnings)

    def _core(self, x, y, call) -> float:
        """Held-out estimate (nats) on prepared arrays, seeded from the call's generator."""
        seed = int(call.rng.integers(0, 2**32))
        return train(self, np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.float32),
                     seed, [])["estimate"]

    def _estimate_prepared(self, x, y, level, call):
        """Train once; the interval is ``estimate +- z * se`` from the held-out terms (see Notes)."""
        fit = train(self, x, y, call.seed, call.warnings)
        call.notes["fit"] = fit
        raw, se = fit["estimate"], fit["se"]
        lo = hi = None
        if level is not None and math.isfinite(se):
            from scipy.stats import norm

            z = float(norm.ppf(0.5 + level / 2.0))
            lo, hi = raw - z * se, min(raw + z * se, self._ceiling(int(self.batch_size)))
        return raw, (se if math.isfinite(se) else None), lo, hi

    def _post_warnings(self, raw, x, y, call) -> None:
        convergence_warnings(self, call.notes["fit"], call.warnings)
        ceiling = self._ceiling(int(self.batch_size))
        if math.isfinite(ceiling) and raw >= ceiling - _CEILING_MARGIN:
            call.warnings.append(
                f"The {self.name} estimate {raw:.3f} nats is within {_CEILING_MARGIN} nats of its ceiling "
                f"log(batch_size) = log({self.batch_size}) = {ceiling:.3f} nats; the true MI may be much larger. "
                "Raise batch_size to lift the ceiling."
            )
        if not math.isfinite(raw):
            call.warnings.append(f"The held-out {self.name} estimate is not finite ({raw}); training failed.")

    def _dims(self, x, y) -> tuple[int, int]:
        return int(np.prod(x.shape[1:])), int(np.prod(y.shape[1:]))

    def _extra(self, call) -> dict:
        fit = call.notes["fit"]
        n_train, n_val, n_test, n_used = fit["sizes"]
        ceiling = self._ceiling(int(self.batch_size))
        shape_x, shape_y = call.notes["shapes"]
        return {
            "training_curve": fit["curve"],
            "n_steps": fit["n_steps"],
            "stop_reason": fit["stop_reason"],
            "kept_step": fit["kept_step"],
            "best_val_estimate": fit["best_val"],
            "n_train": n_train,
            "n_val": n_val,
            "n_test": n_test,
            "n_test_used": n_used,
            "batch_size": int(self.batch_size),
            "ceiling": ceiling if math.isfinite(ceiling) else None,
            "input_shape_x": shape_x,
            "input_shape_y": shape_y,
            "device": fit["device"],
            "critic_module": fit["critic_module"],
            "n_parameters": fit["n_parameters"],
            "ci_method": "held-out standard error (normal)" if self.ci is not None else None,
        }

    def estimate(self, x, y):
        """Train the critic and estimate I(X; Y) on held-out data.

        Parameters
        ----------
        x : array-like of shape (n_samples, dim_x), (n_samples,), (n_samples, C, H, W) or (n_samples, H, W)
            Vectors or images (numpy arrays or torch tensors).
        y : array-like, same options as ``x``, with the same ``n_samples``.

        Returns
        -------
        MIResult
            ``value`` (clipped at 0) and ``raw_value`` in ``units``; ``std_err`` and, when ``ci`` is
            set, ``ci_low``/``ci_high`` from the held-out terms; ``extra`` holds ``training_curve``
            (list of dicts with ``step``, ``train_estimate``, ``val_estimate``, ``heldout_estimate``,
            all in nats), ``n_steps``, ``stop_reason`` ("max_steps", "early_stopping" or "diverged"),
            ``kept_step`` and the split sizes.

        Raises
        ------
        ValueError
            Mismatched sample counts, too few samples for ``batch_size`` and the split, an unknown
            critic name, or invalid parameters.
        """
        return super().estimate(x, y)


_COMMON_PARAMS = """
    critic : {"separable", "mlp", "conv"} or callable, default="separable"
        ``"separable"``: ``g(x) . h(y)`` with MLP embeddings; the ``B x B`` score matrix is one
        matrix product (about 6 ms per step at B = 256 on one CPU core). ``"mlp"``: concatenation
        critic, an MLP on ``[x, y]``; more flexible, but its deeper layers run on all ``B^2``
        pairs (about 0.1 s per step at B = 256 with (64, 64) on one CPU core; use a GPU or a
        smaller batch). ``"conv"``: convolutional encoders for image inputs (vector sides are
        used as they are) followed by the concatenation MLP. A callable
        ``critic(x_shape, y_shape) -> nn.Module`` gets the per-sample shapes after preprocessing
        and returns a module whose ``forward(x, y)`` scores aligned pairs, shape (B,); an optional
        ``score_matrix(x, y)`` method returning (B, B) is used when present. It is called inside
        ``torch.random.fork_rng`` seeded from ``random_state``, so its default initialisation is
        reproducible and the global RNG state is unchanged.
    hidden_sizes : tuple of int, default=(64, 64)
        Hidden layer widths of the MLP head (and of the separable embeddings).
    embed_dim : int, default=32
        Embedding size of the separable critic.
    conv_channels : tuple of int, default=(16, 32, 32)
        Filters of the conv blocks (Conv 3x3 -> LeakyReLU(0.2) -> MaxPool 2) of the conv critic.
    lr : float, default=1e-3
        Adam learning rate.
    batch_size : int, default=256
        Rows per batch ``B``, in training and in held-out evaluation.
    max_steps : int, default=3000
        Maximum number of optimiser steps.
    test_fraction : float, default=0.5
        Fraction of rows held out; the reported estimate uses only these rows.
    val_fraction : float, default=0.2
        Fraction of the remaining (training) rows used to select the critic and to stop early.
        0 disables validation: the final critic is kept.
    eval_every : int, default=50
        Steps between evaluations (one row of the training curve).
    patience : int or None, default=10
        Evaluations without a validation improvement (> 1e-3 nats) before stopping;
        None trains for ``max_steps`` (the best validated critic is still kept).
    standardize : bool, default=True
        Scale vector columns to zero mean and unit variance (images: per channel).
    device : str, torch.device or None, default=None
        None picks ``"cuda"`` when available, else ``"cpu"``.
    units : {"nats", "bits"}, default="nats"
    ci : float or None, default=None
        Level of the held-out confidence interval (see Notes); None gives no interval.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the split, the critic initialisation and the batch order through a local
        ``torch.Generator`` (the global torch RNG is not touched). On CPU a fixed seed gives
        identical results; the seed used is stored in the result.
    progress : bool, default=False
        Show a tqdm progress bar during training."""

_COMMON_NOTES = """
    Training and evaluation use the ``B x B`` score matrix ``S[i, j] = T(x_i, y_j)`` of each batch:
    the diagonal samples the joint P and the ``B(B-1)`` off-diagonal entries the product of the
    marginals Q. The held-out part is cut into ``n_test // B`` batches of exactly ``B`` rows
    (up to ``B - 1`` leftover rows are unused; see ``extra["n_test_used"]``).

    The interval is ``estimate +- z * se`` with ``se`` the standard error of the held-out mean
    of per-row terms, treating rows as independent. It is conditional on the trained critic:
    it covers the sampling noise of the held-out evaluation, not the variation between
    training runs (compare several ``random_state`` values for that) nor the gap between
    the bound and the true MI. A validation part, separate from the held-out part, picks
    the critic, so selecting the best of many evaluations does not bias the reported value."""


class MINE(_NeuralMIEstimator):
    __doc__ = f"""Mutual Information Neural Estimation with the Donsker-Varadhan bound (Belghazi et al., 2018).

    The estimate (nats) is the DV lower bound on held-out data,

    ``I_DV = E_P[T] - log E_Q[exp T]``,

    where E_P is the mean of the diagonal scores and E_Q the mean of ``exp`` of the off-diagonal
    scores, pooled over all held-out batches. The minibatch gradient of ``log E_Q[exp T]`` is
    biased; as in MINE it is corrected by dividing ``grad E_Q[exp T]`` by an exponential moving
    average of ``E_Q[exp T]`` (rate ``ema_rate``), kept in log space.

    Parameters
    ----------{_COMMON_PARAMS}
    ema_rate : float, default=0.01
        Rate ``alpha`` of the moving average ``m <- (1 - alpha) m + alpha E_Q[exp T]``.

    Notes
    -----{_COMMON_NOTES}

    For DV the per-row terms are ``a_i = T(x_i, y_i)`` and ``b_i = mean_(j != i) exp T(x_i, y_j)``;
    with ``I = mean(a) - log mean(b)`` the delta method gives
    ``se^2 = [var(a) + var(b)/mean(b)^2 - 2 cov(a, b)/mean(b)] / n``.

    References
    ----------
    Belghazi et al., "Mutual Information Neural Estimation", ICML 2018.
    """

    name = "mine"

    def __init__(self, *, ema_rate: float = 0.01, **params):
        super().__init__(**params)
        self.ema_rate = ema_rate

    def _extra_params(self) -> None:
        check_float(self.ema_rate, "ema_rate", self._owner, low=0.0, high=1.0, low_open=True)

    def _batch_value(self, s):
        return bounds.dv_value(s)

    def _loss(self, s, state):
        return bounds.dv_loss(s, state, self.ema_rate)

    def _row_terms(self, s):
        return bounds.dv_terms(s)

    def _pooled(self, terms):
        return bounds.dv_pooled(terms)


class NWJ(_NeuralMIEstimator):
    __doc__ = f"""NWJ (f-divergence, "f-GAN KL" / MINE-f) lower bound (Nguyen, Wainwright & Jordan, 2010).

    The estimate (nats) is, on held-out data,

    ``I_NWJ = E_P[T] - E_Q[exp(T - 1)]``,

    with E_P over the diagonal and E_Q over the off-diagonal scores. Its minibatch gradient is
    unbiased, but its variance grows roughly like ``exp(I)`` (Song & Ermon, 2020), so it is
    noisy above a few nats.

    Parameters
    ----------{_COMMON_PARAMS}

    Notes
    -----{_COMMON_NOTES}

    For NWJ the per-row term is ``r_i = T(x_i, y_i) - mean_(j != i) exp(T(x_i, y_j) - 1)``,
    whose mean is the estimate; ``se = sd(r) / sqrt(n)``.

    References
    ----------
    Nguyen, Wainwright & Jordan, "Estimating divergence functionals and the likelihood ratio by
    convex risk minimization", IEEE Trans. Inf. Theory, 2010. Poole et al., "On variational bounds
    of mutual information", ICML 2019.
    """

    name = "nwj"

    def _batch_value(self, s):
        return bounds.nwj_value(s)

    def _row_terms(self, s):
        return bounds.nwj_terms(s)


class InfoNCE(_NeuralMIEstimator):
    __doc__ = f"""InfoNCE (contrastive predictive coding) lower bound (van den Oord et al., 2018).

    The estimate (nats) is, on held-out batches of ``B = batch_size`` rows,

    ``I_NCE = mean_i [ T(x_i, y_i) - logsumexp_j T(x_i, y_j) + log B ]``,

    computed from the full ``B x B`` score matrix (row ``i`` pairs ``x_i`` with every ``y_j``).
    Since ``T(x_i, y_i) <= logsumexp_j T(x_i, y_j)``, the estimate never exceeds ``log B``
    (ln 256 = 5.55 nats); a warning is added when it comes within 0.3 nats of that ceiling.
    Low variance, but biased low whenever the true MI approaches ``log B``.

    Parameters
    ----------{_COMMON_PARAMS}

    Notes
    -----{_COMMON_NOTES}

    For InfoNCE the per-row term is ``r_i = T(x_i, y_i) - logsumexp_j T(x_i, y_j) + log B``;
    ``se = sd(r) / sqrt(n)``, and the interval's upper end is capped at ``log B``.

    References
    ----------
    van den Oord, Li & Vinyals, "Representation learning with contrastive predictive coding",
    2018. Poole et al., "On variational bounds of mutual information", ICML 2019.
    """

    name = "infonce"

    def _ceiling(self, batch: int) -> float:
        return math.log(batch)

    def _row_terms(self, s):
        return bounds.infonce_terms(s)

    def _batch_value(self, s):
        return bounds.infonce_value(s)
