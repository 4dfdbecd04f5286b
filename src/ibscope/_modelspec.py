"""Model specs: ``"path/to/file.py:make_model"`` and ``"package.module:make_model"`` (syntax only).

Kept apart from :mod:`ibscope.nets.user` (which loads and calls the callable) so that
:class:`ibscope.ib.IBConfig` can check and canonicalise a spec without importing torch.
This module imports nothing else from the package.
"""

from __future__ import annotations

import dataclasses
import keyword
import os
from pathlib import Path
from typing import Any

__all__ = ["ModelSpec", "is_model_spec", "parse_model_spec", "SPEC_FORMS"]

#: The two spellings of a model spec, for messages.
SPEC_FORMS = "'path/to/file.py:make_model' or 'package.module:make_model'"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec.

    Attributes
    ----------
    text : str
        The canonical spec: ``"/abs/path/file.py:name"`` or ``"package.module:name"``.
    kind : {"file", "module"}
    target : str
        The absolute file path or the module name.
    attr : str
        The callable's name in the file or module (dots reach into classes: ``"Net.build"``).
    """

    text: str
    kind: str
    target: str
    attr: str


def is_model_spec(text: Any) -> bool:
    """Whether ``text`` has the form of a user model spec (``"<file or module>:<callable>"``)."""
    return isinstance(text, str) and ":" in text.strip()


def _is_dotted(name: str) -> bool:
    return bool(name) and all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split("."))


def parse_model_spec(text: str) -> ModelSpec:
    """Parse ``"path/to/file.py:make_model"`` or ``"package.module:make_model"`` (syntax only).

    A relative file path is made absolute against the working directory; nothing is
    imported and the file need not exist yet (:func:`load_model_factory` checks that).

    Raises
    ------
    ValueError
        The spec has no callable name after ``:``, or the part before it is neither a
        ``.py`` file path nor a dotted module name.
    """
    if not isinstance(text, str):
        raise TypeError(f"A model spec must be a str such as {SPEC_FORMS}. Got {text!r} of type "
                        f"{type(text).__name__}.")
    raw = text.strip()
    where, sep, attr = raw.rpartition(":")
    attr = attr.strip()
    where = where.strip()
    if not sep or not where or not _is_dotted(attr):
        raise ValueError(f"The model spec {text!r} must be {SPEC_FORMS}, naming a callable after the last ':'. "
                         f"Got {attr!r} as the callable.")
    if where.endswith(".py") or "/" in where or "\\" in where or os.sep in where:
        path = Path(where).expanduser().resolve()
        return ModelSpec(text=f"{path}:{attr}", kind="file", target=str(path), attr=attr)
    if not _is_dotted(where):
        raise ValueError(f"The model spec {text!r} must be {SPEC_FORMS}: {where!r} is neither a .py file path "
                         "nor a dotted module name.")
    return ModelSpec(text=f"{where}:{attr}", kind="module", target=where, attr=attr)
