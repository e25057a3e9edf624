"""`archc train --plot FILE`: the learning curves of a run, from its metrics log."""

from __future__ import annotations

import json
from pathlib import Path


def plot(metrics: Path, path: Path) -> Path:
    """Training loss by step, and validation top-1/top-5 error by epoch, drawn to ``path``
    (.png, .svg or .pdf)."""
    from .. import plot as charts

    charts.check(path, forceable=False)  # `archc train` has no --force
    lines = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    steps = [m for m in lines if "step" in m]
    epochs = {m["epoch"]: m for m in lines if "top1_error" in m}  # a rerun epoch: its last
    figure = charts.new_figure(figsize=(10, 4))
    loss, error = figure.subplots(1, 2)
    per_epoch = max((m["step"] for m in steps), default=1)
    loss.plot([m["epoch"] - 1 + m["step"] / per_epoch for m in steps],
              [m["loss"] for m in steps], color="#3d85c6", linewidth=1)
    loss.set_xlabel("epoch")
    loss.set_ylabel("training loss")
    loss.set_yscale("log")
    x = sorted(epochs)
    for key, colour, label in (("top1_error", "#e69138", "top-1"), ("top5_error", "#6aa84f", "top-5")):
        error.plot(x, [100 * epochs[e][key] for e in x], marker="o", color=colour, label=label)
    error.set_xlabel("epoch")
    error.set_ylabel("validation error (%)")
    error.legend()
    for axes in (loss, error):
        axes.grid(alpha=0.3)
    return charts.save(figure, path, forceable=False)
