"""docs/deploy.md does what it says: its shell-completion commands produce working scripts, and its systemd unit
runs a command, and sets variables, that banwatch has."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.test_docs import README

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")


def completion_commands() -> dict[str, list[str]]:
    """The commands of each shell's completion block, by shell: the ```sh blocks under "Shell completion"."""
    section = DEPLOY.split("## Shell completion", 1)[1]
    out = {}
    for shell, block in re.findall(r"^(bash|zsh|fish)\b[^\n]*:\n\n```sh\n(.*?)```", section, re.S | re.M):
        out[shell] = [line for line in block.splitlines() if line.strip()]
    return out


def test_the_completion_commands_make_a_script_that_completes(tmp_path: Path) -> None:
    commands = completion_commands()
    assert set(commands) == {"bash", "zsh", "fish"}
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    (tmp_path / ".config" / "fish" / "completions").mkdir(parents=True)  # fish makes it; bash does not
    for shell, lines in commands.items():
        assert any(f"_BANWATCH_COMPLETE={shell}_source banwatch" in line for line in lines), shell
        for line in lines:
            subprocess.run(["bash", "-c", line], env=env, check=True, timeout=60)
    for script in (".banwatch-complete.bash", ".banwatch-complete.zsh", ".config/fish/completions/banwatch.fish"):
        assert "_banwatch_completion" in (tmp_path / script).read_text(), script
    # bash: the sourced script completes a command and an option of `run`
    asked = subprocess.run(["bash", "-c", ". ~/.bashrc\n" + "\n".join(
        f"COMPREPLY=(); COMP_WORDS=({words}); COMP_CWORD={n}; _banwatch_completion banwatch; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        for words, n in (("banwatch ru", 1), ("banwatch run --metrics-p", 2)))],
        env=env, capture_output=True, text=True, check=True, timeout=60)
    assert asked.stdout.split() == ["run", "--metrics-port"], asked.stderr


def test_the_systemd_unit_runs_the_service_with_documented_settings() -> None:
    unit = re.search(r"```ini\n(\[Unit\].*?)```", DEPLOY, re.S)
    assert unit, "the unit file"
    text = unit.group(1)
    for line in ("Restart=on-failure", "User=banwatch", "WorkingDirectory=", "EnvironmentFile=",
                 "Environment=BANWATCH_METRICS_PORT="):
        assert line in text, line
    assert re.search(r"^ExecStart=\S+/banwatch run$", text, re.M)
    for name in re.findall(r"^Environment=(\w+)=", text, re.M):
        assert f"`{name}`" in README, f"{name} is not in the README's configuration table"
