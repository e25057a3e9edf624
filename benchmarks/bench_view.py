"""The interactive page at scale, in headless Chromium (Debian's, driven by Playwright):
how long pages take to write, to load and to fold, and how soon `archc view` redraws.

Budgets (issue 23): GoogLeNet's page interactive in under 1 s; a network at archc's
layer limit (5,000 layers and scopes) interactive in under 10 s, folding without
freezing; `archc view` redrawing within a second of an edit.  "Interactive" is the page's
own `archc-ready` mark (its script has drawn, wired and folded everything), measured
from navigation start; each figure is the median of several fresh loads.  The ratio is
the time over its budget (≤ 1 is within it).

    python benchmarks/bench_view.py [--runs 5]
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import archc
from archc import limits

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def largest_spec() -> str:
    """Units of four 3×3 convolutions (each with its ReLU: 8 layers and a scope) repeated
    up to the layer limit: about 4,950 layers and scopes, and 550 groups to fold."""
    units = (limits.MAX_LAYERS - 10) // 9
    return (f"network largest input 8x16x16\ndefault conv pad=1\n"
            f"unit {{ conv3-8 ×4 }} ×{units}\nglobal-avgpool\nFC-10\n")


def write_page(spec: Path, out: Path) -> float:
    """`archc graph SPEC -o OUT.html` in a fresh process: seconds, start-up included."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "archc", "graph", str(spec), "-o", str(out),
                    "--force", "-q"], check=True, capture_output=True)
    return time.perf_counter() - start


def load(browser, url: str) -> tuple[float, float, float]:
    """(ms to interactive, ms to fold everything, ms to unfold it) on a fresh page."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url)
    page.wait_for_selector("html[data-ready='1']", timeout=120_000)
    ready = page.evaluate("performance.getEntriesByName('archc-ready')[0].startTime")
    # The click's handler runs to the end before the next frame: the time to that frame
    # is how long the page is frozen.
    timing = """(action) => new Promise((done) => {
        const start = performance.now();
        document.querySelector(`button[data-action='${action}']`).click();
        requestAnimationFrame(() => done(performance.now() - start));
    })"""
    fold = page.evaluate(timing, "fold-all")
    unfold = page.evaluate(timing, "unfold-all")
    page.close()
    return ready, fold, unfold


def live_redraw(browser, folder: Path, runs: int) -> list[float]:
    """Seconds from an edit saved to the open page showing it, under `archc view`."""
    spec = folder / "live.arch"
    spec.write_text("network live input 3x32x32\nstage: { conv3-16 ×2 }\nFC-10\n")
    proc = subprocess.Popen([sys.executable, "-m", "archc", "view", str(spec), "--no-open",
                             "--port", "0"], stdout=subprocess.PIPE, text=True)
    url = re.search(r"http://\S+/", proc.stdout.readline()).group(0)
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector("html[data-ready='1']")
    times = []
    for run in range(runs):
        version = page.evaluate("document.documentElement.dataset.version")
        start = time.perf_counter()
        spec.write_text(f"network live input 3x32x32\nstage: {{ conv3-16 ×{run + 3} }}\nFC-10\n")
        page.wait_for_selector(f"html:not([data-version='{version}'])", timeout=10_000)
        times.append(time.perf_counter() - start)
    page.close()
    proc.send_signal(2)
    proc.wait(timeout=10)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"machine: {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}, {subprocess.run([CHROMIUM, '--version'], capture_output=True, text=True).stdout.strip()}")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        folder = Path(tmp)
        largest = folder / "largest.arch"
        largest.write_text(largest_spec())
        net = archc.analyze(largest)
        print(f"largest: {len(net.nodes):,} layers, {sum(1 for _ in net.root.walk()):,} scopes")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        print(f"\n{'page':<34}{'write s':>9}{'size':>9}{'ready ms':>10}{'fold ms':>9}"
              f"{'unfold ms':>11}{'budget':>9}{'ratio':>7}")
        for name, spec, budget in [("GoogLeNet", ROOT / "specs" / "googlenet.arch", 1.0),
                                   ("ResNet-152", ROOT / "specs" / "resnet152.arch", 1.0),
                                   ("largest within the limits", largest, 10.0)]:
            out = folder / f"{spec.stem}.html"
            written = statistics.median(write_page(spec, out) for _ in range(3))
            loads = [load(browser, out.as_uri()) for _ in range(args.runs)]
            ready, fold, unfold = (statistics.median(x) for x in zip(*loads))
            print(f"{name:<34}{written:>9.2f}{out.stat().st_size / 2**20:>7.1f}MB"
                  f"{ready:>10.0f}{fold:>9.0f}{unfold:>11.0f}{budget:>8.0f}s"
                  f"{ready / 1000 / budget:>7.2f}")
        redraws = live_redraw(browser, folder, args.runs)
        print(f"\narchc view: edit saved → page redrawn, median {statistics.median(redraws):.2f} s "
              f"(max {max(redraws):.2f} s) over {len(redraws)} edits; budget 1 s, ratio "
              f"{statistics.median(redraws):.2f}")
        browser.close()


if __name__ == "__main__":
    main()
