"""Who may import whom (docs/architecture.md, "Layers"), read from the source: every import, wherever it is.

- core: every module of `monitor` but the composition; imports only the core (and libraries).
- spiders: imports the core, never `alerts` or the composition.
- alerts: imports the core, never `spiders` or the composition.
- composition: monitor.cli (module or package, and cli_*), scheduler, runner, fetching, fleet, worker, selftest, explain, metrics and every
  `__main__` (an entry point, which nothing imports): imports anything.

An import inside a function counts like one at the top, and so does `importlib.import_module("x")` or
`__import__("x")` with a literal name: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("monitor", "spiders", "alerts")
COMPOSITION = {"banwatch.monitor.cli", "banwatch.monitor.scheduler", "banwatch.monitor.runner", "banwatch.monitor.fetching", "banwatch.monitor.fleet", "banwatch.monitor.worker", "banwatch.monitor.selftest", "banwatch.monitor.explain",
               "banwatch.monitor.metrics"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["banwatch", *parts])  # installed, the three folders are banwatch's subpackages


def is_composition(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return (module in COMPOSITION or module.startswith("banwatch.monitor.cli.") or module.startswith("banwatch.monitor.cli_")
            or last == "__main__")


def layer(module: str) -> str | None:
    """`core`, `composition`, `spiders` or `alerts`; None for anything outside banwatch (libraries)."""
    if module.split(".", 1)[0] in OLD_NAMES:
        return "old"
    if not module.startswith("banwatch."):
        return None
    top = module.split(".", 2)[1]
    if top == "monitor":
        return "composition" if is_composition(module) else "core"
    return top if top in ("spiders", "alerts") else None


# The folders' own names are not importable once installed (pyproject.toml maps them under banwatch):
# importing them works only from a checkout, so no module may.
OLD_NAMES = ("monitor", "alerts", "spiders")


# What each layer may not import (the layer of the imported module).
FORBIDDEN = {
    "core": {"spiders", "alerts", "composition", "old"},
    "spiders": {"alerts", "composition", "old"},
    "alerts": {"spiders", "composition", "old"},
    "composition": {"old"},
}


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Every module `source` imports, as (line, absolute name): `import a.b` and `from a import b` (both `a`
    and `a.b`, since b may be a module), relative imports resolved against `module`, at any depth (inside
    functions, classes, `if TYPE_CHECKING:`), and `importlib.import_module` / `__import__` of a literal."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1] if package else []
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.append((node.lineno, origin))
            found += [(node.lineno, f"{origin}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                found.append((node.lineno, node.args[0].value))
    return found


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """`module:line: imports name (a <layer> module)` for every import its layer may not make."""
    own = layer(module)
    if own is None:
        return []
    out = []
    for line, name in imports(source, module, is_package):
        target = layer(name)
        if target in FORBIDDEN[own] and not (target == "composition" and own == "composition"):
            out.append(f"{module}:{line}: imports {name} (a {target} module; {own} may not)")
    return sorted(set(out))


def all_violations() -> list[str]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            out += violations(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
    return out


def test_each_layer_imports_only_what_it_may() -> None:
    found = all_violations()
    assert not found, "imports across the layers (docs/architecture.md, Layers):\n  " + "\n  ".join(found)


def test_the_core_and_the_composition_are_what_the_docs_say() -> None:
    assert layer("banwatch.monitor.watchlist.accounts") == layer("banwatch.monitor.store") == layer("banwatch.monitor.registry") == "core"
    assert layer("banwatch.monitor.redact") == layer("banwatch.monitor.watchdog") == layer("banwatch.monitor.settings") == "core"
    for module in ("banwatch.monitor.cli", "banwatch.monitor.cli.alerts", "banwatch.monitor.cli_history", "banwatch.monitor.scheduler", "banwatch.monitor.runner",
                   "banwatch.monitor.selftest", "banwatch.monitor.explain", "banwatch.monitor.metrics", "banwatch.monitor.__main__", "banwatch.monitor.watchlist.__main__"):
        assert layer(module) == "composition", module


LAZY = '''
"""A core module that looks clean at the top."""
import json


def load():
    from banwatch.spiders import x
    return x
'''


def test_control_a_lazy_import_inside_a_function_is_reported() -> None:
    assert violations(LAZY, "banwatch.monitor.watchlist.fake") == [
        "banwatch.monitor.watchlist.fake:7: imports banwatch.spiders (a spiders module; core may not)",
        "banwatch.monitor.watchlist.fake:7: imports banwatch.spiders.x (a spiders module; core may not)"]
    assert violations(LAZY, "banwatch.monitor.runner") == [], "the composition may"
    assert violations(LAZY, "banwatch.alerts.render"), "alerts may not"


@pytest.mark.parametrize("source", [
    "import banwatch.spiders.platforms",
    "from banwatch.spiders.platforms.base import Politeness",
    "class A:\n    def f(self):\n        import banwatch.alerts.render",
    "import importlib\nimportlib.import_module('banwatch.spiders.platforms')",
    "from banwatch.monitor import runner",
    "from .. import runner",
    "from monitor.store import Store",  # a folder's own name: importable only from a checkout
    "import spiders.platforms",
])
def test_control_every_spelling_of_a_forbidden_import_is_reported(source: str) -> None:
    assert violations(source, "banwatch.monitor.watchlist.fake"), source


def test_control_alerts_may_import_the_core_but_not_spiders() -> None:
    assert violations("from banwatch.monitor.store import Store\nfrom banwatch.monitor import registry",
                      "banwatch.alerts.fake") == []
    assert violations("from banwatch.spiders.platforms import PLATFORMS", "banwatch.alerts.fake")


def test_control_the_composition_may_import_any_layer_but_not_the_folders_own_names() -> None:
    assert violations("import banwatch.spiders.platforms\nimport banwatch.alerts.dispatch", "banwatch.monitor.runner") == []
    assert violations("import spiders.platforms", "banwatch.monitor.runner"), "not importable once installed"


def test_without_an_installed_registry_the_core_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from banwatch.monitor import registry
    from banwatch.monitor.watchlist import parse

    monkeypatch.setattr(registry, "_installed", None)
    with pytest.raises(registry.NoRegistry, match="no platform registry: the composition imports spiders.platforms"):
        parse("accounts: []\n", "w.yaml")


def test_a_registry_passed_in_is_the_one_used() -> None:
    from banwatch.monitor import registry
    from banwatch.monitor.model import Politeness
    from banwatch.monitor.watchlist import parse
    from banwatch.spiders.platforms import PLATFORMS, REGISTRY

    class One:
        platforms = {"reddit": PLATFORMS["reddit"]}

        def resolve_url(self, url: str, platform: str | None = None) -> tuple[str, str]:
            return REGISTRY.resolve_url(url, platform)

        def server_problem(self, host: str) -> str | None:
            return REGISTRY.server_problem(host)

    one: registry.Registry = One()
    wl = parse("accounts:\n  - {platform: reddit, handle: spez}\n", "w.yaml", registry=one)
    assert [a.key for a in wl.accounts] == ["reddit:spez"]
    assert wl.politeness("reddit") == PLATFORMS["reddit"].politeness and isinstance(wl.politeness("reddit"),
                                                                                    Politeness)
    with pytest.raises(Exception, match="unknown platform 'weibo'"):
        parse("accounts:\n  - {platform: weibo, id: '1234567890'}\n", "w.yaml", registry=one)


def test_the_wheel_packages_every_folder_under_the_banwatch_name() -> None:
    """pyproject.toml lists the packages by hand (setuptools cannot find them under a mapped name): every folder
    with an __init__.py must be there as banwatch.<path>, or an installed banwatch would lack it."""
    import tomllib

    tool = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert tool["package-dir"] == {f"banwatch.{p}": p for p in ("monitor", "alerts", "spiders")}
    on_disk = {"banwatch." + ".".join(i.parent.relative_to(ROOT).parts) for p in PACKAGES
               for i in (ROOT / p).rglob("__init__.py")}
    assert set(tool["packages"]) == on_disk
