"""Every Python snippet of README.md runs as written, and printed values match the comments beside them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_readme_has_snippets():
    assert len(python_blocks()) >= 3


#: optional extras a snippet may need: the import that marks it, and the package that must be installed
EXTRAS = {"import lightning": "lightning", "ibscope.integrations.lightning": "lightning",
          "ibscope.integrations.tensorboard": "tensorboard", 'backend="ray"': "ray"}


def missing_extra(block: str) -> str | None:
    """The optional package a snippet needs and this environment lacks (None: it can run)."""
    for marker, package in EXTRAS.items():
        if marker in block and importlib.util.find_spec(package) is None:
            return package
    return None


def test_readme_snippets_run_and_print_what_they_say(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # snippets that write run folders write them here
    namespace: dict = {}
    for block in python_blocks():
        if missing_extra(block):  # a snippet of an optional extra that is not installed
            continue
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - the README is ours
    out = capsys.readouterr().out.splitlines()
    # the Library snippet's "print(...)  # text" lines print exactly that text, in that order
    promised = re.findall(r"^print\([^)]*\)\s+# (.*)$", python_blocks()[0], flags=re.M)
    assert promised, "the Library snippet shows what it prints"
    assert out[:len(promised)] == [p.strip() for p in promised]


@pytest.mark.parametrize("needle", ["## Quick start", "```bash"])
def test_quick_start_has_exactly_two_commands(needle):
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert block is not None and needle in text
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
