"""Per-epoch information-plane analysis of every layer: the recorder that turns probe passes into rows.

After a scheduled epoch, one probe pass (:class:`~ibscope.plane.capture.ActivationRecorder`) gives
every layer's output L on a fixed probe set X with labels Y, with the network's own noise. The
population is X uniform on the probe set. Each row of ``info.csv`` then holds:

* the provable bracket on I(X;L) and the estimate of I(X;L) inside it, and the bracket on I(L;Y)
  (:mod:`ibscope.plane.brackets`);
* the code MI of Algorithm 1 of Butakov et al. (ICLR 2024): X and L each compressed to a small
  code (PCA to 4-D by default; X once, each layer on its first analysed epoch with
  ``refit="first"`` or every epoch with ``refit="every"``) and a kNN estimate between the codes,
  with a half-sampling interval (``n_subsamples=10`` here; the Student-t quantile widens the
  interval accordingly) and the same by KSG and on 2-D codes;
* I(L;Y) as the usable information of the layer's own held-out linear probe, the best of all
  decoders, and the bounds from the network's head (:mod:`ibscope.plane.decoders`,
  :mod:`ibscope.plane.bounds`); or, with ``label_side="codes"``, the paper's class-conditional
  estimate on the layer's code;
* sanity flags (:mod:`ibscope.plane.flags`).

The steps themselves are in :mod:`ibscope.ib.analysis`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .._random import child_seed
from .._result import UNIT_FACTORS, check_units
from .._validation import to_numpy
from ..compress import CompressedEstimator, compressor_from_bytes, is_fitted
from ..compress.wrapper import Coded, clone_compressor, code_dim
from ..estimators import registry
from ..plane.bounds import HeadBounds
from ..plane.capture import ActivationRecorder
from ..plane.decoders import LinearProbes
from ..runs.schema import INFO
from ._folder_state import _FolderState
from .analysis import _AnalysisSteps, _noise_state
from .callbacks import Callback
from .config import make_analysis_estimator as _make_estimator

__all__ = ["INFO_COLUMNS", "REFIT_MODES", "IBRecorder", "resolve_backend"]

#: Columns of ``info.csv`` (one row per analysed epoch and layer), in order: the names of
#: :data:`ibscope.runs.schema.INFO`, where each column's type and meaning are declared.
INFO_COLUMNS = INFO.names

#: Accepted values of ``refit``: fit layer compressors on the first analysed epoch only, or every epoch.
REFIT_MODES = ("first", "every")

#: How I(L;Y) is estimated: cross-fitted decoders (a lower bound with a CI, the default), or the
#: paper's class-conditional estimator on each layer's compressed code.
LABEL_SIDES = ("decoder", "codes")







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
class IBRecorder(_AnalysisSteps, _FolderState, Callback):
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
        head (:mod:`ibscope.plane.decoders`), with a normal CI from the per-row
        cross-entropies. ``"codes"``: the paper's scheme, ``estimator_y`` on the
        layer's compressed code (``compress``).
    schedule : collection of int or None, default=None
        Epochs to analyse when the hook is called; None analyses at every call.
        :func:`~ibscope.ib.run_ib` passes the run's schedule.
    brackets : bool, default=True
        Every analysed epoch, also compute the provable brackets on I(X;L) and I(L;Y) and the estimate
        of I(X;L) itself (:func:`ibscope.plane.brackets.xl_brackets`): the columns ``xl_lower``,
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
        analysed epoch (:mod:`ibscope.plane.bounds`; NaN with a ``note`` when the model
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

    def analyse(self, model, epoch: int) -> list[dict]:
        """Analyse ``model`` now (whatever the schedule): one row per layer, flagged.

        The seconds it takes are kept in :attr:`last_analysis_s` (the ``analysis_s`` of ``metrics.csv``).
        """
        return self._finish(self._probe(model, epoch), model)

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


def _deprecated(owner: str, old: str, new: str) -> None:
    import warnings

    warnings.warn(f"The '{old}' parameter of {owner} is deprecated and will be removed in a later release; use "
                  f"'{new}'.", DeprecationWarning, stacklevel=3)


IBRecorder.backend = property(lambda self: self.knn_backend,  # type: ignore[attr-defined]
                              doc="Deprecated name of :attr:`knn_backend`.")
IBRecorder.epochs = property(lambda self: self.schedule,  # type: ignore[attr-defined]
                             doc="Deprecated name of :attr:`schedule`.")
