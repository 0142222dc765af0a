"""`make demo` runs offline and shows the wave, the reinstatement and the blind alert — and nothing false."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.run import REINSTATED, SUSPENDED  # noqa: E402


def test_the_demo_tells_the_june_2021_story_without_a_false_alert() -> None:
    env = {**os.environ, "BANWATCH_DEMO_SPEED": "0.25", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(ROOT / "demo" / "run.py")], env=env, capture_output=True, text=True,
                         timeout=240, check=True).stdout
    assert re.search(r"ALERT \d+ Weibo accounts suspended since", out), "the wave"
    assert "(wave updated) 25 Weibo accounts suspended since" in out, "every member joined the wave"
    assert f"ALERT Reinstated on Weibo: {REINSTATED} |" in out
    assert re.search(r"ALERT banwatch health \(platform:reddit\): banwatch is blind on Reddit", out)
    suspended = re.findall(r"Suspended on (\w+): ([^|]+?) \|", out)
    assert suspended and all(platform == "Weibo" and name in SUSPENDED for platform, name in suspended)
    assert not re.search(r"(Gone \(not found\)|Deactivated|Restricted) on", out), "nothing false"
    assert out.count("Reinstated on") == 1
    assert "-- Waves" in out and "-- Where each platform stands" in out and "reddit      blind" in out
