"""Provable brackets on both axes of the information plane, and an estimate of I(X;L) inside them.

Definitions
-----------
**Population.** X is uniform on the N rows of the probe set (row indices; two identical images
are two values of X), Y = label(X), and the network runs as in a probe pass: evaluation mode
(dropout off) with its own noise layers acting as they do in ``eval()``. Every number here is a
property of that joint law; none treats the probes as a sample of a continuous data law.

**The analysed variable of a layer.** For an analysed module with output L (flattened), the
variable is ``Lt = c(L)``: L observed once more through the network's Gaussian noise channel ``c``
(the *read-out*, :func:`ibscope.nets.noise_channel`): ``L + sigma eps`` (additive),
``L (1 + sigma eps)`` (relative) or ``standardize_rows(L) + sigma eps`` (normalized), with fresh
``eps ~ N(0, I)``. In the paper's conv net (and the MLP) the noise of layer k + 1 sits at its
input, so for every layer but the last ``Lt`` *is* the noisy input of the next layer (the T_k of
Goldfeld et al., 2019); for the output layer the read-out is a virtual channel of the same law.
By data processing, ``I(X;Lt) <= I(X;L)`` and ``I(Lt;Y) <= I(L;Y)``. With ``readout=None`` the
variable is L itself (then only the identification bounds and the upper bounds apply).

**The bracket.** ``xl_lower <= I(X;Lt) <= I(X;L) <= xl_upper`` and
``ly_lower_ident <= I(Lt;Y) <= I(L;Y) <= ly_upper``:

* *Lower bounds* come from decoding X (and Y) from draws of Lt (``n_trials`` iid trials: a
  probe index drawn uniformly with replacement, one noisy pass with the network's own noise, one
  read-out draw). Each is a statistical bound; the largest of the six candidates below holds with
  probability >= ``level`` (each is computed at ``delta = (1 - level) / 8``, a union bound):

  - ``fano_x``: nearest noise-free reference (the distance between the draw and the read-out
    mean of every probe's noise-free activation, Mahalanobis for the pooled spread of
    ``n_calibration`` separate draws around their references: a covariance shrunk towards its
    diagonal up to 512 dimensions, per-coordinate variances beyond; Euclidean where that decodes
    the separate draws better), Fano's inequality
    ``I >= ln N - h(Pe) - Pe ln(N - 1)`` with the one-sided Clopper-Pearson upper limit of Pe;
  - ``fano_y``: the label of that decoded probe, Fano with K classes and H(Y);
  - ``ba_x`` / ``ba_y``: Barber-Agakov ``I >= H - E[-log q]`` with a Gaussian-kernel posterior over
    the ``top_k`` nearest references (bandwidth chosen from a fixed grid; a union bound covers
    the choice), mixed with the uniform law (weight 0.01) so that the log-loss is bounded, and
    the empirical-Bernstein bound of Maurer & Pontil (2009) on its mean;
  - ``sp_x`` / ``sp_y``: the same with the sample-propagation posterior (below), when its
    mixture covers all N probes;
  - ``mm_x`` / ``mm_y``: the same with a moment-matched posterior (each probe's replicas replaced
    by one Gaussian with their mean and their spread added to the read-out variance).

  Every Barber-Agakov posterior is built from passes whose noise is independent of the trials,
  so it is a fixed decoder for them. A lower bound on I(Lt;Y) is one on I(X;Lt) too (Y is a
  function of X), so ``xl_lower`` is at least ``ly_lower_ident``.
* *Upper bounds* are exact: ``ln N``; the entropy of the distinct probe images when some repeat;
  and, on the first noisy variable T1 (the output of the first active noise layer, exactly a
  uniform mixture of N Gaussians given the probe), the Kolchinsky-Tracey pairwise bound
  ``I(X;T1) <= -(1/N) sum_i ln[(1/N) sum_j exp(-KL(p_i || p_j))]`` and, for additive or normalized
  noise, the Gaussian-channel bound ``1/2 log det(I + Sigma/sigma^2)`` with Sigma the (exact)
  covariance of T1's mean over the probes. Both carry to every analysed layer that T1 separates
  from the input (data processing), which is checked on a probe batch. ``ly_upper`` is
  ``min(H(Y), xl_upper)``.

**The estimate** (``i_xl``) of ``I(X;Lt)`` is the sample-propagation estimator of Goldfeld et al.
(2019), in two variants that err in opposite directions. Given X = j, ``p(t | j)`` is approximated by
the mixture of the read-out Gaussians centred on ``n_replicas`` independent noisy passes of probe j,
and ``p(t) = (1/N) sum_j p(t | j)`` (the other probes' terms from a uniform subset of ``n_inner`` of
them when N is larger, weighted to stay unbiased). Both average ``log p(t | i) - log p(t)`` over
trials:

* *fresh*: t is a new noisy pass (the identification trials), independent of the replicas. Its
  expectation is at most I(X;Lt): with all N probes in the mixture it is the Barber-Agakov bound of
  that posterior. A moment-matched posterior (one Gaussian per probe with the replicas' mean and
  covariance plus the read-out variance) gives a second value of this kind; the larger is used;
* *plug-in*: t is drawn from the replicas' own mixture (Goldfeld et al.'s estimator of the mixture's
  entropies). Its expectation is at least I(X;Lt): conditioning on the replicas (independent of X)
  can only add information.

Both converge to I(X;Lt) as the replicas grow. Each side is clipped to the bracket: the low side
``a = max(xl_lower, fresh or moment-matched)``, the high side ``b = min(xl_upper, plug-in)``. When
``b - a <= RESOLVE_TOL`` (1 nat) and the two sides narrow the bracket by at least ``pin_tol``, the
estimate is ``i_xl = (a + b) / 2``, with the interval from the low side's lower to the plug-in's upper
normal confidence limit (Monte-Carlo error only), clipped to the bracket. Otherwise the replicas do
not resolve the earlier noise (typical of wide layers under large noise): ``i_xl`` is NaN,
``i_xl_method`` is "unresolved", and the bracket is all that is known. Where the bracket itself is
narrower than ``pin_tol`` the estimate is not computed: it is *pinned* to the bracket (``i_xl`` its
midpoint, ``i_xl_lo`` / ``i_xl_hi`` its ends).

All values are in nats.

References
----------
Kolchinsky & Tracey (2017), Estimating mixture entropy with pairwise distances, Entropy 19, 361.
Goldfeld et al. (2019), Estimating information flow in deep neural networks, ICML.
Fano (1961); Clopper & Pearson (1934); Barber & Agakov (2003); Maurer & Pontil (2009),
Empirical Bernstein bounds and sample variance penalization, COLT.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from typing import Any

import numpy as np

from .._random import child_seed
from .._validation import check_float, check_int
from ..infobounds._common import _INPUT_AUTO_MAX, _N_LOWER, BRACKET_COLUMNS, _as64, _h_counts, _torch
from ..infobounds.estimate import _estimate, _finish_bracket, _place_estimate
from ..infobounds.gate import trend_gate
from ..infobounds.identify import _nearest_errors, identification_bounds, whitener
from ..infobounds.mixtures import _read_out, gaussian_channel_bound, kt_bounds, sample_propagation
from ..infobounds.scalar import bernstein_mean_upper, binary_entropy, clopper_pearson_upper, fano_lower_bound


# ---------------------------------------------------------------------------------------------------------------
# The model-level entry point
# ---------------------------------------------------------------------------------------------------------------
def _model_device(model):
    try:
        return next(model.parameters()).device
    except StopIteration:
        return _torch().device("cpu")


def _gaussian_law_known(layer) -> bool:
    """Whether a noise layer draws exactly the law of :func:`ibscope.nets.noise_channel` (not a subclass's own)."""
    from ..nets.noise import NOISE_KINDS, GaussianNoise

    return type(layer).forward is GaussianNoise.forward and layer.kind in NOISE_KINDS


def _forward_layers(model, x, layers, *, batch_size, hooks=()):
    """Analysed layers' outputs (float32 arrays (n, d)) of one unshuffled eval pass; ``hooks`` are (module, fn)
    forward pre-hooks or (module, fn, "out") forward hooks attached for the pass."""
    from .capture import ActivationRecorder

    handles = []
    try:
        for h in hooks:
            if len(h) == 3:
                handles.append(h[0].register_forward_hook(h[1]))
            else:
                handles.append(h[0].register_forward_pre_hook(h[1]))
        rec = ActivationRecorder(model, list(layers))
        acts = rec.capture(x, None, batch_size=batch_size)
    finally:
        for h in handles:
            h.remove()
    return acts.layers


def _set_sigma(layers, value):
    for _, layer in layers:
        layer.sigma = value


def _readout_channel(active, readout, notes) -> tuple[str | None, float]:
    """The read-out channel ``(kind, sigma)``, or ``(None, 0)`` for the layer itself."""
    from ..nets.noise import NOISE_KINDS

    if readout is None:
        return None, 0.0
    if readout == "auto":
        laws = {(layer.kind, float(layer.sigma)) for _, layer in active if _gaussian_law_known(layer)}
        if len(laws) == 1 and all(_gaussian_law_known(layer) for _, layer in active):
            kind, sigma = laws.pop()
            return kind, sigma
        notes.append("no read-out channel: the network's noise layers do not share one Gaussian law "
                     f"({sorted(laws) or 'none of ibscope.nets.GaussianNoise'}); the variable is the layer output "
                     "itself, and the estimate is not computed. Pass readout=(kind, sigma) to choose one.")
        return None, 0.0
    try:
        kind, sigma = readout
    except (TypeError, ValueError):
        raise ValueError(f"The 'readout' argument of xl_brackets must be 'auto', None or (kind, sigma). "
                         f"Got {readout!r}.") from None
    if kind not in NOISE_KINDS:
        raise ValueError(f"The read-out kind of xl_brackets must be one of {list(NOISE_KINDS)}. Got {kind!r}.")
    return kind, check_float(sigma, "readout sigma", "xl_brackets", low=0.0, low_open=True)


def _empty_row(name, n, ln_n, h_y, n_classes, level, notes, variable, population, pin_tol=0.1) -> dict[str, Any]:
    nan = math.nan
    return {
        "layer": name, "n_probes": n, "ln_n": ln_n, "h_y": h_y, "n_classes": n_classes, "level": level,
        "pin_tol": pin_tol,
        "xl_lower": nan, "xl_upper": nan, "ly_lower_ident": nan, "ly_upper": nan,
        "i_xl": nan, "i_xl_lo": nan, "i_xl_hi": nan, "i_xl_se": nan, "i_xl_method": "none",
        "saturated": False, "in_bracket": None, "xl_lower_by": "", "xl_upper_by": "", "ly_lower_by": "",
        "lower_bounds": {}, "upper_bounds": {}, "errors_x": None, "errors_y": None, "n_trials": 0,
        "pe_x_upper": nan, "pe_y_upper": nan, "variable": variable, "population": population,
        "time_s": 0.0, "time_shared_s": 0.0, "notes": list(notes),
    }


def _read_out_draw(values, kind, sigma: float, device, seed: int):
    """``values`` (float64 on ``device``) seen once more through the read-out channel, with noise drawn from a
    generator seeded by ``seed``; unchanged without a channel (``kind`` None)."""
    torch = _torch()
    lt = _as64(values, device)
    if kind is None:
        return lt
    mean, var = _read_out(lt, kind, sigma, device)
    g = torch.Generator(device=device).manual_seed(seed)
    noise = torch.randn(mean.shape, generator=g, device=device, dtype=torch.float64)
    return mean + (math.sqrt(var) * noise if isinstance(var, float) else var.sqrt() * noise)


def xl_brackets(model, probe_x, probe_y, layers=None, *, n_trials: int = 1000, n_replicas: int = 8,
                n_inner: int = 2000, n_estimate: int = 256, references: dict | None = None, readout="auto",
                force_noise: bool = False, level: float = 0.95, pin_tol: float = 0.1, top_k: int = 256,
                n_calibration: int = 256, estimate: bool = True, input_bounds="auto", cache: dict | None = None,
                random_state: int = 0, batch_size: int = 2048, device=None,
                fork_global_rng: bool = True) -> dict[str, dict[str, Any]]:
    """Brackets on I(X;L) and I(L;Y), and an estimate of I(X;L), for every analysed layer (module notes).

    Call it once per analysed epoch. The model's train/eval mode, its noise layers' settings and
    random streams and the global torch generator are restored afterwards, so training continues
    exactly as if the analysis had not run.

    Parameters
    ----------
    model : torch.nn.Module
        The network, with :class:`ibscope.nets.GaussianNoise` layers.
    probe_x : torch.Tensor or numpy.ndarray of shape (N, ...)
        Probe inputs, normalised as the model expects, in probe order.
    probe_y : array-like of shape (N,), int
        Probe labels.
    layers : sequence of str or None
        Modules to analyse (None: ``model.layer_names``).
    n_trials : int, default=1000
        Identification trials (probe drawn uniformly with replacement, one noisy pass, one read-out).
    n_replicas : int, default=8
        Noisy passes per probe in the mixtures of the estimate.
    n_inner : int, default=2000
        Probes in those mixtures: all N when N <= n_inner, else a uniform subset (then the estimate's
        mixture is subsampled and ``sp_x`` / ``sp_y`` are not bounds).
    n_estimate : int, default=256
        Trials of the estimate (the first ones of the identification trials).
    references : dict of str to array of shape (N, d) or None
        Decoding centres per layer from a pass whose noise is independent of these trials (e.g. the
        recorder's probe pass); None runs a noise-free pass. A layer missing here uses that pass.
    readout : "auto", None or (kind, sigma), default="auto"
        The read-out channel (module notes); "auto" takes the network's noise law when all its active
        noise layers share one.
    force_noise : bool, default=False
        Turn the noise on in evaluation mode for the analysis when the model has it only in training
        (recorded in the notes); otherwise such a model gets no numbers.
    level : float, default=0.95
        Confidence of the lower bounds (jointly) and of the estimate's interval.
    pin_tol : float, default=0.1
        Brackets narrower than this (nats) pin the estimate instead of computing it.
    top_k : int, default=256
        Nearest references of the kernel posterior.
    n_calibration : int, default=256
        Extra noisy draws (probes drawn uniformly) whose spread around the references fixes the
        decoders' Mahalanobis metric (:func:`whitener`); 0 decodes in the Euclidean distance.
    estimate : bool, default=True
        Compute the estimate for layers whose bracket is wider than ``pin_tol`` (False: brackets
        only, ``i_xl_method`` "none" there; the replica passes are the costliest part).
    input_bounds : bool or "auto", default="auto"
        Compute the bounds on the first noisy variable (O(N^2 d) for an input of d values; "auto":
        when N^2 d <= 2e10 or on CUDA).
    cache : dict or None
        A dict kept by the caller between calls: the first-noisy-variable bounds (which depend only
        on the probe set and the first noise layer) are stored there and reused.
    random_state : int, default=0
        Seed of the trials, the noise streams used here and the read-out draws.
    batch_size : int, default=2048
        Rows per forward pass.
    device : str or None
        Where the distance computations run (None: the model's device). Passes run on the model's device.
    fork_global_rng : bool, default=True
        Seed the global torch generators for the passes (restoring them afterwards), so that a model that
        draws from them outside its noise layers gives reproducible numbers. False leaves them alone: for a
        model that draws nothing from them in eval mode (the same numbers), analysed in a thread beside a
        training loop that does (:mod:`ibscope.ib.worker`), where seeding and restoring them would change
        the loop's dropout.

    Returns
    -------
    dict of str to dict
        Per layer (in order): ``xl_lower``, ``xl_upper``, ``ly_lower_ident``, ``ly_upper`` (nats),
        ``i_xl``, ``i_xl_lo``, ``i_xl_hi``, ``i_xl_se`` (nats), ``i_xl_method``
        ("sample-propagation", "pinned" or "none"), ``saturated`` (``xl_lower >= ln N - 0.1``),
        ``in_bracket`` (the estimate inside [xl_lower, xl_upper]; None without an estimate),
        ``xl_lower_by`` / ``xl_upper_by`` / ``ly_lower_by`` (which bound attains each side),
        ``lower_bounds`` and ``upper_bounds`` (every candidate, nats), ``errors_x``, ``errors_y``,
        ``n_trials``, ``pe_x_upper``, ``pe_y_upper``, ``decoder_metric`` ("euclidean" or
        "mahalanobis"), ``n_probes``, ``ln_n``, ``h_y``,
        ``n_classes``, ``level``, ``pin_tol``, ``variable`` and ``population`` (text), ``time_s``
        (this layer's own computations, s) and ``time_shared_s`` (the passes shared by all layers,
        s), ``notes`` (list of str); where the estimate ran, ``estimate`` (its sides ``fresh``,
        ``moment_matched``, ``plugin`` with ``fresh_se``, ``plugin_se``, the clipped ``low_side`` and
        ``high_side``, ``resolved``, ``n_trials``, ``n_replicas``, ``n_inner``, ``exact_mixture``);
        where the first noisy variable's bounds ran, ``kt_input_lower`` (its Kolchinsky-Tracey lower
        bound, nats). Without active noise every number is NaN and the notes say why.

    Raises
    ------
    ValueError
        Bad sizes or settings (the message names the argument), unknown layer names.
    """
    torch = _torch()
    from ..nets.noise import get_noise_rng_state, noise_channel, noise_layers, reseed_noise, set_noise_rng_state
    from .capture import ActivationRecorder

    owner = "xl_brackets"
    n_trials = check_int(n_trials, "n_trials", owner, low=2)
    n_replicas = check_int(n_replicas, "n_replicas", owner, low=1)
    n_inner = check_int(n_inner, "n_inner", owner, low=2)
    n_estimate = check_int(n_estimate, "n_estimate", owner, low=2)
    level = check_float(level, "level", owner, low=0.0, high=1.0, low_open=True, high_open=True)
    pin_tol = check_float(pin_tol, "pin_tol", owner, low=0.0)
    top_k = check_int(top_k, "top_k", owner, low=1)
    n_calibration = check_int(n_calibration, "n_calibration", owner, low=0)
    seed = check_int(random_state, "random_state", owner, low=0)
    batch_size = check_int(batch_size, "batch_size", owner, low=1)
    if input_bounds not in (True, False, "auto"):
        raise ValueError(f"The 'input_bounds' argument of {owner} must be True, False or 'auto'. Got {input_bounds!r}.")
    names = list(ActivationRecorder(model, layers).layers)  # unknown names: the message lists valid ones
    mdev = _model_device(model)
    xs = probe_x if torch.is_tensor(probe_x) else torch.as_tensor(np.asarray(probe_x, dtype=np.float32))
    xs = xs.to(mdev)
    y = np.asarray(probe_y.detach().cpu() if hasattr(probe_y, "detach") else probe_y).astype(np.int64).reshape(-1)
    n = int(xs.shape[0])
    if y.shape != (n,):
        raise ValueError(f"The 'probe_y' argument of {owner} must have one label per probe row: {n}. "
                         f"Got shape {y.shape}.")
    if n < 2:
        raise ValueError(f"{owner} needs at least 2 probe rows. Got {n}.")
    cdev = torch.device(device) if device is not None else mdev
    ln_n = math.log(n)
    classes, y_codes = np.unique(y, return_inverse=True)
    n_classes = len(classes)
    h_y = _h_counts(np.bincount(y_codes))
    notes: list[str] = []
    population = f"X uniform on the {n} probe rows, Y its label, the network in eval mode with its own noise"

    # duplicates: X is the row index, so ln N is attainable only by distinct images
    flat = xs.detach().reshape(n, -1).cpu().numpy()
    _, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
    h_distinct = _h_counts(counts)
    if len(counts) < n:
        notes.append(f"the probe set repeats images: {n - len(counts)} of its {n} rows duplicate another, so "
                     f"I(X;L) <= H(distinct images) = {h_distinct:.4f} < ln N = {ln_n:.4f} nats")

    all_noise = noise_layers(model)
    saved_rng = get_noise_rng_state(model)
    saved = [(layer, layer.sigma, layer.active_in_eval) for _, layer in all_noise]
    was_training = model.training
    devices = [mdev.index if mdev.index is not None else torch.cuda.current_device()] if mdev.type == "cuda" else []
    rows: dict[str, dict[str, Any]] = {}
    try:
        with torch.random.fork_rng(devices=devices) if fork_global_rng else contextlib.nullcontext():
            if fork_global_rng:
                torch.manual_seed(child_seed(seed, 9, bits=63))
            if force_noise:
                for _, layer in all_noise:
                    if layer.sigma > 0 and not layer.active_in_eval:
                        layer.active_in_eval = True
                        notes.append("the noise was off in evaluation mode; it was turned on for this analysis "
                                     "(force_noise=True)")
            active = [(nm, layer) for nm, layer in all_noise if layer.sigma > 0 and layer.active_in_eval]
            kind, sigma = _readout_channel(active, readout, notes) if active else (None, 0.0)
            if kind is None:
                variable = "L, the layer output"
            else:
                variable = f"L~ = L read out through {kind} Gaussian noise, sigma={sigma:g}"
            if not active:
                if not all_noise:
                    why = ("the model has no noise layer (ibscope.nets.noise_layers is empty): it is deterministic, "
                           "and I(X;L) of a deterministic network is not defined here (infinite for continuous "
                           "inputs); no number is given. Add noise, e.g. ibscope.nets.insert_noise")
                elif not any(layer.sigma > 0 for _, layer in all_noise):
                    why = "every noise layer has sigma=0: the network is deterministic; no number is given"
                else:
                    why = ("the noise is off in the probe passes (active_in_eval=False / noise_in_eval off): the "
                           "analysed network is deterministic and I(X;L) is not defined; no number is given. "
                           "Pass force_noise=True to analyse it with its training noise on")
                return {nm: _empty_row(nm, n, ln_n, h_y, n_classes, level, [*notes, why], variable, population)
                        for nm in names}
            unknown = [nm for nm, layer in active if not _gaussian_law_known(layer)]
            if unknown:
                notes.append(f"noise layer(s) {unknown} subclass GaussianNoise with their own forward(): their law is "
                             "unknown, so the Gaussian bounds on the first noisy variable are not used")

            # -- structure: call order, first noisy variable, the cut check, other randomness (small batch)
            t0 = time.perf_counter()
            watch = {nm: mod for nm, mod in model.named_modules() if nm in names}
            watch.update({nm: layer for nm, layer in all_noise})
            order: list[str] = []

            def order_hook(nm):
                def hook(module, inputs, output):
                    if nm not in order:
                        order.append(nm)
                return hook

            xb = xs[:min(n, 16)]
            active_names = {nm for nm, _ in active}
            _set_sigma(all_noise, 0.0)
            hooks = [(mod, order_hook(nm), "out") for nm, mod in watch.items()]
            base = _forward_layers(model, xb, names, batch_size=batch_size, hooks=hooks)
            first = next((nm for nm in order if nm in active_names), None)
            if first is None:  # pragma: no cover - an active layer that never runs
                return {nm: _empty_row(nm, n, ln_n, h_y, n_classes, level,
                                       [*notes, "no active noise layer runs in the forward pass"], variable,
                                       population) for nm in names}
            first_layer = dict(all_noise)[first]
            first_sigma = next(s0 for layer, s0, _a in saved if layer is first_layer)
            before = {nm for nm in names if order.index(nm) < order.index(first)}
            captured: dict[str, Any] = {}

            def keep_out(module, inputs, output):
                captured["out"] = output.detach().clone()

            _forward_layers(model, xb, names, batch_size=batch_size, hooks=[(first_layer, keep_out, "out")])
            gen = torch.Generator(device=mdev).manual_seed(child_seed(seed, 8, bits=63))
            x_alt = torch.randn(xb.shape, generator=gen, device=mdev, dtype=xb.dtype)
            alt = _forward_layers(model, x_alt, names, batch_size=batch_size,
                                  hooks=[(first_layer, lambda m, i, o: captured["out"], "out")])
            cut = {nm: nm not in before and np.allclose(alt[nm], base[nm], rtol=1e-5, atol=1e-6) for nm in names}
            if fork_global_rng:
                torch.manual_seed(child_seed(seed, 10, bits=63))
            again = _forward_layers(model, xb, names, batch_size=batch_size)
            other_random = any(not np.array_equal(again[nm], base[nm]) for nm in names)
            if other_random:
                notes.append("the model is random outside its GaussianNoise layers (non-Gaussian or unknown noise): "
                             "the bounds that assume the Gaussian law of the first noisy variable are not used; the "
                             "identification bounds and the estimate stay valid")
            input_law_known = not other_random and _gaussian_law_known(first_layer)

            # -- reference pass (noise off) and the first noisy variable's bounds
            need_refs = [nm for nm in names if references is None or nm not in references]
            key = None
            d_in = int(np.prod(flat.shape[1:]))
            if input_bounds == "auto":
                want_input = n * n * d_in <= _INPUT_AUTO_MAX or cdev.type == "cuda"
                if not want_input:
                    notes.append(f"the Kolchinsky-Tracey bound on the first noisy variable was skipped (N^2 d = "
                                 f"{n * n * d_in:.2g} pairwise terms on the CPU); pass input_bounds=True (with a"
                                 " cache, it is computed once) to tighten the upper bound where the input noise is big")
            else:
                want_input = bool(input_bounds)
            if input_law_known and want_input:
                key = ("xl_brackets.input", first, first_layer.kind, float(first_sigma), n,
                       hashlib.sha1(np.ascontiguousarray(flat).tobytes()).hexdigest())
            need_input = key is not None and (cache is None or key not in cache)
            u_parts: list[Any] = []
            refs: dict[str, Any] = {}
            if need_refs or need_input:
                pre = [(first_layer, lambda m, i: u_parts.append(i[0].detach()))] if need_input else []
                got = _forward_layers(model, xs, need_refs or names[:1], batch_size=batch_size, hooks=pre)
                refs.update({nm: got[nm] for nm in need_refs})
            for nm in names:
                if nm not in refs:
                    arr = np.asarray(references[nm], dtype=np.float32)  # type: ignore[index]
                    if arr.ndim != 2 or arr.shape[0] != n:
                        raise ValueError(f"The 'references' of {owner} for layer {nm!r} must have shape (N={n}, d). "
                                         f"Got {arr.shape}.")
                    refs[nm] = arr
            t1_bounds: dict[str, float] = {}
            if key is not None:
                if need_input:
                    u = torch.cat(u_parts).reshape(n, -1)
                    mean, std = noise_channel(u.to(torch.float64), first_layer.kind, first_sigma)
                    mean = mean.to(cdev)
                    iso = first_layer.kind != "relative"
                    iso_var = float(first_sigma) ** 2
                    lo_kt, up_kt = kt_bounds(mean, iso_var if iso else std.to(cdev) ** 2, lower=iso, device=cdev)
                    t1_bounds = {"kt_input": up_kt, "kt_input_lower": lo_kt}
                    if iso:
                        t1_bounds["gaussian_channel_input"] = gaussian_channel_bound(mean, iso_var)
                    if cache is not None:
                        cache[key] = dict(t1_bounds)
                else:
                    t1_bounds = dict(cache[key])  # type: ignore[index]
            _set_sigma(all_noise, 0.0)
            for layer, s0, _a in saved:
                layer.sigma = s0
            t_structure = time.perf_counter() - t0

            # -- identification trials: probe drawn uniformly with replacement, one noisy pass, one read-out
            t0 = time.perf_counter()
            rng = np.random.default_rng(child_seed(seed, 1))
            idx = rng.integers(0, n, size=n_trials)
            reseed_noise(model, child_seed(seed, 2, bits=63))
            trial = _forward_layers(model, xs[torch.as_tensor(idx, device=mdev)], names, batch_size=batch_size)
            # calibration draws (independent of the trials) fix the decoders' metric
            cal_idx = np.random.default_rng(child_seed(seed, 6)).integers(0, n, size=n_calibration)
            if n_calibration:
                reseed_noise(model, child_seed(seed, 7, bits=63))
                cal = _forward_layers(model, xs[torch.as_tensor(cal_idx, device=mdev)], names, batch_size=batch_size)
            t_trials = time.perf_counter() - t0

            results: dict[str, dict[str, Any]] = {}
            samples: dict[str, Any] = {}
            li_of = {nm: li for li, nm in enumerate(names)}
            for li, nm in enumerate(names):
                t0 = time.perf_counter()
                row = _empty_row(nm, n, ln_n, h_y, n_classes, level, notes, variable, population, pin_tol)
                if nm in before:
                    row["notes"].append(f"layer {nm} runs before the first active noise layer ({first}): it is a "
                                        "deterministic function of the input, so I(X;L) is not defined; no number "
                                        "is given")
                    results[nm] = row
                    continue
                ref_mean, _ = _read_out(refs[nm], kind, sigma, cdev)
                lt = _read_out_draw(trial[nm], kind, sigma, cdev, child_seed(seed, 3, li, bits=63))
                samples[nm] = lt
                metric = None
                if n_calibration >= 2:
                    lc = _read_out_draw(cal[nm], kind, sigma, cdev, child_seed(seed, 8, li, bits=63))
                    cal_t = torch.as_tensor(cal_idx, device=cdev)
                    metric = whitener(lc - ref_mean[cal_t])
                    # keep the Mahalanobis metric only where it decodes the calibration draws at least as well
                    if _nearest_errors(lc, ref_mean, cal_t, metric) > _nearest_errors(lc, ref_mean, cal_t, None):
                        metric = None
                row["decoder_metric"] = "euclidean" if metric is None else "mahalanobis"
                ident = identification_bounds(lt, idx, ref_mean, y, level=level, n_bounds=_N_LOWER, top_k=top_k,
                                              metric=metric, device=cdev)
                lower = {"fano_x": ident["fano_x"], "ba_x": ident["ba_x"], "fano_y": ident["fano_y"],
                         "ba_y": ident["ba_y"]}
                upper = {"ln_n": ln_n}
                if len(counts) < n:
                    upper["distinct_images"] = h_distinct
                if t1_bounds:
                    if cut[nm]:
                        upper.update({k: v for k, v in t1_bounds.items() if k != "kt_input_lower"})
                    else:
                        row["notes"].append(f"the first noisy variable ({first}) does not separate layer {nm} from the "
                                            "input (checked on a probe batch), so its bounds are not carried here")
                row.update(lower_bounds=lower, upper_bounds=upper, errors_x=ident["errors_x"],
                           errors_y=ident["errors_y"], n_trials=n_trials, pe_x_upper=ident["pe_x_upper"],
                           pe_y_upper=ident["pe_y_upper"])
                if t1_bounds and "kt_input_lower" in t1_bounds:
                    row["kt_input_lower"] = t1_bounds["kt_input_lower"]
                row["time_s"] = time.perf_counter() - t0
                _finish_bracket(row, pin_tol)
                results[nm] = row

            # -- the estimate, for layers whose bracket is wide
            t0 = time.perf_counter()
            wide = [nm for nm in names if estimate and nm in samples and kind is not None
                    and results[nm]["xl_upper"] - results[nm]["xl_lower"] > pin_tol]
            t_replicas = 0.0
            if wide:
                m_est = min(n_estimate, n_trials)
                est_idx = idx[:m_est]
                inner = np.arange(n) if n <= n_inner else np.sort(rng.choice(n, size=n_inner, replace=False))
                probes = np.union1d(inner, est_idx)
                reps: dict[str, list[Any]] = {nm: [] for nm in wide}
                xp = xs[torch.as_tensor(probes, device=mdev)]
                for r in range(n_replicas):
                    reseed_noise(model, child_seed(seed, 4, r, bits=63))
                    got = _forward_layers(model, xp, wide, batch_size=batch_size)
                    for nm in wide:
                        reps[nm].append(got[nm])
                t_replicas = time.perf_counter() - t0
                inner_mask = np.isin(probes, inner)
                for nm in wide:
                    t1 = time.perf_counter()
                    stack = _as64(np.stack(reps[nm]), cdev)  # (R, |P|, d)
                    mean, var = _read_out(stack.reshape(-1, stack.shape[2]), kind, sigma, cdev)
                    mean = mean.reshape(stack.shape)
                    var3 = var if isinstance(var, float) else var.reshape(stack.shape)
                    row = results[nm]
                    est = _estimate(samples[nm][:m_est], est_idx, mean, var3, probes, inner_mask, n=n, y=y,
                                    level=level, lower=row["xl_lower"], upper=row["xl_upper"],
                                    gen=torch.Generator(device=cdev).manual_seed(child_seed(seed, 5, li_of[nm],
                                                                                             bits=63)), device=cdev)
                    if est["exact"]:
                        row["lower_bounds"].update(est["bounds"])
                    else:
                        row["notes"].append(f"the estimate's mixture uses {len(inner)} of the {n} probes (a uniform "
                                            "subset, reweighted): it is an estimate, not a bound")
                    _finish_bracket(row, pin_tol)
                    _place_estimate(row, est)
                    row["time_s"] += time.perf_counter() - t1
            t_shared = t_structure + t_trials + t_replicas
            for nm in names:
                results[nm]["time_shared_s"] = t_shared
                rows[nm] = results[nm]
    finally:
        for layer, s0, a0 in saved:
            layer.sigma = s0
            layer.active_in_eval = a0
        set_noise_rng_state(model, saved_rng)
        model.train(was_training)
    return rows



__all__ = ["BRACKET_COLUMNS", "binary_entropy", "clopper_pearson_upper", "fano_lower_bound", "bernstein_mean_upper",
           "kt_bounds", "gaussian_channel_bound", "identification_bounds", "whitener", "sample_propagation",
           "xl_brackets", "trend_gate"]
