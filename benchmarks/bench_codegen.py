"""Code generation: how long compiling takes, and whether generated code costs anything.

1. Compile time of every bundled spec: parse, analyse and generate the Python source, in
   process (the median of several runs).
2. Forward time on the CPU of the generated VGG-D and AlexNet (torchvision variant), and of
   the later networks the zoo issue names (EfficientNet-B0, MobileNetV3-large,
   DenseNet-121; ConvNeXt-T has no spec yet), against torchvision's own models with the
   same weights, in eval mode under
   torch.no_grad.  Runs alternate between the two models so that drift in the machine's
   speed hits both alike; the median of each is reported, and their ratio (goal: 1.00 ±
   0.05, i.e. the generated code adds no overhead).

    python benchmarks/bench_codegen.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archc  # noqa: E402
from archc import codegen, sources  # noqa: E402


def compile_times(runs: int) -> list[tuple[str, float, int]]:
    rows = []
    for name in sources.bundled():
        path = sources.specs_dir() / f"{name}.arch"
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            source = codegen.generate(archc.analyze(path))
            times.append(time.perf_counter() - start)
        rows.append((name, statistics.median(times), source.count("\n")))
    return rows


def forward_times(ours, theirs, x, runs: int) -> tuple[float, float]:
    import torch

    with torch.no_grad():
        for _ in range(2):  # warm-up: allocator, kernels, caches
            ours(x)
            theirs(x)
        a, b = [], []
        for _ in range(runs):
            for model, sink in ((ours, a), (theirs, b)):
                start = time.perf_counter()
                model(x)
                sink.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    import torch
    import torchvision

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, {torch.get_num_threads()} threads")
    print()
    print(f"{'spec':14} {'compile':>9} {'lines':>6}")
    rows = compile_times(args.runs)
    for name, seconds, lines in rows:
        print(f"{name:14} {seconds * 1000:7.1f}ms {lines:6}")
    print(f"{'all':14} {sum(s for _, s, _ in rows) * 1000:7.1f}ms")
    print()

    torch.manual_seed(0)
    cases = [("vgg_d", "vgg16", 2), ("alexnet_tv", "alexnet", 16),
             ("efficientnet_b0", "efficientnet_b0", 16),
             ("mobilenet_v3_large", "mobilenet_v3_large", 32),
             ("densenet121", "densenet121", 8)]
    print(f"{'forward (CPU)':52} {'archc':>9} {'torchvision':>12} {'ratio':>7}")
    for spec, reference_name, batch in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = getattr(torchvision.models, reference_name)().eval()
        ours = archc.build(ROOT / "specs" / f"{spec}.arch", init="torch").eval()
        ours.load_state_dict(reference.state_dict())
        x = torch.randn(batch, 3, 224, 224)
        mine, theirs = forward_times(ours, reference, x, args.runs)
        label = f"{spec} vs {reference_name}, batch {batch}"
        print(f"{label:52} {mine * 1000:7.1f}ms {theirs * 1000:10.1f}ms {mine / theirs:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
