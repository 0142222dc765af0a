"""Docs that match the code: every command, option, platform and setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import click

from banwatch.monitor.cli import cli
from banwatch.spiders.platforms import PLATFORMS

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _commands(command, f"{prefix}{name} ")
        else:
            out.append((f"{prefix}{name}", command))
    return out


def test_every_command_and_option_is_in_docs_cli() -> None:
    ctx = click.Context(cli)
    for name, command in _commands(cli):  # type: ignore[arg-type]
        assert f"## `banwatch {name}" in CLI_DOC, f"docs/cli.md lacks a section for {name}"
        for param in command.get_params(ctx):
            for opt in param.opts if isinstance(param, click.Option) and not param.hidden else []:
                if opt not in ("--help", "-h"):
                    assert opt in CLI_DOC, f"docs/cli.md does not mention {name} {opt}"
    for param in cli.params:
        for opt in param.opts:
            assert opt in CLI_DOC, f"docs/cli.md does not mention the global option {opt}"


def test_every_platform_is_in_the_support_matrix() -> None:
    doc = (ROOT / "docs" / "platforms.md").read_text(encoding="utf-8")
    for name, platform in PLATFORMS.items():
        assert f"BANWATCH_{name.upper()}_BASE_URL" in doc
        assert f"## {platform.title}" in doc


def test_every_rule_is_in_the_support_matrix() -> None:
    doc = (ROOT / "docs" / "platforms.md").read_text(encoding="utf-8")
    from tests.fixtures import all_fixtures

    # a named rule (`<platform>.<rule>:<value>`, base.named_rule) is documented with its value
    missing = sorted({f.expected_rule for f in all_fixtures()}
                     - set(re.findall(r"[a-z]+\.[a-z_0-9]+(?::[a-z_0-9]+)?", doc)))
    assert not missing, f"rules not documented in docs/platforms.md: {missing}"


def test_every_environment_variable_read_is_documented() -> None:
    names = set()
    for path in (ROOT / "monitor").glob("*.py"):
        names |= set(re.findall(r'"((?:BANWATCH|SLACK)_[A-Z_]+)"', path.read_text(encoding="utf-8")))
    names |= {f"BANWATCH_{p.upper()}_BASE_URL" for p in PLATFORMS}
    # Scrapy settings of banwatch's own (spiders/settings.py says which), not environment variables:
    scrapy_settings = set(re.findall(r"^- (BANWATCH_[A-Z_]+):", (ROOT / "spiders" / "settings.py").read_text(
        encoding="utf-8"), re.M))
    assert scrapy_settings >= {"BANWATCH_BASE_URLS", "BANWATCH_SECRETS", "BANWATCH_ANSWER_MAXSIZE"}
    names -= scrapy_settings
    for name in sorted(names):
        documented = name in README or "BANWATCH_<PLATFORM>_BASE_URL" in README and name.endswith("_BASE_URL")
        assert documented, f"README's configuration table lacks {name}"


def test_readme_quick_start_is_the_two_make_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^(make \w+)", quick, re.M)
    assert commands == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_watchlist_key_is_documented() -> None:
    from banwatch.monitor import watchlist as w

    doc = (ROOT / "docs" / "watchlist.md").read_text(encoding="utf-8")
    keys = {*w.TOP_KEYS, *w.DEFAULT_KEYS, *w.ALERT_KEYS, *w.ACCOUNT_KEYS, *w.ENTITY_KEYS, *w.PLATFORM_KEYS,
            *w.SERVICE_KEYS}
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, f"docs/watchlist.md does not describe: {missing}"


def test_the_support_matrix_is_generated_from_the_registry() -> None:
    from banwatch.spiders.platforms.matrix import block

    doc = (ROOT / "docs" / "platforms.md").read_text(encoding="utf-8")
    assert block() in doc, "run: python -m banwatch.spiders.platforms.matrix --write docs/platforms.md"


def test_the_fixture_counts_are_generated_from_the_fixtures() -> None:
    from banwatch.spiders.platforms.matrix import counts_block

    doc = (ROOT / "docs" / "platforms.md").read_text(encoding="utf-8")
    assert counts_block() in doc, "run: python -m banwatch.spiders.platforms.matrix --write docs/platforms.md"
    for platform in PLATFORMS.values():
        for credential in platform.credentials:
            assert f"`{credential}`" in doc


def test_every_watchlist_example_in_the_docs_loads() -> None:
    from banwatch.monitor.watchlist import parse

    examples = 0
    for path in (ROOT / "README.md", *(ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            if block.lstrip().startswith(("defaults:", "alerts:", "platforms:", "accounts:", "service:")) \
                    and "accounts:" in block:
                parse(block, str(path))  # raises with file:line: field on any mistake
                examples += 1
    assert examples >= 2
