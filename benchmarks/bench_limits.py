"""The worst inputs archc accepts or refuses, timed: analysing any spec within archc's
limits finishes in about a second or is refused (issue 6), and every other command on it
in about two (issue 16).

Each case is the most work a spec can ask for at one of archc.limits' bounds: the largest
text, the most tokens, the most layers, the deepest nesting, repeats that would unroll
to a billion layers, a 64 MiB file, used files that add up past the size limit.  Each is
timed in-process (`archc.analyze`, the median of several runs after a warm-up) and as
`archc check` in a fresh process, start-up included; the ratio is the time over the
one-second budget (≤ 1 is within it).  Then the networks at the layer limit that cost the
other commands most go through `archc compile`, `archc graph -o x.dot` and `archc stats
--plot` in fresh processes, against a two-second budget.  Last, the Caffe definitions
within the importer's limits that cost `archc import` most (issue 20: a 16,000-layer
chain took 37 s, one name 5,000 times 42 s), in fresh processes, against two seconds.

    python benchmarks/bench_limits.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import archc
from archc import limits
from archc.errors import ArchcError, Source

HEAD = "network worst input 3x32x32\n"
BUDGET = 1.0  # seconds


def cases() -> dict[str, str]:
    repeats = (limits.MAX_LAYERS - 1) // limits.MAX_REPEAT
    most_layers = HEAD + f"relu ×{limits.MAX_REPEAT}\n" * repeats
    return {
        "1 MiB of comments, one layer":
            HEAD + "relu\n" + "# comment\n" * ((limits.MAX_BYTES - 40) // 10),
        f"{limits.MAX_TOKENS:,} tokens: a layer a line (accepted)":
            HEAD + "relu\n" * ((limits.MAX_TOKENS - 10) // 2),
        f"{limits.MAX_TOKENS:,} tokens: layers with options (accepted)":
            HEAD + "conv3-8 pad=1 stride=1 bias=true\n" * ((limits.MAX_TOKENS - 10) // 11),
        "a layer a line, over the token limit (refused)": HEAD + "relu\n" * limits.MAX_TOKENS,
        f"{limits.MAX_LAYERS - 1:,} layers through ×N (accepted)": most_layers,
        "{ { { relu } ×1000 } ×1000 } ×1000 (refused)":
            HEAD + "{ { { relu } ×1000 } ×1000 } ×1000\n",
        f"{limits.MAX_NESTING} nested groups (accepted)":
            HEAD + "{ " * limits.MAX_NESTING + "relu" + " }" * limits.MAX_NESTING + "\n",
        "100,000 nested braces (refused)": HEAD + "{" * 100_000 + "}" * 100_000 + "\n",
        "1 MiB table (refused: too many tokens)": HEAD + "table t {\n"
            + ("X " * 500 + "\n") * (limits.MAX_BYTES // 1002) + "}\nrelu\n",
    }


# The networks at the layer limit that cost each command most, and the commands.
WORST_NETWORKS = {
    "4,990 activations": "network worst input 4x8x8\n" + "relu ×998\n" * 5,
    "4,990 grouped convolutions (two towers each)":
        "network worst input 4x8x8\n" + "conv3-4 groups=2 act=none ×998\n" * 5,
    "2,490 convolutions with activations":
        "network worst input 4x8x8\nconv3-4 ×1000\nconv3-4 ×1000\nconv3-4 ×490\n",
}
COMMANDS = {
    "archc compile": ["compile", "-o", "{out}.py", "--force"],
    "archc graph -o .dot": ["graph", "-o", "{out}.dot", "--force"],
    "archc stats --plot .png": ["stats", "--plot", "{out}.png", "--force", "--no-table"],
}
COMMAND_BUDGET = 2.0  # seconds

_CAFFE_HEAD = 'name: "t"\ninput: "data"\ninput_dim: 1 input_dim: 3 input_dim: 32 input_dim: 32\n'


def _relus(count: int, same_name: bool = False) -> str:
    return _CAFFE_HEAD + "".join(
        f'layer {{ name: "{"same" if same_name else f"r{i}"}" type: "ReLU" bottom: "data" '
        f'top: "data" }}\n' for i in range(count))


def _heads(count: int) -> str:
    conv = ('layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
            'convolution_param { num_output: 8 kernel_size: 1 } }\n')
    return _CAFFE_HEAD + conv + "".join(
        f'layer {{ name: "a{i}" type: "InnerProduct" bottom: "c" top: "a{i}" '
        f'inner_product_param {{ num_output: 2 }} }}\n'
        f'layer {{ name: "l{i}" type: "SoftmaxWithLoss" bottom: "a{i}" bottom: "label" '
        f'top: "l{i}" loss_weight: 0.3 }}\n' for i in range(count))


CAFFE_CASES = {
    f"a chain of {limits.MAX_LAYERS:,} in-place layers": _relus(limits.MAX_LAYERS),
    f"one name {limits.MAX_LAYERS:,} times": _relus(limits.MAX_LAYERS, same_name=True),
    "a chain of 16,000 layers (over the limit)": _relus(16_000),
    "800 auxiliary heads": _heads(800),
    "1 MiB of flat fields": 'name: "t"\n' + "input_dim: 1\n" * 80_000,
    "1,000 nested messages": 'name: "t"\n' + "state { " * 1000
    + "}" * 1000,
}


def analyse(text: str) -> str:
    try:
        archc.analyze(Source("<bench>", text))
        return "accepted"
    except ArchcError as exc:
        return "refused: " + exc.message


def median_time(text: str, runs: int) -> tuple[float, str]:
    outcome = analyse(text)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        analyse(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times), outcome


def fresh_process(path: Path, runs: int, args: list[str] | None = None) -> float:
    args = ["check", str(path)] if args is None else [args[0], str(path), *args[1:]]
    command = [sys.executable, "-m", "archc", *args, "-q"]
    subprocess.run(command, capture_output=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"# {platform.node()} · {platform.processor() or platform.machine()} · "
          f"{os.cpu_count()} CPUs · Python {platform.python_version()} · archc {archc.__version__}")
    print(f"{'case':<58} {'bytes':>9} {'analyze':>9} {'archc check':>12} {'÷ 1 s':>6}  outcome")
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        all_cases = cases()
        huge = Path(folder) / "huge.arch"
        with open(huge, "w", encoding="utf-8") as handle:
            handle.write(HEAD + "relu\n" + "# comment\n" * (64 * limits.MAX_BYTES // 10))
        for name, text in all_cases.items():
            seconds, outcome = median_time(text, args.runs)
            path = Path(folder) / "case.arch"
            path.write_text(text, encoding="utf-8")
            process = fresh_process(path, args.runs)
            worst = max(worst, process)
            print(f"{name:<58} {len(text.encode()):>9,} {seconds * 1e3:>7.0f}ms "
                  f"{process * 1e3:>10.0f}ms {process / BUDGET:>6.2f}  {outcome[:60]}")
        process = fresh_process(huge, args.runs)
        worst = max(worst, process)
        print(f"{'64 MiB file (refused: read 1 MiB only)':<58} {huge.stat().st_size:>9,} "
              f"{'':>9} {process * 1e3:>10.0f}ms {process / BUDGET:>6.2f}")
        (Path(folder) / "one.arch").write_text("block b() { relu }\n" + "# c\n" * 140_000)
        (Path(folder) / "two.arch").write_text("block c() { relu }\n" + "# c\n" * 140_000)
        path = Path(folder) / "uses.arch"
        path.write_text(HEAD + 'use "one.arch"\nuse "two.arch"\nb()\n')
        process = fresh_process(path, args.runs)
        worst = max(worst, process)
        print(f"{'two used files of 560 KiB (refused: over 1 MiB together)':<58} "
              f"{path.stat().st_size:>9,} {'':>9} {process * 1e3:>10.0f}ms {process / BUDGET:>6.2f}")
        print(f"slowest archc check: {worst:.2f} s ({worst / BUDGET:.2f}× the one-second budget)")

        print(f"\n{'network at the limits':<46} {'command':<24} {'fresh process':>13} {'÷ 2 s':>6}")
        slowest = 0.0
        for name, text in WORST_NETWORKS.items():
            path = Path(folder) / "worst.arch"
            path.write_text(text, encoding="utf-8")
            for command, arguments in COMMANDS.items():
                out = str(Path(folder) / "out")
                seconds = fresh_process(path, args.runs, [a.format(out=out) for a in arguments])
                slowest = max(slowest, seconds)
                print(f"{name:<46} {command:<24} {seconds * 1e3:>11.0f}ms "
                      f"{seconds / COMMAND_BUDGET:>6.2f}")
        print(f"slowest other command: {slowest:.2f} s "
              f"({slowest / COMMAND_BUDGET:.2f}× the two-second budget)")

        print(f"\n{'Caffe definition':<46} {'bytes':>9} {'archc import':>13} {'÷ 2 s':>6}  outcome")
        slowest = 0.0
        for name, text in CAFFE_CASES.items():
            path = Path(folder) / "case.prototxt"
            path.write_text(text, encoding="utf-8")
            command = [sys.executable, "-m", "archc", "import", str(path), "-o", "-", "-q"]
            outcome = subprocess.run(command, capture_output=True, text=True)
            said = outcome.stderr.strip().splitlines()
            result = "imported" if outcome.returncode == 0 else \
                "refused: " + (said[0].split("error: ", 1)[-1] if said else "?")
            seconds = fresh_process(path, args.runs, ["import", "-o", "-"])
            slowest = max(slowest, seconds)
            print(f"{name:<46} {len(text.encode()):>9,} {seconds * 1e3:>11.0f}ms "
                  f"{seconds / COMMAND_BUDGET:>6.2f}  {result[:60]}")
        print(f"slowest import: {slowest:.2f} s ({slowest / COMMAND_BUDGET:.2f}× the two-second "
              f"budget)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
