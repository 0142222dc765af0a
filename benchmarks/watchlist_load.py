"""The 100,000-account watchlist load (parse + validate) of docs/performance.md, on its own.

    .venv/bin/python benchmarks/watchlist_load.py [--accounts 100000] [--repeat 5] [--against REV]
    .venv/bin/python benchmarks/watchlist_load.py --csv [--accounts 100000] [--repeat 5]

Times `monitor.watchlist.parse` on the same text benchmarks/proof.py's scale section loads (one-line accounts
on four platforms, the default politeness). `--against REV` also loads the reader as it was at git revision
REV (a single monitor/watchlist.py, or the monitor/watchlist/ package) and times both in the same process,
alternately, so a change to the reader is compared with what it replaces on the same machine and moment.
Best of `--repeat` runs each; both must produce the same accounts.

`--csv` times the same accounts listed in a CSV file a small watchlist includes (`include: accounts.csv`,
docs/watchlist.md, "Large lists: CSV include"), loaded with `monitor.watchlist.load` from a temporary folder, side
by side with the YAML in the same run; both must produce the same accounts (their lines aside).

A file this size is past the caps a watchlist file may cost (docs/watchlist.md, "Size limits and aliases": 1 MiB,
500,000 values), so, like proof.py, this calls `parse` on the text rather than `load` on a file, with the
module's MAX_NODES raised for the run: the figure is the reader's cost, not a file anyone may load.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.proof import keys_for, watchlist  # noqa: E402


def _at(rev: str) -> ModuleType:
    """banwatch.monitor.watchlist as of `rev`, imported under another name next to the current one."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout

    tree = git("ls-tree", "-r", "--name-only", rev, "monitor/watchlist.py", "monitor/watchlist").split()
    if not tree:
        raise SystemExit(f"no monitor/watchlist at {rev}")
    work = Path(tempfile.mkdtemp(prefix="banwatch-wl-"))
    name = "watchlist_at_" + rev.replace("~", "_").replace("^", "_").replace("/", "_").replace("-", "_")
    for path in tree:
        target = work / name / Path(path).relative_to("monitor/watchlist") if "/watchlist/" in path \
            else work / f"{name}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(git("show", f"{rev}:{path}"), encoding="utf-8")
    package = (work / name).is_dir()
    location = work / name / "__init__.py" if package else work / f"{name}.py"
    spec = importlib.util.spec_from_file_location(
        name, location, submodule_search_locations=[str(work / name)] if package else None)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _time(parse: Callable[[str, str], Any], text: str) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    wl = parse(text, "watchlist.yaml")
    return time.perf_counter() - started, wl


def csv_mode(args: argparse.Namespace) -> None:
    """The same accounts as YAML (parse on the text) and as a CSV include (load on the files), alternately."""
    from banwatch.monitor import watchlist as current

    current.MAX_NODES = 10 * args.accounts + 1_000  # type: ignore[attr-defined]  # the YAML's text, as above
    keys = keys_for(args.accounts)
    text = watchlist(keys, interval="10m", fast=False)
    folder = Path(tempfile.mkdtemp(prefix="banwatch-csv-"))
    rows = "".join(f"{k.split(':')[0]},{k.split(':', 1)[1]}\n" for k in keys)
    (folder / "accounts.csv").write_text("platform,handle\n" + rows, encoding="utf-8")
    (folder / "watchlist.yaml").write_text(
        text.split("accounts:\n", 1)[0] + "include: accounts.csv\n", encoding="utf-8")
    size = (folder / "accounts.csv").stat().st_size
    print(f"{args.accounts:,} accounts: YAML {len(text) / 1e6:.1f} MB, CSV {size / 1e6:.1f} MB; best of {args.repeat}")
    readers: dict[str, Callable[[], Any]] = {
        "YAML": lambda: current.parse(text, "watchlist.yaml"),
        "CSV": lambda: current.load(folder / "watchlist.yaml")}
    best = {label: float("inf") for label in readers}
    shapes: dict[str, int] = {}
    for round_ in range(args.repeat):
        for label in list(readers)[::1 if round_ % 2 == 0 else -1]:
            gc.collect()
            started = time.perf_counter()
            wl = readers[label]()
            best[label] = min(best[label], time.perf_counter() - started)
            shapes[label] = hash(tuple((a.key, a.interval, a.confirmations, a.confirm_delay, a.tags, a.entity)
                                       for a in wl.accounts))
            del wl
    if len(set(shapes.values())) != 1:
        raise SystemExit("the YAML and the CSV disagree on the accounts")
    print(f"{'YAML':>14}: load {best['YAML']:.2f} s (goal < 5 s)")
    print(f"{'CSV include':>14}: load {best['CSV']:.2f} s (goal < 2 s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--against", metavar="REV", help="also time the reader as of this git revision")
    ap.add_argument("--csv", action="store_true", help="the same accounts from a CSV include, next to the YAML")
    args = ap.parse_args()

    import banwatch.spiders.platforms  # noqa: F401 - installs the platform registry the core reads (monitor.registry)
    if args.csv:
        csv_mode(args)
        return
    from banwatch.monitor import watchlist as current

    modules = {"working tree": current}
    if args.against:
        modules[args.against] = _at(args.against)
    readers: dict[str, Callable[[str, str], Any]] = {}
    for label, module in modules.items():
        module.MAX_NODES = 10 * args.accounts + 1_000  # type: ignore[attr-defined]  # ~5 nodes an account
        readers[label] = module.parse
    text = watchlist(keys_for(args.accounts), interval="10m", fast=False)
    print(f"watchlist of {args.accounts:,} accounts, {len(text) / 1e6:.1f} MB; best of {args.repeat}")
    best = {label: float("inf") for label in readers}
    shapes: dict[str, int] = {}
    for round_ in range(args.repeat):  # alternate who goes first; keep no result alive while the next one runs
        for label in list(readers)[::1 if round_ % 2 == 0 else -1]:
            seconds, wl = _time(readers[label], text)
            best[label] = min(best[label], seconds)
            shapes[label] = hash(tuple((a.key, a.interval, a.confirmations, a.confirm_delay, a.tags, a.line)
                                       for a in wl.accounts))
            del wl
    if len(set(shapes.values())) != 1:
        raise SystemExit("the readers disagree on the accounts")
    for label, seconds in best.items():
        print(f"{label:>14}: load {seconds:.2f} s (goal < 5 s)")


if __name__ == "__main__":
    main()
