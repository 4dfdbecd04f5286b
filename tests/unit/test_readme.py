"""Every Python snippet of README.md and of the user guide runs as written, and printed values match
the comments beside them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
GUIDE = sorted((ROOT / "docs" / "guide").glob("*.md"))


def python_blocks(path: Path = README) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M)


def promised_prints(block: str) -> list[str]:
    """What the ``print(...)  # text`` lines of a block say they print, in order."""
    return [p.strip() for p in re.findall(r"^print\(.*\)\s+# (.*)$", block, flags=re.M)]


def test_readme_has_a_library_snippet():
    assert python_blocks(), "README.md shows a Python example"


def test_the_guide_has_snippets():
    assert GUIDE, "docs/guide holds the user guide"
    assert sum(len(python_blocks(p)) for p in GUIDE) >= 6


#: optional extras a snippet may need: the import that marks it, and the package that must be installed
EXTRAS = {"import lightning": "lightning", "ibscope.integrations.lightning": "lightning",
          "ibscope.integrations.tensorboard": "tensorboard", 'executor="ray"': "ray", 'backend="ray"': "ray"}


def missing_extra(block: str) -> str | None:
    """The optional package a snippet needs and this environment lacks (None: it can run)."""
    for marker, package in EXTRAS.items():
        if marker in block and importlib.util.find_spec(package) is None:
            return package
    return None


def run_blocks(path: Path, capsys) -> list[tuple[str, list[str]]]:
    """Run the Python blocks of ``path`` in order in one namespace; each block with the lines it printed."""
    namespace: dict = {}
    done = []
    for block in python_blocks(path):
        if missing_extra(block):  # a snippet of an optional extra that is not installed
            continue
        capsys.readouterr()
        exec(compile(block, str(path), "exec"), namespace)  # noqa: S102 - the docs are ours
        done.append((block, capsys.readouterr().out.splitlines()))
    return done


@pytest.mark.slow
def test_readme_snippets_run_and_print_what_they_say(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # snippets that write run folders write them here
    done = run_blocks(README, capsys)
    # the Library snippet's "print(...)  # text" lines print exactly that text, in that order, first
    block, out = done[0]
    promised = promised_prints(block)
    assert promised, "the Library snippet shows what it prints"
    assert out[:len(promised)] == promised


@pytest.mark.slow
@pytest.mark.parametrize("page", GUIDE, ids=[p.stem for p in GUIDE])
def test_guide_snippets_run_and_print_what_they_say(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for block, out in run_blocks(page, capsys):
        promised = promised_prints(block)
        # every promised line is printed, in that order (other prints may come between them)
        it = iter(out)
        missing = [p for p in promised if not any(line == p for line in it)]
        assert not missing, f"{page.name}: a snippet did not print {missing}; it printed {out}"


def test_the_readme_library_snippet_matches_the_guide():
    """The README's example is the start of the estimators page's first example (one truth, two places)."""
    readme_first = python_blocks()[0].splitlines()
    guide_first = python_blocks(ROOT / "docs" / "guide" / "estimators.md")[0].splitlines()
    assert readme_first[:7] == guide_first[:7]


@pytest.mark.parametrize("needle", ["## Quick start", "```bash"])
def test_quick_start_has_exactly_two_commands(needle):
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert block is not None and needle in text
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
