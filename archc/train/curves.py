"""`archc train --plot FILE`: the learning curves of a run, from its metrics log."""

from __future__ import annotations

import io
import json
from pathlib import Path

from .. import output
from ..errors import UsageError


def plot(metrics: Path, path: Path) -> Path:
    """Training loss by step, and validation top-1/top-5 error by epoch, drawn to ``path``
    (.png, .svg or .pdf)."""
    from .. import __version__, extras

    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise UsageError(f"cannot plot to `{path}`", hint="use a .png, .svg or .pdf file")
    Figure = extras.need("matplotlib.figure", "graph", "--plot").Figure
    lines = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    steps = [m for m in lines if "step" in m]
    epochs = {m["epoch"]: m for m in lines if "top1_error" in m}  # a rerun epoch: its last
    figure = Figure(figsize=(10, 4), layout="constrained")
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
    buffer = io.BytesIO()
    metadata = {"png": {"Software": None}, "svg": {"Creator": None},
                "pdf": {"Producer": f"archc {__version__}"}}[fmt]
    figure.savefig(buffer, format=fmt, dpi=150, metadata=metadata)
    output.write(path, output.mark(buffer.getvalue(), fmt, __version__), force=False,
                 ours=output.picture)
    return path
