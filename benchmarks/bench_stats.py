"""`archc stats specs/vgg_e.arch` against torchinfo's summary of torchvision's vgg19.

Both answer the same question — the per-layer table and the totals of VGG-19 (VGG
configuration E) — and both are timed the way a user meets them: a fresh process per run
(interpreter start and imports included), the median of several runs after a warm-up.
As on a user's machine, Python may cache compiled bytecode: the warm-up writes it even
where PYTHONDONTWRITEBYTECODE is set (as on the machines this project is built on), so
neither side is timed compiling its sources.
The script first checks that both report the same network: equal parameter counts, and
MACs that differ exactly by the bias additions torchinfo counts as multiply-adds.

    python benchmarks/bench_stats.py [--runs 5]

Needs the `bench` extra (torchinfo, torchvision): pip install -e ".[bench]".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "vgg_e.arch"

TORCHINFO = """
import json, torchinfo, torchvision
summary = torchinfo.summary(torchvision.models.vgg19(), input_size=(1, 3, 224, 224), verbose=0)
print(json.dumps({"params": summary.total_params, "mult_adds": summary.total_mult_adds}))
"""

TORCHINFO_IN_PROCESS = """
import time, torchinfo, torchvision
t0 = time.perf_counter()
model = torchvision.models.vgg19()
t1 = time.perf_counter()
torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT,
                          env=ENV).stdout


def timed(command: list[str], runs: int) -> tuple[float, list[float], str]:
    """Median wall time of ``runs`` fresh processes (after one warm-up) and the last stdout."""
    out = run(command)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = run(command)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    try:
        import torch
        import torchinfo  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as exc:
        print(f"error: {exc.name} is missing: pip install -e '.[bench]'", file=sys.stderr)
        return 2

    archc_cmd = [sys.executable, "-m", "archc", "stats", str(SPEC)]
    archc_json = [sys.executable, "-m", "archc", "stats", "--format", "json", str(SPEC)]
    baseline_cmd = [sys.executable, "-c", TORCHINFO]

    ours = json.loads(run(archc_json))
    theirs = json.loads(run(baseline_cmd))
    params, macs = ours["totals"]["params"], ours["totals"]["macs"]
    bias_adds = sum(layer["activations"] for layer in ours["layers"] if layer["op"] in ("conv", "fc"))
    assert theirs["params"] == params, (theirs, params)
    assert theirs["mult_adds"] == macs + bias_adds, (theirs, macs, bias_adds)

    archc_s, archc_runs, _ = timed(archc_cmd, args.runs)
    base_s, base_runs, _ = timed(baseline_cmd, args.runs)

    # The same work without interpreter start-up and imports.
    sys.path.insert(0, str(ROOT))
    import archc
    from archc import stats

    start = time.perf_counter()
    for _ in range(20):
        stats.render([archc.analyze(SPEC)])
    archc_inproc = (time.perf_counter() - start) / 20
    build, summary = map(float, run([sys.executable, "-c", TORCHINFO_IN_PROCESS]).split())

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, torchinfo {torchinfo.__version__}")
    print(f"network: VGG-19 / vgg_e, {params:,} params, {macs:,} MACs "
          f"(torchinfo: {theirs['mult_adds']:,} mult-adds = MACs + {bias_adds:,} bias adds)")
    print()
    print(f"{'command':58} {'median':>9}  runs")
    print(f"{'archc stats specs/vgg_e.arch':58} {archc_s:8.3f}s  "
          + " ".join(f"{t:.3f}" for t in archc_runs))
    print(f"{'torchinfo.summary(torchvision.models.vgg19())':58} {base_s:8.3f}s  "
          + " ".join(f"{t:.2f}" for t in base_runs))
    print(f"ratio (fresh processes): archc is {base_s / archc_s:.1f}x faster")
    print()
    print(f"in process, imports done: archc analyse + table {archc_inproc * 1000:.1f} ms; "
          f"torchvision vgg19() {build:.2f} s + torchinfo.summary {summary:.2f} s "
          f"({(build + summary) / archc_inproc:.0f}x)")

    # The zoo's largest networks against VGG-E (goal: within 2×), fresh processes.
    print()
    print(f"{'archc stats SPEC':58} {'median':>9}  vs vgg_e (goal ≤ 2)")
    for name in ("regnet_y_128gf", "efficientnet_b7", "densenet201"):
        spec = ROOT / "specs" / f"{name}.arch"
        seconds, _, _ = timed([sys.executable, "-m", "archc", "stats", "-q", str(spec)], args.runs)
        net = archc.analyze(spec)
        label = f"{name} ({len(net.nodes):,} layers)"
        print(f"{label:58} {seconds:8.3f}s  {seconds / archc_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
