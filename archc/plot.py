"""Charts of analysed networks, drawn with matplotlib (``archc stats --plot FILE``).

One network: its parameters and MACs per layer with weights, on log scales (they span
six orders of magnitude).  Several: parameters and MACs per network side by side — VGG's
Table 2 as a chart.
"""

from __future__ import annotations

import io
from pathlib import Path

from . import analysis, extras, ir, output
from .errors import UsageError

FORMATS = ("png", "svg", "pdf")
MAX_TICKS = 60
"""A chart names at most this many layers on its axis, and draws more as lines, not bars."""


def check(path: str | Path, force: bool = False, forceable: bool = True) -> None:
    """Raise, before any drawing, if archc cannot or may not write a chart to ``path``
    (``forceable``: whether the command has a --force to suggest)."""
    _format(path)
    output.check(Path(path), force=force, ours=output.picture, forceable=forceable)


def _format(path: str | Path) -> str:
    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise UsageError(f"cannot plot to `{path}`", hint="use a .png, .svg or .pdf file")
    return fmt


def plot(nets: list[ir.Network], path: str | Path, force: bool = False) -> Path:
    """Draw the chart for ``nets`` into ``path`` (its suffix picks the format)."""
    path = Path(path)
    _format(path)
    figure = new_figure(figsize=(11, 6.5) if len(nets) == 1 else (9, 4.5))
    if len(nets) == 1:
        _per_layer(figure, nets[0])
    else:
        _per_network(figure, nets)
    return save(figure, path, force=force)


def new_figure(figsize: tuple[float, float]):
    """A matplotlib Figure, without pyplot: no global state, no display needed."""
    Figure = extras.need("matplotlib.figure", "graph", "--plot").Figure
    return Figure(figsize=figsize, layout="constrained")


def save(figure, path: Path, force: bool = False, forceable: bool = True) -> Path:
    """Write ``figure`` to ``path``, in the format its suffix names, marked as archc's."""
    from . import __version__

    fmt = _format(path)
    buffer = io.BytesIO()
    # Matplotlib's own credit goes (it would sit where archc's mark must); the PDF's
    # Producer says archc from the start.
    metadata = {"png": {"Software": None}, "svg": {"Creator": None},
                "pdf": {"Producer": f"archc {__version__}"}}[fmt]
    figure.savefig(buffer, format=fmt, dpi=150, metadata=metadata)
    output.write(path, output.mark(buffer.getvalue(), fmt, __version__), force=force,
                 ours=output.picture, forceable=forceable)
    return path


def _per_layer(figure, net: ir.Network):
    layers = [n for n in net.nodes if n.info.params or n.info.macs]
    names = [n.name for n in layers]
    positions = range(len(layers))
    top, bottom = figure.subplots(2, 1, sharex=True)
    for axes, values, colour, label in (
            (top, [n.info.params for n in layers], "#3d85c6", "parameters"),
            (bottom, [n.info.macs for n in layers], "#e69138", "MACs")):
        colours = [colour if n.side is None else "#b7b7b7" for n in layers]
        heights = [max(v, 1) for v in values]
        axes.set_yscale("log")
        if len(layers) <= MAX_TICKS:
            axes.bar(positions, heights, color=colours)
        else:  # one outline for all of them: thousands of bars take minutes to draw
            edges = [p - 0.5 for p in positions] + [len(layers) - 0.5]
            for shade in dict.fromkeys(colours):
                axes.stairs([h if c == shade else 0.5 for h, c in zip(heights, colours)],
                            edges, baseline=0.5, fill=True, color=shade)
            axes.set_ylim(bottom=0.5)
        axes.set_ylabel(f"{label} (log scale)")
        axes.grid(axis="y", which="major", alpha=0.3)
    # Every layer is named up to MAX_TICKS layers; past that, every k-th (thousands of
    # rotated labels take matplotlib minutes to lay out, and nobody could read them).
    step = max(1, -(-len(layers) // MAX_TICKS))
    bottom.set_xticks(list(positions)[::step], names[::step], rotation=90, fontsize=7)
    if net.sides:
        top.bar([], [], color="#b7b7b7", label="training-only side outputs")
        top.legend(loc="upper left", fontsize=8)
    whole = analysis.totals(net)
    figure.suptitle(f"{net.name}: {whole.params:,} parameters, {whole.macs:,} MACs "
                    f"(input {net.input})")


def _per_network(figure, nets: list[ir.Network]):
    sums = [analysis.totals(net, inference=True) for net in nets]
    names = [net.name for net in nets]
    left, right = figure.subplots(1, 2)
    for axes, values, colour, unit, fmt in (
            (left, [s.params / 1e6 for s in sums], "#3d85c6", "parameters (millions)", "%.0f"),
            (right, [s.macs / 1e9 for s in sums], "#e69138", "MACs (billions)", "%.1f")):
        bars = axes.bar(names, values, color=colour)
        axes.bar_label(bars, fmt=fmt, fontsize=8)
        axes.set_title(unit)
        axes.tick_params(axis="x", rotation=45, labelsize=8)
        axes.grid(axis="y", alpha=0.3)
    figure.suptitle("inference figures, side outputs left out"
                    if any(net.sides for net in nets) else "")
