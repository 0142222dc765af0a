"""The CLI package's shape: command modules share only `monitor.cli.core`, hold no SQL, and every command's
user errors go through the one handler (one `Error:` line, the documented exit code, no traceback)."""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from banwatch.monitor.cli import cli
from banwatch.monitor.cli.core import EXIT_USAGE, EXIT_USER
from banwatch.monitor.errors import BanwatchError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "monitor" / "cli"
COMMAND_MODULES = sorted(p for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "core.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import names a sibling
                out |= {f"banwatch.monitor.cli.{base or a.name}" for a in node.names}
            else:
                out.add(base)
                out |= {f"{base}.{a.name}" for a in node.names if base == "banwatch.monitor.cli"}
    return out


def test_command_modules_import_only_core_from_the_package() -> None:
    assert COMMAND_MODULES, "no command modules found"
    for path in COMMAND_MODULES:
        siblings = {m for m in _imports(path) if m == "banwatch.monitor.cli" or m.startswith("banwatch.monitor.cli.")}
        assert siblings <= {"banwatch.monitor.cli.core"}, f"{path.name} imports {sorted(siblings - {'banwatch.monitor.cli.core'})}"
    core = {m for m in _imports(PACKAGE / "core.py") if m == "banwatch.monitor.cli" or m.startswith("banwatch.monitor.cli.")}
    assert not core, f"core.py imports {sorted(core)}: the plumbing depends on no command"


_STATEMENT = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|PRAGMA|BEGIN|WITH)\b")


def test_the_cli_holds_no_sql() -> None:
    """SQL lives behind named functions (monitor.query, the Store, the Outbox); a command only calls them."""
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                assert not _STATEMENT.search(node.value), f"{path.name}:{node.lineno}: SQL in a string"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in ("execute", "executemany", "executescript", "query"), \
                    f"{path.name}:{node.lineno}: runs SQL (.{node.func.attr})"


def test_no_query_reads_the_clock() -> None:
    source = (ROOT / "monitor" / "query.py").read_text(encoding="utf-8")
    assert "'now'" not in source and '"now"' not in source, "a time window comes from the caller"


def _leaves(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            out += _leaves(command, (*path, name))
        else:
            out.append(((*path, name), command))
    return out


LEAVES = _leaves(cli)  # type: ignore[arg-type]
DOCUMENTED_EXIT = {("selftest",): EXIT_USAGE}  # docs/cli.md: selftest's user errors exit 2, where 1 is drift


def test_selftest_user_errors_exit_with_its_usage_code() -> None:
    from banwatch.monitor import selftest

    assert selftest.EXIT_USAGE == EXIT_USAGE == 2


def _args(command: click.Command) -> list[str]:
    """What a command needs to get past click's parsing: a value for each required argument and option (a
    Redis URL for `--redis`, the one required option)."""
    options = [arg for p in command.params if isinstance(p, click.Option) and p.required
               for arg in (p.opts[0], "redis://127.0.0.1:1/0" if p.name == "redis_url" else "1")]
    return options + ["1" for p in command.params if isinstance(p, click.Argument) and p.required]


@pytest.mark.parametrize("path, command", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_turns_a_user_error_into_one_line_and_its_exit_code(
        path: tuple[str, ...], command: click.Command, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(**_: object) -> None:
        raise BanwatchError(f"{' '.join(path)} cannot go on")

    monkeypatch.setattr(command, "callback", fail)
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "x.db"), "--watchlist", str(tmp_path / "none.yaml"),
                                      *path, *_args(command)])
    assert result.exit_code == DOCUMENTED_EXIT.get(path, EXIT_USER), result.output
    assert result.stderr == f"Error: {' '.join(path)} cannot go on\n"
    assert result.stdout == ""
    assert not isinstance(result.exception, BanwatchError) and "Traceback" not in result.output


@pytest.mark.parametrize("path, command", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_names_the_database_when_its_file_fails(
        path: tuple[str, ...], command: click.Command, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def locked(**_: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(command, "callback", locked)
    db = tmp_path / "x.db"
    result = CliRunner().invoke(cli, ["--db", str(db), *path, *_args(command)])
    assert result.exit_code == DOCUMENTED_EXIT.get(path, EXIT_USER), result.output
    assert result.stderr.startswith(f"Error: {db}: database is locked") and result.stderr.count("\n") == 1


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(**_: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli.commands["status"], "callback", bug)  # type: ignore[attr-defined]
    result = CliRunner().invoke(cli, ["status"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_a_command_closes_the_store_it_opened(tmp_path: Path) -> None:
    from banwatch.monitor.cli.core import App

    opened: list[App] = []

    @click.command()
    @click.pass_obj
    def probe(app: App) -> None:
        app.store  # noqa: B018 - opens it
        opened.append(app)

    group = cli  # the real group, its options and handler, with one more command for the test
    group.add_command(probe)  # type: ignore[attr-defined]
    try:
        result = CliRunner().invoke(group, ["--db", str(tmp_path / "x.db"), "probe"])
    finally:
        group.commands.pop("probe")  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output
    assert opened and opened[0]._store is None, "closed when the command ended"


def test_python_dash_m_monitor_is_the_command() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "banwatch.monitor", "--help"], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 0 and "Usage: banwatch" in proc.stdout
    assert {"check", "run", "status", "alerts"} <= set(re.findall(r"^  (\w+)", proc.stdout, re.M))


def test_the_console_script_points_at_the_group() -> None:
    assert 'banwatch = "banwatch.monitor.cli:cli"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out: list[tuple[tuple[str, ...], click.Command]] = [(prefix, group)]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _all_commands(command, (*prefix, name))
        else:
            out.append(((*prefix, name), command))
    return out


def test_help_names_the_environment_variable_of_every_option_that_reads_one() -> None:
    """`--help` shows each option's environment variable (click's show_envvar): a setting read from the
    environment is never a surprise."""
    from click.testing import CliRunner

    from banwatch.monitor.cli import cli

    checked = 0
    for path, command in _all_commands(cli):
        help_text = " ".join(CliRunner().invoke(cli, [*path, "--help"], terminal_width=200).output.split())
        for param in command.params:
            if isinstance(param, click.Option) and param.envvar:
                assert param.show_envvar, f"{' '.join(path) or 'banwatch'} {param.opts[0]} hides its variable"
                assert f"env var: {param.envvar}" in help_text, help_text
                checked += 1
    assert checked >= 4


def test_status_words_are_coloured_on_a_terminal_aligned_and_plain_when_piped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from banwatch.monitor.cli.core import table

    rows = [("weibo:1", "比特币女博士", "suspended"), ("reddit:spez", "spez", "active"), ("x:a", "a", "unknown")]
    coloured = table(["key", "name", "status"], rows, colour=True)
    assert "\x1b[31m\x1b[1msuspended" in coloured and "\x1b[32mactive" in coloured
    visible = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in coloured.splitlines()]
    plain = table(["key", "name", "status"], rows, colour=False)
    assert visible == plain.splitlines(), "colour changes no column: the table aligns as the plain one"
    assert "\x1b[" not in plain
    # The control of the default: piped (not a terminal) is plain; a terminal with NO_COLOR is plain too.
    import io

    from banwatch.monitor.cli.core import colour_wanted

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colour_wanted(Tty()) and not colour_wanted(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_wanted(Tty())
