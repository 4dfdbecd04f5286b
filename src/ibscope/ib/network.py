"""The network of a run: built-in or your own, checked on a probe batch before any training.

:func:`build_network` builds the model named by ``IBConfig.model`` (a built-in name or a
``"file.py:callable"`` / ``"module:callable"`` spec, see :mod:`ibscope.nets.user`), runs
one dry forward pass on a few probe rows (every random stream is restored afterwards,
so the run's numbers do not depend on it), checks the output and the chosen layers,
picks the default layers, and warns when no noise is active in the probe passes.
:func:`list_layers` is ``ibscope ib --list-layers``. :func:`run_sources` and
:func:`check_sources` record and compare the SHA-256 of a user's model file and npz
dataset, so a resumed run refuses to continue on changed code or data.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np

__all__ = ["Network", "build_network", "check_output", "describe_network", "list_layers", "no_noise_message",
           "run_sources", "check_sources", "NO_NOISE_HINT"]

#: How to make a network stochastic (part of the no-noise warning).
NO_NOISE_HINT = ("Add noise: pass --noise > 0 (noise_in_eval on) for the built-in models, or call "
                 "ibscope.nets.insert_noise(model, sigma=1e-3, random_state=random_state) in your make_model.")

#: Rows of the dry forward pass.
_DRY_ROWS = 8


@dataclasses.dataclass
class Network:
    """A built and checked network.

    Attributes
    ----------
    model : torch.nn.Module
        On the run's device; a user model returns log-probabilities (see
        :func:`ibscope.nets.add_log_softmax`).
    layers : list of str
        The layers to analyse (``IBConfig.layers`` or the default).
    default_layers : list of str
        The layers analysed when ``IBConfig.layers`` is None.
    shapes : dict of str to tuple
        Per-sample output shape of every submodule that ran in the dry pass, in module order.
    in_shape : tuple of int
    n_classes : int
    source : dict or None
        For a user model, :func:`ibscope.nets.model_source` (spec, path, SHA-256).
    noise_note : str or None
        Why the network is deterministic in the probe passes (None: it is not).
    """

    model: Any
    layers: list
    default_layers: list
    shapes: dict
    in_shape: tuple
    n_classes: int
    source: dict | None = None
    noise_note: str | None = None


def no_noise_message(model, name: str) -> str | None:
    """Why ``model`` has no active noise in the probe passes, with how to add it (None when it has some).

    Active noise: a :class:`~ibscope.nets.GaussianNoise` layer with ``sigma > 0`` and
    ``active_in_eval`` on (the probe passes run in evaluation mode).
    """
    from ..nets import noise_layers

    layers = noise_layers(model)
    if not layers:
        why = "has no noise layer (ibscope.nets.noise_layers(model) is empty)"
    elif not any(layer.sigma > 0 for _, layer in layers):
        why = f"has {len(layers)} noise layer(s), all with sigma=0 (--noise 0)"
    elif not any(layer.sigma > 0 and layer.active_in_eval for _, layer in layers):
        why = "has noise only in training (noise_in_eval off), so the probe passes are deterministic"
    else:
        return None
    return (f"The network {name} {why}. The information-plane analysis is meant for stochastic networks: for a "
            "deterministic one I(X;L) is degenerate (infinite in theory for continuous inputs), and the estimates "
            f"reflect only the estimator and the compression. {NO_NOISE_HINT}")


def _make_model(cfg, in_shape: tuple, n_classes: int):
    from ..nets import add_log_softmax, build_model, build_user_model, is_model_spec

    if is_model_spec(cfg.model):
        model = build_user_model(cfg.model, in_shape=in_shape, n_classes=n_classes, random_state=cfg.seed,
                                 noise_sigma=cfg.noise, noise_kind=cfg.noise_kind, active_in_eval=cfg.noise_in_eval,
                                 dropout=cfg.dropout)
        return add_log_softmax(model)
    params: dict[str, Any] = dict(noise_sigma=cfg.noise, noise_kind=cfg.noise_kind, random_state=cfg.seed,
                                  n_classes=n_classes, active_in_eval=cfg.noise_in_eval)
    if cfg.dropout is not None:
        params["dropout"] = cfg.dropout
    if cfg.model == "mlp":
        params.update(in_dim=in_shape, hidden=tuple(cfg.hidden))
    else:
        params["in_shape"] = in_shape
    return build_model(cfg.model, **params)


def _dry_pass(model, x, name: str, n_classes: int) -> tuple[dict, list]:
    """Per-sample output shapes of every submodule and their execution order, on ``x``; checks the output.

    The model's mode, the noise layers' generators and the global torch generator are restored.
    """
    import torch

    from ..nets import get_noise_rng_state, set_noise_rng_state

    shapes: dict[str, tuple] = {}
    order: list[str] = []

    def hook_for(module_name):
        def hook(module, inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) and output else output
            if torch.is_tensor(out):
                shapes[module_name] = tuple(int(s) for s in out.shape[1:])
            if module_name not in order:
                order.append(module_name)
        return hook

    raw: dict[str, Any] = {}

    def root_hook(module, inputs, output):
        raw["out"] = output  # before any hook of the model (ibscope's log_softmax) changes it

    handles = [m.register_forward_hook(hook_for(n)) for n, m in model.named_modules() if n]
    handles.append(model.register_forward_hook(root_hook, prepend=True))
    noise_state = get_noise_rng_state(model)
    was_training = model.training
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            model.eval()
            try:
                out = model(x)
            except Exception as exc:
                raise ValueError(f"The forward pass of the model {name} failed on a probe batch of shape "
                                 f"{tuple(x.shape)}: {type(exc).__name__}: {exc}") from exc
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        set_noise_rng_state(model, noise_state)
    check_output(raw.get("out", out), name, (int(x.shape[0]), n_classes), tuple(x.shape))
    return shapes, order


def _shape_of(value) -> str:
    shape = getattr(value, "shape", None)
    return str(tuple(int(s) for s in shape)) if shape is not None else type(value).__name__


def check_output(out, name: str, want: tuple, in_shape: tuple) -> str:
    """Check a model's raw output on a probe batch; return its kind: ``"logits"`` or ``"log-probabilities"``.

    The contract (:mod:`ibscope.nets.user`): ``forward`` returns one float tensor of shape
    ``(batch, n_classes)``, of logits or log-probabilities; ibscope applies ``log_softmax`` and trains on
    the NLL. What is refused, before anything is written:

    * a tuple, list or dict (e.g. ``(logits, features)``): the loss would fail after the run folder was
      created; the message names the element of the right shape;
    * a tensor of another shape, dtype or with non-finite values;
    * probabilities (every row non-negative and summing to 1, e.g. a final ``nn.Softmax``): ``log_softmax``
      of probabilities is not the log-probability, and such a net trains badly; drop the Softmax.

    Log-probabilities (rows whose exponentials sum to 1) pass unchanged through ``log_softmax``; any other
    float output is taken as logits.
    """
    import torch

    wanted = (f"a float tensor of logits or log-probabilities of shape (batch, n_classes) = {want} for a probe "
              f"batch of shape {in_shape} (n_classes from the labels)")
    if isinstance(out, (tuple, list, dict)):
        items = list(out.items()) if isinstance(out, dict) else list(enumerate(out))
        shown = ", ".join(f"{k!r}: {_shape_of(v)}" if isinstance(out, dict) else _shape_of(v) for k, v in items[:4])
        fits = [k for k, v in items if torch.is_tensor(v) and tuple(v.shape) == want]
        hint = (f" Element {fits[0]!r} has that shape: return it alone from forward (e.g. 'return logits'), and "
                "record the other outputs with --layers on the modules that compute them." if fits else "")
        raise ValueError(f"The model {name} returns a {type(out).__name__} of {len(items)} element(s) ({shown}) from "
                         f"forward; ibscope needs one tensor, {wanted}.{hint}")
    if not torch.is_tensor(out) or tuple(out.shape) != want or not torch.is_floating_point(out):
        got = f"shape {tuple(out.shape)}, dtype {out.dtype}" if torch.is_tensor(out) else type(out).__name__
        raise ValueError(f"The model {name} must return {wanted}. Got {got} instead.")
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"The model {name} returned non-finite values (NaN or inf) on a probe batch; check its "
                         "forward pass and initialisation.")
    out = out.detach().double()
    if bool((out >= 0).all()) and bool(torch.allclose(out.sum(dim=1), torch.ones(len(out), dtype=out.dtype),
                                                      atol=1e-4)):
        raise ValueError(f"The model {name} returns probabilities: every row of its output on a probe batch is "
                         "non-negative and sums to 1 (a final nn.Softmax?). ibscope applies log_softmax to the output "
                         "and trains on the NLL; log_softmax of probabilities is not their logarithm, and the net "
                         "would train badly. Remove the final Softmax and return logits, or return "
                         "log-probabilities (nn.LogSoftmax).")
    if bool(torch.allclose(torch.logsumexp(out, dim=1), torch.zeros(len(out), dtype=out.dtype), atol=1e-4)):
        return "log-probabilities"
    return "logits"


def build_network(cfg, *, in_shape, n_classes: int, probe_x, device: str = "cpu", warn: bool = True) -> Network:
    """Build the run's model, check it on the first probe rows and choose the layers to analyse.

    Parameters
    ----------
    cfg : IBConfig
        A resolved configuration.
    in_shape : tuple of int
        Shape of one input sample.
    n_classes : int
    probe_x : torch.Tensor of shape (n, *in_shape)
        Normalised probe inputs; the first few rows feed the dry pass.
    device : str, default="cpu"
    warn : bool, default=True
        Issue the no-noise ``RuntimeWarning`` (see :func:`no_noise_message`).

    Returns
    -------
    Network

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        A user model that cannot be loaded or built (:func:`ibscope.nets.build_user_model`);
        a forward pass that fails, or an output that is not (batch, n_classes) and finite;
        a layer name that does not exist (the message lists the valid ones) or that does
        not run in the forward pass; no default layer found.
    """
    import torch

    from ..nets import default_layers, is_model_spec, model_source
    from ..plane.capture import ActivationRecorder

    in_shape = tuple(int(s) for s in in_shape)
    user = is_model_spec(cfg.model)
    name = f"{cfg.model!r}"
    model = _make_model(cfg, in_shape, n_classes).to(device)
    x = probe_x[:_DRY_ROWS] if torch.is_tensor(probe_x) else torch.as_tensor(np.asarray(probe_x[:_DRY_ROWS]))
    shapes, order = _dry_pass(model, x.to(device), name, n_classes)
    shapes = {n: shapes[n] for n, _ in model.named_modules() if n in shapes}
    ran = set(order)
    if cfg.layers is not None:
        ActivationRecorder(model, cfg.layers)  # unknown names: the message lists the valid ones
        idle = [n for n in cfg.layers if n not in ran]
        if idle:
            raise ValueError(f"Layer(s) {idle} of {name} do not run in its forward pass, so their outputs cannot be "
                             f"recorded. Layers that run: {', '.join(order)}.")
    chosen = [n for n in default_layers(model) if n in ran]
    chosen.sort(key=order.index)
    if not chosen and cfg.layers is None:
        raise ValueError(f"No layer of {name} to analyse by default (none of its direct children has parameters). "
                         f"Pass the layers to analyse (--layers), e.g. from: {', '.join(order) or 'none'}.")
    note = no_noise_message(model, name)
    if note and warn:
        warnings.warn(note, RuntimeWarning, stacklevel=3)
    return Network(model=model, layers=list(cfg.layers) if cfg.layers is not None else chosen, default_layers=chosen,
                   shapes=shapes, in_shape=in_shape, n_classes=n_classes,
                   source=model_source(cfg.model) if user else None, noise_note=note)


def describe_network(net: Network, cfg) -> str:
    """The text of ``--list-layers``: every submodule that ran, its output shape and size, analysed ones marked."""
    model = net.model
    n_params = sum(p.numel() for p in model.parameters())
    lines = [f"model {cfg.model} ({type(model).__name__}, {n_params:,} parameters) on {cfg.dataset}: input "
             f"{net.in_shape}, {net.n_classes} classes"]
    lines.append(f"noise: {_noise_summary(model)}")
    rows = [(n, type(m).__name__, net.shapes.get(n)) for n, m in model.named_modules() if n]
    width = max([len(r[0]) for r in rows] + [5])
    twidth = max([len(r[1]) for r in rows] + [6])
    lines.append(f"  {'layer':<{width}}  {'module':<{twidth}}  {'output shape':<16}  {'dim':>7}")
    analysed = set(net.layers)
    for n, kind, shape in rows:
        mark = "*" if n in analysed else " "
        shown = "(did not run)" if shape is None else str(shape)
        dim = "" if shape is None else str(math.prod(shape))
        lines.append(f"{mark} {n:<{width}}  {kind:<{twidth}}  {shown:<16}  {dim:>7}")
    which = "chosen by --layers" if cfg.layers is not None else "the default layers"
    lines.append(f"* analysed: {', '.join(net.layers)} ({which}). Pass --layers NAME,NAME,... to choose others.")
    if net.noise_note:
        lines.append(f"warning: {net.noise_note}")
    return "\n".join(lines)


def _noise_summary(model) -> str:
    from ..nets import noise_layers

    layers = noise_layers(model)
    active = [layer for _, layer in layers if layer.sigma > 0 and layer.active_in_eval]
    if not active:
        return f"{len(layers)} noise layer(s), none active in the probe passes"
    sigmas = sorted({layer.sigma for layer in active})
    kinds = sorted({layer.kind for layer in active})
    return (f"{len(active)} active noise layer(s) of {len(layers)}, sigma {', '.join(f'{s:g}' for s in sigmas)}, "
            f"{'/'.join(kinds)}")


def _probe_batch(cfg) -> tuple[Any, tuple, int]:
    """A few normalised probe rows, the input shape and the class count, as a run would see them."""
    import torch

    from ..data import load_dataset, normalize

    kw: dict[str, Any] = {"data_dir": cfg.data_dir} if cfg.dataset != "digits" else {}
    x_train, y_train = load_dataset(cfg.dataset, "train", **kw)
    _, y_test = load_dataset(cfg.dataset, "test", **kw)
    n_classes = int(max(y_train.max(), y_test.max()) + 1)
    x = torch.as_tensor(normalize(x_train[:_DRY_ROWS], cfg.dataset))
    return x, tuple(x_train.shape[1:]), n_classes


def list_layers(cfg) -> str:
    """``ibscope ib --list-layers``: load the data, build the network, describe its layers (nothing is written).

    Parameters
    ----------
    cfg : IBConfig

    Returns
    -------
    str
        See :func:`describe_network`.
    """
    from .._torch import resolve_device

    cfg = cfg.resolved()
    x, in_shape, n_classes = _probe_batch(cfg)
    device = resolve_device(cfg.device, "IBConfig")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the note is part of the listing
        net = build_network(cfg, in_shape=in_shape, n_classes=n_classes, probe_x=x, device=device, warn=False)
    return describe_network(net, cfg)


def run_sources(cfg) -> dict:
    """The user-provided files of a run with their SHA-256: ``{"model": {...}, "dataset": {...}}`` (each optional)."""
    from ..data.npz import is_npz_name, npz_source
    from ..nets import is_model_spec, model_source

    out: dict[str, Any] = {}
    if is_model_spec(cfg.model):
        out["model"] = model_source(cfg.model)
    if is_npz_name(cfg.dataset):
        out["dataset"] = npz_source(cfg.dataset)
    return out


def check_sources(out, cfg, record: dict) -> None:
    """Refuse to resume when a user's model file or npz dataset changed since the run was created.

    Raises
    ------
    RunFolderError
        The file's SHA-256 differs from the one in ``config.json`` (the message names the file).
    """
    from .callbacks import RunFolderError

    saved = record.get("sources") or {}
    if not saved:
        return
    now = run_sources(cfg)
    for what, label in (("model", "model file"), ("dataset", "npz dataset")):
        old, new = saved.get(what), now.get(what)
        if not old or not new or not old.get("sha256"):
            continue
        if new.get("sha256") != old.get("sha256"):
            state = "is missing" if new.get("sha256") is None else "has changed"
            raise RunFolderError(
                f"Cannot resume {out}: the {label} {new.get('path') or old.get('path')} {state} since the run was "
                f"created (SHA-256 {str(old['sha256'])[:12]}... in config.json, "
                f"{str(new.get('sha256'))[:12] + '...' if new.get('sha256') else 'none'} now). Restore the original "
                "file to resume, or start a new run in a new folder.")
