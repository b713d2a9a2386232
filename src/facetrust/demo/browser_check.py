"""Open a report in headless Chromium and confirm that it loads with every image decoded and no
empty section: ``python -m facetrust.demo.browser_check report.html``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=10000",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def check_report(report: str | Path, screenshot: str | Path | None = None) -> str:
    """Return the page's own verdict (``ok: N images, M sections``); raise RuntimeError otherwise."""
    browser = find_chromium()
    if browser is None:
        raise RuntimeError("no Chromium found; install it (apt-get install chromium) to check the report")
    url = Path(report).resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        if screenshot:
            subprocess.run([browser, *flags, f"--screenshot={screenshot}", "--window-size=1200,2400", url],
                           capture_output=True, timeout=120)
    match = re.search(r'data-check="([^"]*)"', dom.stdout)
    if not match:
        raise RuntimeError(f"the page did not finish loading in Chromium: {dom.stderr[-500:]}")
    verdict = match.group(1)
    if not verdict.startswith("ok"):
        raise RuntimeError(f"{report}: {verdict}")
    return verdict


if __name__ == "__main__":
    print(check_report(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
