"""Every public name is in the API reference: a new name in a public module's ``__all__`` without a
place in ``docs/api/`` fails here. Reads files only; it builds nothing (CI builds the docs)."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "docs" / "api"

#: the public modules; each has a page ``docs/api/<module>.rst``
PUBLIC_MODULES = [
    "ibscope", "ibscope.estimators", "ibscope.estimators.auto", "ibscope.estimators.copula",
    "ibscope.estimators.registry", "ibscope.estimators.neural", "ibscope.compress", "ibscope.synthetic",
    "ibscope.data", "ibscope.nets", "ibscope.ib", "ibscope.plane.bounds", "ibscope.plane.decoders", "ibscope.study",
    "ibscope.sweep", "ibscope.plots", "ibscope.runs", "ibscope.executors", "ibscope.integrations.lightning",
    "ibscope.integrations.tensorboard", "ibscope.neighbors", "ibscope.stats", "ibscope.estimators.flow",
    "ibscope.plane.brackets", "ibscope.infobounds",
]
#: modules whose import needs an optional extra
EXTRA = {"ibscope.integrations.lightning": "lightning", "ibscope.integrations.tensorboard": "tensorboard"}


def public_names(module) -> list[str]:
    """``__all__``, or for a module without one its own public functions and classes."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, obj in vars(module).items()
                 if not n.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                 and obj.__module__ == module.__name__]
    return list(names)


def documented(page: Path) -> tuple[set[str], set[str]]:
    """Names an API page documents: ``(entries of its autosummary lists, targets of its cross-references)``."""
    text = page.read_text(encoding="utf-8")
    listed = set()
    for block in re.findall(r"^\.\. autosummary::\n((?:[ \t]+.*\n|\n)*)", text, flags=re.M):
        listed.update(line.strip() for line in block.splitlines()
                      if line.strip() and not line.strip().startswith(":"))
    refs = set(re.findall(r":py:\w+:`~?([\w.]+)`", text))
    return listed, refs


def load(name: str):
    if name in EXTRA:
        pytest.importorskip(EXTRA[name])
    return importlib.import_module(name)


def test_every_public_module_has_a_page_in_the_index():
    index = (API / "index.rst").read_text(encoding="utf-8")
    for name in PUBLIC_MODULES:
        assert (API / f"{name}.rst").is_file(), f"docs/api/{name}.rst is missing"
        assert re.search(rf"^\s+{re.escape(name)}$", index, flags=re.M), f"docs/api/index.rst does not list {name}"


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_name_is_in_the_api_reference(name):
    module = load(name)
    listed, refs = documented(API / f"{name}.rst")
    missing = []
    for attr in public_names(module):
        if attr in listed:
            continue
        # a name re-exported from another public module is listed there and cross-referenced here
        target = next((r for r in refs if r.endswith("." + attr)), None)
        if target is None:
            missing.append(attr)
            continue
        home, _, short = target.rpartition(".")
        assert home in PUBLIC_MODULES, f"{name}.{attr} points to {target}, which is not a public module's name"
        home_listed, _ = documented(API / f"{home}.rst")
        assert short in home_listed, f"{name}.{attr} points to {target}, which docs/api/{home}.rst does not list"
        assert getattr(load(home), short) is getattr(module, attr), f"{name}.{attr} is not {target}"
    assert not missing, (f"public names of {name} missing from docs/api/{name}.rst: {missing}; "
                         f"add them to an autosummary list there")


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_the_api_reference_lists_no_name_that_is_gone(name):
    module = load(name)
    listed, _ = documented(API / f"{name}.rst")
    gone = sorted(n for n in listed if not hasattr(module, n))
    assert not gone, f"docs/api/{name}.rst lists names {name} no longer has: {gone}"


def test_the_docs_pages_are_in_a_toctree():
    """Every Markdown page of docs/ is reachable (Sphinx warns otherwise; this says which, without a build)."""
    docs = ROOT / "docs"
    tree_text = "\n".join(p.read_text(encoding="utf-8") for p in docs.rglob("*.md"))
    for page in docs.rglob("*.md"):
        rel = page.relative_to(docs)
        if rel.parts[0] == "_build" or rel == Path("index.md"):
            continue
        stem = rel.stem if rel.name != "index.md" else "index"
        assert re.search(rf"^{re.escape(stem)}$|^{re.escape(rel.parent.name)}/{re.escape(stem)}$", tree_text,
                         flags=re.M), f"docs/{rel} is in no toctree"
