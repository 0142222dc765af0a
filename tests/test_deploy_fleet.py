"""docs/deploy.md, "Fetch workers", and deploy/ do what they say: the compose file has the shape the docs promise
(workers never see the Slack token or the database), every systemd unit in docs/deploy.md passes
`systemd-analyze verify`, every ExecStart names only options its banwatch command has, and the Dockerfile copies
only files that exist."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from ruamel.yaml import YAML

from banwatch.monitor.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
FLEET = DEPLOY.split("## Fetch workers\n", 1)[1].split("\n## ", 1)[0]
REDIS_URL = "redis://redis:6379/0"
WORKERS = ("worker-1", "worker-2")


def compose() -> dict:
    return YAML(typ="safe").load(COMPOSE_FILE.read_text(encoding="utf-8"))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def env_files(service: dict) -> list[str]:
    files = service.get("env_file") or []
    files = [files] if isinstance(files, (str, dict)) else files
    return [f["path"] if isinstance(f, dict) else f for f in files]


def command(service: dict) -> list[str]:
    cmd = service.get("command")
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd or [])


# -- the compose file ---------------------------------------------------------------------------------------

def test_the_compose_file_has_redis_a_coordinator_and_two_workers() -> None:
    services = compose()["services"]
    assert set(services) == {"redis", "coordinator", *WORKERS}
    redis = services["redis"]
    assert str(redis["image"]).startswith("redis:7")
    assert "--appendonly" in command(redis) and command(redis)[command(redis).index("--appendonly") + 1] == "yes"
    assert any(str(v).endswith(":/data") for v in redis["volumes"]), "Redis keeps its append-only file on a volume"
    assert command(services["coordinator"])[:2] == ["banwatch", "run"]
    for name in WORKERS:
        assert command(services[name])[:2] == ["banwatch", "worker"], name
    for name in ("coordinator", *WORKERS):
        assert environment(services[name]).get("BANWATCH_REDIS_URL") == REDIS_URL, name
        assert (services[name].get("depends_on") or {}).get("redis"), name
    assert REDIS_URL.split("//")[1].split(":")[0] == "redis"  # the host is the redis service's name


def test_only_the_coordinator_has_the_database_the_watchlist_and_slack() -> None:
    services = compose()["services"]
    coordinator = services["coordinator"]
    env = environment(coordinator)
    volumes = [str(v) for v in coordinator["volumes"]]
    db_mount = next(v for v in volumes if v.split(":")[1] == str(Path(env["BANWATCH_DB"]).parent))
    watchlist_mount = next(v for v in volumes if v.split(":")[1] == str(Path(env["BANWATCH_WATCHLIST"]).parent))
    assert not db_mount.startswith((".", "/")), "the database lives on a named volume"
    assert env_files(coordinator), "the Slack token comes from an env_file"
    slack_files = set(env_files(coordinator))
    for name in WORKERS:
        worker = services[name]
        assert not any(k.startswith("SLACK_") for k in environment(worker)), name
        assert not any(k.startswith(("BANWATCH_DB", "BANWATCH_WATCHLIST")) for k in environment(worker)), name
        for path in env_files(worker):
            assert path not in slack_files and "slack" not in path.lower() and "coordinator" not in path, (name, path)
            on_disk = COMPOSE_FILE.parent / path
            if on_disk.exists():  # a local config/ (not in git): it must not hold the Slack token either
                assert "SLACK_" not in on_disk.read_text(encoding="utf-8"), (name, path)
        mounts = [str(v) for v in worker.get("volumes") or []]
        assert db_mount not in mounts and watchlist_mount not in mounts, name
        assert not any(m.split(":")[0] == db_mount.split(":")[0] for m in mounts), name


def test_the_compose_file_in_the_docs_is_the_real_one() -> None:
    assert f"```yaml\n{COMPOSE_FILE.read_text(encoding='utf-8')}```" in FLEET


# -- the Dockerfile -----------------------------------------------------------------------------------------

def test_the_dockerfile_copies_only_files_that_exist_and_installs_with_pip() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    build = compose()["services"]["coordinator"]["build"]
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == ROOT and (context / build["dockerfile"]).resolve() == DOCKERFILE
    copies = re.findall(r"^COPY\s+(.+)$", text, re.M)
    assert copies
    for line in copies:
        sources = shlex.split(line)[:-1]
        assert sources and not any(s.startswith("--") for s in sources), line
        for source in sources:
            assert (context / source).exists(), source
            assert not (context / source).is_relative_to(ROOT / ".venv"), source
    assert re.search(r"^RUN pip install .*\s\.(\s|$)", text, re.M)
    # pip install . needs what pyproject.toml names: the readme, the license and the package folders
    for needed in ("pyproject.toml", "README.md", "LICENSE", "monitor", "alerts", "spiders"):
        assert any(needed in shlex.split(line)[:-1] or needed + "/" in line for line in copies), needed
    assert re.search(r"^USER\s+banwatch$", text, re.M), "the service does not run as root"


# -- the systemd units --------------------------------------------------------------------------------------

def ini_blocks(doc: str) -> list[tuple[str, str]]:
    """(unit file name, text) of each ```ini block of docs/deploy.md that is a unit file or a drop-in: named by
    its first-line comment (`# /etc/systemd/system/banwatch-worker@.service`, `# banwatch-healthz.service`) or,
    without one, by the last unit path the text before it names."""
    out = []
    for match in re.finditer(r"```ini\n(.*?)```", doc, re.S):
        text = re.sub(r"^ {2}", "", match.group(1), flags=re.M) if match.group(1).startswith("  ") else match.group(1)
        first = text.splitlines()[0]
        named = re.match(r"#\s*(\S+\.(?:service|timer)(?:\.d/\S+\.conf)?)\s*$", first)
        if named:
            name = named.group(1)
        else:
            before = re.findall(r"`(/etc/systemd/system/\S+\.(?:service|timer))`", doc[:match.start()])
            assert before, f"an ini block names no unit: {first}"
            name = before[-1]
        out.append((name.removeprefix("/etc/systemd/system/"), text))
    return out


UNITS = ini_blocks(DEPLOY)


def test_the_docs_have_the_units_they_promise() -> None:
    names = [name for name, _ in UNITS]
    assert names.count("banwatch.service") == 2, "the plain unit and the coordinator's"
    assert "banwatch-worker@.service" in names
    coordinator = [text for name, text in UNITS if name == "banwatch.service" and "redis" in text][0]
    assert re.search(r"^Wants=.*\bredis-server\.service\b", coordinator, re.M)
    assert re.search(r"^After=.*\bredis-server\.service\b", coordinator, re.M)
    assert re.search(r"^EnvironmentFile=", coordinator, re.M)
    assert re.search(r"^ExecStart=\S+/banwatch run$", coordinator, re.M)
    worker = dict(UNITS)["banwatch-worker@.service"]
    exec_start = re.search(r"^ExecStart=(.*)$", worker, re.M).group(1)
    argv = shlex.split(exec_start)
    assert argv[1] == "worker" and argv[argv.index("--bind-address") + 1] == "%i"
    assert argv[argv.index("--name") + 1] == "%H-%i"
    assert re.search(r"^EnvironmentFile=", worker, re.M)
    assert "SLACK" not in re.sub(r"#.*", "", worker)


def test_no_unit_puts_the_redis_url_on_its_command_line() -> None:
    for name, text in UNITS:
        for line in re.findall(r"^ExecStart=(.*)$", text, re.M):
            assert "--redis" not in line and "redis://" not in line, name
        assert not re.search(r"^Environment=BANWATCH_REDIS_URL=", text, re.M), f"{name}: the URL is a secret"


def banwatch_argv(exec_start: str) -> list[str] | None:
    argv = shlex.split(exec_start.lstrip("-@:+!"))
    return argv if argv and Path(argv[0]).name == "banwatch" else None


def unknown_options(argv: list[str]) -> list[str]:
    """The options of a `banwatch [GLOBAL...] COMMAND [OPTIONS...]` command line that the command (or the group,
    before the command) does not have."""
    def opts(command: click.Command) -> dict[str, click.Parameter]:
        return {o: p for p in command.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}

    current: click.Command = cli
    unknown = []
    args = iter(argv[1:])
    for arg in args:
        if arg.startswith("-"):
            name = arg.split("=", 1)[0]
            param = opts(current).get(name)
            if param is None and name not in ("--help", "-h"):
                unknown.append(f"{current.name} {name}")
            elif param is not None and not param.is_flag and "=" not in arg:
                next(args, None)  # its value
        elif isinstance(current, click.Group):
            sub = current.commands.get(arg)
            if sub is None:
                unknown.append(f"{current.name} {arg}")
                break
            current = sub
    if isinstance(current, click.Group):
        unknown.append("no command")
    return unknown


def test_every_exec_start_names_only_options_its_command_has() -> None:
    checked = 0
    for name, text in UNITS:
        for exec_start in re.findall(r"^ExecStart=(.+)$", text, re.M):
            argv = banwatch_argv(exec_start)
            if argv is not None:
                assert unknown_options(argv) == [], (name, exec_start)
                checked += 1
    assert checked >= 4  # the plain unit, the coordinator's, the worker template and its drop-in


def test_a_made_up_option_fails_the_option_check() -> None:
    assert unknown_options(shlex.split("/opt/banwatch/bin/banwatch worker --name a --egress-ip 192.0.2.1")) \
        == ["worker --egress-ip"]
    assert unknown_options(shlex.split("/opt/banwatch/bin/banwatch --log-lvl INFO run"))[0] == "cli --log-lvl"
    assert unknown_options(shlex.split("/opt/banwatch/bin/banwatch wrker"))[0] == "cli wrker"
    assert unknown_options(shlex.split("/opt/banwatch/bin/banwatch run --metrics-port 9650")) == []
    assert unknown_options(shlex.split("/opt/banwatch/bin/banwatch --log-level WARNING run")) == []


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
BANWATCH = Path(sys.executable).parent / "banwatch"  # ExecStart must name an executable: this checkout's


def verify(tmp_path: Path, name: str, text: str, others: list[tuple[str, str]]) -> subprocess.CompletedProcess:
    """`systemd-analyze verify` of one unit in a directory of its own, beside `others` (a timer needs its service,
    a drop-in its template), with /opt/banwatch/bin/banwatch replaced by the virtualenv's banwatch (systemd
    checks that ExecStart names an executable). A template is verified as an instance, a drop-in with the
    instance it edits."""
    for unit, body in [*others, (name, text)]:
        path = tmp_path / unit
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body.replace("/opt/banwatch/bin/banwatch", str(BANWATCH)), encoding="utf-8")
    if ".d/" in name:
        target = name.split(".d/")[0]
        assert (tmp_path / re.sub(r"@[^@/]*\.service$", "@.service", target)).exists(), "the drop-in's unit"
    else:
        target = name.replace("@.", "@192.0.2.11.")
    return subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(tmp_path / target)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("index", range(len(UNITS)), ids=[f"{i}:{name}" for i, (name, _) in enumerate(UNITS)])
def test_each_unit_passes_systemd_analyze_verify(tmp_path: Path, index: int) -> None:
    assert BANWATCH.exists()
    name, text = UNITS[index]
    others = [(n, t) for i, (n, t) in enumerate(UNITS) if i != index and n != name]
    done = verify(tmp_path, name, text, others)
    assert done.returncode == 0 and not done.stderr.strip(), f"{name}:\n{done.stderr}"


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_catches_a_misspelled_key(tmp_path: Path) -> None:
    text = dict(UNITS)["banwatch-worker@.service"].replace("Restart=on-failure", "Restart=on-failure\nRestartt=always")
    done = verify(tmp_path, "banwatch-worker@.service", text, [])
    assert "Unknown key 'Restartt'" in done.stderr
    drop_in = "[Service]\nExecStart=\nExecStart=/opt/banwatch/bin/banwatch worker\nRestartt=always\n"
    done = verify(tmp_path, "banwatch-worker@192.0.2.13.service.d/x.conf", drop_in, [])
    assert "Unknown key 'Restartt'" in done.stderr
