"""scikit-learn-style parameter handling shared by estimators and compressors.

Objects are configured in ``__init__`` with explicit keyword parameters stored
under their own names (the scikit-learn estimator convention). The parameter list is read from the
``__init__`` signatures along the class hierarchy, so a subclass that adds one
parameter declares only that one and passes the rest on with ``**params``
(``MINE`` adds ``ema_rate`` to the parameters of every neural estimator).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

_C = TypeVar("_C", bound="Configurable")


class Configurable:
    """``get_params`` / ``set_params`` / ``repr`` from the ``__init__`` signatures."""

    @classmethod
    def _init_chain(cls) -> list[Callable[..., Any]]:
        """The ``__init__`` functions that declare parameters, most derived first: each class's own
        ``__init__``, continuing to its parents' while it takes ``**params``."""
        chain: list[Callable[..., Any]] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            chain.append(init)
            if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(init).parameters.values()):
                break  # this __init__ takes no **params: classes above it add nothing
        return chain

    @classmethod
    def _param_defaults(cls) -> dict[str, Any]:
        """``{name: default}`` of every parameter, base-class parameters first
        (``inspect.Parameter.empty`` where there is no default)."""
        out: dict[str, Any] = {}
        for init in reversed(cls._init_chain()):
            for p in inspect.signature(init).parameters.values():
                if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                    out[p.name] = p.default
        return out

    @classmethod
    def _param_names(cls) -> list[str]:
        return list(cls._param_defaults())

    def _store_params(self, arguments: dict[str, Any]) -> None:
        """Store an ``__init__``'s arguments under their own names, in signature order.

        Called as ``self._store_params(locals())``, the first statement of an ``__init__``
        (``locals()`` then holds exactly the arguments; ``self`` and ``__class__`` are skipped),
        it is the same as one ``self.name = name`` line per parameter.
        """
        for name, value in arguments.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor parameters as a dictionary (``deep`` is accepted for scikit-learn)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self: _C, **params: Any) -> _C:
        """Set constructor parameters; unknown names raise ``ValueError``. Returns ``self``."""
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Unknown parameter {key!r} for {type(self).__name__}. Valid parameters: {', '.join(valid)}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def _owner(self) -> str:
        return type(self).__name__
