"""The floors: every module imports only from its own floor or the ones below it.

contract (avaffect/) < train/ < engines/ < realtime/ < demo/ < cli/ (the command line). Imports are
read from the source (ast), so an import inside a function counts as much as one at the top,
and so does a module named in a string ("avaffect.x.y:func", or given to import_module).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: floor name -> (its rank, the repository folder that installs as that package)
FLOORS = {
    "contract": (0, "avaffect"),
    "train": (1, "train"),
    "engines": (2, "engines"),
    "realtime": (3, "realtime"),
    "demo": (4, "demo"),
    "corpus": (4, "corpus"),  # many inputs: beside demo, below the command line
    "cli": (5, "cli"),  # the command line
}
PACKAGE_OF = {"train": "avaffect.train", "engines": "avaffect.engines", "realtime": "avaffect.realtime",
              "demo": "avaffect.demo", "corpus": "avaffect.corpus", "cli": "avaffect.cli",
              "avaffect": "avaffect"}
MODULE_STRING = re.compile(r"^avaffect(\.\w+)+(:\w+)?$")

def floor_of_module(name: str) -> str:
    """The floor an importable ``avaffect...`` module name lives on."""
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in FLOORS:
        return parts[1]
    return "contract"


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    package = PACKAGE_OF[parts[0]]
    rest = parts[1:]
    if rest and rest[-1] == "__init__":
        rest = rest[:-1]
    return ".".join([package, *rest])


def imported_names(path: Path) -> set[str]:
    """Every avaffect module ``path`` imports: statements anywhere, and module strings."""
    tree = ast.parse(path.read_text(), filename=str(path))
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            # `from avaffect import train` names a floor as well
            names.update(f"{module}.{alias.name}" for alias in node.names if module == "avaffect")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_STRING.match(node.value):
            names.add(node.value.partition(":")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return {name for name in names if name == "avaffect" or name.startswith("avaffect.")}


def source_files() -> list[Path]:
    return sorted(p for _, folder in FLOORS.values() for p in (ROOT / folder).rglob("*.py"))


def upward_imports() -> list[str]:
    found = []
    for path in source_files():
        own_name = floor_of_module(module_name(path))
        own = FLOORS[own_name][0]
        for name in sorted(imported_names(path)):
            theirs = floor_of_module(name)
            where = str(path.relative_to(ROOT))
            if FLOORS[theirs][0] > own:
                found.append(f"{where} ({own_name}) imports {name} ({theirs})")
    return found


def test_no_module_imports_from_a_floor_above_its_own():
    assert upward_imports() == []


def test_realtime_and_demo_never_import_train():
    """The design's one rule beyond the order: real time runs engines, never training code."""
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in source_files()
        if floor_of_module(module_name(path)) in ("realtime", "demo")
        for name in imported_names(path)
        if floor_of_module(name) == "train"
    ]
    assert found == []


@pytest.mark.parametrize(
    "source, importer, expected",
    [
        ("from avaffect.demo.app import build_app\n", "engines/x.py", "engines/x.py (engines) imports avaffect.demo.app (demo)"),
        ("def f():\n    from avaffect.realtime import Pipeline\n", "train/x.py", "train/x.py (train) imports avaffect.realtime (realtime)"),
        ("TABLE = {'a': 'avaffect.cli.live:add_live_parser'}\n", "avaffect/x.py", "avaffect/x.py (contract) imports avaffect.cli.live (cli)"),
        ("from avaffect.cli.logs import setup_logging\n", "realtime/x.py", "realtime/x.py (realtime) imports avaffect.cli.logs (cli)"),
        ("from ..engines import load_engine\n", "train/x.py", "train/x.py (train) imports avaffect.engines (engines)"),
    ],
)
def test_the_guard_sees_an_upward_import(tmp_path, monkeypatch, source, importer, expected):
    """The test above cannot pass by seeing nothing: a planted upward import is reported."""
    planted = ROOT / importer
    monkeypatch.setattr(sys.modules[__name__], "source_files", lambda: [planted])
    real_read = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source if self == planted else real_read(self, *a, **k))
    assert upward_imports() == [expected]
