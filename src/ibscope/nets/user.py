"""Models of your own: ``"path/to/file.py:make_model"`` and ``"package.module:make_model"`` specs.

The contract
------------
A model spec names a callable, in a Python file or an importable module, that builds a
``torch.nn.Module``::

    # my_model.py
    import math
    from torch import nn
    from ibscope.nets import insert_noise

    def make_model(in_shape, n_classes, random_state=0, noise_sigma=1e-3):
        net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), 64), nn.ReLU(),
                            nn.Linear(64, n_classes))
        return insert_noise(net, sigma=noise_sigma, random_state=random_state)

* **Arguments.** The callable is called with keyword arguments, only those it names among
  :data:`MODEL_ARGS`: ``in_shape`` (the shape of one input sample, ``(C, H, W)`` for
  images or ``(D,)`` for vectors), ``n_classes``, ``random_state`` (the run's seed;
  ``seed`` is the same number), ``noise_sigma``, ``noise_kind`` and ``active_in_eval``
  (the run's ``noise``, ``noise_kind`` and ``noise_in_eval``) and ``dropout`` (only when
  the run sets one). A ``**kwargs`` catch-all receives nothing. A required parameter
  outside this list is an error. A class works as well as a function.
* **Seeding.** The global torch generator is seeded with the run's seed while the callable
  runs (and restored afterwards), so PyTorch's default initialisation is the same for the
  same seed. NumPy's and Python's global generators are not touched.
* **Output.** ``forward`` returns one float tensor of logits or log-probabilities, of shape
  ``(batch, n_classes)``. ibscope applies ``log_softmax`` to the output (a forward hook on
  the model, :func:`add_log_softmax`), which turns logits into log-probabilities and leaves
  log-probabilities as they are; the trainer's loss is the NLL of that. The dry pass on a
  probe batch (:func:`ibscope.ib.network.check_output`), before any file is written,
  refuses a tuple, list or dict (return the logits alone; record other outputs with
  ``--layers``) and probabilities (rows that are non-negative and sum to 1, from a final
  ``nn.Softmax``: drop it, or end with ``nn.LogSoftmax``).
* **Layers.** Any module name of ``model.named_modules()`` can be analysed. By default,
  the model's ``layer_names`` attribute when it has one, else the rule of
  :func:`default_layers`.
* **Noise.** The analysis is meant for stochastic networks; add noise layers with
  :func:`ibscope.nets.insert_noise`. A network without active noise gets a warning.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any

from torch import nn

from .._modelspec import ModelSpec, is_model_spec, parse_model_spec
from .noise import GaussianNoise

__all__ = ["MODEL_ARGS", "ModelSpec", "is_model_spec", "parse_model_spec", "load_model_factory",
           "build_user_model", "add_log_softmax", "default_layers", "model_source", "file_sha256"]

#: Keyword arguments a model callable may name (see the module notes).
MODEL_ARGS = ("in_shape", "n_classes", "random_state", "seed", "noise_sigma", "noise_kind", "active_in_eval",
              "dropout")

#: Parameter-free modules that only regularise or inject noise: never a layer of their own.
_SKIPPED = (GaussianNoise, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
            nn.FeatureAlphaDropout, nn.Identity)
#: Normalisation layers: part of the layer before them (their parameters are an affine rescaling).
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)


def file_sha256(path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _module_file(name: str) -> str | None:
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    origin = getattr(found, "origin", None)
    return origin if origin and os.path.isfile(origin) else None


def model_source(spec: str | ModelSpec) -> dict:
    """What a run records about a user model: ``{"spec", "kind", "path", "sha256"}``.

    ``path`` is the model file (for a module spec, the module's file, found without
    importing it; None when it cannot be found) and ``sha256`` the hash of its bytes, so a
    resumed run can tell whether the code changed.
    """
    parsed = spec if isinstance(spec, ModelSpec) else parse_model_spec(spec)
    path = parsed.target if parsed.kind == "file" else _module_file(parsed.target)
    digest = file_sha256(path) if path and os.path.isfile(path) else None
    return {"spec": parsed.text, "kind": parsed.kind, "path": path, "sha256": digest}


def _load_file(path: Path, spec_text: str):
    if not path.is_file():
        raise FileNotFoundError(f"The model file {path} (from the model spec {spec_text!r}) does not exist.")
    name = f"ibscope_user_model_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ValueError(f"The model file {path} cannot be loaded as Python source; give a .py file.")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up here
    folder = str(path.parent)
    sys.path.insert(0, folder)  # so the file can import its neighbours while it loads
    try:
        loader_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ValueError(f"Loading the model file {path} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:  # pragma: no cover - the module removed it itself
            pass
    return module


def _callables(module) -> list[str]:
    own = getattr(module, "__name__", None)
    return sorted(n for n, v in vars(module).items()
                  if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == own)


def load_model_factory(spec: str | ModelSpec):
    """Import the file or module of a model spec and return the named callable.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file or module cannot be imported (the message carries the original error), or
        it has no attribute of that name (the message lists its callables).
    TypeError
        The attribute is not callable.
    """
    parsed = spec if isinstance(spec, ModelSpec) else parse_model_spec(spec)
    if parsed.kind == "file":
        module = _load_file(Path(parsed.target), parsed.text)
        where = f"the model file {parsed.target}"
    else:
        try:
            module = importlib.import_module(parsed.target)
        except ImportError as exc:
            raise ValueError(f"The module {parsed.target!r} of the model spec {parsed.text!r} cannot be imported "
                             f"({type(exc).__name__}: {exc}). Check the name and sys.path, or name a file: "
                             f"'path/to/file.py:{parsed.attr}'.") from exc
        except Exception as exc:
            raise ValueError(f"Importing the module {parsed.target!r} of the model spec {parsed.text!r} failed: "
                             f"{type(exc).__name__}: {exc}") from exc
        where = f"the module {parsed.target!r}"
    obj: Any = module
    for part in parsed.attr.split("."):
        if not hasattr(obj, part):
            names = _callables(module)
            raise ValueError(f"{where[0].upper()}{where[1:]} has no {parsed.attr!r}, the callable named by the model "
                             f"spec {parsed.text!r}. Callables defined there: {names or 'none'}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{parsed.attr!r} in {where} (model spec {parsed.text!r}) must be a callable that returns "
                        f"a torch.nn.Module. Got {type(obj).__name__}.")
    return obj


def _call_kwargs(factory, offered: dict, what: str) -> dict:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return {k: offered[k] for k in ("in_shape", "n_classes")}
    kwargs, missing = {}, []
    for name, p in sig.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name in offered and p.kind != p.POSITIONAL_ONLY:
            kwargs[name] = offered[name]
        elif p.default is p.empty:
            missing.append(name)
    if missing:
        raise ValueError(f"{what} requires parameter(s) {missing} that ibscope cannot supply: it passes, by keyword, "
                         f"those of {list(MODEL_ARGS)} that the callable names. Give the others defaults.")
    return kwargs


def build_user_model(spec: str | ModelSpec, *, in_shape, n_classes: int, random_state: int = 0,
                     noise_sigma: float | None = None, noise_kind: str | None = None,
                     active_in_eval: bool | None = None, dropout: float | None = None) -> nn.Module:
    """Build a model from a user spec (see the module notes for the contract).

    Parameters
    ----------
    spec : str or ModelSpec
        ``"path/to/file.py:make_model"`` or ``"package.module:make_model"``.
    in_shape : tuple of int
        Shape of one input sample.
    n_classes : int
    random_state : int, default=0
        Passed as ``random_state`` (and ``seed``) when the callable names it; the global
        torch generator is seeded with it while the callable runs.
    noise_sigma, noise_kind, active_in_eval, dropout
        Passed when the callable names them and they are not None.

    Returns
    -------
    torch.nn.Module
        The model as built (its output is *not* yet normalised; see :func:`add_log_softmax`).

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        See :func:`load_model_factory`; also a required parameter ibscope cannot supply, a
        callable that raises (the message carries its error), or one that returns something
        other than an ``nn.Module``.
    """
    import torch

    parsed = spec if isinstance(spec, ModelSpec) else parse_model_spec(spec)
    factory = load_model_factory(parsed)
    what = f"The model callable {parsed.text!r}"
    offered: dict[str, Any] = {"in_shape": tuple(int(s) for s in in_shape), "n_classes": int(n_classes),
                               "random_state": int(random_state), "seed": int(random_state)}
    for key, value in (("noise_sigma", noise_sigma), ("noise_kind", noise_kind), ("active_in_eval", active_in_eval),
                       ("dropout", dropout)):
        if value is not None:
            offered[key] = value
    kwargs = _call_kwargs(factory, offered, what)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(random_state))
        try:
            model = factory(**kwargs)
        except Exception as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            raise ValueError(f"{what} failed when called with ({shown}): {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise TypeError(f"{what} must return a torch.nn.Module. Got {type(model).__name__} instead.")
    return model


def _log_softmax_hook(module, inputs, output):
    import torch

    if torch.is_tensor(output) and output.ndim == 2 and torch.is_floating_point(output):
        return torch.log_softmax(output, dim=1)
    return output


def add_log_softmax(model: nn.Module) -> nn.Module:
    """Make ``model`` return log-probabilities: ``log_softmax(dim=1)`` on its output, by a forward hook.

    Log-probabilities pass through unchanged (``log_softmax`` of a log-probability row
    is the row itself), so this works whether ``forward`` returns logits or log-probabilities.
    The hook is not part of ``state_dict``; the module tree and its names are unchanged.
    Returns ``model``.
    """
    if not getattr(model, "_ibscope_log_softmax", False):
        model.register_forward_hook(_log_softmax_hook)
        model._ibscope_log_softmax = True  # type: ignore[assignment]
    return model


def _has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def default_layers(model: nn.Module) -> list[str]:
    """The layers analysed by default: ``model.layer_names``, else one per parameterised block.

    The rule, applied to the model's direct children (descending first through a chain of
    single children, such as a model that wraps one ``nn.Sequential``):

    * inside an ``nn.Sequential`` (children run in order), a layer starts at every child
      that has parameters; the parameter-free children after it (activations, pooling,
      ``Flatten``, ``LogSoftmax``) and normalisation layers extend it, and the layer's
      output is that of its last module. Noise, dropout and ``Identity`` modules end a
      layer (they belong to the input of the next one) and are never layers themselves;
    * in any other module (whose ``forward`` may call its children in any order and
      reuse them), every child that has parameters is a layer, except normalisation layers.

    Modules that do not run in the forward pass are dropped, and the order is the
    execution order, by :func:`ibscope.ib.network.build_network`'s dry pass.

    Returns
    -------
    list of str
        Module names (as in ``model.named_modules()``); empty when the model has no
        parameterised child (pass the layers explicitly then).
    """
    names = getattr(model, "layer_names", None)
    if names:
        return [str(n) for n in names]
    prefix, root = "", model
    children = list(root.named_children())
    while len(children) == 1 and list(children[0][1].named_children()):
        prefix, root = f"{prefix}{children[0][0]}.", children[0][1]
        children = list(root.named_children())
    if not children:
        return [prefix[:-1]] if prefix else []
    layers: list[str] = []
    if isinstance(root, nn.Sequential):
        current = None
        for name, child in children:
            full = prefix + name
            if isinstance(child, _SKIPPED):
                if current is not None:
                    layers.append(current)
                current = None
            elif _has_parameters(child) and not isinstance(child, _NORMS):
                if current is not None:
                    layers.append(current)
                current = full
            elif current is not None:
                current = full
        if current is not None:
            layers.append(current)
        return layers
    return [prefix + name for name, child in children
            if _has_parameters(child) and not isinstance(child, _NORMS + _SKIPPED)]
