"""Gaussian noise layers that make a network a noisy channel, so that I(X; L) is finite.

For a deterministic layer L = f(X) the mutual information I(X; L) is infinite or constant; adding
independent Gaussian noise at the input of every layer makes each layer a noisy channel with a
finite, weight-dependent I(X; L) (Goldfeld et al., 2019). The paper (Butakov et al., ICLR 2024)
uses *relative* noise, ``x * (1 + sigma * eps)``, with sigma = 1e-3, on in training and in the
probe passes; Goldfeld et al. use *additive* noise, ``x + sigma * eps``. Both are available here,
with the sigma, the kind, the placement and whether noise stays on in ``eval()`` as explicit
settings. A third, opt-in kind, ``"normalized"``, standardises each sample before adding
additive noise, so that a network cannot escape the noise by scaling its activations up.

Every noise layer owns its random generator(s), seeded from an explicit ``seed``; the global torch
seed is neither read nor changed.
"""

from __future__ import annotations

import numbers
import warnings
from typing import cast

import torch
from torch import nn

from .._random import child_seed
from .._validation import check_choice, check_float

#: Accepted values of ``kind``.
NOISE_KINDS = ("relative", "additive", "normalized")

#: ``eps`` of the per-sample standardisation of ``kind="normalized"`` (added to the variance).
NORMALIZE_EPS = 1e-5


def standardize_rows(x: torch.Tensor, eps: float = NORMALIZE_EPS) -> torch.Tensor:
    """Standardise every sample of ``x`` over all its non-batch dimensions (mean 0, variance 1).

    ``(x - mean) / sqrt(var + eps)`` per sample (biased variance), i.e. a layer norm without
    learned scale or shift. Input of shape (n, ...); output of the same shape.
    """
    if x.ndim < 2:
        raise ValueError(f"standardize_rows needs a batch of shape (n, ...) with n >= 1 features per sample; "
                         f"got shape {tuple(x.shape)}.")
    return torch.nn.functional.layer_norm(x, tuple(x.shape[1:]), eps=eps)


def noise_channel(x: torch.Tensor, kind: str, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The Gaussian law of a noise layer's output given its input: ``(mean, std)``.

    Given the input ``x``, the output of a :class:`GaussianNoise` layer is Gaussian with
    independent coordinates, mean ``mean`` and standard deviation ``std`` (elementwise):

    ============  ==========================  ======================
    kind          mean                        std
    ============  ==========================  ======================
    "additive"    ``x``                       ``sigma``
    "relative"    ``x``                       ``sigma * |x|``
    "normalized"  ``standardize_rows(x)``     ``sigma``
    ============  ==========================  ======================

    Parameters
    ----------
    x : torch.Tensor of shape (n, ...)
    kind : {"relative", "additive", "normalized"}
    sigma : float
        Noise scale, >= 0.

    Returns
    -------
    mean, std : torch.Tensor
        Both of the shape of ``x`` (``std`` broadcast to it).
    """
    check_choice(kind, "kind", "noise_channel", NOISE_KINDS)
    sigma = check_float(sigma, "sigma", "noise_channel", low=0.0)
    if kind == "normalized":
        mean = standardize_rows(x)
        return mean, torch.full_like(mean, sigma)
    if kind == "relative":
        return x, sigma * x.abs()
    return x, torch.full_like(x, sigma)


def _check_seed(seed, owner: str, name: str = "random_state") -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"The '{name}' parameter of {owner} must be a non-negative int. "
            f"Got {seed!r} of type {type(seed).__name__}."
        )
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"The '{name}' parameter of {owner} must be in [0, 2**63). Got {seed} instead.")
    return int(seed)


def _seed_arg(random_state, seed, owner: str) -> int:
    """The int seed of a net or noise layer: ``random_state``, or the deprecated ``seed`` when given."""
    if seed is None:
        return _check_seed(random_state, owner)
    warnings.warn(f"The 'seed' parameter of {owner} is deprecated and will be removed; pass random_state={seed!r} "
                  "instead.", DeprecationWarning, stacklevel=3)
    return _check_seed(seed, owner, "seed")


def derive_seed(seed: int, index: int) -> int:
    """Derive an independent child seed for the ``index``-th noise layer from a base ``seed``.

    Uses ``numpy.random.SeedSequence(seed, spawn_key=(index,))``, so layers get statistically
    independent streams (noise at different layers is not correlated) while everything stays a
    pure function of ``seed``.

    Returns
    -------
    int
        A seed in [0, 2**63).
    """
    return child_seed(seed, index, bits=63)


class GaussianNoise(nn.Module):
    """Gaussian noise injection, relative (multiplicative) or additive.

    ``kind="relative"``: ``y = x * (1 + sigma * eps)``, so the noise std is ``sigma * |x|``
    (a noise-to-signal ratio; the paper's "AGN").
    ``kind="additive"``: ``y = x + sigma * eps``, noise std ``sigma`` in the units of ``x``.
    ``kind="normalized"``: ``y = standardize_rows(x) + sigma * eps``: every sample is first
    standardised over its features (mean 0, variance 1; :func:`standardize_rows`), then additive
    noise of std ``sigma`` is added, so the signal-to-noise ratio cannot grow with the scale of
    ``x``. The standardisation is part of the layer: it also applies when the noise is off
    (``sigma == 0`` or in ``eval()`` without ``active_in_eval``).
    Here ``eps ~ N(0, I)`` is drawn afresh on every forward pass, elementwise.
    :meth:`channel` gives the Gaussian law of the output given the input.

    Parameters
    ----------
    sigma : float, default=1e-3
        Noise scale, >= 0. ``sigma == 0`` turns the layer into the identity (into the
        standardisation for ``kind="normalized"``).
    kind : {"relative", "additive", "normalized"}, default="relative"
        Noise model, see above.
    active_in_eval : bool, default=True
        Keep the noise on after ``model.eval()``. True follows the paper: the probe passes on
        which mutual information is measured are noisy too. False gives noise only in training,
        like dropout.
    random_state : int, default=0
        Seed of the layer's own ``torch.Generator``. One generator is kept per device
        (created lazily on the input's device, each seeded with it), so CPU and CUDA runs
        are each reproducible, though they draw different numbers.
    seed : int or None
        Deprecated spelling of ``random_state``.

    Attributes
    ----------
    seed : int
        The seed of the noise streams in use (``random_state``, changed by :meth:`reseed`).

    Notes
    -----
    The layer has no parameters or buffers, so it leaves ``state_dict`` unchanged; use
    :meth:`get_rng_state` / :meth:`set_rng_state` to checkpoint the noise streams.
    Input shape: any; output has the same shape and dtype. Floating-point inputs only.
    """

    def __init__(self, sigma: float = 1e-3, *, kind: str = "relative", active_in_eval: bool = True,
                 random_state: int = 0, seed: int | None = None):
        super().__init__()
        owner = type(self).__name__
        self.sigma = check_float(sigma, "sigma", owner, low=0.0)
        self.kind = check_choice(kind, "kind", owner, NOISE_KINDS)
        self.active_in_eval = bool(active_in_eval)
        self.seed = _seed_arg(random_state, seed, owner)
        self._generators: dict[str, torch.Generator] = {}

    # ---------------------------------------------------------------- random state
    def reseed(self, random_state: int) -> GaussianNoise:
        """Reset the noise stream(s) to start from ``random_state``; returns ``self``."""
        self.seed = _check_seed(random_state, type(self).__name__)
        self._generators = {}
        return self

    def _generator(self, device: torch.device) -> torch.Generator:
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        key = str(device)
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            self._generators[key] = gen
        return gen

    def get_rng_state(self) -> dict:
        """Snapshot of the noise streams: ``{"seed": int, "states": {device: ByteTensor}}``."""
        return {
            "seed": self.seed,
            "states": {k: g.get_state().clone() for k, g in self._generators.items()},
        }

    def set_rng_state(self, state: dict) -> None:
        """Restore a snapshot from :meth:`get_rng_state` (e.g. when resuming a run)."""
        self.reseed(state["seed"])
        for key, st in state["states"].items():
            self._generator(torch.device(key)).set_state(st.cpu() if hasattr(st, "cpu") else st)

    # ---------------------------------------------------------------- forward
    @property
    def is_active(self) -> bool:
        """Whether a forward pass in the current mode adds noise."""
        return self.sigma > 0 and (self.training or self.active_in_eval)

    def channel(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, std)`` of this layer's Gaussian output given the input ``x`` (see :func:`noise_channel`)."""
        return noise_channel(x, self.kind, self.sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "normalized":
            if not torch.is_floating_point(x):
                raise TypeError(
                    f"{type(self).__name__} needs a floating-point input; got dtype {x.dtype}. "
                    "Cast the input to float first."
                )
            x = standardize_rows(x)
        if not self.is_active:
            return x
        if not torch.is_floating_point(x):
            raise TypeError(
                f"{type(self).__name__} needs a floating-point input; got dtype {x.dtype}. "
                "Cast the input to float first."
            )
        eps = torch.randn(x.shape, generator=self._generator(x.device), device=x.device, dtype=x.dtype)
        if self.kind == "relative":
            return x + (self.sigma * eps) * x
        return x + self.sigma * eps

    def extra_repr(self) -> str:
        return (f"sigma={self.sigma:g}, kind={self.kind!r}, active_in_eval={self.active_in_eval}, "
                f"seed={self.seed}")


class RelativeGaussianNoise(GaussianNoise):
    """Relative noise ``x * (1 + sigma * eps)``; shorthand for ``GaussianNoise(kind="relative")``."""

    def __init__(self, sigma: float = 1e-3, *, active_in_eval: bool = True, random_state: int = 0,
                 seed: int | None = None):
        super().__init__(sigma, kind="relative", active_in_eval=active_in_eval, random_state=random_state, seed=seed)


class AdditiveGaussianNoise(GaussianNoise):
    """Additive noise ``x + sigma * eps``; shorthand for ``GaussianNoise(kind="additive")``."""

    def __init__(self, sigma: float = 1e-3, *, active_in_eval: bool = True, random_state: int = 0,
                 seed: int | None = None):
        super().__init__(sigma, kind="additive", active_in_eval=active_in_eval, random_state=random_state, seed=seed)


# ------------------------------------------------------------------------------------------------
# Placing noise in existing models
# ------------------------------------------------------------------------------------------------


def _module_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if n and not isinstance(m, GaussianNoise)]


def _targets(model: nn.Module, chosen) -> list[tuple[nn.Module, str, str, nn.Module]]:
    """(parent, child_name, full_name, child) for every chosen module; no descent into chosen ones."""
    found = []

    def walk(parent: nn.Module, prefix: str) -> None:
        for name, child in parent.named_children():
            full = f"{prefix}.{name}" if prefix else name
            if isinstance(child, GaussianNoise):
                continue
            if chosen(full, child):
                found.append((parent, name, full, child))
            else:
                walk(child, full)

    walk(model, "")
    return found


def insert_noise(
    model: nn.Module,
    sigma: float = 1e-3,
    kind: str = "relative",
    before=(nn.Conv2d, nn.Linear),
    *,
    random_state: int = 0,
    active_in_eval: bool = True,
    seed: int | None = None,
) -> nn.Module:
    """Insert a :class:`GaussianNoise` layer at the input of chosen layers of ``model``, in place.

    Parameters
    ----------
    model : torch.nn.Module
        Usually an ``nn.Sequential`` (nested Sequentials are walked recursively). Any module
        tree works: inside an ``nn.Sequential`` the noise layer is inserted as a new element just
        before the chosen one; elsewhere the chosen child is replaced by
        ``nn.Sequential(noise, child)``.
    sigma : float, default=1e-3
        Noise scale (see :class:`GaussianNoise`).
    kind : {"relative", "additive", "normalized"}, default="relative"
        Noise model.
    before : type, tuple of types, str or list of str, default=(nn.Conv2d, nn.Linear)
        Which layers get noise at their input: every module that is an instance of the given
        type(s), or the modules with the given names (as in ``model.named_modules()``, e.g.
        ``["0", "3.1"]`` or ``["conv1", "fc"]``). The search does not descend into a chosen module.
    random_state : int, default=0
        Base seed. The i-th inserted layer (in module order) gets ``derive_seed(random_state, i)``,
        so layers draw independent noise and the whole model is reproducible from one number.
    active_in_eval : bool, default=True
        Keep the noise on in ``eval()`` mode (the paper's setting).
    seed : int or None
        Deprecated spelling of ``random_state``.

    Returns
    -------
    torch.nn.Module
        ``model`` itself, modified in place.

    Raises
    ------
    ValueError
        A requested name does not exist (the message lists the valid names), or ``before`` is
        empty.
    TypeError
        ``before`` is neither types nor names.

    Notes
    -----
    Inserting into an ``nn.Sequential`` with the default integer keys renumbers its elements,
    so parameter names in ``state_dict`` change: load pretrained weights *before* inserting
    noise. A chosen layer already preceded by a noise layer is left alone, so calling this
    twice does not stack noise. A warning is issued if no layer matched.
    """
    owner = "insert_noise"
    check_float(sigma, "sigma", owner, low=0.0)
    check_choice(kind, "kind", owner, NOISE_KINDS)
    seed = _seed_arg(random_state, seed, owner)

    if isinstance(before, type):
        before = (before,)
    if isinstance(before, str):
        before = [before]
    before = list(before)
    if not before:
        raise ValueError(f"The 'before' argument of {owner} is empty; pass layer types or module names.")
    if all(isinstance(b, type) and issubclass(b, nn.Module) for b in before):
        types = tuple(before)

        def chosen(full, module):
            return isinstance(module, types)
    elif all(isinstance(b, str) for b in before):
        valid = _module_names(model)
        missing = [b for b in before if b not in valid]
        if missing:
            raise ValueError(
                f"The 'before' argument of {owner} names module(s) {missing} that do not exist in "
                f"{type(model).__name__}. Valid names are {valid}."
            )
        names = set(before)

        def chosen(full, module):
            return full in names
    else:
        raise TypeError(
            f"The 'before' argument of {owner} must be nn.Module subclasses or module names (str), "
            f"not a mix. Got {before!r}."
        )

    targets = _targets(model, chosen)
    if not targets:
        import warnings

        warnings.warn(
            f"insert_noise found no layer matching before={before!r} in {type(model).__name__}; "
            "the model is unchanged.",
            UserWarning,
            stacklevel=2,
        )
        return model

    # Decide the noise layers first (seeds in module order), then edit the tree.
    plan: dict[int, tuple[nn.Module, list[str]]] = {}
    noises: dict[tuple[int, str], GaussianNoise] = {}
    counter = 0
    for parent, name, _full, _child in targets:
        if (id(parent), name) in noises:
            continue  # a module shared at several places is visited once
        if isinstance(parent, nn.Sequential):
            keys = list(parent._modules)
            pos = keys.index(name)
            if pos > 0 and isinstance(parent._modules[keys[pos - 1]], GaussianNoise):
                continue  # already noisy
        noises[(id(parent), name)] = GaussianNoise(
            sigma, kind=kind, active_in_eval=active_in_eval, random_state=derive_seed(seed, counter)
        )
        counter += 1
        plan.setdefault(id(parent), (parent, []))[1].append(name)

    for parent, noisy_keys in plan.values():
        if isinstance(parent, nn.Sequential):
            items = list(parent._modules.items())
            numeric = all(k.isdigit() for k, _ in items)
            new_items: list[tuple[str, nn.Module]] = []
            for key, mod in items:
                if key in noisy_keys:
                    noise_key = f"noise_{key}"
                    while noise_key in parent._modules:
                        noise_key = f"_{noise_key}"
                    new_items.append((noise_key, noises[(id(parent), key)]))
                new_items.append((key, mod))
            parent._modules.clear()
            for i, (key, mod) in enumerate(new_items):
                parent._modules[str(i) if numeric else key] = mod
        else:
            for name in noisy_keys:
                child = cast(nn.Module, parent._modules[name])  # a matched module, never an empty slot
                parent._modules[name] = nn.Sequential(noises[(id(parent), name)], child)
    return model


def noise_layers(model: nn.Module) -> list[tuple[str, GaussianNoise]]:
    """All noise layers of ``model`` as ``(qualified_name, layer)`` pairs, in module order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, GaussianNoise)]


def set_noise(model: nn.Module, *, sigma: float | None = None, active_in_eval: bool | None = None) -> nn.Module:
    """Change ``sigma`` and/or ``active_in_eval`` of every noise layer in ``model``; returns ``model``."""
    if sigma is not None:
        sigma = check_float(sigma, "sigma", "set_noise", low=0.0)
    for _, layer in noise_layers(model):
        if sigma is not None:
            layer.sigma = sigma
        if active_in_eval is not None:
            layer.active_in_eval = bool(active_in_eval)
    return model


def reseed_noise(model: nn.Module, random_state: int) -> nn.Module:
    """Reseed every noise layer: the i-th (module order) gets ``derive_seed(random_state, i)``."""
    seed = _check_seed(random_state, "reseed_noise")
    for i, (_, layer) in enumerate(noise_layers(model)):
        layer.reseed(derive_seed(seed, i))
    return model


def get_noise_rng_state(model: nn.Module) -> dict[str, dict]:
    """Generator states of every noise layer, keyed by qualified name (for checkpoints)."""
    return {name: layer.get_rng_state() for name, layer in noise_layers(model)}


def set_noise_rng_state(model: nn.Module, state: dict[str, dict]) -> None:
    """Restore states saved by :func:`get_noise_rng_state` (names must match)."""
    layers = dict(noise_layers(model))
    unknown = sorted(set(state) - set(layers))
    if unknown:
        raise ValueError(
            f"The saved noise state names layer(s) {unknown} that {type(model).__name__} lacks. "
            f"Its noise layers are {sorted(layers)}."
        )
    for name, st in state.items():
        layers[name].set_rng_state(st)
