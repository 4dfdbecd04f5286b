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
  (the reference code of Butakov et al.); ``refit="every"`` reproduces that behaviour. The
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

Each row also carries sanity flags (:mod:`ibscope.ib.flags`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._random import child_seed
from .._result import UNIT_FACTORS, check_units
from .._validation import to_numpy
from ..compress import CompressedEstimator, compressor_from_bytes, is_fitted
from ..compress.wrapper import DPI_NOTE, DPI_NOTE_SHORT, Coded, clone_compressor, code_dim
from ..estimators import registry
from ..runs import atomic_write_json
from ..runs.schema import INFO
from .bounds import HeadBounds, head_bounds
from .callbacks import Callback
from .capture import ActivationRecorder
from .config import make_analysis_estimator as _make_estimator
from .decoders import LinearProbes, decoder_bounds
from .flags import flag_rows

__all__ = ["INFO_COLUMNS", "REFIT_MODES", "IBRecorder", "resolve_backend"]

#: Columns of ``info.csv`` (one row per analysed epoch and layer), in order: the names of
#: :data:`ibscope.runs.schema.INFO`, where each column's type and meaning are declared.
INFO_COLUMNS = INFO.names

#: Accepted values of ``refit``: fit layer compressors on the first analysed epoch only, or every epoch.
REFIT_MODES = ("first", "every")

#: How I(L;Y) is estimated: cross-fitted decoders (a lower bound with a CI, the default), or the
#: paper's class-conditional estimator on each layer's compressed code.
LABEL_SIDES = ("decoder", "codes")

#: ``MIResult.to_row`` column maps of the two estimates in a row
_XL_COLUMNS = {"value": "i_xl_code", "ci_low": "i_xl_code_lo", "ci_high": "i_xl_code_hi",
               "raw_value": "i_xl_code_raw", "estimator": "estimator"}
#: the compression notes every code estimate carries (said once, in the run's documentation, not per row)
DPI_NOTES = (DPI_NOTE, DPI_NOTE_SHORT)

_LY_COLUMNS = {"value": "i_ly", "ci_low": "i_ly_lo", "ci_high": "i_ly_hi", "raw_value": "i_ly_raw",
               "estimator": "estimator_y"}


def _spec_text(spec) -> str:
    if spec is None:
        return "none"
    if isinstance(spec, str):
        return spec
    return repr(spec)


def resolve_backend(backend, device=None) -> str:
    """Neighbour-search backend for the IB estimates: "auto" gives "numba" on CPU, "torch" on CUDA.

    Every backend finds the same, exact neighbours; ``benchmarks/bench_ib.py`` times them.
    """
    if backend in (None, "auto"):
        return "torch" if device is not None and str(device).startswith("cuda") else "numba"
    return backend



# ---------------------------------------------------------------------------------------------------------------
# The recorder / callback
# ---------------------------------------------------------------------------------------------------------------
class IBRecorder(Callback):
    """Information-plane analysis of a model at the end of chosen epochs.

    A :class:`~ibscope.ib.Callback`, so the built-in trainer runs it like any
    other hook, and usable from any hand-written training loop, where the first
    argument of the hook may be the model itself::

        rec = IBRecorder(probe_images, probe_labels, compress="pca:4", random_state=0)
        for epoch in range(1, n_epochs + 1):
            train_one_epoch(model, ...)
            rows = rec.on_epoch_end(model, epoch)     # list of dicts, one per layer

    :func:`ibscope.ib.run_ib` adds it to its trainer's callbacks; its run
    writer then puts the rows in ``info.csv``.

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
        Label estimator for I(L;Y) on the layer codes when ``label_side="codes"``;
        None uses ``estimator`` when it has a continuous-discrete form ("kl",
        "wkl", "kde", "ksg"), else "kl".
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
    knn_backend : str, default="auto"
        Neighbour-search backend of the estimators (see :mod:`ibscope.neighbors`);
        "auto" picks "numba" on CPU and "torch" on CUDA (see :func:`resolve_backend`).
    device : str or None, default=None
        Device for the estimators' neighbour search (None: CPU).
    random_state : int, default=0
        Base seed. The estimate for (epoch, layer, quantity) uses a child seed
        derived from it, so results do not depend on which epochs ran before
        (a resumed run gives the same numbers).
    label_side : {"decoder", "codes"}, default="decoder"
        How I(L;Y) is estimated. ``"decoder"``: the variational lower bound
        H(Y) - cross-entropy of the best held-out decoder among the layer's own
        cross-fitted linear probe, the probes of later layers and the network's
        head (:mod:`ibscope.ib.decoders`), with a normal CI from the per-row
        cross-entropies. ``"codes"``: the paper's scheme, ``estimator_y`` on the
        layer's compressed code (``compress``).
    schedule : collection of int or None, default=None
        Epochs to analyse when the hook is called; None analyses at every call.
        :func:`~ibscope.ib.run_ib` passes the run's schedule.
    brackets : bool, default=True
        Every analysed epoch, also compute the provable brackets on I(X;L) and I(L;Y) and the estimate
        of I(X;L) itself (:func:`ibscope.ib.brackets.xl_brackets`): the columns ``xl_lower``,
        ``xl_upper``, ``ly_lower``, ``ly_upper``, ``i_xl`` (with ``i_xl_method``). Off, those cells
        are empty and ``i_xl_code`` (the paper's code MI) is the only I(X;L) column.
    bracket_trials : int, default=1000
        Identification trials of the brackets' lower bounds (more: tighter bounds, more time).
    xl_estimate : bool, default=True
        Also compute the sample-propagation estimate of I(X;L) (replica passes; off: brackets only).
    code_checks : bool, default=True
        Also estimate the code MI with KSG and on the codes' first two components (columns
        ``i_xl_code_ksg``, ``i_xl_code_2d``, no intervals): the second estimator and second code
        dimension a study's phase gate needs.
    backend, epochs
        Deprecated names of ``knn_backend`` and ``schedule`` (a ``DeprecationWarning``; removed in a later
        release).
    progress : bool or callable or None, default=None
        Where the analysis reports what it is doing. A callable is called with one dict per
        event: ``{"stage": ..., "layer": ..., "index": ..., "total": ..., "epoch": ..., "note": ...}``
        (stages ``"probe pass"``, ``"fit compressor"``, ``"estimates"``, ``"decoders"``,
        ``"done"``; ``note`` says what a slow step costs, e.g. an autoencoder fit, whose own
        progress bar is then shown too). ``True`` prints the notes to standard error; None or
        False reports nothing. The recorder itself never prints.

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
    bounds_ : HeadBounds or None
        The lower bounds on I(L;Y) from the model's own prediction at the last
        analysed epoch (:mod:`ibscope.ib.bounds`; NaN with a ``note`` when the model
        has no log-probability output or the labels are not its class indices).
        Every row carries them (``bound``, ``bound_ba``, ``bound_plugin``,
        ``bound_fano``, in ``units``) and is flagged ``below_bound`` when its
        I(L;Y) interval lies below ``bound``.
    bounds_history : list of dict
        The bounds of every analysed epoch (nats), with the accuracy and NLL.
    """

    def __init__(self, probe_x: Any, probe_y: Any, *, layers: Sequence[str] | None = None, softmax: bool = False,
                 compress: Any = "pca:4", compress_x: Any = "pca:4", x_fit: Any = None, estimator: Any = "kl",
                 estimator_y: Any = None, k: int = 5, ci: float | None = 0.95, n_subsamples: int = 10,
                 units: str = "nats", refit: str = "first", batch_size: int = 2048, knn_backend: str | None = "auto",
                 device: str | None = None, random_state: int = 0, schedule: Iterable[int] | None = None,
                 label_side: str = "decoder", progress: bool | Callable[[dict], None] | None = None,
                 brackets: bool = True, bracket_trials: int = 1000, xl_estimate: bool = True,
                 code_checks: bool = True, backend: str | None = None, epochs: Iterable[int] | None = None) -> None:
        from .._validation import as_labels, check_choice, check_int

        owner = "IBRecorder"
        if backend is not None:
            _deprecated(owner, "backend", "knn_backend")
            knn_backend = backend
        if epochs is not None:
            _deprecated(owner, "epochs", "schedule")
            schedule = epochs
        self.probe_x = probe_x
        raw_labels = to_numpy(probe_y, "probe_y")
        self.probe_y = as_labels(raw_labels, "probe_y")
        if len(np.unique(self.probe_y)) < 2:
            raise ValueError(f"The 'probe_y' argument of {owner} holds a single class; I(L;Y) is 0 for every layer and "
                             "its estimates are undefined. Pass a probe set with at least 2 classes.")
        #: the labels as given (class indices of the model's output, for the bounds from its prediction)
        self.probe_labels_ = raw_labels.reshape(-1)
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
            estimator_y = estimator if isinstance(estimator, str) and estimator in registry.TABLE["labels"] else "kl"
        self.estimator_y = estimator_y
        self.k = check_int(k, "k", owner, low=1)
        self.ci = ci
        self.n_subsamples = check_int(n_subsamples, "n_subsamples", owner, low=2)
        self.units = check_units(units)
        self.refit = check_choice(refit, "refit", owner, REFIT_MODES)
        self.batch_size = check_int(batch_size, "batch_size", owner, low=1)
        self.knn_backend = resolve_backend(knn_backend, device)
        self.device = device
        self.random_state = check_int(random_state, "random_state", owner, low=0)
        self.schedule = None if schedule is None else frozenset(int(e) for e in schedule)
        self.label_side = check_choice(label_side, "label_side", owner, LABEL_SIDES)
        if progress is not None and not isinstance(progress, (bool, np.bool_)) and not callable(progress):
            raise TypeError(f"The 'progress' argument of {owner} must be a bool, a callable taking one dict, or None. "
                            f"Got {type(progress).__name__} instead.")
        self.progress = progress
        self.brackets = bool(brackets)
        self.bracket_trials = check_int(bracket_trials, "bracket_trials", owner, low=10)
        self.xl_estimate = bool(xl_estimate)
        self.code_checks = bool(code_checks)
        self._bracket_cache: dict[str, Any] = {}
        # validate estimator names now (a lookup), not after an epoch of training
        _make_estimator(self.estimator, y_discrete=False, k=self.k)
        _make_estimator(self.estimator_y, y_discrete=True, k=self.k)
        self.probes_ = LinearProbes(random_state=child_seed(self.random_state, 0, 999))
        self.x_compressor_: Any = None
        self.x_coded_: Coded | None = None
        self.layer_compressors_: dict[str, Any] = {}
        self.fit_epoch_: int | None = None
        self.history: list[dict[str, Any]] = []
        self.bounds_: HeadBounds | None = None
        self.bounds_history: list[dict[str, Any]] = []
        self.last_analysis_s: float | None = None
        self._checked = False
        self._noise_before: tuple[int, dict] | None = None
        self._copy_exact: bool | None = None  # background mode: the model draws nothing from the global RNG

    #: key of the recorder's state in a checkpoint (see :meth:`state_dict`)
    state_key = "IBRecorder"

    @property
    def h_y_(self) -> float:
        """Empirical label entropy H(Y) of the probe set, in ``units``."""
        from ..estimators.discrete import label_entropy

        return label_entropy(self.probe_y) * UNIT_FACTORS[self.units]

    def _emit(self, stage: str, **event: Any) -> None:
        """Report an analysis event to ``progress`` (see the parameter); notes are printed with ``True``."""
        if not self.progress:
            return
        event = {"stage": stage, **event}
        if callable(self.progress):
            self.progress(event)
        elif event.get("note"):
            from .callbacks import say

            say(f"ibscope: {event['note']}")

    # ----------------------------------------------------------------- callback hooks
    def on_train_begin(self, trainer=None) -> None:
        """Hook called before training: checks the settings on the probe set, fits the X compressor if needed."""
        self.prepare()

    def on_train_end(self, trainer=None, result=None) -> None:
        """Hook called after training (no-op)."""

    # ----------------------------------------------------------------- X side
    @property
    def x_code_(self) -> np.ndarray | None:
        """The X code used for every epoch (None before :meth:`prepare`)."""
        return None if self.x_coded_ is None else self.x_coded_.codes

    def _compressor(self, spec, seed: int):
        from ..compress import parse_compressor

        if spec is None or (isinstance(spec, str) and spec.strip().lower() == "none"):
            return None
        if isinstance(spec, str):
            return parse_compressor(spec, random_state=seed, device=self.device)
        return clone_compressor(spec)

    def _probe_array(self) -> np.ndarray:
        return np.asarray(to_numpy(self.probe_x, "probe_x"), dtype=np.float32)

    def _code_x(self, comp) -> None:
        """The X side of every estimate: the probe inputs through the fitted X compressor."""
        x = self._probe_array()
        if comp is None:
            flat = x.reshape(len(x), -1).astype(np.float64)
            self.x_coded_ = Coded(flat, None)
        else:
            self.x_coded_ = CompressedEstimator(None, compressor_x=comp, refit="never").encode("x", x)
        self.x_compressor_ = comp

    def prepare(self) -> None:
        """Check the settings (:meth:`check`), fit the X compressor once and compute the X code (idempotent)."""
        self.check()
        if self.x_coded_ is not None:
            return
        x = self._probe_array()
        spec = self.compress_x
        fitted = spec is not None and not isinstance(spec, str) and is_fitted(spec)
        comp = spec if fitted else self._compressor(spec, child_seed(self.random_state, 0, 0))
        if comp is not None and not fitted:
            target = code_dim(comp)
            if target is not None and target >= int(np.prod(x.shape[1:])):
                comp = None  # already small enough: use X as is
            else:
                fit_data = x if self.x_fit is None else np.asarray(to_numpy(self.x_fit, "x_fit"), dtype=np.float32)
                self._announce_fit(comp, "X", fit_data)
                comp.fit(fit_data)
        self._code_x(comp)

    def _announce_fit(self, comp, what: str, data) -> None:
        """With ``progress``, say what a slow (autoencoder) fit costs and show its progress bar."""
        if not self.progress or not hasattr(comp, "progress") or not hasattr(comp, "epochs"):
            return
        comp.progress = True
        self._emit("fit compressor", layer=None if what == "X" else what.removeprefix("layer "),
                   note=f"fitting the {what} compressor {type(comp).__name__}(latent_dim={code_dim(comp)}) on "
                        f"{len(data)} rows for up to {comp.epochs} epochs. Autoencoders take minutes on a CPU (the bar "
                        "shows the time left); the fitted compressor is saved with the run's checkpoint and reused "
                        "on resume.")

    def _layer_compressor(self, name: str, index: int, acts: np.ndarray):
        """The compressor of one layer this epoch: kept from the fit epoch (``refit="first"``) or
        a fresh one (``refit="every"``, or the first analysed epoch); None for a small layer."""
        if self.refit == "first" and name in self.layer_compressors_:
            return self.layer_compressors_[name]
        comp = self._compressor(self.compress, child_seed(self.random_state, 0, index + 1))
        if comp is not None:
            target = code_dim(comp)
            if target is not None and target >= acts.shape[1]:
                comp = None  # the layer is already low-dimensional: use it as is
        self.layer_compressors_[name] = comp
        return comp

    def check(self) -> IBRecorder:
        """Run the estimators once on random codes of the probe set's size, with its labels and the same CI
        settings, so that a setting that cannot work (k against the rows, too few rows per class or per
        half-sample) fails before any training or file, with the estimator's own message.

        Called by :meth:`prepare` (so before the first epoch) and by :func:`~ibscope.ib.run_ib` before it
        writes anything; it runs once. Returns the recorder.

        Raises
        ------
        ValueError
            The probe set cannot be analysed with these settings (the message names the estimate and why).
        """
        if self._checked:
            return self
        self._dry_run()
        self._checked = True
        return self

    def _dry_run(self) -> None:
        n = len(self.probe_y)
        rng = np.random.default_rng(0)
        codes, other = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
        common = dict(k=self.k, ci=self.ci, n_subsamples=self.n_subsamples, units=self.units, backend=self.knn_backend,
                      device=self.device, random_state=0)
        counts = np.bincount(self.probe_y)
        checks = [("I(X;L)", _make_estimator(self.estimator, y_discrete=False, **common), other)]
        if self.label_side == "codes":
            checks.append(("I(L;Y)", _make_estimator(self.estimator_y, y_discrete=True, **common), self.probe_y))
        for what, est, target in checks:
            try:
                if getattr(est, "name", "") in ("mine", "nwj", "infonce"):
                    est.check_params(n)  # a dry training run would cost minutes
                else:
                    est.estimate(codes, target)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"The probe set ({n} rows, {len(counts)} classes with {counts.min()} to {counts.max()} rows each) "
                    f"cannot be analysed with these settings: the {what} estimate fails with: {exc}"
                ) from None

    def expected_rows(self, model) -> int:
        """Rows one analysed epoch gives for ``model`` (its layers, plus ``exp(L5)`` with ``softmax``)."""
        names = list(ActivationRecorder(model, self.layers).layers)
        return len(names) + int(self.softmax and getattr(model, "log_prob_layer", None) in names)

    def _decode(self, names: list[str], acts, bounds: HeadBounds):
        """Per layer, the decoder bound on I(L;Y) in nats (:func:`ibscope.ib.decoders.decoder_bounds`) and the
        seconds its own probe took."""
        own, seconds = {}, {}
        for name in names:
            t0 = time.perf_counter()
            own[name] = self.probes_.cross_entropies(name, acts.layers[name], acts.y, refit=self.refit == "every")
            seconds[name] = time.perf_counter() - t0
        head = None
        if not bounds.note and acts.output is not None:
            out = np.asarray(acts.output, dtype=np.float64)
            head = -out[np.arange(len(out)), self.probe_labels_.astype(np.int64)]
        level = None if self.ci is None else float(self.ci)
        return decoder_bounds(bounds.h_y, own, head, names, level), seconds

    def capture(self, model):
        """One probe pass: the activations of every analysed layer (see :class:`ActivationRecorder`)."""
        rec = ActivationRecorder(model, self.layers, n_samples=len(self.probe_y), capture_output=True)
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

    def on_epoch_end(self, trainer, epoch: int, logs: dict | None = None) -> list[dict]:
        """Analyse the model after epoch ``epoch``: one row per layer.

        Parameters
        ----------
        trainer : Trainer or torch.nn.Module
            The built-in :class:`~ibscope.ib.Trainer` (its ``model`` is analysed), or
            the model itself in a hand-written loop. The model is put in eval mode
            for the probe pass, then restored.
        epoch : int
            Epoch number stored in the rows (1-based by convention).
        logs : dict or None
            The trainer's epoch logs; the rows are added to ``logs["rows"]`` and
            ``logs["metrics"]["analysed"]`` is set.

        Returns
        -------
        list of dict
            Rows with the keys of :data:`INFO_COLUMNS`; MI values in ``units``
            (empty when ``epochs`` is given and does not contain ``epoch``).
        """
        if self.schedule is not None and int(epoch) not in self.schedule:
            return []
        model = getattr(trainer, "model", trainer)
        worker = getattr(trainer, "analysis_worker", None)
        if worker is not None and logs is not None:
            return self._submit(worker, model, epoch, logs)
        rows = self.analyse(model, epoch)
        if logs is not None:
            logs.setdefault("rows", []).extend(rows)
            metrics = logs.setdefault("metrics", {})
            metrics["analysed"] = int(bool(rows))
            metrics["analysis_s"] = self.last_analysis_s
            metrics["analysis_wait_s"] = self.last_analysis_s  # the loop waited for all of it
        return rows

    def _submit(self, worker, model, epoch: int, logs: dict) -> list[dict]:
        """The background mode (:mod:`ibscope.ib.worker`): the probe pass now, the rest in ``worker``; the
        future of the epoch's rows goes to ``logs["pending"]``. Returns no rows (they come with the future)."""
        from .worker import draws_global_rng, frozen_copy

        t0 = time.perf_counter()
        probe = self._probe(model, epoch)
        target, brackets = None, None
        if self.brackets:
            target = frozen_copy(model)
            if self._copy_exact is None:  # once per run: may the copy's passes skip seeding the global generators?
                self._copy_exact = not draws_global_rng(target, self._probe_batch())
            if not self._copy_exact:  # the brackets need the global generators: here, as in the synchronous mode
                brackets, target = self._brackets(model, probe["names"], probe["acts"], epoch), None
        probe["seconds"] = time.perf_counter() - t0
        logs["pending"] = worker.submit(self._finish_job, probe, target, brackets)
        metrics = logs.setdefault("metrics", {})
        metrics["analysed"] = 1
        metrics["analysis_wait_s"] = probe["seconds"]  # the trainer adds the time it waits for the rest
        return []

    def _finish_job(self, probe: dict, model, brackets) -> dict[str, Any]:
        """The worker's part of a background analysis: the rows and the analysis' own seconds."""
        rows = self._finish(probe, model, brackets, fork_global_rng=False)
        return {"rows": rows, "metrics": {"analysis_s": self.last_analysis_s}}

    def _probe_batch(self):
        """A few probe rows, on the model's side (for :func:`~ibscope.ib.worker.draws_global_rng`)."""
        import torch

        x = self.probe_x[:8]
        return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float32))

    def analyse(self, model, epoch: int) -> list[dict]:
        """Analyse ``model`` now (whatever the schedule): one row per layer, flagged.

        The seconds it takes are kept in :attr:`last_analysis_s` (the ``analysis_s`` of ``metrics.csv``).
        """
        return self._finish(self._probe(model, epoch), model)

    def _probe(self, model, epoch: int) -> dict[str, Any]:
        """The part of an analysis that needs the live model: the probe pass (it draws from the model's
        noise streams, whose state before it is kept so that a lost row can be redone exactly)."""
        t_start = time.perf_counter()
        self.prepare()
        self._emit("probe pass", epoch=int(epoch))
        self._noise_before = (int(epoch), _noise_state(model))  # so that a lost row can be redone exactly
        names, acts = self.capture(model)
        if self.refit == "first" and self.fit_epoch_ is None:
            self.fit_epoch_ = int(epoch)
        return {"epoch": epoch, "names": names, "acts": acts, "seconds": time.perf_counter() - t_start}

    def _finish(self, probe: dict[str, Any], model, brackets: dict | None = None, *,
                fork_global_rng: bool = True) -> list[dict]:
        """The rest of an analysis, from the probe pass' activations: codes, estimates, decoders, brackets
        (through ``model``, unless ``brackets`` are given), flags. Sets :attr:`last_analysis_s`."""
        t_start = time.perf_counter() - probe["seconds"]
        epoch, names, acts = probe["epoch"], probe["names"], probe["acts"]
        x_coded = self.x_coded_
        if x_coded is None:  # pragma: no cover - prepare() sets it
            raise RuntimeError("IBRecorder.prepare() did not compute the X code.")
        bounds = head_bounds(acts.output, self.probe_labels_) if acts.output is not None else \
            HeadBounds(h_y=float("nan"), note="the model's output was not captured")
        self.bounds_ = bounds
        self.bounds_history.append({"epoch": int(epoch), **bounds.to_dict()})
        factor = UNIT_FACTORS[self.units]
        bound_cells = bounds.in_units(factor)
        bound_note = [] if not bounds.note else [f"bound: not computed, {bounds.note}"]
        if self.label_side == "decoder":
            self._emit("decoders", epoch=int(epoch))
        decoded, decode_time = self._decode(names, acts, bounds) if self.label_side == "decoder" else ({}, {})
        if brackets is None:
            brackets = self._brackets(model, names, acts, epoch, fork_global_rng=fork_global_rng)
        rows = []
        for li, name in enumerate(names):
            self._emit("estimates", layer=name, index=li, total=len(names), epoch=int(epoch))
            t0 = time.perf_counter()
            layer = acts.layers[name]
            comp = self._layer_compressor(name, li, layer)
            if comp is not None and not is_fitted(comp):
                self._announce_fit(comp, f"layer {name}", layer)
            common = dict(k=self.k, ci=self.ci, n_subsamples=self.n_subsamples, units=self.units,
                          backend=self.knn_backend, device=self.device)
            est_xl = _make_estimator(self.estimator, y_discrete=False,
                                     random_state=child_seed(self.random_state, epoch, li + 1, 1), **common)
            # Algorithm 1: the layer coded once (its compressor fitted now if new), the estimates on the codes
            coded = CompressedEstimator(est_xl, compressor_y=comp, refit="first").encode("y", layer)
            if coded.info is None:
                coded = Coded(layer.astype(np.float64), None)
            r_xl = CompressedEstimator(est_xl, self.x_compressor_, comp, refit="never").estimate_coded(x_coded, coded)
            checks = self._code_checks(x_coded.codes, coded.codes, epoch, li, factor)
            warns = [f"I(X;L) code MI: {w}" for w in r_xl.warnings if w not in DPI_NOTES]
            best = None
            if self.label_side == "decoder":
                d = decoded[name]
                ly = {"i_ly": max(d["own"], 0.0) * factor, "i_ly_lo": _times(d["own_ci_low"], factor),
                      "i_ly_hi": _times(d["own_ci_high"], factor), "i_ly_raw": d["own"] * factor,
                      "i_ly_best": d["value"] * factor, "ly_decoder": "linear probe", "ly_best_by": d["decoder"],
                      "estimator_y": "decoder"}
                best = d["value"] if d["ci_low"] is None else d["ci_low"]
                if d["own"] < 0:
                    warns.append(f"I(L;Y): the layer's decoder bound {d['own']:.4g} nats is negative (the linear "
                                 "probe does not beat the label frequencies); the value was clipped to 0.")
            else:
                est_ly = _make_estimator(self.estimator_y, y_discrete=True,
                                         random_state=child_seed(self.random_state, epoch, li + 1, 2), **common)
                r_ly = CompressedEstimator(est_ly, comp, refit="never").estimate_coded(coded, Coded(acts.y))
                ly = {**r_ly.to_row(_LY_COLUMNS), "i_ly_best": None, "ly_decoder": "codes", "ly_best_by": None}
                warns += [f"I(L;Y): {w}" for w in r_ly.warnings if w not in DPI_NOTES]
            xl, notes = self._bracket_cells(brackets, name, best, factor)
            warns += notes
            rows.append({
                "epoch": int(epoch),
                "layer": name,
                "layer_index": li,
                **xl,
                **r_xl.to_row(_XL_COLUMNS),
                **checks,
                **ly,
                "h_y": self.h_y_,
                **bound_cells,
                "flags": "",
                "units": self.units,
                "n": acts.n_samples,
                "k": self.k,
                "ci_level": self.ci,
                "compressor": _spec_text(self.compress) if comp is not None else "none",
                "compressor_x": _spec_text(self.compress_x) if self.x_compressor_ is not None else "none",
                "refit": self.refit,
                "fit_epoch": int(epoch) if self.refit == "every" else self.fit_epoch_,
                "dim_layer": int(layer.shape[1]),
                "dim_code": int(np.shape(coded.codes)[1]),
                "recon_mae": 0.0 if coded.info is None else coded.info["sample_reconstruction_error"],
                "seed": self.random_state,
                "time_s": time.perf_counter() - t0 + decode_time.get(name, 0.0),
                "warnings": " | ".join([*dict.fromkeys(warns), *bound_note]),
            })
        flag_rows(rows, self.h_y_, ln_n=math.log(len(self.probe_y)) * factor)
        self.history.extend(rows)
        self.last_analysis_s = time.perf_counter() - t_start
        self._emit("done", epoch=int(epoch))
        return rows

    def _code_checks(self, x_codes, l_codes, epoch: int, index: int, factor: float) -> dict[str, Any]:
        """The code MI by a second estimator (KSG) and of a second code dimension (the first two components),
        without intervals: what a study's phase gate compares (raw values, in ``units``)."""
        import warnings

        out: dict[str, Any] = {"i_xl_code_ksg": None, "i_xl_code_2d": None}
        if not self.code_checks:
            return out
        x, z = np.asarray(x_codes, dtype=np.float64), np.asarray(l_codes, dtype=np.float64)
        seed = child_seed(self.random_state, epoch, index + 1, 3)
        common = dict(k=self.k, ci=None, units="nats", backend=self.knn_backend, device=self.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the row's own estimate carries the warnings
            try:
                ksg = _make_estimator("ksg", y_discrete=False, random_state=seed, **common)
                out["i_xl_code_ksg"] = ksg.estimate(x, z).raw_value * factor
                if x.shape[1] > 2 or z.shape[1] > 2:
                    est = _make_estimator(self.estimator, y_discrete=False, random_state=seed, **common)
                    out["i_xl_code_2d"] = est.estimate(x[:, :2], z[:, :2]).raw_value * factor
            except (ValueError, ArithmeticError):  # too few rows or a degenerate code: no check value
                pass
        return out

    def _brackets(self, model, names: list[str], acts, epoch: int, *,
                  fork_global_rng: bool = True) -> dict[str, dict[str, Any]]:
        """Per layer, the provable brackets on I(X;L) and I(L;Y) and the estimate of I(X;L)
        (:func:`ibscope.ib.brackets.xl_brackets`, nats); empty when ``brackets`` is off.

        The probe pass of this epoch gives the decoding references (its noise is independent of the
        identification trials). ``exp(L5)``, a bijection of L5, shares L5's values.
        """
        if not self.brackets:
            return {}
        from .brackets import xl_brackets

        self._emit("brackets", epoch=int(epoch))
        modules = [n for n in names if n in acts.layers and not n.startswith("exp(")]
        refs = {n: np.asarray(acts.layers[n], dtype=np.float64) for n in modules}
        out = xl_brackets(model, self.probe_x, self.probe_y, modules, n_trials=self.bracket_trials,
                          estimate=self.xl_estimate, references=refs, cache=self._bracket_cache,
                          random_state=child_seed(self.random_state, epoch, 0, 7), batch_size=self.batch_size,
                          device=self.device, fork_global_rng=fork_global_rng)
        for n in names:
            if n.startswith("exp(") and n[4:-1] in out:
                out[n] = out[n[4:-1]]
        return out

    def _bracket_cells(self, brackets: dict, name: str, decoder_lower: float | None,
                       factor: float) -> tuple[dict[str, Any], list[str]]:
        """The ``info.csv`` cells of one layer's brackets and estimate (in ``units``), and their notes."""
        b = brackets.get(name)
        if b is None:
            cells = {"i_xl": None, "i_xl_lo": None, "i_xl_hi": None, "i_xl_raw": None, "i_xl_method": "off",
                     "xl_lower": None, "xl_upper": None, "xl_bounds_by": None, "ly_lower": None,
                     "ly_upper": self.h_y_}
            if decoder_lower is not None:
                cells["ly_lower"] = max(decoder_lower, 0.0) * factor
            return cells, []
        raw = b["i_xl"]
        lower_y = [v for v in (b.get("ly_lower_ident"), decoder_lower) if v is not None and math.isfinite(v)]
        cells = {
            "i_xl": None if not math.isfinite(raw) else max(raw, 0.0) * factor,
            "i_xl_lo": _times(_finite(b["i_xl_lo"]), factor), "i_xl_hi": _times(_finite(b["i_xl_hi"]), factor),
            "i_xl_raw": None if not math.isfinite(raw) else raw * factor, "i_xl_method": b["i_xl_method"],
            "xl_lower": _times(_finite(b["xl_lower"]), factor), "xl_upper": _times(_finite(b["xl_upper"]), factor),
            "xl_bounds_by": f"{b.get('xl_lower_by') or '-'} / {b.get('xl_upper_by') or '-'}",
            "ly_lower": max(max(lower_y), 0.0) * factor if lower_y else None,
            "ly_upper": _times(_finite(b["ly_upper"]), factor),
        }
        notes = [f"brackets: {n}" for n in b.get("notes", [])]
        return cells, notes

    def reanalyse(self, model, epoch: int) -> list[dict]:
        """Analyse ``model`` again for ``epoch`` (rows lost after its checkpoint), with the noise streams the
        first analysis of that epoch used (kept in :meth:`state_dict`), so the rows are the same; every noise
        stream is restored afterwards. The rows carry a note that they were re-analysed."""
        from ..nets import set_noise_rng_state

        after = _noise_state(model)
        saved = self._noise_before
        try:
            if saved is not None and int(saved[0]) == int(epoch) and saved[1]:
                set_noise_rng_state(model, saved[1])
            rows = self.analyse(model, epoch)
        finally:
            if after:
                set_noise_rng_state(model, after)
        for r in rows:
            r["warnings"] = " | ".join(w for w in (r.get("warnings"), "re-analysed on resume: the logged row was "
                                                   "lost") if w)
        return rows

    # ----------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs of the recorder: its fitted compressors (as bytes) and fit epoch.

        The built-in :class:`~ibscope.ib.callbacks.Checkpoint` (and Lightning, for the
        :class:`~ibscope.integrations.lightning.InformationPlane` callback) stores it in the run's
        checkpoint, so it is always as new as the model weights. Compressors without a saved form
        (a user's own objects) are recorded as absent and refitted on resume.
        """
        def blob(comp) -> bytes | None:
            return comp.to_bytes() if comp is not None and hasattr(comp, "to_bytes") else None

        layers = {name: blob(comp) for name, comp in self.layer_compressors_.items()} if self.refit == "first" else {}
        bases = {name: blob(b) for name, b in self.probes_.bases_.items()} if self.refit == "first" else {}
        return {"version": 1, "refit": self.refit, "fit_epoch": self.fit_epoch_, "x": blob(self.x_compressor_),
                "noise_before_analysis": self._noise_before,
                "x_used": self.x_coded_ is not None, "layers": layers,
                "layers_uncompressed": [n for n, c in self.layer_compressors_.items() if c is None],
                "decoder_bases": bases, "decoders_uncompressed": [n for n, b in self.probes_.bases_.items()
                                                                 if b is None]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the X code is recomputed from the X compressor)."""
        self._noise_before = state.get("noise_before_analysis")
        if state.get("x") is not None:
            self._code_x(compressor_from_bytes(state["x"]))
        if self.refit != "first" or state.get("fit_epoch") is None:
            return
        comps: dict[str, Any] = {n: compressor_from_bytes(b) for n, b in state.get("layers", {}).items()
                                 if b is not None}
        comps.update({n: None for n in state.get("layers_uncompressed", [])})
        self.layer_compressors_ = comps
        bases: dict[str, Any] = {n: compressor_from_bytes(b) for n, b in state.get("decoder_bases", {}).items()
                                 if b is not None}
        bases.update({n: None for n in state.get("decoders_uncompressed", [])})
        self.probes_.bases_ = bases
        self.fit_epoch_ = int(state["fit_epoch"])

    def save_state(self, folder) -> None:
        """Write the fitted compressors to ``folder`` (``x.npz``, ``layer-<name>.npz``, the decoders' bases
        ``decoder-<name>.npz``, ``state.json``): the layout of run folders written before the state moved
        into the checkpoint (:meth:`state_dict`), kept for tools that read it.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {"fit_epoch": self.fit_epoch_, "refit": self.refit, "x": None, "layers": {}}
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
            meta["decoder_bases"] = {}
            for name, basis in self.probes_.bases_.items():
                base_file: str | None = None
                if basis is not None:
                    base_file = f"decoder-{_safe(name)}.npz"
                    basis.save(folder / base_file)
                meta["decoder_bases"][name] = base_file
        atomic_write_json(folder / "state.json", meta)

    def load_state(self, folder, *, max_fit_epoch=None) -> bool:
        """Load compressors written by :meth:`save_state` (run folders of earlier versions).

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
            self._code_x(load_compressor(folder / meta["x"]))
        fit_epoch = meta.get("fit_epoch")
        if self.refit != "first" or fit_epoch is None or not meta.get("layers"):
            return False
        if max_fit_epoch is not None and fit_epoch > max_fit_epoch:
            return False
        comps = {}
        for name, fname in meta["layers"].items():
            comps[name] = None if fname is None else load_compressor(folder / fname)
        self.layer_compressors_ = comps
        self.probes_.bases_ = {name: None if fname is None else load_compressor(folder / fname)
                               for name, fname in meta.get("decoder_bases", {}).items()}
        self.fit_epoch_ = int(fit_epoch)
        return True


def _noise_state(model) -> dict:
    """The generator states of the model's noise layers (empty without any)."""
    from ..nets import get_noise_rng_state

    try:
        return get_noise_rng_state(model)
    except Exception:  # a model without ibscope noise layers, or not a module
        return {}


def _deprecated(owner: str, old: str, new: str) -> None:
    import warnings

    warnings.warn(f"The '{old}' parameter of {owner} is deprecated and will be removed in a later release; use "
                  f"'{new}'.", DeprecationWarning, stacklevel=3)


def _finite(value):
    """A float, or None when it is missing or not finite."""
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _times(value, factor: float):
    return None if value is None else value * factor


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)




IBRecorder.backend = property(lambda self: self.knn_backend,  # type: ignore[attr-defined]
                              doc="Deprecated name of :attr:`knn_backend`.")
IBRecorder.epochs = property(lambda self: self.schedule,  # type: ignore[attr-defined]
                             doc="Deprecated name of :attr:`schedule`.")
