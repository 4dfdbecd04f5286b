"""Sphinx configuration of the ibscope documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (from the repository root).
Sphinx with numpydoc (the docstrings are numpydoc), autosummary (one page per public name, generated
at build time into ``docs/api/generated/``) and MyST (the guide and results pages are Markdown).
No intersphinx: the build needs no network.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("MPLBACKEND", "Agg")

from ibscope._version import __version__  # noqa: E402

project = "ibscope"
author = "the ibscope developers"
copyright = "the ibscope developers"  # noqa: A001 - Sphinx's name
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# --- API reference -------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"          # the numpydoc sections carry the types, with shapes and units
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
# ``-n`` (nitpicky) is not on in CI yet (docstrings still cross-reference private modules); with it,
# the types of other packages (no intersphinx) and private base classes are not errors:
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|sklearn|lightning|numpy|pandas|scipy|csv)(\..*)?"),
    (r"py:class", r"Module"),
    (r"py:class", r"ibscope(\.\w+)*\._\w+(\.\w+)*"),
]

# --- Markdown ------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3

# --- HTML ----------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"ibscope {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False


# --- Constants -------------------------------------------------------------------------------------
# A module constant has no docstring of its own: autodoc would show its type's (``str``, ``tuple``).
# Instead, show the ``#:`` comment where the constant is defined (in the package's submodules) and
# its value when that is short; the template passes ``:no-value:`` so long values (tables of
# datasets, registries) do not fill the page.

def _defining_comment(name: str, obj: object) -> list[str]:
    import importlib
    import pkgutil

    from sphinx.pycode import ModuleAnalyzer

    modname, _, attr = name.rpartition(".")
    try:
        mod = importlib.import_module(modname)
    except ImportError:
        return []
    candidates = [modname]
    if hasattr(mod, "__path__"):
        candidates += [f"{modname}.{m.name}" for m in pkgutil.walk_packages(mod.__path__)]
    for cand in candidates:
        try:
            sub = importlib.import_module(cand)
            if getattr(sub, attr, None) is not obj:
                continue
            docs = ModuleAnalyzer.for_module(cand).find_attr_docs()
        except Exception:  # noqa: BLE001 - a module that cannot be analysed has no comment to give
            continue
        if ("", attr) in docs:
            return [line for line in docs[("", attr)] if line.strip()]
    return []


def _document_constant(app, what, name, obj, options, lines):
    if what != "data":
        return
    import inspect

    own = type(obj).__doc__
    own = inspect.cleandoc(own) if isinstance(own, str) else ""
    text = "\n".join(lines).strip()
    if text and text != own:  # the constant has a docstring of its own
        return
    lines[:] = _defining_comment(name, obj)
    value = repr(obj)
    if len(value) <= 160:
        lines += ["", f"Value: ``{value}``"]
    elif isinstance(obj, dict):
        keys = ", ".join(f"``{k!r}``" for k in obj)
        lines += ["", f"A dict with keys {keys}." if len(keys) <= 400 else f"A dict of {len(obj)} entries."]


def setup(app):
    app.connect("autodoc-process-docstring", _document_constant, priority=100)
