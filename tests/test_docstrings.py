"""Every public function and class in monitor/, alerts/ and spiders/ says what it does: its shapes, units and
errors (and, for a platform rule, its source). Read from the source with `ast`, nothing imported.

Public: a module-level function or class whose name does not start with `_`, and the methods and nested
classes of a public class (dunder methods start with `_`). Functions nested inside functions are not public.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("monitor", "alerts", "spiders")


def undocumented(source: str) -> list[str]:
    """Qualified names ('Class.method') with their line, 'name (line N)', of the public functions and classes
    in `source` (Python text) that have no docstring. Raises SyntaxError on text that is not Python."""
    missing: list[str] = []

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                    and not node.name.startswith("_"):
                if ast.get_docstring(node) is None:
                    missing.append(f"{prefix}{node.name} (line {node.lineno})")
                if isinstance(node, ast.ClassDef):
                    walk(node.body, f"{prefix}{node.name}.")

    walk(ast.parse(source).body, "")
    return missing


def modules() -> list[Path]:
    """Every .py file under the three packages, as paths relative to the repository root."""
    return sorted(p.relative_to(ROOT) for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_every_public_function_and_class_has_a_docstring() -> None:
    found = [f"{path}: {name}" for path in modules()
             for name in undocumented((ROOT / path).read_text(encoding="utf-8"))]
    assert not found, "public functions/classes without a docstring:\n" + "\n".join(found)


def test_control_an_undocumented_public_function_is_reported() -> None:
    source = '''
def documented():
    """Yes."""

def bare(x):
    return x

def _private():
    pass

class Thing:
    """A thing."""

    def method(self):
        pass

    def __init__(self):
        pass

    def fine(self):
        """Fine."""

    class Inner:
        pass

class _Hidden:
    def method(self):
        pass

async def waits():
    pass

def outer():
    """Outer."""
    def inner():
        pass
'''
    assert undocumented(source) == ["bare (line 5)", "Thing.method (line 14)", "Thing.Inner (line 23)",
                                    "waits (line 30)"]
