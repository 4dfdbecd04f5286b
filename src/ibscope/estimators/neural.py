"""Neural (variational) mutual-information estimators: MINE-DV, NWJ and InfoNCE.

Each estimator trains a critic network ``T(x, y)`` to maximise a variational
lower bound on I(X; Y) and reports the bound evaluated on **held-out** data that
the critic never saw. Evaluating on the training data instead overfits and can
report several nats for independent variables (REFERENCE.md section 3.2).

Data flow of one ``estimate(x, y)`` call:

1. validate (vectors of shape (n, d) or (n,), images of shape (n, C, H, W) or
   (n, H, W)) and standardise;
2. split the rows, with a seeded ``torch.Generator``, into a *held-out* part
   (``test_fraction``) and a training part, and carve a *validation* part
   (``val_fraction`` of the training part) out of the latter;
3. train the critic with Adam on minibatches of ``batch_size`` rows; every
   ``eval_every`` steps, evaluate the bound on the validation and held-out
   parts (the training curve), keep the critic with the best validation
   estimate, and stop after ``patience`` evaluations without improvement;
4. report the bound of the kept critic on the held-out part, with a standard
   error from the held-out terms.

Every bound is computed from the full ``B x B`` score matrix
``S[i, j] = T(x_i, y_j)`` of a batch of ``B`` rows: the diagonal holds samples
of the joint distribution P, the ``B (B - 1)`` off-diagonal entries samples of
the product of marginals Q = P_X (x) P_Y.
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .._random import make_rng
from .._result import MIResult, check_units, convert
from .._validation import (
    _to_numpy,
    as_samples,
    check_choice,
    check_ci,
    check_float,
    check_int,
    check_same_length,
)
from .base import MIEstimator, standardize

__all__ = ["MINE", "NWJ", "InfoNCE"]

_CRITICS = ("mlp", "separable", "conv")
#: smallest improvement (nats) of the validation estimate that resets the patience counter
_MIN_DELTA = 1e-3
#: an InfoNCE estimate this close (nats) to its log(B) ceiling triggers a warning
_CEILING_MARGIN = 0.3
#: a held-out estimate rising by more than this (nats) over the last half of training is "not converged"
_RISE_TOL = 0.03
#: fluctuations (sd, nats) of the held-out estimate above this flag unstable training
_UNSTABLE_TOL = 0.1


# --------------------------------------------------------------------------- critics
def _init_module(module: nn.Module, gen: torch.Generator) -> None:
    """Initialise Linear/Conv2d layers with seeded draws (no global RNG).

    Weights and biases are uniform on +-1/sqrt(fan_in), PyTorch's default
    scale for these layers, drawn from ``gen``.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            fan_in = layer.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=gen)
                if layer.bias is not None:
                    layer.bias.uniform_(-bound, bound, generator=gen)


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _ConvEncoder(nn.Module):
    """[Conv 3x3 'same' -> LeakyReLU(0.2) -> MaxPool 2] blocks, then flatten.

    Pooling is skipped once the feature map is smaller than 2 x 2, so tiny
    images work with any number of blocks. ``out_features`` is the flattened size.
    """

    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...]):
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        for f in channels:
            layers += [nn.Conv2d(c, f, kernel_size=3, padding=1), nn.LeakyReLU(0.2)]
            if h >= 2 and w >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = f
        layers.append(nn.Flatten())
        self.net = nn.Sequential(*layers)
        self.out_features = c * h * w

    def forward(self, x):
        return self.net(x)


def _encoder(shape: tuple[int, ...], channels: tuple[int, ...]) -> tuple[nn.Module, int]:
    """Conv encoder for an image side, flatten for a vector side."""
    if len(shape) == 3:
        enc = _ConvEncoder(shape, channels)
        return enc, enc.out_features
    return nn.Flatten(), int(np.prod(shape))


class ConcatCritic(nn.Module):
    """Concatenation critic ``T(x, y) = MLP([e_x(x), e_y(y)])``.

    ``e_x``, ``e_y`` are encoders (identity/flatten for vectors, convolutional
    for images). The first linear layer acting on the concatenation is split
    into an x part and a y part, so the ``B x B`` score matrix costs ``2B``
    first-layer evaluations plus the deeper layers on ``B^2`` pairs.

    Parameters
    ----------
    enc_x, enc_y : nn.Module
        Encoders mapping a batch to ``(B, feat_x)`` and ``(B, feat_y)``.
    feat_x, feat_y : int
        Encoder output sizes.
    hidden_sizes : tuple of int
        Hidden layer widths of the head (at least one).
    """

    def __init__(self, enc_x, enc_y, feat_x: int, feat_y: int, hidden_sizes: tuple[int, ...]):
        super().__init__()
        self.enc_x, self.enc_y = enc_x, enc_y
        self.in_x = nn.Linear(feat_x, hidden_sizes[0])
        self.in_y = nn.Linear(feat_y, hidden_sizes[0], bias=False)
        self.head = nn.Sequential(nn.ReLU(), _mlp([*hidden_sizes, 1]))

    def forward(self, x, y):
        """Scores of the aligned pairs (x_i, y_i), shape (B,)."""
        return self.head(self.in_x(self.enc_x(x)) + self.in_y(self.enc_y(y))).squeeze(-1)

    def score_matrix(self, x, y):
        """Scores of every pair, ``S[i, j] = T(x_i, y_j)``, shape (B_x, B_y)."""
        hx = self.in_x(self.enc_x(x))
        hy = self.in_y(self.enc_y(y))
        return self.head(hx[:, None, :] + hy[None, :, :]).squeeze(-1)


class SeparableCritic(nn.Module):
    """Separable critic ``T(x, y) = g(x) . h(y)`` with MLP embeddings of size ``embed_dim``.

    The score matrix is one matrix product, so large batches are cheap.
    """

    def __init__(self, enc_x, enc_y, feat_x: int, feat_y: int, hidden_sizes: tuple[int, ...], embed_dim: int):
        super().__init__()
        self.g = nn.Sequential(enc_x, _mlp([feat_x, *hidden_sizes, embed_dim]))
        self.h = nn.Sequential(enc_y, _mlp([feat_y, *hidden_sizes, embed_dim]))

    def forward(self, x, y):
        return (self.g(x) * self.h(y)).sum(-1)

    def score_matrix(self, x, y):
        return self.g(x) @ self.h(y).T


def _score_matrix(critic: nn.Module, x, y):
    """``S[i, j] = T(x_i, y_j)``; uses ``critic.score_matrix`` when the critic has one."""
    if hasattr(critic, "score_matrix"):
        return critic.score_matrix(x, y)
    bx, by = x.shape[0], y.shape[0]
    xr = x.repeat_interleave(by, dim=0)
    yr = y.repeat((bx,) + (1,) * (y.dim() - 1))
    return critic(xr, yr).reshape(bx, by)


# --------------------------------------------------------------------------- input
def _as_input(arr, name: str) -> tuple[np.ndarray, bool]:
    """Validate one side: returns ``(array, is_image)``.

    Vectors become (n, d) float64; images (n, C, H, W) or (n, H, W) become
    float32 of shape (n, C, H, W).
    """
    raw = _to_numpy(arr, name)
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
    img = np.ascontiguousarray(raw, dtype=np.float32)
    if not np.all(np.isfinite(img)):
        first = int(np.argwhere(~np.isfinite(img))[0][0])
        raise ValueError(
            f"The '{name}' argument contains non-finite values (first in image {first}). "
            "Remove or impute those images before estimating."
        )
    return img, True


def _standardize_images(img: np.ndarray, name: str, warnings: list) -> np.ndarray:
    """Per-channel scalar standardisation, which keeps the spatial structure."""
    mean = img.mean(axis=(0, 2, 3), keepdims=True)
    sd = img.std(axis=(0, 2, 3), keepdims=True)
    tiny = sd <= 1e-12 * (np.abs(mean) + 1.0)
    if np.any(tiny):
        warnings.append(f"'{name}' has {int(tiny.sum())} constant image channel(s); they were set to 0.")
        sd = np.where(tiny, 1.0, sd)
    return ((img - mean) / sd).astype(np.float32)


# --------------------------------------------------------------------------- base class
class _NeuralMIEstimator(MIEstimator):
    """Shared training loop; subclasses define the bound (see module docstring)."""

    name = ""

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
        r = terms[:, 0]
        se = r.std(ddof=1) / math.sqrt(len(r)) if len(r) > 1 else float("nan")
        return float(r.mean()), float(se)

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
                    f"The 'critic' parameter of {owner} must be one of {list(_CRITICS)} or a callable "
                    f"(x_shape, y_shape) -> nn.Module. Got {self.critic!r} of type {type(self.critic).__name__}."
                )
            check_choice(self.critic, "critic", owner, _CRITICS)
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

    def _device(self) -> torch.device:
        if self.device is None:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            return torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"The 'device' parameter of {self._owner} must be None, 'cpu', 'cuda', 'cuda:<i>' or a "
                f"torch.device. Got {self.device!r} instead ({exc})."
            ) from None

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
                                 (2 / ((1.0 - self.test_fraction) * self.val_fraction)) if self.val_fraction > 0 else 0))
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
            out.append(np.ascontiguousarray(arr, dtype=np.float32))
        return out[0], out[1]

    def _build_critic(self, x_shape, y_shape, gen: torch.Generator, seed: int) -> nn.Module:
        if callable(self.critic):
            # A user factory initialises with torch's global RNG; fork it so the
            # global state is restored afterwards and the init is reproducible.
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(seed)  # CPU generator only; restored on exit
                module = self.critic(tuple(x_shape), tuple(y_shape))
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"The 'critic' factory of {self._owner} must return a torch.nn.Module. "
                    f"Got {type(module).__name__}."
                )
            return module
        hidden = (self.hidden_sizes,) if isinstance(self.hidden_sizes, numbers.Integral) else tuple(self.hidden_sizes)
        channels = tuple(self.conv_channels)
        # torch layers draw a default initialisation from the global RNG when constructed;
        # fork it so the global state is left as it was, then re-draw from ``gen``.
        with torch.random.fork_rng(devices=[]):
            enc_x, fx = _encoder(tuple(x_shape), channels)
            enc_y, fy = _encoder(tuple(y_shape), channels)
            if self.critic == "separable":
                module = SeparableCritic(enc_x, enc_y, fx, fy, hidden, int(self.embed_dim))
            else:
                module = ConcatCritic(enc_x, enc_y, fx, fy, hidden)
        _init_module(module, gen)
        return module

    # ------------------------------------------------------------ evaluation
    def _evaluate(self, critic, x, y, batch: int) -> tuple[float, float, int]:
        """Bound on consecutive batches of ``batch`` rows of (x, y): (estimate, se, rows used)."""
        n_batches = len(x) // batch
        if n_batches == 0:
            return float("nan"), float("nan"), 0
        was_training = critic.training
        critic.eval()
        terms = []
        with torch.no_grad():
            for b in range(n_batches):
                sl = slice(b * batch, (b + 1) * batch)
                s = _score_matrix(critic, x[sl], y[sl]).double()
                terms.append(self._row_terms(s).cpu().numpy())
        critic.train(was_training)
        est, se = self._pooled(np.concatenate(terms, axis=0))
        return est, se, n_batches * batch

    # ------------------------------------------------------------ training
    def _fit(self, x: np.ndarray, y: np.ndarray, seed: int, warnings: list) -> dict:
        """Split, train, select and evaluate; returns everything ``estimate`` reports."""
        n = len(x)
        n_train, n_val, n_test = self._split_sizes(n)
        dev = self._device()
        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(n, generator=gen)
        idx_test, idx_val, idx_train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
        xt = torch.from_numpy(x).to(dev)
        yt = torch.from_numpy(y).to(dev)
        x_tr, y_tr = xt[idx_train.to(dev)], yt[idx_train.to(dev)]
        x_va, y_va = xt[idx_val.to(dev)], yt[idx_val.to(dev)]
        x_te, y_te = xt[idx_test.to(dev)], yt[idx_test.to(dev)]

        critic = self._build_critic(x.shape[1:], y.shape[1:], gen, seed).to(dev)
        critic.train()
        opt = torch.optim.Adam(critic.parameters(), lr=float(self.lr))
        b = int(self.batch_size)
        b_val = min(b, n_val)
        max_steps, eval_every = int(self.max_steps), int(self.eval_every)
        patience = None if self.patience is None else int(self.patience)
        use_val = n_val > 0

        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=max_steps, desc=f"{self.name} training", leave=False)

        curve: list[dict] = []
        state: dict = {}
        best = {"val": -math.inf, "step": 0, "state": None}
        wait = 0
        stop_reason = "max_steps"
        order = torch.empty(0, dtype=torch.long)
        pos = 0
        recent: list[float] = []
        step = 0
        try:
            for step in range(1, max_steps + 1):
                if pos + b > len(order):
                    order = torch.randperm(n_train, generator=gen).to(dev)
                    pos = 0
                bi = order[pos:pos + b]
                pos += b
                s = _score_matrix(critic, x_tr[bi], y_tr[bi])
                loss = self._loss(s, state)
                if not torch.isfinite(loss):
                    stop_reason = "diverged"
                    warnings.append(
                        f"{self._owner} training diverged at step {step} (non-finite loss); the critic with the "
                        "best validation estimate before that point was kept. Try a smaller lr or a smaller "
                        "critic; NWJ is unstable at high MI."
                    )
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                recent.append(float(self._batch_value(s.detach())))
                if bar is not None:
                    bar.update(1)
                if step % eval_every == 0 or step == max_steps:
                    val_est = self._evaluate(critic, x_va, y_va, b_val)[0] if use_val else float("nan")
                    te_est = self._evaluate(critic, x_te, y_te, b)[0]
                    curve.append({
                        "step": step,
                        "train_estimate": float(np.mean(recent)),
                        "val_estimate": val_est,
                        "heldout_estimate": te_est,
                    })
                    recent = []
                    if bar is not None:
                        bar.set_postfix(heldout=f"{te_est:.3f}")
                    if use_val and math.isfinite(val_est):
                        if val_est > best["val"] + _MIN_DELTA or best["state"] is None:
                            best.update(val=val_est, step=step, state=copy.deepcopy(critic.state_dict()))
                            wait = 0
                        else:
                            wait += 1
                            if patience is not None and wait >= patience:
                                stop_reason = "early_stopping"
                                break
        finally:
            if bar is not None:
                bar.close()

        if best["state"] is not None:
            critic.load_state_dict(best["state"])
            kept_step = best["step"]
        else:
            kept_step = step
        est, se, n_used = self._evaluate(critic, x_te, y_te, b)
        return {
            "estimate": est,
            "se": se,
            "curve": curve,
            "n_steps": step,
            "stop_reason": stop_reason,
            "kept_step": kept_step,
            "best_val": best["val"] if use_val else None,
            "sizes": (n_train, n_val, n_test, n_used),
            "device": str(dev),
            "critic_module": type(critic).__name__,
            "n_parameters": int(sum(p.numel() for p in critic.parameters())),
        }

    # ------------------------------------------------------------ diagnostics
    def _convergence_warnings(self, fit: dict, warnings: list) -> None:
        curve = [c for c in fit["curve"] if math.isfinite(c["heldout_estimate"])]
        if len(curve) < 3:
            if fit["stop_reason"] == "max_steps":
                warnings.append(
                    f"Only {len(curve)} held-out evaluation(s) during {fit['n_steps']} steps; convergence could "
                    "not be checked. Lower eval_every or raise max_steps."
                )
            return
        w = max(3, len(curve) // 2)
        tail = curve[-w:]
        steps = np.array([c["step"] for c in tail], dtype=float)
        vals = np.array([c["heldout_estimate"] for c in tail])
        se = fit["se"] if math.isfinite(fit["se"]) else 0.0
        slope, icept = np.polyfit(steps, vals, 1)
        resid = float(np.std(vals - (slope * steps + icept), ddof=2)) if w > 2 else 0.0
        rise = float(slope * (steps[-1] - steps[0]))
        if fit["stop_reason"] == "max_steps" and rise > max(_RISE_TOL, 2.0 * se, 2.0 * resid):
            warnings.append(
                f"{self._owner} did not converge: the held-out estimate was still rising at max_steps="
                f"{self.max_steps} (by {rise:.3f} nats over the last {w} evaluations). The estimate is probably "
                "too low; raise max_steps or lr."
            )
        if resid > max(_UNSTABLE_TOL, 0.1 * abs(float(vals.mean())), 3.0 * se):
            warnings.append(
                f"{self._owner} training is unstable: the held-out estimate fluctuates with sd {resid:.3f} nats "
                f"over the last {w} evaluations. Lower lr, raise batch_size, or compare several random_state values."
            )

    # ------------------------------------------------------------ driver
    def _prepare(self, x, y, rng, warnings):
        """Base-class hook: standardise validated arrays (4-D arrays are images)."""
        return self._prepare_inputs(x, y, x.ndim == 4, y.ndim == 4, warnings)

    def _core(self, x, y, rng) -> float:
        """Held-out estimate (nats) on prepared arrays, seeded from ``rng`` (for resampling callers)."""
        seed = int(rng.integers(0, 2**32))
        return self._fit(np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.float32),
                         seed, [])["estimate"]

    def estimate(self, x, y) -> MIResult:
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
        t0 = time.perf_counter()
        units = check_units(self.units)
        level = check_ci(self.ci, self._owner)
        self._check_settings()
        x, y, img_x, img_y = self._validate_inputs(x, y)
        n = len(x)
        self._split_sizes(n)
        _, seed = make_rng(self.random_state)
        warnings: list[str] = []
        xp, yp = self._prepare_inputs(x, y, img_x, img_y, warnings)
        fit = self._fit(xp, yp, seed, warnings)
        raw, se = fit["estimate"], fit["se"]
        n_train, n_val, n_test, n_used = fit["sizes"]
        ceiling = self._ceiling(int(self.batch_size))

        lo = hi = None
        if level is not None and math.isfinite(se):
            from scipy.stats import norm

            z = float(norm.ppf(0.5 + level / 2.0))
            lo, hi = raw - z * se, min(raw + z * se, ceiling)
        self._convergence_warnings(fit, warnings)
        if math.isfinite(ceiling) and raw >= ceiling - _CEILING_MARGIN:
            warnings.append(
                f"The {self.name} estimate {raw:.3f} nats is within {_CEILING_MARGIN} nats of its ceiling "
                f"log(batch_size) = log({self.batch_size}) = {ceiling:.3f} nats; the true MI may be much larger. "
                "Raise batch_size to lift the ceiling."
            )
        if not math.isfinite(raw):
            warnings.append(f"The held-out {self.name} estimate is not finite ({raw}); training failed.")
        elif raw < 0:
            warnings.append(
                f"Negative raw estimate {raw:.4g} nats was clipped to 0 (a variational lower bound below 0 means "
                "the critic found no dependence that generalises to held-out data)."
            )
        value = max(raw, 0.0) if math.isfinite(raw) else raw
        extra = {
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
            "input_shape_x": tuple(x.shape[1:]),
            "input_shape_y": tuple(y.shape[1:]),
            "device": fit["device"],
            "critic_module": fit["critic_module"],
            "n_parameters": fit["n_parameters"],
            "ci_method": "held-out standard error (normal)" if level is not None else None,
        }
        return MIResult(
            value=convert(value, units),
            units=units,
            raw_value=convert(raw, units),
            ci_low=convert(lo, units),
            ci_high=convert(hi, units),
            ci_level=level,
            std_err=convert(se, units) if math.isfinite(se) else None,
            n_samples=n,
            dim_x=int(np.prod(x.shape[1:])),
            dim_y=int(np.prod(y.shape[1:])),
            estimator=self.name,
            params=self.get_params(),
            seed=seed,
            time_s=time.perf_counter() - t0,
            warnings=warnings,
            extra=extra,
        )


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
        ema_rate: float = 0.01,
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
        self.ema_rate = ema_rate
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

    def _extra_params(self) -> None:
        check_float(self.ema_rate, "ema_rate", self._owner, low=0.0, high=1.0, low_open=True)

    @staticmethod
    def _log_mean_exp_offdiag(s: torch.Tensor) -> torch.Tensor:
        b = s.shape[0]
        eye = torch.eye(b, dtype=torch.bool, device=s.device)
        return torch.logsumexp(s.masked_fill(eye, -math.inf).reshape(-1), dim=0) - math.log(b * (b - 1))

    def _batch_value(self, s):
        return s.diagonal().mean() - self._log_mean_exp_offdiag(s)

    def _loss(self, s, state):
        lme = self._log_mean_exp_offdiag(s)
        alpha = float(self.ema_rate)
        cur = lme.detach()
        if "log_ema" not in state or alpha >= 1.0:
            state["log_ema"] = cur
        else:
            state["log_ema"] = torch.logaddexp(state["log_ema"] + math.log1p(-alpha), cur + math.log(alpha))
        # gradient: grad E_P[T] - grad E_Q[e^T] / EMA(E_Q[e^T])
        return -(s.diagonal().mean() - torch.exp(lme - state["log_ema"]))

    def _row_terms(self, s):
        b = s.shape[0]
        eye = torch.eye(b, dtype=torch.bool, device=s.device)
        log_b = torch.logsumexp(s.masked_fill(eye, -math.inf), dim=1) - math.log(b - 1)
        return torch.stack([s.diagonal(), log_b], dim=1)

    def _pooled(self, terms):
        a, log_b = terms[:, 0], terms[:, 1]
        n = len(a)
        shift = log_b.max()
        c = np.exp(log_b - shift)  # b_i up to a common factor; the delta method is scale-free
        mc = c.mean()
        est = float(a.mean() - (np.log(mc) + shift))
        if n < 2:
            return est, float("nan")
        cov = np.cov(np.stack([a, c]), ddof=1)
        var = (cov[0, 0] + cov[1, 1] / mc**2 - 2.0 * cov[0, 1] / mc) / n
        return est, float(math.sqrt(max(var, 0.0)))


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
        b = s.shape[0]
        eye = torch.eye(b, dtype=torch.bool, device=s.device)
        marg = torch.exp(s - 1.0).masked_fill(eye, 0.0).sum() / (b * (b - 1))
        return s.diagonal().mean() - marg

    def _row_terms(self, s):
        b = s.shape[0]
        eye = torch.eye(b, dtype=torch.bool, device=s.device)
        marg = torch.exp(s - 1.0).masked_fill(eye, 0.0).sum(dim=1) / (b - 1)
        return (s.diagonal() - marg)[:, None]


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
        b = s.shape[0]
        return (s.diagonal() - torch.logsumexp(s, dim=1) + math.log(b))[:, None]

    def _batch_value(self, s):
        return self._row_terms(s)[:, 0].mean()
