"""The one table of estimator names: name -> class and the parameters the name fixes.

Every place that turns a name into an estimator (``mutual_information``,
``entropy``, ``make_estimator``, IB runs, sweeps, the CLI) goes through
:func:`build`, so a new estimator is registered here once. Classes are
referenced as ``"module:Class"`` text and imported on first use, which keeps
``import ibscope`` light (the neural estimators need torch training loops).

Kinds
-----
``"continuous"``
    Continuous X and Y (``mutual_information(x, y)``).
``"labels"``
    Continuous X, discrete labels Y (``y_discrete=True``).
``"discrete"``
    Both discrete (``x_discrete=True, y_discrete=True``).
``"entropy"`` / ``"discrete-entropy"``
    ``entropy(x)`` of a continuous / discrete sample.

The ``name`` of every estimator object (and so ``MIResult.estimator``) is one of
the names registered for its kind.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["Entry", "TABLE", "KINDS", "DEFAULTS", "names", "get", "estimator_class", "accepted_params", "build"]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered name: the class (``"module:Class"``) and the parameter values the name fixes."""

    target: str
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def load(self) -> type[Any]:
        """Import and return the class."""
        module, _, cls = self.target.partition(":")
        loaded: type[Any] = getattr(importlib.import_module(module), cls)
        return loaded


_E = "ibscope.estimators."

#: kind -> {name: Entry}
TABLE: dict[str, dict[str, Entry]] = {
    "continuous": {
        "ksg": Entry(_E + "ksg:KSG"),  # variant 1 by default; variant=2 may be passed
        "ksg1": Entry(_E + "ksg:KSG", {"variant": 1}),
        "ksg2": Entry(_E + "ksg:KSG", {"variant": 2}),
        "ksg-reference": Entry(_E + "ksg:KSGReference"),
        "kl": Entry(_E + "kl:KLMI"),
        "wkl": Entry(_E + "kl:WeightedKLMI"),
        "kde": Entry(_E + "kde:KDEMI"),
        "gaussian": Entry(_E + "gaussian:GaussianMI"),
        "copula": Entry(_E + "copula:CopulaMI"),
        "gaussian-copula": Entry(_E + "copula:CopulaMI", {"family": "gaussian"}),
        "t-copula": Entry(_E + "copula:CopulaMI", {"family": "t"}),
        "auto": Entry(_E + "auto:AutoMI"),
        "flow": Entry(_E + "flow:FlowMI"),
        "mine": Entry(_E + "neural:MINE"),
        "nwj": Entry(_E + "neural:NWJ"),
        "infonce": Entry(_E + "neural:InfoNCE"),
    },
    "labels": {
        "ksg": Entry(_E + "discrete:MixedKSG"),
        "mixed-ksg": Entry(_E + "discrete:MixedKSG"),
        "kl": Entry(_E + "discrete:ContinuousDiscreteMI", {"entropy": "kl"}),
        "wkl": Entry(_E + "discrete:ContinuousDiscreteMI", {"entropy": "wkl"}),
        "kde": Entry(_E + "discrete:ContinuousDiscreteMI", {"entropy": "kde"}),
    },
    "discrete": {"plugin": Entry(_E + "discrete:PluginMI")},
    "entropy": {
        "kl": Entry(_E + "kl:KLEntropy", {"weighted": False}),
        "wkl": Entry(_E + "kl:KLEntropy", {"weighted": True}),
        "kde": Entry(_E + "kde:KDEEntropy"),
        "gaussian": Entry(_E + "gaussian:GaussianEntropy"),
    },
    "discrete-entropy": {"plugin": Entry(_E + "discrete:DiscreteEntropy")},
}

#: kind -> how messages describe it
KINDS = {
    "continuous": "continuous x and y",
    "labels": "continuous x and discrete y",
    "discrete": "two discrete variables",
    "entropy": "continuous x",
    "discrete-entropy": "discrete x",
}

#: kind -> default name, chosen by benchmarks/bench_accuracy.py (docs/results/accuracy.md)
DEFAULTS = {"continuous": "auto", "labels": "wkl", "discrete": "plugin", "entropy": "kl", "discrete-entropy": "plugin"}

#: registered but not listed in messages (a slow O(n^2) reference for tests)
_HIDDEN_FROM_LISTS = ("ksg-reference",)


def names(kind: str) -> list[str]:
    """Registered names of ``kind``, sorted (the reference KSG, a testing aid, is left out)."""
    return sorted(n for n in TABLE[kind] if n not in _HIDDEN_FROM_LISTS)


def get(kind: str, name: str, *, what: str | None = None) -> Entry:
    """The :class:`Entry` for ``name``; an unknown name raises ``ValueError`` listing the valid ones.

    ``what`` replaces the kind's description in the message (e.g. "I(L;Y) (continuous L, discrete labels Y)").
    """
    table = TABLE[kind]
    if not isinstance(name, str) or name not in table:
        raise ValueError(
            f"Unknown estimator {name!r} for {what or KINDS[kind]}. Valid names: {', '.join(names(kind))}."
        )
    return table[name]


def estimator_class(kind: str, name: str) -> type[Any]:
    """The class registered as ``name`` for ``kind``."""
    return get(kind, name).load()


def accepted_params(kind: str, name: str) -> list[str]:
    """Constructor parameters a user may pass for ``name`` (those the name fixes excluded)."""
    entry = get(kind, name)
    return [p for p in entry.load()._param_names() if p not in entry.fixed]


def build(kind: str, name: Any, common: Mapping[str, Any] | None = None, *, what: str | None = None,
          **params: Any) -> Any:
    """Build the estimator ``name`` of ``kind``.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    name : str or estimator object
        A registered name; an object with an ``estimate`` method is returned as it is.
    common : mapping or None
        Settings offered to every estimator (``k``, ``units``, ``ci``, ``random_state``,
        ``device``, ...): each one is passed only if the class accepts it.
    what : str or None
        Description of the kind in error messages.
    **params
        Estimator-specific parameters; an unknown one raises ``ValueError`` listing the valid ones.

    Raises
    ------
    ValueError
        Unknown name or parameter.
    TypeError
        ``name`` is neither a string nor an estimator object.
    """
    if not isinstance(name, str):
        if hasattr(name, "estimate"):
            return name
        raise TypeError(f"The 'estimator' argument must be a name or an estimator object. Got {type(name).__name__}.")
    entry = get(kind, name, what=what)
    cls = entry.load()
    accepted = cls._param_names()
    unknown = [key for key in params if key not in accepted or key in entry.fixed]
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {', '.join(map(repr, unknown))} for estimator {name!r}. "
            f"Valid parameters: {', '.join(p for p in accepted if p not in entry.fixed)}."
        )
    kwargs = {key: value for key, value in (common or {}).items() if key in accepted and key not in entry.fixed}
    kwargs.update(entry.fixed)
    kwargs.update(params)
    return cls(**kwargs)
