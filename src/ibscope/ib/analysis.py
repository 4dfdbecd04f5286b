"""Per-epoch information-plane analysis: I(X;L) and I(L;Y) for every layer, with CIs and sanity flags.

For a trained-so-far network, one probe pass (:class:`~ibscope.ib.ActivationRecorder`)
gives every layer's output L on a fixed probe set with inputs X and labels Y.
Following Algorithm 1 of Butakov et al. (ICLR 2024), each side is compressed
to a low-dimensional code before a non-parametric estimate:

* **X** is compressed **once** (PCA by default, or a convolutional autoencoder
  trained once before the run) and its code is reused every epoch.
* **Each layer's output** is compressed by its own compressor (PCA to 4-D by
  default), **fitted once on the first analysed epoch and kept fixed** across
  epochs (``refit="first"``). The reference code refits PCA every epoch, which
  mixes training dynamics with changes of basis and component signs
  (REFERENCE.md section 3.1); ``refit="every"`` reproduces that behaviour. The
  mode is recorded in every row. Layers whose dimension is already at most the
  code dimension are used as they are.
* **I(X;L)** is estimated between the X code and the L code with a continuous
  estimator (Kozachenko-Leonenko ``"kl"``, k = 5 by default).
* **I(L;Y)** is estimated on the L code with the class-conditional
  (continuous-discrete) estimator: I(L;Y) = H(L) - sum_y p(y) H(L | Y=y).

Both come with a confidence interval by half-sampling (:mod:`ibscope.stats`).
For speed the IB analysis uses ``n_subsamples=10`` subsamples per interval by
default (the estimators' own default is 30); the Student-t quantile accounts
for the small number, so the intervals are wider rather than too narrow.

Sanity flags (recorded with each row, ``;``-separated in the ``flags`` column)
---------------------------------------------------------------------------------
``ly_above_hy``
    I(L;Y) exceeds H(Y), its hard ceiling, beyond its CI (the lower CI bound of
    the raw estimate is above H(Y) of the probe labels).
``xl_negative`` / ``ly_negative``
    The raw (unclipped) estimate is negative; the reported value is clipped at 0.
``dpi_xl`` / ``dpi_ly``
    Data-processing inequality violated beyond the CIs between this layer and
    the previous one: the noisy network is a Markov chain X -> L1 -> L2 -> ...,
    so I(X;L_{i+1}) <= I(X;L_i) and I(L_{i+1};Y) <= I(L_i;Y). The flag is set
    when this layer's lower CI bound exceeds the previous layer's upper bound.
    Because each layer is compressed separately, the compressed codes need not
    form a Markov chain, so a flag is a warning sign, not a proof of a bug.
``nonfinite``
    An estimate was NaN or infinite.

Raw values are always kept (``i_xl_raw``, ``i_ly_raw``) next to the clipped
values (``i_xl``, ``i_ly``); nothing is hidden.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from .._result import UNIT_FACTORS, check_units
from .capture import ActivationRecorder

__all__ = [
    "INFO_COLUMNS",
    "FLAG_NAMES",
    "REFIT_MODES",
    "IBRecorder",
    "flag_rows",
    "log_schedule",
    "epoch_schedule",
    "is_scheduled",
    "code_dim",
]

#: Columns of ``info.csv`` (one row per analysed epoch and layer), in order.
INFO_COLUMNS = (
    "epoch", "layer", "layer_index",
    "i_xl", "i_xl_lo", "i_xl_hi", "i_xl_raw",
    "i_ly", "i_ly_lo", "i_ly_hi", "i_ly_raw",
    "h_y", "flags", "units", "n", "k", "ci_level",
    "estimator", "estimator_y", "compressor", "compressor_x", "refit", "fit_epoch",
    "dim_layer", "dim_code", "recon_mae", "seed", "time_s", "warnings",
)

#: Sanity flags that may appear in the ``flags`` column.
FLAG_NAMES = ("ly_above_hy", "xl_negative", "ly_negative", "dpi_xl", "dpi_ly", "nonfinite")

#: Accepted values of ``refit``: fit layer compressors on the first analysed epoch only, or every epoch.
REFIT_MODES = ("first", "every")


# ---------------------------------------------------------------------------------------------------------------
# Epoch schedules
# ---------------------------------------------------------------------------------------------------------------
def log_schedule(max_epoch: int, per_decade: int = 10) -> list[int]:
    """Log-spaced epochs ``round(10 ** (j / per_decade))`` up to ``max_epoch``, without repeats.

    With ``per_decade=10``: 1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, 40, 50, 63, 79, 100, ...
    The list depends only on the epoch numbers, not on the run length, so a run
    extended on resume analyses the same epochs as a longer run would.

    Parameters
    ----------
    max_epoch : int
        Last epoch to consider (1-based).
    per_decade : int, default=10
        Points per factor of 10.

    Returns
    -------
    list of int
    """
    out: list[int] = []
    j = 0
    while True:
        e = int(round(10.0 ** (j / per_decade)))
        if e > max_epoch:
            return out
        if not out or e != out[-1]:
            out.append(e)
        j += 1


def epoch_schedule(kind: str, epochs: int) -> list[int]:
    """Epochs (1-based) analysed by a run of ``epochs`` epochs.

    Parameters
    ----------
    kind : {"every", "log"}
        ``"every"``: 1..epochs. ``"log"``: :func:`log_schedule` plus the final epoch.
    epochs : int
        Number of training epochs.

    Returns
    -------
    list of int
    """
    if kind == "every":
        return list(range(1, epochs + 1))
    if kind == "log":
        sched = log_schedule(epochs)
        if epochs >= 1 and (not sched or sched[-1] != epochs):
            sched.append(epochs)
        return sched
    raise ValueError(f"The 'schedule' parameter must be one of ['every', 'log']. Got {kind!r} instead.")


def is_scheduled(epoch: int, kind: str, epochs: int) -> bool:
    """Whether ``epoch`` is analysed under schedule ``kind`` in a run of ``epochs`` epochs."""
    return epoch in set(epoch_schedule(kind, epochs))


# ---------------------------------------------------------------------------------------------------------------
# Sanity flags
# ---------------------------------------------------------------------------------------------------------------
def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _bounds(row: dict, key: str) -> tuple[float, float]:
    """(low, high) of the raw estimate's CI, or the raw value twice when there is no CI."""
    raw = _num(row.get(f"{key}_raw", row.get(key)))
    lo, hi = _num(row.get(f"{key}_lo")), _num(row.get(f"{key}_hi"))
    if not math.isfinite(lo) or not math.isfinite(hi):
        return raw, raw
    return lo, hi


def flag_rows(rows: list[dict], h_y: float | None = None) -> list[dict]:
    """Set the ``flags`` field of every row (see the module notes for the flag names).

    Parameters
    ----------
    rows : list of dict
        Rows of one epoch, in layer order (input side first), each with
        ``i_xl_raw``, ``i_xl_lo``, ``i_xl_hi``, ``i_ly_raw``, ``i_ly_lo``,
        ``i_ly_hi`` (CI bounds may be None or NaN) and, unless ``h_y`` is given,
        ``h_y``. All in the same units.
    h_y : float or None
        Entropy of the labels H(Y), the ceiling of I(L;Y), in the rows' units.

    Returns
    -------
    list of dict
        The same rows (modified in place), ``flags`` a ``;``-separated string
        (empty when the row is clean).
    """
    prev = None
    for row in rows:
        flags = []
        hy = _num(row.get("h_y")) if h_y is None else float(h_y)
        xl_raw, ly_raw = _num(row.get("i_xl_raw", row.get("i_xl"))), _num(row.get("i_ly_raw", row.get("i_ly")))
        xl_lo, xl_hi = _bounds(row, "i_xl")
        ly_lo, ly_hi = _bounds(row, "i_ly")
        if math.isfinite(hy) and math.isfinite(ly_lo) and ly_lo > hy:
            flags.append("ly_above_hy")
        if xl_raw < 0:
            flags.append("xl_negative")
        if ly_raw < 0:
            flags.append("ly_negative")
        if prev is not None:
            p_xl_lo, p_xl_hi = _bounds(prev, "i_xl")
            p_ly_lo, p_ly_hi = _bounds(prev, "i_ly")
            if math.isfinite(xl_lo) and math.isfinite(p_xl_hi) and xl_lo > p_xl_hi:
                flags.append("dpi_xl")
            if math.isfinite(ly_lo) and math.isfinite(p_ly_hi) and ly_lo > p_ly_hi:
                flags.append("dpi_ly")
        if not (math.isfinite(xl_raw) and math.isfinite(ly_raw)):
            flags.append("nonfinite")
        row["flags"] = ";".join(flags)
        prev = row
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------
def _derive(seed: int, *keys: int) -> int:
    """A child seed in [0, 2**32) that is a pure function of ``seed`` and ``keys``."""
    ss = np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in keys))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def code_dim(compressor) -> int | None:
    """Target code dimension of a compressor object (``n_components`` or ``latent_dim``)."""
    for attr in ("n_components", "latent_dim", "n_components_"):
        val = getattr(compressor, attr, None)
        if isinstance(val, (int, np.integer)) and not isinstance(val, bool):
            return int(val)
    return None


def _clone(compressor):
    """A fresh, unfitted copy of a compressor (scikit-learn ``clone`` semantics)."""
    if hasattr(compressor, "get_params"):
        params = compressor.get_params()
        return type(compressor)(**params)
    import copy

    return copy.deepcopy(compressor)


def _spec_text(spec) -> str:
    if spec is None:
        return "none"
    if isinstance(spec, str):
        return spec
    return repr(spec)


def _make_estimator(name, *, y_discrete: bool, **params):
    """Build an estimator from the front-door tables, passing only the parameters it accepts."""
    from .. import api

    table = api.LABELS if y_discrete else api.CONTINUOUS
    if not isinstance(name, str):
        return name
    if name not in table:
        kind = "I(L;Y) (continuous L, discrete labels Y)" if y_discrete else "I(X;L) (continuous X and L)"
        raise ValueError(f"Unknown estimator {name!r} for {kind}. Valid names: {', '.join(sorted(table))}.")
    factory, fixed = table[name]
    accepted = api._accepted(factory)
    kwargs = {key: value for key, value in params.items() if key in accepted and key not in fixed}
    kwargs.update(fixed)
    return factory(**kwargs)


def resolve_backend(backend, device=None) -> str:
    """Neighbour-search backend for the IB estimates: "auto" gives "kdtree" on CPU, "torch" on CUDA.

    For the low-dimensional codes (4+4-D) of a few thousand probe points,
    scipy's KD-tree was about 5x faster in CPU time than the compiled parallel
    backend, whose per-call thread start-up dominates at this size.
    """
    if backend in (None, "auto"):
        return "torch" if device is not None and str(device).startswith("cuda") else "kdtree"
    return backend


def _recon_mae(compressor, data: np.ndarray, codes: np.ndarray) -> float:
    """Mean absolute reconstruction error of ``data`` from ``codes`` (NaN if not available)."""
    inv = getattr(compressor, "inverse_transform", None)
    if inv is None:
        return float("nan")
    try:
        rec = np.asarray(inv(codes), dtype=np.float64).reshape(len(data), -1)
        return float(np.mean(np.abs(rec - data.reshape(len(data), -1))))
    except Exception:  # a compressor without a usable inverse: report nothing rather than fail the run
        return float("nan")


# ---------------------------------------------------------------------------------------------------------------
# The recorder / callback
# ---------------------------------------------------------------------------------------------------------------
class IBRecorder:
    """Information-plane analysis of a model at the end of chosen epochs.

    Usable from any training loop::

        rec = IBRecorder(probe_images, probe_labels, compress="pca:4", random_state=0)
        for epoch in range(1, n_epochs + 1):
            train_one_epoch(model, ...)
            rows = rec.on_epoch_end(model, epoch)     # list of dicts, one per layer

    and used by :func:`ibscope.ib.run_ib`, which also writes the rows to
    ``info.csv``.

    Parameters
    ----------
    probe_x : numpy.ndarray or torch.Tensor of shape (n, ...)
        Probe inputs, normalised as the model expects, in a fixed order.
    probe_y : array-like of shape (n,)
        Integer class labels of the probe set.
    layers : sequence of str or None, default=None
        Module names to analyse; None takes ``model.layer_names``.
    softmax : bool, default=False
        When the model names a log-probability output layer
        (``model.log_prob_layer``, "L5" for the paper's net) and that layer is
        analysed, also analyse its exp, the class probabilities, as an extra
        row ``exp(L5)`` after it (the paper tracks both). exp is a bijection,
        so the uncompressed I(X;.) and I(.;Y) are the same; the compressed
        codes differ, because PCA is not invariant to it. Off by default:
        once the net is trained most probability vectors sit near a corner of
        the simplex (median top-class probability 0.93 after two MNIST
        epochs), and KL estimates on their PCA codes break down: measured on
        the 10 000 MNIST test images, I(X;exp(L5)) came out at -6.5 nats and
        I(exp(L5);Y) at 2.55 nats > ln 10, where L5's own codes gave 2.30 and
        1.95 (KSG on the same exp codes: 1.90 and 1.98). Such rows are flagged
        ``xl_negative`` / ``ly_above_hy``; the paper's early run reported the
        same impossible I(L;Y) for the softmax outputs.
    compress : str, compressor object or None, default="pca:4"
        Compressor for each layer's output, as a spec for
        :func:`ibscope.compress.parse_compressor` (``"pca:4"``, ``"ae:4"``) or an
        unfitted object used as a template (cloned per layer). None uses every
        layer uncompressed.
    compress_x : str, compressor object or None, default="pca:4"
        Compressor for X, fitted once (on ``x_fit`` or the probe inputs) before
        the first analysis; ``"conv-ae:4"`` trains a convolutional autoencoder.
        A fitted object is used as it is.
    x_fit : numpy.ndarray of shape (m, ...) or None, default=None
        Data on which the X compressor is fitted (e.g. the training images); None
        uses ``probe_x``.
    estimator : str, default="kl"
        Continuous estimator for I(X;L) (see :func:`ibscope.mutual_information`).
    estimator_y : str or None, default=None
        Label estimator for I(L;Y); None uses ``estimator`` when it has a
        continuous-discrete form ("kl", "wkl", "kde", "ksg"), else "kl".
    k : int, default=5
        Neighbours of the kNN estimators.
    ci : float or None, default=0.95
        Confidence level of the intervals (None: no intervals, faster).
    n_subsamples : int, default=10
        Half-samples per interval (fewer than the estimators' default 30, for speed).
    units : {"nats", "bits"}, default="nats"
    refit : {"first", "every"}, default="first"
        Fit layer compressors on the first analysed epoch and keep them
        (``"first"``), or refit them every epoch (``"every"``, as in the
        reference code).
    batch_size : int, default=2048
        Rows per probe forward pass.
    backend : str, default="auto"
        Neighbour-search backend of the estimators (see :mod:`ibscope.neighbors`);
        "auto" picks "kdtree" on CPU and "torch" on CUDA (see :func:`resolve_backend`).
    device : str or None, default=None
        Device for the estimators' neighbour search (None: CPU).
    random_state : int, default=0
        Base seed. The estimate for (epoch, layer, quantity) uses a child seed
        derived from it, so results do not depend on which epochs ran before
        (a resumed run gives the same numbers).

    Attributes
    ----------
    x_compressor_ : compressor or None
        Fitted X compressor (None when X is used uncompressed).
    x_code_ : numpy.ndarray of shape (n, dim_code_x)
        The X code used for every epoch.
    layer_compressors_ : dict of str to compressor or None
        Fitted layer compressors (None: layer used as is).
    fit_epoch_ : int or None
        Epoch on which the layer compressors were fitted (``refit="first"``).
    h_y_ : float
        Empirical label entropy H(Y) of the probe set in ``units``.
    history : list of dict
        Every row produced so far.
    """

    def __init__(self, probe_x, probe_y, *, layers=None, softmax=False, compress="pca:4", compress_x="pca:4", x_fit=None,
                 estimator="kl", estimator_y=None, k=5, ci=0.95, n_subsamples=10, units="nats", refit="first",
                 batch_size=2048, backend="auto", device=None, random_state=0):
        from .._validation import as_labels, check_choice, check_int

        owner = "IBRecorder"
        self.probe_x = probe_x
        self.probe_y = as_labels(np.asarray(probe_y.detach().cpu() if hasattr(probe_y, "detach") else probe_y),
                                 "probe_y")
        if len(self.probe_y) != len(probe_x):
            raise ValueError(f"The 'probe_x' and 'probe_y' arguments of {owner} must have the same number of rows. "
                             f"Got {len(probe_x)} and {len(self.probe_y)}.")
        self.layers = layers
        if not isinstance(softmax, (bool, np.bool_)):
            raise TypeError(f"The 'softmax' argument of {owner} must be a bool. Got {softmax!r}.")
        self.softmax = bool(softmax)
        self.compress = compress
        self.compress_x = compress_x
        self.x_fit = x_fit
        self.estimator = estimator
        if estimator_y is None:
            from .. import api

            estimator_y = estimator if isinstance(estimator, str) and estimator in api.LABELS else "kl"
        self.estimator_y = estimator_y
        self.k = check_int(k, "k", owner, low=1)
        self.ci = ci
        self.n_subsamples = check_int(n_subsamples, "n_subsamples", owner, low=2)
        self.units = check_units(units)
        self.refit = check_choice(refit, "refit", owner, REFIT_MODES)
        self.batch_size = check_int(batch_size, "batch_size", owner, low=1)
        self.backend = resolve_backend(backend, device)
        self.device = device
        self.random_state = check_int(random_state, "random_state", owner, low=0)
        # validate estimator names now, not after an epoch of training
        _make_estimator(self.estimator, y_discrete=False, k=self.k)
        _make_estimator(self.estimator_y, y_discrete=True, k=self.k)
        self.x_compressor_ = None
        self.x_code_ = None
        self.layer_compressors_: dict = {}
        self.fit_epoch_ = None
        from ..estimators.discrete import label_entropy

        self.h_y_ = label_entropy(self.probe_y) * UNIT_FACTORS[self.units]
        self.history: list[dict] = []

    # ----------------------------------------------------------------- no-op hooks
    def on_train_begin(self, model=None) -> None:
        """Hook called before training; fits the X compressor if needed."""
        self.prepare()

    def on_train_end(self, model=None) -> None:
        """Hook called after training (no-op)."""

    # ----------------------------------------------------------------- X side
    def _compressor(self, spec, seed: int):
        from ..compress import parse_compressor

        if spec is None or (isinstance(spec, str) and spec.strip().lower() == "none"):
            return None
        if isinstance(spec, str):
            return parse_compressor(spec, random_state=seed)
        return _clone(spec)

    def prepare(self) -> None:
        """Fit the X compressor once and compute the X code (idempotent)."""
        if self.x_code_ is not None:
            return
        x = np.asarray(self.probe_x.detach().cpu() if hasattr(self.probe_x, "detach") else self.probe_x,
                       dtype=np.float32)
        spec = self.compress_x
        fitted = spec is not None and not isinstance(spec, str) and _is_fitted(spec)
        if fitted:
            comp = spec
        else:
            comp = self._compressor(spec, _derive(self.random_state, 0, 0))
        flat = x.reshape(len(x), -1)
        if comp is not None and not fitted:
            target = code_dim(comp)
            if target is not None and target >= flat.shape[1]:
                comp = None  # already small enough: use X as is
            else:
                fit_data = x if self.x_fit is None else np.asarray(
                    self.x_fit.detach().cpu() if hasattr(self.x_fit, "detach") else self.x_fit, dtype=np.float32)
                comp.fit(fit_data)
        self.x_compressor_ = comp
        self.x_code_ = flat.astype(np.float64) if comp is None else np.asarray(comp.transform(x), dtype=np.float64)

    # ----------------------------------------------------------------- layers
    def _compress_layer(self, name: str, index: int, acts: np.ndarray, epoch: int):
        """Return (code, compressor, recon_mae) for one layer's activations of shape (n, d)."""
        refit = self.refit == "every" or name not in self.layer_compressors_
        if refit:
            comp = self._compressor(self.compress, _derive(self.random_state, 0, index + 1))
            if comp is not None:
                target = code_dim(comp)
                if target is not None and target >= acts.shape[1]:
                    comp = None  # the layer is already low-dimensional: use it as is
                else:
                    comp.fit(acts)
            self.layer_compressors_[name] = comp
        comp = self.layer_compressors_[name]
        if comp is None:
            return acts.astype(np.float64), None, 0.0
        code = np.asarray(comp.transform(acts), dtype=np.float64)
        return code, comp, _recon_mae(comp, acts, code)

    def capture(self, model):
        """One probe pass: the activations of every analysed layer (see :class:`ActivationRecorder`)."""
        rec = ActivationRecorder(model, self.layers, n_samples=len(self.probe_y))
        acts = rec.capture(self.probe_x, self.probe_y, batch_size=self.batch_size)
        acts.check_aligned(index=np.arange(len(self.probe_y)), labels=self.probe_y)
        names = list(rec.layers)
        src = getattr(model, "log_prob_layer", None)
        if self.softmax and src in names:
            extra = f"exp({src})"
            with np.errstate(over="ignore", under="ignore"):
                acts.layers[extra] = np.exp(np.asarray(acts.layers[src], dtype=np.float64))
            names.insert(names.index(src) + 1, extra)
        return names, acts

    def on_epoch_end(self, model, epoch: int) -> list[dict]:
        """Analyse ``model`` after epoch ``epoch``: one row per layer.

        Parameters
        ----------
        model : torch.nn.Module
            The network (put in eval mode for the probe pass, then restored).
        epoch : int
            Epoch number stored in the rows (1-based by convention).

        Returns
        -------
        list of dict
            Rows with the keys of :data:`INFO_COLUMNS`; MI values in ``units``.
        """
        self.prepare()
        names, acts = self.capture(model)
        if self.refit == "first" and self.fit_epoch_ is None:
            self.fit_epoch_ = int(epoch)
        rows = []
        for li, name in enumerate(names):
            t0 = time.perf_counter()
            layer = acts.layers[name]
            code, comp, recon = self._compress_layer(name, li, layer, epoch)
            common = dict(k=self.k, ci=self.ci, n_subsamples=self.n_subsamples, units=self.units,
                          backend=self.backend, device=self.device)
            est_xl = _make_estimator(self.estimator, y_discrete=False,
                                     random_state=_derive(self.random_state, epoch, li + 1, 1), **common)
            est_ly = _make_estimator(self.estimator_y, y_discrete=True,
                                     random_state=_derive(self.random_state, epoch, li + 1, 2), **common)
            r_xl = est_xl.estimate(self.x_code_, code)
            r_ly = est_ly.estimate(code, acts.y)
            warns = list(dict.fromkeys([*(f"I(X;L): {w}" for w in r_xl.warnings),
                                        *(f"I(L;Y): {w}" for w in r_ly.warnings)]))
            rows.append({
                "epoch": int(epoch),
                "layer": name,
                "layer_index": li,
                "i_xl": r_xl.value,
                "i_xl_lo": r_xl.ci_low,
                "i_xl_hi": r_xl.ci_high,
                "i_xl_raw": r_xl.raw_value,
                "i_ly": r_ly.value,
                "i_ly_lo": r_ly.ci_low,
                "i_ly_hi": r_ly.ci_high,
                "i_ly_raw": r_ly.raw_value,
                "h_y": self.h_y_,
                "flags": "",
                "units": self.units,
                "n": acts.n_samples,
                "k": self.k,
                "ci_level": self.ci,
                "estimator": r_xl.estimator,
                "estimator_y": f"{r_ly.estimator}:{getattr(est_ly, 'entropy', '')}".rstrip(":"),
                "compressor": _spec_text(self.compress) if comp is not None else "none",
                "compressor_x": _spec_text(self.compress_x) if self.x_compressor_ is not None else "none",
                "refit": self.refit,
                "fit_epoch": int(epoch) if self.refit == "every" else self.fit_epoch_,
                "dim_layer": int(layer.shape[1]),
                "dim_code": int(code.shape[1]),
                "recon_mae": recon,
                "seed": self.random_state,
                "time_s": time.perf_counter() - t0,
                "warnings": " | ".join(warns),
            })
        flag_rows(rows, self.h_y_)
        self.history.extend(rows)
        return rows

    # ----------------------------------------------------------------- persistence
    def save_state(self, folder) -> None:
        """Write the fitted compressors to ``folder`` (``x.npz``, ``layer-<name>.npz``, ``state.json``).

        Only compressors with a ``save`` method are written; ``state.json`` lists
        which layers were used uncompressed and the fit epoch.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"fit_epoch": self.fit_epoch_, "refit": self.refit, "x": None, "layers": {}}
        if self.x_compressor_ is not None and hasattr(self.x_compressor_, "save"):
            self.x_compressor_.save(folder / "x.npz")
            meta["x"] = "x.npz"
        if self.refit == "first":
            for name, comp in self.layer_compressors_.items():
                if comp is None:
                    meta["layers"][name] = None
                elif hasattr(comp, "save"):
                    fname = f"layer-{_safe(name)}.npz"
                    comp.save(folder / fname)
                    meta["layers"][name] = fname
        _atomic_write_text(folder / "state.json", json.dumps(meta, indent=2))

    def load_state(self, folder, *, max_fit_epoch=None) -> bool:
        """Load compressors written by :meth:`save_state`.

        Parameters
        ----------
        folder : path-like
        max_fit_epoch : int or None
            Ignore saved layer compressors fitted after this epoch (a run killed
            after fitting but before its checkpoint refits them).

        Returns
        -------
        bool
            Whether layer compressors were restored.
        """
        from ..compress import load_compressor

        folder = Path(folder)
        path = folder / "state.json"
        if not path.is_file():
            return False
        meta = json.loads(path.read_text(encoding="utf-8"))
        if meta.get("x") and (folder / meta["x"]).is_file():
            comp = load_compressor(folder / meta["x"])
            self.x_compressor_ = comp
            self.x_code_ = None
            x = np.asarray(self.probe_x.detach().cpu() if hasattr(self.probe_x, "detach") else self.probe_x,
                           dtype=np.float32)
            self.x_code_ = np.asarray(comp.transform(x), dtype=np.float64)
        fit_epoch = meta.get("fit_epoch")
        if self.refit != "first" or fit_epoch is None or not meta.get("layers"):
            return False
        if max_fit_epoch is not None and fit_epoch > max_fit_epoch:
            return False
        comps = {}
        for name, fname in meta["layers"].items():
            comps[name] = None if fname is None else load_compressor(folder / fname)
        self.layer_compressors_ = comps
        self.fit_epoch_ = int(fit_epoch)
        return True


def _is_fitted(comp) -> bool:
    try:
        from ..compress import is_fitted

        return bool(is_fitted(comp))
    except Exception:  # objects that are not ibscope compressors
        return any(k.endswith("_") and not k.startswith("_") for k in vars(comp))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
