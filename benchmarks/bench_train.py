"""`archc train` against a plain hand-written PyTorch loop: training throughput, images/s.

Both train the same generated module on the same data with the same batch, transforms,
optimiser and worker processes; the hand-written loop is the one a user would write
(DataLoader, forward, cross-entropy, backward, SGD step).  Images/s count the training
steps of an epoch from its first batch to its last, data loading included, validation
and checkpoints not; the figure is the median over the epochs after the first, of
``--repeats`` runs of each, alternating.

* LeNet-5 on the bundled digits (in memory);
* AlexNet with a quarter of its maps (`alexnet` with every width ÷4, the same recipe) on a
  synthetic ImageFolder of 256×256 JPEGs, decoded and augmented by worker processes.

    python benchmarks/bench_train.py [--epochs 4] [--repeats 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import archc
from archc.train import data as train_data

ROOT = Path(__file__).resolve().parent.parent


def narrow_alexnet(folder: Path) -> Path:
    """specs/alexnet.arch with every conv and FC width divided by 4, and 10 classes."""
    text = (ROOT / "specs" / "alexnet.arch").read_text(encoding="utf-8")
    text = re.sub(r"(conv\d+-)(\d+)", lambda m: f"{m.group(1)}{int(m.group(2)) // 4}", text)
    text = re.sub(r"FC-4096", "FC-1024", text).replace("FC-1000", "FC-10")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("expect"))
    text = text.replace("network alexnet", "network alexnet_quarter")
    path = folder / "alexnet_quarter.arch"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def synthetic_images(folder: Path, classes: int = 10, per_class: int = 32) -> Path:
    from PIL import Image

    generator = torch.Generator().manual_seed(0)
    for split, count in (("train", per_class), ("val", 4)):
        for c in range(classes):
            target = folder / split / f"class{c}"
            target.mkdir(parents=True)
            for i in range(count):
                pixels = torch.randint(0, 256, (256, 256, 3), generator=generator, dtype=torch.uint8)
                Image.fromarray(pixels.numpy()).save(target / f"{i}.jpg", quality=90)
    return folder


def archc_rates(spec: Path, data: str, epochs: int, workers: int, out: Path) -> list[float]:
    """Images/s of each epoch of `archc train`, from its metrics log."""
    net = archc.analyze(spec)
    sets = train_data.load(data, net, net.recipe, archc.ir.Evaluation())
    steps = -(-len(sets.train) // net.recipe.batch)
    subprocess.run([sys.executable, "-m", "archc", "train", str(spec), "--data", data,
                    "-o", str(out), "--epochs", str(epochs), "--workers", str(workers),
                    "--log-every", str(steps), "-q"], check=True, capture_output=True)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    return [line["images_per_s"] for line in lines if line.get("step") == steps]


def hand_rates(spec: Path, data: str, epochs: int, workers: int) -> list[float]:
    """The same training as a user would write it by hand."""
    from torch.utils.data import DataLoader

    net = archc.analyze(spec)
    recipe = net.recipe
    sets = train_data.load(data, net, recipe, archc.ir.Evaluation())
    torch.manual_seed(0)
    model = archc.load(net).Model(num_classes=len(sets.classes))
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    loader = DataLoader(sets.train, batch_size=recipe.batch, shuffle=True,
                        num_workers=0 if sets.in_memory else workers)
    rates = []
    for _ in range(epochs):
        model.train()
        start, seen = time.perf_counter(), 0
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(y)
        rates.append(seen / (time.perf_counter() - start))
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs · Python {platform.python_version()} · "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads) · archc {archc.__version__}")
    print(f"{'case':<44} {'archc train':>12} {'hand-written':>13} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        cases = {"LeNet-5 on digits, batch 32": (ROOT / "specs" / "lenet5.arch", "digits"),
                 "AlexNet ÷4 widths, ImageFolder, batch 128": (
                     narrow_alexnet(folder), str(synthetic_images(folder / "images")))}
        for name, (spec, data) in cases.items():
            ours, theirs = [], []
            for repeat in range(args.repeats):  # alternating: the machine's drift hits both
                out = folder / f"run-{spec.stem}-{repeat}"
                ours += archc_rates(spec, data, args.epochs, args.workers, out)[1:]
                theirs += hand_rates(spec, data, args.epochs, args.workers)[1:]
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"{name:<44} {a:>9,.0f}/s {b:>10,.0f}/s {a / b:>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
